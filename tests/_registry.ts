import { tempDir } from "./_temp.ts";
// The real Distribution registry (Debian `docker-registry`), started for a test on 127.0.0.1 and a
// free port, with its storage in a temporary directory.

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

export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

export async function startRegistry(options: RegistryOptions = {}): Promise<RegistryServer> {
  const dir = await tempDir({ prefix: "skiff-registry-" });
  const storage = options.storage ?? `${dir}/data`;
  for (let attempt = 0; attempt < 5; attempt++) {
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
        await res.body?.cancel();
        up = true;
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
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
