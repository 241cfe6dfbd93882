// `deno task bench --sync`: skiff sync vs `skopeo sync --src docker --dest docker` of a repository
// with several tags, from the bench registry into a fresh, empty one per tool and round: the first
// run (everything copied) and a second run over the unchanged source (nothing to copy: skiff
// writes nothing; skopeo asks and re-sends its manifests).

import { startRegistry } from "../tests/_registry.ts";

export interface SyncSample {
  wall: number;
  rss: number;
}

export type Measure = (cmd: string[]) => Promise<SyncSample>;

/** The repository synced: `repo` with `tags`, each its own image. */
export interface SyncRepo {
  repo: string;
  tags: string[];
  bytes: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs the rounds and prints the table; returns the summary for .bench/last-sync.json. */
export async function benchSync(
  sourceHost: string,
  source: SyncRepo,
  rounds: number,
  cli: string,
  measure: Measure,
): Promise<Record<string, unknown>> {
  const tools: Record<string, (host: string) => string[]> = {
    "skiff sync": (host) => [
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      cli,
      "sync",
      `${sourceHost}/${source.repo}`,
      `${host}/${source.repo}`,
    ],
    "skopeo sync": (host) => [
      "skopeo",
      "sync",
      "--src",
      "docker",
      "--dest",
      "docker",
      "--src-tls-verify=false",
      "--dest-tls-verify=false",
      `${sourceHost}/${source.repo}`,
      // skopeo puts the repository's last path part under the destination
      `${host}/${source.repo.slice(0, source.repo.lastIndexOf("/"))}`,
    ],
  };
  const samples: Record<string, { first: SyncSample[]; second: SyncSample[] }> = {};
  const names = Object.keys(tools);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length]!;
      await using fresh = await startRegistry();
      const cmd = tools[name]!(fresh.host);
      const first = await measure(cmd);
      const second = await measure(cmd);
      // what arrived is checked, not timed: every tag is there with the source's digest
      for (const tag of source.tags) {
        const digest = async (host: string) => {
          const res = await fetch(`http://${host}/v2/${source.repo}/manifests/${tag}`, {
            method: "HEAD",
            headers: {
              accept: "application/vnd.oci.image.manifest.v1+json, " +
                "application/vnd.oci.image.index.v1+json",
            },
          });
          await res.body?.cancel();
          return res.headers.get("docker-content-digest");
        };
        const [want, got] = await Promise.all([digest(sourceHost), digest(fresh.host)]);
        if (want === null || want !== got) {
          throw new Error(`${name}: tag ${tag} has ${got} at the destination, not ${want}`);
        }
      }
      const s = samples[name] ??= { first: [], second: [] };
      s.first.push(first);
      s.second.push(second);
      console.error(
        `bench: sync round ${round + 1}: ${name} first ${first.wall.toFixed(2)} s, ` +
          `second ${second.wall.toFixed(2)} s`,
      );
    }
  }
  const med = (name: string, run: "first" | "second") =>
    median(samples[name]![run].map((s) => s.wall));
  const rss = (name: string) =>
    Math.max(...[...samples[name]!.first, ...samples[name]!.second].map((s) => s.rss));
  const summary = {
    repository: source.repo,
    tags: source.tags.length,
    bytes: source.bytes,
    first: { skiff: med("skiff sync", "first"), skopeo: med("skopeo sync", "first") },
    second: { skiff: med("skiff sync", "second"), skopeo: med("skopeo sync", "second") },
    peakRssMiB: { skiff: rss("skiff sync"), skopeo: rss("skopeo sync") },
    samples,
  };
  const f = (x: number) => x.toFixed(2);
  const rows = [
    ["scenario", "skiff sync", "skopeo sync", "skiff/skopeo", "target"],
    [
      `first run, ${source.tags.length} tags (${(source.bytes / 1024 ** 2).toFixed(0)} MiB)`,
      `${f(summary.first.skiff)} s`,
      `${f(summary.first.skopeo)} s`,
      f(summary.first.skiff / summary.first.skopeo),
      "<= 0.85",
    ],
    [
      "second run, unchanged source",
      `${f(summary.second.skiff)} s`,
      `${f(summary.second.skopeo)} s`,
      f(summary.second.skiff / summary.second.skopeo),
      "<= 0.3",
    ],
    [
      "peak RSS MiB",
      summary.peakRssMiB.skiff.toFixed(0),
      summary.peakRssMiB.skopeo.toFixed(0),
      "",
      "",
    ],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join("  "));
  return summary;
}
