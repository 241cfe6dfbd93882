// `deno task bench --copy`: skiff copy vs `skopeo copy docker:// docker://` from the bench
// registry into a fresh, empty one per run, and the upload floor: the same blobs, from files, each
// a POST for a session and one PUT by curl, all at once (what the network and the registry need).
// Beside them: the same copy by a bare Deno `fetch` pipe, without and with a SHA-256 on the way
// (bench/_deno_floor.ts: what Deno itself costs), and push from a store (skiff push from its store
// vs `skopeo copy oci:DIR docker://`, both stores filled once, untimed).

import { startRegistry } from "../tests/_registry.ts";

export interface CopyImage {
  repo: string;
  layers: { digest: string; size: number }[];
  bytes: number;
}

export interface CopySample {
  wall: number;
  rss: number;
}

export type Measure = (cmd: string[]) => Promise<CopySample>;

/** The stores push reads from: skiff's (the image pulled into it) and an OCI layout for skopeo. */
export interface PushStores {
  skiff: string;
  oci: string;
}

/** Fills the two stores push is measured from (untimed). */
export async function preparePush(
  sourceHost: string,
  image: CopyImage,
  cli: string,
  dir: string,
): Promise<PushStores> {
  const ref = `${sourceHost}/${image.repo}:1`;
  const stores = { skiff: `${dir}/skiff`, oci: `${dir}/oci` };
  for (
    const args of [
      [Deno.execPath(), "run", "-A", "--quiet", cli, "pull", "-q", "--store", stores.skiff, ref],
      ["skopeo", "copy", "-q", "--src-tls-verify=false", `docker://${ref}`, `oci:${stores.oci}:1`],
    ]
  ) {
    const out = await new Deno.Command(args[0]!, { args: args.slice(1), stdout: "null" }).output();
    if (!out.success) throw new Error(`${args.join(" ")} failed`);
  }
  return stores;
}

/** One round: each run into its own fresh registry; the order rotates by round. */
export async function benchCopyRound(
  sourceHost: string,
  storage: string,
  image: CopyImage,
  round: number,
  cli: string,
  measure: Measure,
  stores: PushStores,
): Promise<Record<string, CopySample>> {
  const ref = `${sourceHost}/${image.repo}:1`;
  const floor = new URL("./_deno_floor.ts", import.meta.url).pathname;
  const layers = JSON.stringify(image.layers);
  const runs: Record<string, (host: string) => string[]> = {
    "skiff copy": (host) => [
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      cli,
      "copy",
      "-q",
      ref,
      `${host}/${image.repo}:1`,
    ],
    "skopeo copy": (host) => [
      "skopeo",
      "copy",
      "-q",
      "--src-tls-verify=false",
      "--dest-tls-verify=false",
      `docker://${ref}`,
      `docker://${host}/${image.repo}:1`,
    ],
    "deno fetch pipe": (host) => [
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      floor,
      sourceHost,
      host,
      image.repo,
      layers,
    ],
    "deno fetch pipe + sha256": (host) => [
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      floor,
      "--hash",
      sourceHost,
      host,
      image.repo,
      layers,
    ],
    "skiff push": (host) => [
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      cli,
      "push",
      "-q",
      "--store",
      stores.skiff,
      ref,
      `${host}/${image.repo}:1`,
    ],
    "skopeo push": (host) => [
      "skopeo",
      "copy",
      "-q",
      "--dest-tls-verify=false",
      `oci:${stores.oci}:1`,
      `docker://${host}/${image.repo}:1`,
    ],
    // POST for a session, then one PUT of the file with ?digest=, every blob at once; the file is
    // streamed (-T: --data-binary @file reads it whole into memory first, and a 1 GiB one failed),
    // and a PUT that fails fails the run (a bare `wait` would not say)
    "curl upload": (host) => [
      "bash",
      "-euc",
      'pids=""\n' +
      image.layers.map((l) =>
        `( loc=$(curl -sf -D - -o /dev/null -X POST http://${host}/v2/${image.repo}/blobs/uploads/ ` +
        `| tr -d '\\r' | sed -n 's/^[Ll]ocation: //p'); ` +
        `curl -sf -o /dev/null -X PUT -H 'content-type: application/octet-stream' ` +
        `-T ${blobFile(storage, l.digest)} "$loc&digest=${l.digest}" ) & pids="$pids $!"`
      ).join("\n") + '\nfor p in $pids; do wait "$p"; done',
    ],
  };
  const names = Object.keys(runs);
  const out: Record<string, CopySample> = {};
  for (let i = 0; i < names.length; i++) {
    const name = names[(i + round) % names.length]!;
    await using fresh = await startRegistry();
    out[name] = await measure(runs[name]!(fresh.host));
    // what arrived is checked, not timed: every layer is there
    for (const l of image.layers) {
      const res = await fetch(`${fresh.url}/v2/${image.repo}/blobs/${l.digest}`, {
        method: "HEAD",
      });
      await res.body?.cancel();
      if (res.status !== 200) throw new Error(`${name}: layer ${l.digest} missing after the copy`);
    }
  }
  return out;
}

/** Where Distribution's filesystem driver keeps a blob's bytes. */
function blobFile(storage: string, digest: string): string {
  const hex = digest.slice(7);
  return `${storage}/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
}
