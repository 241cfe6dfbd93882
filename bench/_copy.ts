// `deno task bench --copy`: skiff copy vs `skopeo copy docker:// docker://` from the bench
// registry into a fresh, empty one per run, and the upload floor: the same blobs, from files, each
// a POST for a session and one PUT by curl, all at once (what the network and the registry need).

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

/** One round: each of the three into its own fresh registry; the order rotates by round. */
export async function benchCopyRound(
  sourceHost: string,
  storage: string,
  image: CopyImage,
  round: number,
  cli: string,
  measure: Measure,
): Promise<Record<string, CopySample>> {
  const ref = `${sourceHost}/${image.repo}:1`;
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
    // POST for a session, then one PUT of the file with ?digest=, every blob at once
    "curl upload": (host) => [
      "bash",
      "-euc",
      image.layers.map((l) =>
        `( loc=$(curl -sf -D - -o /dev/null -X POST http://${host}/v2/${image.repo}/blobs/uploads/ ` +
        `| tr -d '\\r' | sed -n 's/^[Ll]ocation: //p'); ` +
        `curl -sf -o /dev/null -X PUT -H 'content-type: application/octet-stream' ` +
        `--data-binary @${blobFile(storage, l.digest)} "$loc&digest=${l.digest}" ) &`
      ).join("\n") + "\nwait",
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
