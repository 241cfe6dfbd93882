// `deno task bench`: skiff side by side with skopeo (and the machine's limit) in one run, and
// skiff unpack side by side with umoci and tar.
//
// Starts the real Distribution registry on loopback, builds and pushes the benchmark images once
// (cached in .bench/), then alternates the tools over several rounds and prints medians, MiB/s,
// ratios and peak RSS, as a table and as JSON (also written to .bench/last.json). Unpack: skiff
// unpack, `umoci unpack --rootless` and `tar -xzf` of the layers in order, all from the store
// skiff's cold pull made in that round.
//
//   deno task bench [--rounds N] [--only small|big|erofs|ext4] [--skip-big] [--skip-erofs]
//                   [--skip-ext4] [--copy] [--sync] [--load] [--serve] [--rootfs-only]
//
// --serve: skopeo copy of bench/multi:1 from `skiff serve` against the same from the registry,
// one client and four at once (bench/_serve.ts).
//
// Time to rootfs (cold: the store does not have the image): skiff unpack (streaming: layers
// applied while they download) vs skiff pull then skiff unpack vs skopeo copy + umoci unpack
// --rootless; and skiff export (one flattened tar) vs umoci unpack --rootless + tar -c (what a
// crane export-like flattening costs with the standard tools). --rootfs-only runs just these.
//
// --load: skiff load of skopeo's docker-archive (classic form) and oci-archive of the image, into
// a new store, vs skopeo copy of the same archive into an OCI layout (bench/_load.ts).
//
// Images: bench/multi:1, 4 layers of 128 MiB of random (incompressible) data, tar+gzip;
//         bench/big:1, one layer of 1 GiB of random data;
//         bench/debian:1, the tests' Debian image in three layers (thousands of small files).
// Disk images (the erofs rows): skiff unpack --format erofs against umoci unpack (as root when
// the bench runs as root, else --rootless) followed by mkfs.erofs, on bench/debian and bench/multi.
// The ext4 rows (as root only): skiff unpack --format ext4 against `umoci unpack` as root (owners
// and devices kept) followed by `mkfs.ext4 -d` of its tree, on the same two images; and, for the
// Debian image, `--size 64G` against the same pair with `mkfs.ext4 -d` into 64 GiB (and the
// plain image: the empty space must cost nothing).

import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { startRegistry } from "../tests/_registry.ts";
import { benchCopy } from "./_copy_table.ts";
import { benchLoad } from "./_load.ts";
import { benchServe } from "./_serve.ts";
import { benchSync } from "./_sync.ts";
import { pushDebianImage } from "../tests/_rootfs.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CACHE = `${ROOT}/.bench`;
const CLI = `${ROOT}/cli.ts`;
const MiB = 1024 * 1024;

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "5" },
    only: { type: "string" },
    "skip-big": { type: "boolean" },
    "skip-erofs": { type: "boolean" },
    "skip-ext4": { type: "boolean" },
    jobs: { type: "string" },
    copy: { type: "boolean" },
    sync: { type: "boolean" },
    load: { type: "boolean" },
    serve: { type: "boolean" },
    "rootfs-only": { type: "boolean" },
  },
});
const ROOTFS_ONLY = flags["rootfs-only"] === true;
const ROUNDS = Number(flags.rounds);

interface ImageInfo {
  repo: string;
  layers: { digest: string; size: number }[];
  bytes: number;
}

interface Sample {
  wall: number; // seconds
  rss: number; // MiB
}

