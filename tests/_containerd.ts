// A containerd of the test's own (Debian `containerd`, the one docker.io depends on): its root,
// state and sockets in temporary directories, its CRI and storage plugins off. `ctr content
// fetch` against it pulls an image's manifests, configs and layers into its content store (no
// unpack, no mount, no container). The socket path must stay under 108 bytes, so the state
// directory is a short one under /tmp (removed with the module).

import { run } from "./_images.ts";
import { tempDir } from "./_temp.ts";

export interface Containerd {
  /** `ctr ARGS` against this containerd (namespace `skiff-test`). */
  ctr(args: string[]): Promise<{ code: number; stdout: Uint8Array; stderr: string }>;
  /** Stops it (SIGTERM, then its exit). */
  stop(): Promise<void>;
}

/** Starts a private containerd; resolves once `ctr version` answers. */
export async function startContainerd(): Promise<Containerd> {
  const root = await tempDir({ prefix: "skiff-containerd-" });
  const state = await tempDir({ dir: "/tmp", prefix: "skc-" });
  const socket = `${state}/c.sock`;
  const config = `${root}/config.toml`;
  await Deno.writeTextFile(
    config,
    `version = 2
root = "${root}/root"
state = "${state}/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${state}/t.sock"
`,
  );
  const daemon = new Deno.Command("containerd", {
    args: ["--config", config],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const decoder = new TextDecoder();
  const draining = (async () => {
    for await (const chunk of daemon.stderr) log = (log + decoder.decode(chunk)).slice(-4096);
  })();
  let done = false;
  const exited = daemon.status.finally(() => done = true);
  const ctr = (args: string[]) =>
    run("ctr", ["--address", socket, "--namespace", "skiff-test", ...args]);
  const stop = async () => {
    if (!done) daemon.kill("SIGTERM");
    await exited;
    await draining;
  };
  for (let i = 0;; i++) {
    if (done) {
      await draining;
      throw new Error(`containerd exited before it answered:\n${log}`);
    }
    const version = await ctr(["version"]);
    if (version.code === 0) break;
    if (i === 300) {
      await stop();
      throw new Error(`containerd did not answer: ${version.stderr}\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ctr, stop };
}
