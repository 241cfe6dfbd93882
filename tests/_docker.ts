// A Docker engine of the test's own: `dockerd` (Debian docker.io) with its data, its runtime
// state and its socket in temporary directories, no iptables, no bridge, the vfs storage driver
// (no mounts). It loads and saves images; no container is ever run. The socket path must stay
// under 108 bytes, so the runtime directory is a short one under /tmp (removed with the module).

import { run } from "./_images.ts";
import { tempDir } from "./_temp.ts";

export interface DockerEngine {
  /** `docker ARGS` against this engine. */
  docker(args: string[]): Promise<{ code: number; stdout: Uint8Array; stderr: string }>;
  /** Stops the engine (SIGTERM, then its exit) and its containerd. */
  stop(): Promise<void>;
}

export interface DockerOptions {
  /** `registry-mirrors` of daemon.json: where it pulls Docker Hub's images from first. */
  registryMirrors?: string[];
  /** More environment for dockerd (e.g. a dead `HTTPS_PROXY`, so Docker Hub is never reached). */
  env?: Record<string, string>;
}

/** Starts a private engine; resolves once it answers `docker info`. */
export async function startDocker(options: DockerOptions = {}): Promise<DockerEngine> {
  const data = await tempDir({ prefix: "skiff-docker-" });
  const exec = await tempDir({ dir: "/tmp", prefix: "skd-" });
  const host = `unix://${exec}/docker.sock`;
  // its own configuration file, so it reads nothing of /etc/docker and writes its key here
  await Deno.writeTextFile(
    `${data}/daemon.json`,
    JSON.stringify({
      "deprecated-key-path": `${data}/key.json`,
      ...(options.registryMirrors ? { "registry-mirrors": options.registryMirrors } : {}),
    }),
  );
  // dockerd makes /run/docker/plugins whatever its other paths are: removed after, if new
  const hadRunDir = await Deno.stat("/run/docker").then(() => true, () => false);
  const daemon = new Deno.Command("dockerd", {
    args: [
      "--config-file",
      `${data}/daemon.json`,
      "--data-root",
      `${data}/root`,
      "--exec-root",
      `${exec}/x`,
      "--pidfile",
      `${exec}/dockerd.pid`,
      "--host",
      host,
      "--iptables=false",
      "--ip6tables=false",
      "--bridge=none",
      "--storage-driver=vfs",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    ...(options.env ? { env: options.env } : {}),
  }).spawn();
  // its log, drained (a full pipe would stop it) and kept to the last few KiB for an error
  let log = "";
  const decoder = new TextDecoder();
  const draining = (async () => {
    for await (const chunk of daemon.stderr) log = (log + decoder.decode(chunk)).slice(-4096);
  })();
  const exited = daemon.status;
  let done = false;
  exited.finally(() => done = true);
  const docker = (args: string[]) => run("docker", ["--host", host, ...args]);
  const stop = async () => {
    if (!done) daemon.kill("SIGTERM");
    await exited;
    await draining;
    if (!hadRunDir) await Deno.remove("/run/docker", { recursive: true }).catch(() => {});
  };
  // the engine is up when it answers; an engine that exits first fails here with its log
  for (let i = 0;; i++) {
    if (done) {
      await draining;
      throw new Error(`dockerd exited before it answered:\n${log}`);
    }
    const info = await docker(["info", "--format", "{{.Driver}}"]);
    if (info.code === 0) break;
    if (i === 600) {
      await stop();
      throw new Error(`dockerd did not answer: ${info.stderr}\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { docker, stop };
}