async function sh(script: string, cwd?: string): Promise<string> {
  const out = await new Deno.Command("bash", {
    args: ["-euo", "pipefail", "-c", script],
    stdout: "piped",
    stderr: "piped",
    ...(cwd ? { cwd } : {}),
  }).output();
  if (!out.success) {
    throw new Error(`failed: ${script}\n${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/**
 * Runs a command under /usr/bin/time -v: wall time (measured here) and peak RSS. Dirty pages are
 * flushed first (not timed), so every run starts from the same state of the page cache: on these
 * machines writeback throttling otherwise makes whoever runs second pay for whoever ran first.
 */
async function measure(cmd: string[], env: Record<string, string> = {}): Promise<Sample> {
  await new Deno.Command("sync").output();
  const start = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-v", ...cmd],
    stdout: "null",
    stderr: "piped",
    env,
  }).output();
  const wall = (performance.now() - start) / 1000;
  const err = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd.join(" ")} failed:\n${err.slice(-2000)}`);
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(err)?.[1] ?? 0) / 1024;
  return { wall, rss };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function buildImage(
  host: string,
  repo: string,
  layerSizes: number[],
  work: string,
): Promise<ImageInfo> {
  const layout = `${work}/layout`;
  await Deno.mkdir(`${layout}/blobs/sha256`, { recursive: true });
  await Deno.writeTextFile(`${layout}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
  const layers: { digest: string; size: number; diffId: string }[] = [];
  for (const [i, size] of layerSizes.entries()) {
    console.error(
      `bench: building ${repo} layer ${i + 1}/${layerSizes.length} (${size / MiB} MiB)`,
    );
    const dir = `${work}/l${i}`;
    await Deno.mkdir(dir, { recursive: true });
    const out = await sh(
      `head -c ${size} /dev/urandom > ${dir}/data.bin
       tar --mtime=@0 --owner=0 --group=0 --numeric-owner -C ${dir} -cf ${work}/l${i}.tar data.bin
       diff=$(sha256sum ${work}/l${i}.tar | cut -d' ' -f1)
       gzip -1 -c ${work}/l${i}.tar > ${work}/l${i}.tgz
       rm -rf ${dir} ${work}/l${i}.tar
       dig=$(sha256sum ${work}/l${i}.tgz | cut -d' ' -f1)
       mv ${work}/l${i}.tgz ${layout}/blobs/sha256/$dig
       echo $diff $dig $(stat -c %s ${layout}/blobs/sha256/$dig)`,
    );
    const [diff, dig, bytes] = out.trim().split(" ");
    layers.push({ digest: `sha256:${dig}`, size: Number(bytes), diffId: `sha256:${diff}` });
  }
  const put = async (value: unknown) => {
    const bytes = new TextEncoder().encode(JSON.stringify(value));
    const hex = createHash("sha256").update(bytes).digest("hex");
    await Deno.writeFile(`${layout}/blobs/sha256/${hex}`, bytes);
    return { digest: `sha256:${hex}`, size: bytes.byteLength };
  };
  const config = await put({
    architecture: Deno.build.arch === "aarch64" ? "arm64" : "amd64",
    os: "linux",
    config: {},
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
  });
  const manifest = await put({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: layers.map((l) => ({
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: l.digest,
      size: l.size,
    })),
  });
  await Deno.writeTextFile(
    `${layout}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...manifest,
        annotations: { "org.opencontainers.image.ref.name": "1" },
      }],
    }),
  );
  console.error(`bench: pushing ${repo} with skopeo`);
  await sh(`skopeo copy -q --dest-tls-verify=false oci:${layout}:1 docker://${host}/${repo}:1`);
  await Deno.remove(work, { recursive: true });
  return {
    repo,
    layers: layers.map(({ digest, size }) => ({ digest, size })),
    bytes: layers.reduce((n, l) => n + l.size, 0),
  };
}

/** Whether the CLI has `--pull` yet (the toolbox issue adds it). */
const PULL_MISSING = await (async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, "pull", "--help"],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).includes("--pull");
})();

