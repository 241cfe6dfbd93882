// The real Distribution registry (Debian `docker-registry`), started for a test on 127.0.0.1 and a
// free port, with its storage in a temporary directory.
//
// The port is found free and released before the registry binds it, so another process can take
// it in between (another test's registry, under --parallel). Each registry therefore answers with
// a header naming it (Distribution's `http.headers`), and it counts as up only when the answer on
// its port carries its own name and the process is still alive; otherwise it is started again on
// another port.

import { tempDir } from "./_temp.ts";

export interface RegistryServer {
  /** `127.0.0.1:PORT` */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** The registry's temporary directory (config, storage). */
  dir: string;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface RegistryOptions {
  /** Extra YAML appended to the config (e.g. an `auth:` section). */
  extraConfig?: string;
  /** Reuse a storage directory (to serve images pushed to an earlier registry). */
  storage?: string;
}

/** A port nobody listened on a moment ago (it may be taken by the time it is used). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

export async function startRegistry(options: RegistryOptions = {}): Promise<RegistryServer> {
  const dir = await tempDir({ prefix: "skiff-registry-" });
  const storage = options.storage ?? `${dir}/data`;
  const name = crypto.randomUUID();
  for (let attempt = 0; attempt < 10; attempt++) {
    const port = freePort();
    const config = `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${storage}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:${port}
  headers:
    X-Skiff-Test-Registry: [${name}]
${options.extraConfig ?? ""}
`;
    await Deno.writeTextFile(`${dir}/config.yml`, config);
    const verbose = Deno.env.get("SKIFF_TEST_VERBOSE") === "1";
    const child = new Deno.Command("docker-registry", {
      args: ["serve", `${dir}/config.yml`],
      stdout: verbose ? "inherit" : "null",
      stderr: verbose ? "inherit" : "null",
      stdin: "null",
    }).spawn();
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 10_000;
    let up = false;
    let exited = false;
    child.status.then(() => exited = true);
    while (Date.now() < deadline && !exited) {
      try {
        const res = await fetch(`${url}/v2/`);
        const body = await res.text();
        // a TLS registry answers plain HTTP with Go's 400 and no headers: its name cannot be
        // read that way, so only its being alive is checked
        const tls = res.status === 400 && body.includes("HTTP request to an HTTPS server");
        if (!tls && res.headers.get("x-skiff-test-registry") !== name) break; // not ours
        up = !exited;
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    if (up) {
      // the port answered with our name; make sure the process that did is ours and stays up
      await new Promise((r) => setTimeout(r, 0));
      up = !exited;
    }
    if (!up) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
      continue;
    }
    const stop = async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    };
    return { host: `127.0.0.1:${port}`, url, dir, stop, [Symbol.asyncDispose]: stop };
  }
  throw new Error("Cannot start docker-registry: it did not answer on /v2/");
}
