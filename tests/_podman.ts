// podman with its storage in a test's own directory (vfs driver: no mounts, nothing outside it).
// podman refuses a runroot longer than 50 characters, and the suite's TMPDIR is deep: the runroot
// goes in a short directory of its own under /tmp (removed with the test module).

import { run } from "./_images.ts";
import { tempDir } from "./_temp.ts";

const runroots = new Map<string, string>();

async function runroot(root: string): Promise<string> {
  let dir = runroots.get(root);
  if (!dir) runroots.set(root, dir = await tempDir({ dir: "/tmp", prefix: "skp-" }));
  return dir;
}

/** `podman ARGS` with its root under `root` (and `env`, e.g. CONTAINERS_REGISTRIES_CONF). */
export async function podman(root: string, args: string[], env?: Record<string, string>) {
  return await run("podman", [
    "--root",
    `${root}/root`,
    "--runroot",
    await runroot(root),
    "--storage-driver",
    "vfs",
    ...args,
  ], env ? { env } : {});
}