/** Median wall time (seconds) of each command, by hyperfine: warm-up runs, then many runs. */
async function hyperfine(commands: Record<string, string[]>): Promise<Record<string, number>> {
  const json = `${CACHE}/hyperfine.json`;
  const out = await new Deno.Command("hyperfine", {
    args: [
      "-N",
      "--warmup",
      "3",
      "--runs",
      "20",
      "--export-json",
      json,
      ...Object.values(commands).map((c) => c.join(" ")), // no argument has a space
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`hyperfine failed: ${new TextDecoder().decode(out.stderr)}`);
  const results = JSON.parse(await Deno.readTextFile(json)).results as { median: number }[];
  return Object.fromEntries(Object.keys(commands).map((name, i) => [name, results[i]!.median]));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function hashCost(dir: string): Promise<number> {
  const start = performance.now();
  for await (const e of Deno.readDir(dir)) {
    const h = createHash("sha256");
    using f = await Deno.open(`${dir}/${e.name}`);
    const buf = new Uint8Array(4 * MiB);
    for (;;) {
      const n = await f.read(buf);
      if (n === null) break;
      h.update(buf.subarray(0, n));
    }
    h.digest();
  }
  return (performance.now() - start) / 1000;
}

/**
 * One round of the time-to-rootfs rows, in a fresh store each (cold), the tools taking turns
 * going first; then the export rows from the store the streaming unpack filled.
 */
async function rootfsRound(
  ref: string,
  work: string,
  round: number,
  jobs: string[],
  samples: Record<string, Sample[]>,
): Promise<void> {
  const skiff = [Deno.execPath(), "run", "-A", "--quiet", CLI];
  const cold: Record<string, (n: number) => string[]> = {
    "skiff unpack cold": (n) => [
      ...skiff,
      "unpack",
      "-q",
      ...jobs,
      "--store",
      `${work}/cold${n}`,
      ref,
      `${work}/rootfs${n}`,
    ],
    "skiff pull+unpack": (n) => [
      "bash",
      "-euc",
      `${skiff.join(" ")} pull -q ${jobs.join(" ")} --store ${work}/cold${n} ${ref} && ` +
      `${skiff.join(" ")} unpack -q --store ${work}/cold${n} ${ref} ${work}/rootfs${n}`,
    ],
    "skopeo+umoci": (n) => [
      "bash",
      "-euc",
      `skopeo copy -q --src-tls-verify=false docker://${ref} oci:${work}/cold${n}:${ref} && ` +
      `umoci unpack --rootless --image ${work}/cold${n}:${ref} ${work}/rootfs${n}`,
    ],
  };
  const names = Object.keys(cold);
  let streamStore = "";
  for (let i = 0; i < names.length; i++) {
    const name = names[(i + round) % names.length]!;
    const n = i;
    samples[name]!.push(await measure(cold[name]!(n)));
    await Deno.remove(`${work}/rootfs${n}`, { recursive: true });
    if (name === "skiff unpack cold") streamStore = `${work}/cold${n}`;
    else await Deno.remove(`${work}/cold${n}`, { recursive: true });
  }
  const exporters: Record<string, string[]> = {
    "skiff export": [...skiff, "export", "-q", "--store", streamStore, ref, "-o", `${work}/x.tar`],
    "umoci+tar -c": [
      "bash",
      "-euc",
      `umoci unpack --rootless --image ${streamStore}:${ref} ${work}/u && ` +
      `tar --numeric-owner -C ${work}/u/rootfs -cf ${work}/x.tar . && rm -rf ${work}/u`,
    ],
  };
  const order = round % 2 === 0
    ? ["skiff export", "umoci+tar -c"]
    : ["umoci+tar -c", "skiff export"];
  for (const name of order) {
    samples[name]!.push(await measure(exporters[name]!));
    await Deno.remove(`${work}/x.tar`);
  }
  await Deno.remove(streamStore, { recursive: true });
}

async function main() {
  await Deno.mkdir(CACHE, { recursive: true });
  for (
    const tool of [
      "docker-registry",
      "skopeo",
      "umoci",
      "tar",
      "curl",
      "/usr/bin/time",
      "hyperfine",
    ]
  ) {
    await sh(`command -v ${tool}`).catch(() => {
      throw new Error(
        `bench needs ${tool} (apt-get install -y docker-registry skopeo umoci curl time hyperfine)`,
      );
    });
  }
  const registry = await startRegistry({ storage: `${CACHE}/registry` });
  const host = registry.host;
  try {
    const infoPath = `${CACHE}/images.json`;
    let images: Record<string, ImageInfo> = {};
    if (await exists(infoPath)) images = JSON.parse(await Deno.readTextFile(infoPath));
    const want: [string, string, number[]][] = [
      ["small", "bench/multi", [128 * MiB, 128 * MiB, 128 * MiB, 128 * MiB]],
      ["big", "bench/big", [1024 * MiB]],
    ];
    const selected = (key: string) =>
      (!flags.only || flags.only === key) && !(flags["skip-big"] && key === "big");
    // the ext4 rows need root: umoci keeps owners and devices only as root
    const ext4Selected = (!flags.only || flags.only === "ext4") && !flags["skip-ext4"] &&
      Deno.uid() === 0;
    for (const [key, repo, sizes] of want) {
      // --only small does not build the 1 GiB image; the ext4 rows need the small one
      if (!selected(key) && !(ext4Selected && key === "small")) continue;
      const have = images[key];
      // the Accept header matters: without it, Distribution 2.8 answers 404 for an OCI manifest,
      // and every run rebuilt and pushed every image
      const present = have &&
        (await fetch(`${registry.url}/v2/${repo}/manifests/1`, {
          method: "HEAD",
          headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
        })).ok;
      if (!present) {
        images[key] = await buildImage(host, repo, sizes, `${CACHE}/build-${key}`);
        await Deno.writeTextFile(infoPath, JSON.stringify(images, null, 2));
      }
    }

    const scenarios = want.filter(([key]) => selected(key));
    if (flags.sync) {
      // a repository of four tags, each its own image of 2 x 32 MiB (bench/_sync.ts)
      const tags = ["t1", "t2", "t3", "t4"];
      const present = await Promise.all(
        tags.map(async (tag) =>
          (await fetch(`${registry.url}/v2/bench/sync/manifests/${tag}`, {
            method: "HEAD",
            headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
          })).ok
        ),
      );
      let bytes = 0;
      for (const [i, tag] of tags.entries()) {
        const repo = `bench/sync-${tag}`;
        if (!present[i]) {
          images[`sync-${tag}`] = await buildImage(
            host,
            repo,
            [32 * MiB, 32 * MiB],
            `${CACHE}/build-sync-${tag}`,
          );
          await Deno.writeTextFile(infoPath, JSON.stringify(images, null, 2));
          await sh(
            `skopeo copy -q --src-tls-verify=false --dest-tls-verify=false ` +
              `docker://${host}/${repo}:1 docker://${host}/bench/sync:${tag}`,
          );
        }
        bytes += images[`sync-${tag}`]?.bytes ?? 0;
      }
      const summary = await benchSync(
        host,
        { repo: "bench/sync", tags, bytes },
        ROUNDS,
        CLI,
        measure,
      );
      await Deno.writeTextFile(`${CACHE}/last-sync.json`, JSON.stringify(summary, null, 2));
      return;
    }
    if (flags.load) {
      // skiff load of skopeo's docker-archive and oci-archive vs skopeo copy of them (bench/_load.ts)
      const picked = Object.fromEntries(scenarios.map(([key]) => [key, images[key]!]));
      await benchLoad(host, picked, ROUNDS, CLI, measure, CACHE);
      return;
    }
    if (flags.serve) {
      // the small image, pulled into a store of its own once, served by skiff serve
      const image = images.small!;
      const store = `${CACHE}/serve-store`;
      const pulled = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--quiet",
          CLI,
          "pull",
          "-q",
          "--pull",
          "missing",
          "--store",
          store,
          `${host}/${image.repo}:1`,
        ],
        stdout: "null",
      }).output();
      if (!pulled.success) throw new Error("bench: the pull for --serve failed");
      const work = `${CACHE}/serve-work`;
      await Deno.remove(work, { recursive: true }).catch(() => {});
      await Deno.mkdir(work);
      const summary = await benchServe(
        host,
        image.repo,
        image.bytes,
        store,
        work,
        ROUNDS,
        CLI,
        measure,
      );
      await Deno.remove(work, { recursive: true });
      await Deno.writeTextFile(`${CACHE}/last-serve.json`, JSON.stringify(summary, null, 2));
      return;
    }
    if (flags.copy) {
      // registry to registry only (bench/_copy.ts): skiff copy, skopeo copy, the upload floor
      const picked = Object.fromEntries(scenarios.map(([key]) => [key, images[key]!]));
      await benchCopy(host, `${CACHE}/registry`, picked, ROUNDS, CLI, measure, CACHE);
      return;
    }
    const results: Record<string, unknown> = {
      machine: { cores: navigator.hardwareConcurrency, deno: Deno.version.deno },
      rounds: ROUNDS,
      skopeo: (await sh("skopeo --version")).trim(),
    };
    const rows: string[][] = [];
    const jobs = flags.jobs ? ["--jobs", flags.jobs] : [];
    for (const [key] of scenarios) {
      const image = images[key]!;
      const ref = `${host}/${image.repo}:1`;
      const mib = image.bytes / MiB;
      const samples: Record<string, Sample[]> = {
        skiff: [],
        skopeo: [],
        curl: [],
        network: [],
        hash: [],
        "skiff warm": [],
        "skopeo warm": [],
        "skiff unpack": [],
        "umoci unpack": [],
        "tar -x": [],
        "skiff unpack cold": [],
        "skiff pull+unpack": [],
        "skopeo+umoci": [],
        "skiff export": [],
        "umoci+tar -c": [],
      };
      console.error(
        `bench: ${key}: ${image.layers.length} layer(s), ${mib.toFixed(0)} MiB, ${ROUNDS} rounds`,
      );
      for (let round = 0; round < ROUNDS; round++) {
        const work = await Deno.makeTempDir({ dir: CACHE, prefix: "run-" });
        try {
          await rootfsRound(ref, work, round, jobs, samples);
          if (ROOTFS_ONLY) {
            const last = (name: string) => samples[name]!.at(-1)?.wall.toFixed(2);
            console.error(
              `bench: ${key} round ${round + 1}: rootfs cold: stream ${
                last("skiff unpack cold")
              } s, pull+unpack ${last("skiff pull+unpack")} s, skopeo+umoci ${
                last("skopeo+umoci")
              } s; export ${last("skiff export")} s, umoci+tar ${last("umoci+tar -c")} s`,
            );
            continue;
          }
          // alternate which tool goes first, so neither always gets the warmer cache
          const order = round % 2 === 0 ? ["skiff", "skopeo"] : ["skopeo", "skiff"];
          for (const tool of order) {
            if (tool === "skiff") {
              samples.skiff!.push(
                await measure([
                  Deno.execPath(),
                  "run",
                  "-A",
                  "--quiet",
                  CLI,
                  "pull",
                  "-q",
                  ...jobs,
                  "--store",
                  `${work}/skiff`,
                  ref,
                ]),
              );
            } else {
              samples.skopeo!.push(
                await measure([
                  "skopeo",
                  "copy",
                  "-q",
                  "--src-tls-verify=false",
                  `docker://${ref}`,
                  `oci:${work}/skopeo:${ref}`,
                ]),
              );
            }
          }
          // the limit: the same blobs with parallel curl into files, then their SHA-256 cost
          await Deno.mkdir(`${work}/curl`);
          const args = image.layers.flatMap((l) => [
            "-o",
            `${work}/curl/${l.digest.slice(7)}`,
            `${registry.url}/v2/${image.repo}/blobs/${l.digest}`,
          ]);
          samples.curl!.push(
            await measure(["curl", "-sf", "--parallel", "--parallel-max", "4", ...args]),
          );
          samples.hash!.push({ wall: await hashCost(`${work}/curl`), rss: 0 });
          // the network alone: the same transfers into /dev/null
          const drop = image.layers.flatMap((l) => [
            "-o",
            "/dev/null",
            `${registry.url}/v2/${image.repo}/blobs/${l.digest}`,
          ]);
          samples.network!.push(
            await measure(["curl", "-sf", "--parallel", "--parallel-max", "4", ...drop]),
          );
          // warm: everything present. Runs of tens of milliseconds are timed by hyperfine (many
          // runs, no wrapper process) for the median, and once under time -v for the peak RSS.
          const skiffWarm = [
            Deno.execPath(),
            "run",
            "-A",
            "--quiet",
            CLI,
            "pull",
            "-q",
            "--store",
            `${work}/skiff`,
            ref,
          ];
          const skopeoWarm = [
            "skopeo",
            "copy",
            "-q",
            "--src-tls-verify=false",
            `docker://${ref}`,
            `oci:${work}/skopeo:${ref}`,
          ];
          const missing = [...skiffWarm.slice(0, 7), "--pull", "missing", ...skiffWarm.slice(7)];
          const warm = await hyperfine({
            "skiff warm": skiffWarm,
            "skopeo warm": skopeoWarm,
            ...(PULL_MISSING ? { "skiff --pull missing": missing } : {}),
          });
          for (const [name, wall] of Object.entries(warm)) {
            const rssRun = await measure(
              name.startsWith("skopeo") ? skopeoWarm : name === "skiff warm" ? skiffWarm : missing,
            );
            (samples[name] ??= []).push({ wall, rss: rssRun.rss });
          }
          // unpack, from the store skiff just filled; the tools take turns going first
          const store = `${work}/skiff`;
          const unpackers: Record<string, (dir: string) => string[]> = {
            "skiff unpack": (
              dir,
            ) => [
              Deno.execPath(),
              "run",
              "-A",
              "--quiet",
              CLI,
              "unpack",
              "-q",
              "--store",
              store,
              ref,
              dir,
            ],
            "umoci unpack": (
              dir,
            ) => ["umoci", "unpack", "--rootless", "--image", `${store}:${ref}`, dir],
            "tar -x": (dir) => [
              "bash",
              "-euc",
              `mkdir -p ${dir}; for l in ${
                image.layers.map((l) => `${store}/blobs/sha256/${l.digest.slice(7)}`).join(" ")
              }; do tar -xzf "$l" -C ${dir}; done`,
            ],
          };
          const names = Object.keys(unpackers);
          for (let i = 0; i < names.length; i++) {
            const name = names[(i + round) % names.length]!;
            const dir = `${work}/unpacked`;
            samples[name]!.push(await measure(unpackers[name]!(dir)));
            await Deno.remove(dir, { recursive: true });
          }
        } finally {
          await Deno.remove(work, { recursive: true });
        }
        console.error(
          `bench: ${key} round ${round + 1}: skiff ${samples.skiff!.at(-1)!.wall.toFixed(2)} s, ` +
            `skopeo ${samples.skopeo!.at(-1)!.wall.toFixed(2)} s, curl ${
              samples.curl!.at(-1)!.wall.toFixed(2)
            } s; unpack: skiff ${samples["skiff unpack"]!.at(-1)!.wall.toFixed(2)} s, umoci ${
              samples["umoci unpack"]!.at(-1)!.wall.toFixed(2)
            } s, tar ${samples["tar -x"]!.at(-1)!.wall.toFixed(2)} s`,
        );
      }
      const med = (name: string) => median(samples[name]!.map((s) => s.wall));
      const rss = (name: string) => Math.max(...samples[name]!.map((s) => s.rss));
      const f2 = (x: number) => x.toFixed(2);
      const rootfs = {
        stream: med("skiff unpack cold"),
        pullThenUnpack: med("skiff pull+unpack"),
        skopeoUmoci: med("skopeo+umoci"),
        ratioPullThenUnpack: med("skiff unpack cold") / med("skiff pull+unpack"),
        ratioSkopeoUmoci: med("skiff unpack cold") / med("skopeo+umoci"),
        export: med("skiff export"),
        umociTar: med("umoci+tar -c"),
        ratioExport: med("skiff export") / med("umoci+tar -c"),
        peakRssMiB: {
          stream: rss("skiff unpack cold"),
          pullThenUnpack: rss("skiff pull+unpack"),
          skopeoUmoci: rss("skopeo+umoci"),
          export: rss("skiff export"),
          umociTar: rss("umoci+tar -c"),
        },
      };
      rows.push([
        `${key} time to rootfs, cold (stream vs pull+unpack)`,
        `${f2(rootfs.stream)} s`,
        `skopeo+umoci ${f2(rootfs.skopeoUmoci)} s`,
        `pull+unpack ${f2(rootfs.pullThenUnpack)} s`,
        `${f2(rootfs.ratioSkopeoUmoci)} (skopeo+umoci)`,
        `${f2(rootfs.ratioPullThenUnpack)} (pull+unpack)`,
        `${rootfs.peakRssMiB.stream.toFixed(0)} / ${rootfs.peakRssMiB.skopeoUmoci.toFixed(0)} ` +
        `(pull+unpack ${rootfs.peakRssMiB.pullThenUnpack.toFixed(0)})`,
      ]);
      rows.push([
        `${key} export, from the store`,
        `${f2(rootfs.export)} s`,
        `umoci+tar -c ${f2(rootfs.umociTar)} s`,
        "",
        `${f2(rootfs.ratioExport)} (umoci+tar)`,
        "",
        `${rootfs.peakRssMiB.export.toFixed(0)} / ${rootfs.peakRssMiB.umociTar.toFixed(0)}`,
      ]);
      if (ROOTFS_ONLY) {
        results[key] = { bytes: image.bytes, layers: image.layers.length, rootfs, samples };
        continue;
      }
      const summary = {
        bytes: image.bytes,
        layers: image.layers.length,
        cold: {
          skiff: med("skiff"),
          skopeo: med("skopeo"),
          limit: med("curl"),
          network: med("network"),
          sha256: med("hash"),
          ratioSkopeo: med("skiff") / med("skopeo"),
          ratioLimit: med("skiff") / med("curl"),
          mibPerSecond: {
            skiff: mib / med("skiff"),
            skopeo: mib / med("skopeo"),
            limit: mib / med("curl"),
          },
        },
        warm: {
          skiff: med("skiff warm"),
          skopeo: med("skopeo warm"),
          ratioSkopeo: med("skiff warm") / med("skopeo warm"),
          ...(samples["skiff --pull missing"]
            ? {
              pullMissing: med("skiff --pull missing"),
              ratioPullMissing: med("skiff --pull missing") / med("skopeo warm"),
            }
            : {}),
        },
        unpack: {
          skiff: med("skiff unpack"),
          umoci: med("umoci unpack"),
          tar: med("tar -x"),
          ratioUmoci: med("skiff unpack") / med("umoci unpack"),
          ratioTar: med("skiff unpack") / med("tar -x"),
          mibPerSecond: {
            skiff: mib / med("skiff unpack"),
            umoci: mib / med("umoci unpack"),
            tar: mib / med("tar -x"),
          },
        },
        rootfs,
        peakRssMiB: {
          skiff: rss("skiff"),
          skopeo: rss("skopeo"),
          skiffWarm: rss("skiff warm"),
          skopeoWarm: rss("skopeo warm"),
          skiffUnpack: rss("skiff unpack"),
          umociUnpack: rss("umoci unpack"),
        },
        samples,
      };
      results[key] = summary;
      const f = (x: number) => x.toFixed(2);
      const ms = (x: number) => `${(x * 1000).toFixed(1)} ms`;
      rows.push([
        `${key} cold (${mib.toFixed(0)} MiB)`,
        `${f(summary.cold.skiff)} s (${summary.cold.mibPerSecond.skiff.toFixed(0)} MiB/s)`,
        `${f(summary.cold.skopeo)} s (${summary.cold.mibPerSecond.skopeo.toFixed(0)} MiB/s)`,
        `${f(summary.cold.limit)} s (network ${f(summary.cold.network)} s, sha256 ${
          f(summary.cold.sha256)
        } s)`,
        f(summary.cold.ratioSkopeo),
        f(summary.cold.ratioLimit),
        `${summary.peakRssMiB.skiff.toFixed(0)} / ${summary.peakRssMiB.skopeo.toFixed(0)}`,
      ]);
      rows.push([
        `${key} warm re-pull`,
        `${ms(summary.warm.skiff)}`,
        `${ms(summary.warm.skopeo)}`,
        "",
        f(summary.warm.ratioSkopeo),
        "",
        `${summary.peakRssMiB.skiffWarm.toFixed(0)} / ${summary.peakRssMiB.skopeoWarm.toFixed(0)}`,
      ]);
      rows.push([
        `${key} unpack (vs umoci; limit: tar -x)`,
        `${f(summary.unpack.skiff)} s (${summary.unpack.mibPerSecond.skiff.toFixed(0)} MiB/s)`,
        `umoci ${f(summary.unpack.umoci)} s (${
          summary.unpack.mibPerSecond.umoci.toFixed(0)
        } MiB/s)`,
        `tar -x ${f(summary.unpack.tar)} s`,
        `${f(summary.unpack.ratioUmoci)} (umoci)`,
        f(summary.unpack.ratioTar),
        `${summary.peakRssMiB.skiffUnpack.toFixed(0)} / ${
          summary.peakRssMiB.umociUnpack.toFixed(0)
        } (umoci)`,
      ]);
      if (summary.warm.pullMissing !== undefined) {
        rows.push([
          `${key} skiff --pull missing`,
          `${ms(summary.warm.pullMissing)}`,
          `${ms(summary.warm.skopeo)}`,
          "",
          f(summary.warm.ratioPullMissing!),
          "",
          "",
        ]);
      }
    }
    if (!flags["skip-erofs"] && (!flags.only || flags.only === "erofs")) {
      for (const [key, repo] of [["debian", "bench/debian"], ["small", "bench/multi"]]) {
        const present = (await fetch(`${registry.url}/v2/${repo}/manifests/1`, {
          method: "HEAD",
          headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
        })).ok;
        if (!present && key === "debian") {
          console.error(`bench: pushing the Debian image`);
          await pushDebianImage(host, `${repo}:1`);
        } else if (!present || !images.small) {
          images.small = await buildImage(host, repo!, want[0]![2], `${CACHE}/build-small`);
          await Deno.writeTextFile(infoPath, JSON.stringify(images, null, 2));
        }
        const { row, summary } = await erofsBench(key!, `${host}/${repo}:1`);
        rows.push(row);
        results[`${key}Erofs`] = summary;
      }
    }
    if (ext4Selected) {
      const debian = `${host}/bench/debian:1`;
      const present = (await fetch(`${registry.url}/v2/bench/debian/manifests/1`, {
        method: "HEAD",
        headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
      })).ok;
      if (!present) await pushDebianImage(host, "bench/debian:1");
      for (const [key, ref] of [["debian", debian], ["small", `${host}/${images.small!.repo}:1`]]) {
        const summary = await diskImages(ref!, key === "debian");
        results[`${key} ext4`] = summary;
        const f = (x: number) => x.toFixed(2);
        rows.push([
          `${key} ext4 image (vs umoci + mkfs.ext4 -d)`,
          `${f(summary.skiff)} s`,
          `umoci ${f(summary.umoci)} s + mkfs ${f(summary.mkfs)} s`,
          "",
          `${f(summary.ratio)} (pair)`,
          "",
          `${summary.peakRssMiB.skiff.toFixed(0)} / ${summary.peakRssMiB.pair.toFixed(0)} (pair)`,
        ]);
        if (summary.sized) {
          const z = summary.sized;
          rows.push([
            `${key} ext4 --size 64G (vs umoci + mkfs.ext4 -d 64G)`,
            `${f(z.skiff)} s (${f(z.ratioPlain)}x plain)`,
            `umoci ${f(summary.umoci)} s + mkfs ${f(z.mkfs)} s`,
            "",
            `${f(z.ratio)} (pair)`,
            "",
            "",
          ]);
        }
      }
    }
    const header = [
      "scenario",
      "skiff",
      "skopeo",
      "limit (curl)",
      "skiff/skopeo",
      "skiff/limit",
      "peak RSS MiB skiff / skopeo",
    ];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) =>
      "| " + cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |";
    console.log(
      `\nmedians of ${ROUNDS} rounds, loopback registry, ${navigator.hardwareConcurrency} cores\n`,
    );
    console.log(line(header));
    console.log("| " + widths.map((w) => "-".repeat(w)).join(" | ") + " |");
    for (const r of rows) console.log(line(r));
    const json = JSON.stringify(results, null, 2);
    await Deno.writeTextFile(`${CACHE}/last.json`, json);
    console.log(`\nJSON (also in .bench/last.json):`);
    console.log(JSON.stringify(
      Object.fromEntries(
        Object.entries(results).map(([k, v]) => {
          if (typeof v === "object" && v && "samples" in v) {
            const { samples: _s, ...rest } = v as Record<string, unknown>;
            return [k, rest];
          }
          return [k, v];
        }),
      ),
      null,
      2,
    ));
  } finally {
    await registry.stop();
  }
}

