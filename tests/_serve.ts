// `skiff serve` in a child process, as a user runs it: on 127.0.0.1 and a free port (`--addr
// 127.0.0.1:0`), its address read from the first line it prints (`--json`), its access log and
// warnings kept from stderr (drained all along, so a full pipe never stops it).

const CLI = new URL("../cli.ts", import.meta.url).pathname;

export interface ServeProcess {
  /** `http://127.0.0.1:PORT` (https with TLS). */
  url: string;
  /** `127.0.0.1:PORT` */
  host: string;
  port: number;
  pid: number;
  /** What it printed on stderr so far. */
  stderr(): string;
  /** Waits until stderr holds `text` (the access log line of a request, a warning). */
  waitForStderr(test: (text: string) => boolean): Promise<string>;
  /** Sends a signal and waits for the exit: the code, and all of stderr. */
  stop(signal?: Deno.Signal): Promise<{ code: number; stderr: string }>;
  /** The process's status (ends when it exits). */
  status: Promise<Deno.CommandStatus>;
}

/** Starts `skiff serve --json --addr 127.0.0.1:0 ARGS`; resolves once it printed its address. */
export async function startServe(
  args: string[],
  env: Record<string, string> = {},
): Promise<ServeProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, "serve", "--json", "--addr", "127.0.0.1:0", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  let err = "";
  const waiters = new Set<() => void>();
  const decoder = new TextDecoder();
  const draining = (async () => {
    for await (const chunk of child.stderr) {
      err += decoder.decode(chunk, { stream: true });
      for (const wake of waiters) wake();
    }
  })();
  const reader = child.stdout.getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) {
      await child.status;
      await draining;
      throw new Error(`skiff serve exited before it listened:\n${err}`);
    }
    out += decoder.decode(value, { stream: true });
  }
  // the rest of stdout is drained too
  (async () => {
    while (!(await reader.read()).done) { /* nothing more is expected */ }
  })();
  const first = JSON.parse(out.slice(0, out.indexOf("\n"))) as { url: string; port: number };
  const waitForStderr = (test: (text: string) => boolean) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        if (test(err)) {
          waiters.delete(check);
          resolve(err);
        }
      };
      waiters.add(check);
      check();
      child.status.then(() => {
        if (waiters.delete(check)) reject(new Error(`skiff serve exited; its stderr:\n${err}`));
      });
    });
  return {
    url: first.url,
    host: `127.0.0.1:${first.port}`,
    port: first.port,
    pid: child.pid,
    stderr: () => err,
    waitForStderr,
    status: child.status,
    stop: async (signal = "SIGTERM") => {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      const status = await child.status;
      await draining;
      return { code: status.code, stderr: err };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The store the serve tests serve: the fixture's images pulled and synced into it, with referrers.

import { type Fixture, startFixture } from "./_fixture.ts";
import { layerOf, LayoutBuilder, mustRun, push } from "./_images.ts";
import {
  describe,
  pushArtifact,
  type PushedDesc,
  pushFallback,
  pushSignature,
} from "./_referrers.ts";
import { tempDir } from "./_temp.ts";
import { skiff } from "./_cli.ts";
import { Store } from "../lib/store/store.ts";
import { nameImage } from "../lib/store/name_image.ts";

export const SPDX = "application/spdx+json";
export const VULN = "application/vnd.example.vuln+json";
export const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";

export interface MultiOne {
  index: string;
  amd64: string;
  arm64: string;
}

export interface ServedStore {
  fx: Fixture;
  /** The store's directory. */
  store: string;
  /** test/single:1 as the registry has it, and its referrers. */
  single: PushedDesc;
  sbom: PushedDesc;
  vuln: PushedDesc;
  /** The cosign-style signature of test/single:1 (tag sha256-<hex>.sig). */
  signature: string;
  /** The registry's digest of test/docker-one:1 (one Docker schema 2 manifest). */
  dockerOne: string;
  /** test/multi-one:1, an index of which the store holds only the amd64 platform. */
  multiOne: MultiOne;
  stop(): Promise<void>;
}

/**
 * A store holding, from the fixture's registry FX: FX/test/single (synced: tag 1, its referrers'
 * fallback index sha256-<hex> listing an SPDX SBOM and a vulnerability report, and a cosign
 * signature sha256-<hex>.sig), FX/test/multi:1 (every platform: the index, the attestation),
 * FX/test/docker:1 (the Docker list, every platform: stored as its OCI conversion), FX/test/
 * docker-one:1 (one Docker manifest), FX/test/multi-one:1 (an index of two platforms of its own, of
 * which only amd64 is pulled), and the list again as docker.io/library/skiffdemo:1 (named by the
 * store's own naming call, as a pull from Docker Hub names it).
 */
export async function servedStore(): Promise<ServedStore> {
  const fx = await startFixture();
  try {
    const url = fx.registry.url;
    const single = await describe(url, "test/single", "1");
    const sbom = await pushArtifact(url, "test/single", single, SPDX, '{"spdxVersion":"SPDX-2.3"}');
    const vuln = await pushArtifact(url, "test/single", single, VULN, '{"vulnerabilities":[]}');
    await pushFallback(url, "test/single", single.digest, [sbom, vuln]);
    const signature = await pushSignature(url, "test/single", single.digest);
    await mustRun("skopeo", [
      "copy",
      "--quiet",
      "--src-tls-verify=false",
      "--dest-tls-verify=false",
      `docker://${fx.host}/test/docker:1`,
      `docker://${fx.host}/test/docker-one:1`,
    ]);
    const dockerOne = (await describe(url, "test/docker-one", "1")).digest;
    // an index of two platforms no other name has
    const b = await LayoutBuilder.create();
    let one: MultiOne;
    try {
      const amd64 = await b.image([await layerOf({ "amd64.txt": "one\n" })], {
        architecture: "amd64",
      });
      const arm64 = await b.image([await layerOf({ "arm64.txt": "one\n" })], {
        architecture: "arm64",
        variant: "v8",
      });
      const index = await b.index([amd64, arm64]);
      await b.tag("one", index);
      await push(b.dir, "one", `${fx.host}/test/multi-one:1`, ["--all"]);
      one = { index: index.digest, amd64: amd64.digest, arm64: arm64.digest };
    } finally {
      await b.remove();
    }
    const store = `${await tempDir({ prefix: "skiff-served-" })}/store`;
    const run = async (args: string[]) => {
      const r = await skiff([...args.slice(0, 1), "--store", store, ...args.slice(1)]);
      if (r.code !== 0) throw new Error(`skiff ${args.join(" ")}: ${r.stderr}`);
    };
    await run(["sync", `${fx.host}/test/single`, `oci:${store}`]);
    await run(["pull", "-q", "--platform", "all", `${fx.host}/test/multi:1`]);
    await run(["pull", "-q", "--platform", "all", `${fx.host}/test/docker:1`]);
    await run(["pull", "-q", `${fx.host}/test/docker-one:1`]);
    await run(["pull", "-q", `${fx.host}/test/multi-one:1`]); // one platform of the index
    const opened = await Store.open(store, { create: false });
    const size = (await Deno.stat(opened.blobPath(fx.dockerList))).size;
    await nameImage(opened, "docker.io/library/skiffdemo:1", {
      mediaType: DOCKER_LIST,
      digest: fx.dockerList,
      size,
    });
    return {
      fx,
      store,
      single,
      sbom,
      vuln,
      signature,
      dockerOne,
      multiOne: one,
      stop: () => fx.stop(),
    };
  } catch (e) {
    await fx.stop();
    throw e;
  }
}
