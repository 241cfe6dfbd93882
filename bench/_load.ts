// The load rows of `deno task bench --load`: `skiff load` of an archive into a new store against
// `skopeo copy` of the same archive into an OCI layout (what skopeo has for a load), the two
// taking turns going first; for a docker-archive (skopeo's classic form: `<id>/layer.tar`, nothing
// named by digest, so every layer is hashed to be named and checked against the config) and an
// oci-archive (every blob named by its digest). The archives are written once per run, untimed.

import type { Measure } from "./_copy.ts";

const MiB = 1024 * 1024;

/** One image of the bench. */
export interface LoadImage {
  repo: string;
  bytes: number;
}

interface Sample {
  wall: number;
  rss: number;
}

export async function benchLoad(
  host: string,
  images: Record<string, LoadImage>,
  rounds: number,
  cli: string,
  measure: Measure,
  cache: string,
): Promise<void> {
  const results: Record<string, unknown> = {};
  const rows: string[][] = [];
  for (const [key, image] of Object.entries(images)) {
    const dir = await Deno.makeTempDir({ dir: cache, prefix: "load-" });
    try {
      const ref = `${host}/${image.repo}:1`;
      const archives = {
        docker: `${dir}/docker.tar`,
        oci: `${dir}/oci.tar`,
      };
      console.error(`bench: writing the archives of ${ref} with skopeo (untimed)`);
      await run("skopeo", [
        "copy",
        "-q",
        "--src-tls-verify=false",
        `docker://${ref}`,
        `docker-archive:${archives.docker}:bench/load:1`,
      ]);
      await run("skopeo", [
        "copy",
        "-q",
        "--src-tls-verify=false",
        `docker://${ref}`,
        `oci-archive:${archives.oci}:bench/load:1`,
      ]);
      const samples: Record<string, Sample[]> = {};
      for (let round = 0; round < rounds; round++) {
        for (const [format, file] of Object.entries(archives)) {
          const commands: Record<string, (out: string) => string[]> = {
            [`skiff load ${format}`]: (out) => [
              Deno.execPath(),
              "run",
              "-A",
              "--quiet",
              cli,
              "load",
              "-q",
              "--store",
              out,
              file,
            ],
            [`skopeo ${format}`]: (out) => [
              "skopeo",
              "copy",
              "-q",
              `${format === "docker" ? "docker-archive" : "oci-archive"}:${file}${
                format === "oci" ? ":bench/load:1" : ""
              }`,
              `oci:${out}:bench/load:1`,
            ],
          };
          const names = Object.keys(commands);
          if (round % 2 === 1) names.reverse();
          for (const name of names) {
            const out = `${dir}/out`;
            (samples[name] ??= []).push(await measure(commands[name]!(out)));
            await Deno.remove(out, { recursive: true });
          }
        }
        console.error(
          `bench: load ${key} round ${round + 1}: ` +
            Object.entries(samples).map(([n, s]) => `${n} ${s.at(-1)!.wall.toFixed(2)} s`)
              .join(", "),
        );
      }
      const med = (name: string) => median(samples[name]!.map((s) => s.wall));
      const rss = (name: string) => Math.max(...samples[name]!.map((s) => s.rss));
      const mib = image.bytes / MiB;
      const summary: Record<string, unknown> = { bytes: image.bytes, samples };
      for (const format of Object.keys(archives)) {
        const ours = `skiff load ${format}`;
        const theirs = `skopeo ${format}`;
        summary[format] = {
          skiff: med(ours),
          skopeo: med(theirs),
          ratioSkopeo: med(ours) / med(theirs),
          peakRssMiB: { skiff: rss(ours), skopeo: rss(theirs) },
        };
        rows.push([
          `${key} load ${format}-archive (${mib.toFixed(0)} MiB)`,
          `${med(ours).toFixed(2)} s (${(mib / med(ours)).toFixed(0)} MiB/s)`,
          `${med(theirs).toFixed(2)} s`,
          (med(ours) / med(theirs)).toFixed(2),
          `${rss(ours).toFixed(0)} / ${rss(theirs).toFixed(0)}`,
        ]);
      }
      results[key] = summary;
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  const header = ["", "skiff load", "skopeo copy -> oci:", "vs skopeo", "peak RSS MiB"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("-|-"));
  for (const r of rows) console.log(line(r));
  console.log(JSON.stringify(results, (k, v) => (k === "samples" ? undefined : v), 2));
  await Deno.writeTextFile(`${cache}/last-load.json`, JSON.stringify(results, null, 2));
}

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