/**
 * skiff unpack --format ext4 REF FILE against the pair it replaces: umoci unpack (as root) and
 * mkfs.ext4 -d of that tree into a file of the same size (no journal, as skiff's default), both
 * from a store skiff pulled first (not timed). Rounds alternate who goes first. With `sized`,
 * also `--size 64G` against umoci + mkfs.ext4 -d of the tree into 64 GiB, and against the plain
 * image: the empty space must cost about nothing, not a second a GiB.
 */
async function diskImages(ref: string, sized = false) {
  const work = await Deno.makeTempDir({ dir: CACHE, prefix: "images-" });
  try {
    const store = `${work}/store`;
    await sh(`${Deno.execPath()} run -A --quiet ${CLI} pull -q --store ${store} ${ref}`);
    const samples: Record<string, Sample[]> = {
      skiff: [],
      umoci: [],
      mkfs: [],
      skiff64G: [],
      mkfs64G: [],
    };
    let size = 0;
    const skiff = (file: string, args: string[] = []) =>
      measure([
        Deno.execPath(),
        "run",
        "-A",
        "--quiet",
        CLI,
        "unpack",
        "-q",
        "--format",
        "ext4",
        ...args,
        "--store",
        store,
        ref,
        file,
      ]);
    // no journal, as skiff's default
    const mkfs = (file: string, blocks: string) =>
      measure([
        "mkfs.ext4",
        "-q",
        "-F",
        "-b",
        "4096",
        "-O",
        "^has_journal",
        "-d",
        `${work}/bundle/rootfs`,
        file,
        blocks,
      ]);
    for (let round = 0; round < ROUNDS; round++) {
      const order = sized ? ["skiff", "pair", "sized"] : ["skiff", "pair"];
      for (const who of round % 2 === 0 ? order : order.reverse()) {
        if (who === "sized") {
          samples.skiff64G!.push(await skiff(`${work}/sized.ext4`, ["--size", "64G"]));
          await Deno.remove(`${work}/sized.ext4`);
        } else if (who === "skiff") {
          samples.skiff!.push(await skiff(`${work}/skiff.ext4`));
          size = (await Deno.stat(`${work}/skiff.ext4`)).size;
          await Deno.remove(`${work}/skiff.ext4`);
        } else {
          samples.umoci!.push(
            await measure(["umoci", "unpack", "--image", `${store}:${ref}`, `${work}/bundle`]),
          );
          // mkfs needs a size: skiff's image's, with a quarter more room for mkfs's own overhead
          const blocks = Math.ceil((size || 1024 ** 3) * 1.25 / 4096);
          samples.mkfs!.push(await mkfs(`${work}/mkfs.ext4`, String(blocks)));
          await Deno.remove(`${work}/mkfs.ext4`);
          if (sized) {
            // the same tree into a 64 GiB file, as mkfs makes a file system of that size
            samples.mkfs64G!.push(await mkfs(`${work}/mkfs64G.ext4`, "64G"));
            await Deno.remove(`${work}/mkfs64G.ext4`);
          }
          await Deno.remove(`${work}/bundle`, { recursive: true });
        }
      }
    }
    const med = (name: string) => median(samples[name]!.map((s) => s.wall));
    const peak = (name: string) => Math.max(...samples[name]!.map((s) => s.rss));
    const pair = med("umoci") + med("mkfs");
    console.error(
      `bench: ${ref} ext4: skiff ${med("skiff").toFixed(2)} s, umoci ${
        med("umoci").toFixed(2)
      } s + mkfs.ext4 ${med("mkfs").toFixed(2)} s; image ${(size / MiB).toFixed(0)} MiB`,
    );
    if (sized) {
      console.error(
        `bench: ${ref} ext4 --size 64G: skiff ${med("skiff64G").toFixed(2)} s (the plain image ${
          med("skiff").toFixed(2)
        } s), umoci + mkfs.ext4 -d 64G ${(med("umoci") + med("mkfs64G")).toFixed(2)} s`,
      );
    }
    return {
      imageBytes: size,
      skiff: med("skiff"),
      umoci: med("umoci"),
      mkfs: med("mkfs"),
      ratio: med("skiff") / pair,
      peakRssMiB: { skiff: peak("skiff"), pair: Math.max(peak("umoci"), peak("mkfs")) },
      ...(sized
        ? {
          sized: {
            skiff: med("skiff64G"),
            mkfs: med("mkfs64G"),
            ratio: med("skiff64G") / (med("umoci") + med("mkfs64G")),
            ratioPlain: med("skiff64G") / med("skiff"),
          },
        }
        : {}),
      samples,
    };
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/**
 * skiff unpack --format erofs against the pair it replaces, umoci unpack then mkfs.erofs, on one
 * image pulled once into a store of its own; the two take turns going first.
 */
async function erofsBench(
  key: string,
  ref: string,
): Promise<{ row: string[]; summary: Record<string, unknown> }> {
  const root = Deno.uid() === 0;
  const work = await Deno.makeTempDir({ dir: CACHE, prefix: "erofs-" });
  const samples: Record<string, Sample[]> = { skiff: [], pair: [] };
  let imageBytes = 0;
  let mkfsBytes = 0;
  try {
    const store = `${work}/store`;
    await sh(`${Deno.execPath()} run -A --quiet ${CLI} pull -q --store ${store} ${ref}`);
    const skiff = () => [
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      CLI,
      "unpack",
      "-q",
      "--format",
      "erofs",
      "--store",
      store,
      ref,
      `${work}/skiff.erofs`,
    ];
    const pair = () => [
      "bash",
      "-euc",
      `umoci unpack ${root ? "" : "--rootless "}--image ${store}:${ref} ${work}/bundle >/dev/null
       mkfs.erofs --quiet ${work}/mkfs.erofs ${work}/bundle/rootfs >/dev/null`,
    ];
    for (let round = 0; round < ROUNDS; round++) {
      for (const tool of round % 2 === 0 ? ["skiff", "pair"] : ["pair", "skiff"]) {
        samples[tool]!.push(await measure(tool === "skiff" ? skiff() : pair()));
        if (tool === "skiff") {
          imageBytes = (await Deno.stat(`${work}/skiff.erofs`)).size;
          await Deno.remove(`${work}/skiff.erofs`);
        } else {
          mkfsBytes = (await Deno.stat(`${work}/mkfs.erofs`)).size;
          await Deno.remove(`${work}/mkfs.erofs`);
          await Deno.remove(`${work}/bundle`, { recursive: true });
        }
      }
      console.error(
        `bench: ${key} erofs round ${round + 1}: skiff ${
          samples.skiff!.at(-1)!.wall.toFixed(2)
        } s, ` +
          `umoci + mkfs.erofs ${samples.pair!.at(-1)!.wall.toFixed(2)} s`,
      );
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
  const med = (name: string) => median(samples[name]!.map((s) => s.wall));
  const rss = (name: string) => Math.max(...samples[name]!.map((s) => s.rss));
  const summary = {
    skiff: med("skiff"),
    umociMkfs: med("pair"),
    ratio: med("skiff") / med("pair"),
    imageBytes: { skiff: imageBytes, mkfs: mkfsBytes },
    peakRssMiB: { skiff: rss("skiff"), umociMkfs: rss("pair") },
    umociAsRoot: root,
    samples,
  };
  const f = (x: number) => x.toFixed(2);
  const row = [
    `${key} erofs (vs umoci${root ? "" : " --rootless"} + mkfs.erofs)`,
    `${f(summary.skiff)} s (${(imageBytes / MiB).toFixed(0)} MiB image)`,
    `pair ${f(summary.umociMkfs)} s (${(mkfsBytes / MiB).toFixed(0)} MiB image)`,
    "",
    `${f(summary.ratio)} (pair)`,
    "",
    `${summary.peakRssMiB.skiff.toFixed(0)} / ${summary.peakRssMiB.umociMkfs.toFixed(0)} (pair)`,
  ];
  return { row, summary };
}

await main();
