// The copy rows of `deno task bench --copy`: medians, ratios, peak RSS, printed and saved.

import {
  benchCopyRound,
  type CopyImage,
  type CopySample,
  type Measure,
  preparePush,
} from "./_copy.ts";

const MiB = 1024 * 1024;

export async function benchCopy(
  sourceHost: string,
  storage: string,
  images: Record<string, CopyImage>,
  rounds: number,
  cli: string,
  measure: Measure,
  cache: string,
): Promise<void> {
  const results: Record<string, unknown> = {};
  const rows: string[][] = [];
  for (const [key, image] of Object.entries(images)) {
    const samples: Record<string, CopySample[]> = {};
    const dir = await Deno.makeTempDir({ prefix: "skiff-bench-push-" });
    try {
      console.error(`bench: filling the stores push reads from (untimed)`);
      const stores = await preparePush(sourceHost, image, cli, dir);
      for (let round = 0; round < rounds; round++) {
        const got = await benchCopyRound(sourceHost, storage, image, round, cli, measure, stores);
        for (const [name, s] of Object.entries(got)) (samples[name] ??= []).push(s);
        console.error(
          `bench: copy ${key} round ${round + 1}: ` +
            Object.entries(got).map(([n, s]) => `${n} ${s.wall.toFixed(2)} s`).join(", "),
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    const med = (name: string) => median(samples[name]!.map((s) => s.wall));
    const rss = (name: string) => Math.max(...samples[name]!.map((s) => s.rss));
    const mib = image.bytes / MiB;
    const summary = {
      bytes: image.bytes,
      skiff: med("skiff copy"),
      skopeo: med("skopeo copy"),
      floor: med("curl upload"),
      ratioSkopeo: med("skiff copy") / med("skopeo copy"),
      ratioFloor: med("skiff copy") / med("curl upload"),
      push: {
        skiff: med("skiff push"),
        skopeo: med("skopeo push"),
        ratioSkopeo: med("skiff push") / med("skopeo push"),
        ratioFloor: med("skiff push") / med("curl upload"),
      },
      denoPipe: {
        plain: med("deno fetch pipe"),
        sha256: med("deno fetch pipe + sha256"),
        ratioSkopeo: med("deno fetch pipe + sha256") / med("skopeo copy"),
        ratioFloor: med("deno fetch pipe + sha256") / med("curl upload"),
      },
      peakRssMiB: Object.fromEntries(Object.keys(samples).map((n) => [n, rss(n)])),
      samples,
    };
    results[key] = summary;
    const f = (x: number) => x.toFixed(2);
    const row = (what: string, ours: string, theirs: string) => [
      `${key} ${what} (${mib.toFixed(0)} MiB)`,
      `${f(med(ours))} s (${(mib / med(ours)).toFixed(0)} MiB/s)`,
      `${f(med(theirs))} s (${(mib / med(theirs)).toFixed(0)} MiB/s)`,
      `${f(summary.floor)} s`,
      f(med(ours) / med(theirs)),
      f(med(ours) / summary.floor),
      `${rss(ours).toFixed(0)} / ${rss(theirs).toFixed(0)}`,
    ];
    rows.push(row("copy", "skiff copy", "skopeo copy"));
    rows.push(row("push from the store", "skiff push", "skopeo push"));
    // the yardsticks: a bare Deno fetch pipe, against skopeo's copy
    rows.push(row("copy, Deno fetch pipe", "deno fetch pipe", "skopeo copy"));
    rows.push(row("copy, Deno fetch pipe + SHA-256", "deno fetch pipe + sha256", "skopeo copy"));
  }
  const header = [
    "scenario",
    "skiff (or the pipe)",
    "skopeo (copy, or push from oci:)",
    "floor (curl POST + PUT)",
    "/skopeo",
    "/floor",
    "peak RSS MiB skiff / skopeo",
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    "| " + cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |";
  console.log(
    `\nmedians of ${rounds} rounds, loopback registries, ${navigator.hardwareConcurrency} cores\n`,
  );
  console.log(line(header));
  console.log("| " + widths.map((w) => "-".repeat(w)).join(" | ") + " |");
  for (const r of rows) console.log(line(r));
  await Deno.writeTextFile(`${cache}/copy.json`, JSON.stringify(results, null, 2));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
