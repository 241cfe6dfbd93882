// The copy rows of `deno task bench --copy`: medians, ratios, peak RSS, printed and saved.

import { benchCopyRound, type CopyImage, type CopySample, type Measure } from "./_copy.ts";

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
    for (let round = 0; round < rounds; round++) {
      const got = await benchCopyRound(sourceHost, storage, image, round, cli, measure);
      for (const [name, s] of Object.entries(got)) (samples[name] ??= []).push(s);
      console.error(
        `bench: copy ${key} round ${round + 1}: ` +
          Object.entries(got).map(([n, s]) => `${n} ${s.wall.toFixed(2)} s`).join(", "),
      );
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
      peakRssMiB: { skiff: rss("skiff copy"), skopeo: rss("skopeo copy") },
      samples,
    };
    results[key] = summary;
    const f = (x: number) => x.toFixed(2);
    rows.push([
      `${key} copy (${mib.toFixed(0)} MiB)`,
      `${f(summary.skiff)} s (${(mib / summary.skiff).toFixed(0)} MiB/s)`,
      `${f(summary.skopeo)} s (${(mib / summary.skopeo).toFixed(0)} MiB/s)`,
      `${f(summary.floor)} s`,
      f(summary.ratioSkopeo),
      f(summary.ratioFloor),
      `${summary.peakRssMiB.skiff.toFixed(0)} / ${summary.peakRssMiB.skopeo.toFixed(0)}`,
    ]);
  }
  const header = [
    "scenario",
    "skiff copy",
    "skopeo copy",
    "floor (curl POST)",
    "skiff/skopeo",
    "skiff/floor",
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
