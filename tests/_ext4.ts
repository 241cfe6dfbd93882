// Reading ext4 images with the real tools: e2fsck, debugfs, a read-only loop mount (as root), and a
// full description of a tree (types, modes, owners, times, devices, links, content, xattrs) to
// compare a mounted image with umoci's unpack of the same image.

import { createHash } from "node:crypto";
import { mustRun, run } from "./_images.ts";
import { tempDir } from "./_temp.ts";

/** e2fsck -fn: the image must be clean (exit 0, nothing to fix). */
export async function e2fsck(image: string): Promise<string> {
  const r = await run("e2fsck", ["-fn", image]);
  const out = new TextDecoder().decode(r.stdout) + r.stderr;
  if (r.code !== 0) throw new Error(`e2fsck -fn ${image} exited ${r.code}:\n${out}`);
  return out;
}

/** debugfs -R REQUEST on the image (read-only), its stdout. */
export async function debugfs(image: string, request: string): Promise<string> {
  const r = await run("debugfs", ["-R", request, image]);
  if (r.code !== 0) throw new Error(`debugfs -R "${request}" failed: ${r.stderr}`);
  return new TextDecoder().decode(r.stdout);
}

/** Mounts the image read-only on a fresh directory, runs `fn`, unmounts and removes it. */
export async function withMount<T>(image: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await tempDir({ prefix: "skiff-mnt-" });
  try {
    await mustRun("mount", ["-o", "loop,ro", "-t", "ext4", image, dir]);
    try {
      return await fn(dir);
    } finally {
      await mustRun("umount", [dir]);
    }
  } finally {
    await Deno.remove(dir);
  }
}

/** One path of a tree. */
export interface TreeNode {
  type: "file" | "dir" | "symlink" | "fifo" | "char" | "block" | "socket";
  mode: number;
  uid: number;
  gid: number;
  /** Modification time in milliseconds (directories' and symlinks' too). */
  mtime: number;
  size?: number;
  sha256?: string;
  target?: string;
  rdev?: number;
  /** xattr name to hex value (`getfattr -e hex`), when there are any. */
  xattrs?: Record<string, string>;
}

/** A whole tree: every path, and the groups of paths sharing an inode. */
export interface Tree {
  nodes: Record<string, TreeNode>;
  hardlinks: string[][];
}

/** Describes everything under `root` (not `root` itself), without following symlinks. */
export async function describeTree(root: string, skip: string[] = []): Promise<Tree> {
  const nodes: Record<string, TreeNode> = {};
  const inodes = new Map<number, string[]>();
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(rel === "" ? root : `${root}/${rel}`)) {
      const path = rel === "" ? e.name : `${rel}/${e.name}`;
      if (skip.includes(path)) continue;
      const full = `${root}/${path}`;
      const info = await Deno.lstat(full);
      const base = {
        mode: info.mode! & 0o7777,
        uid: info.uid!,
        gid: info.gid!,
        mtime: info.mtime!.getTime(),
      };
      if (info.isSymlink) {
        nodes[path] = { type: "symlink", ...base, target: await Deno.readLink(full) };
      } else if (info.isDirectory) {
        nodes[path] = { type: "dir", ...base };
        await walk(path);
      } else if (info.isFile) {
        const hash = createHash("sha256").update(await Deno.readFile(full)).digest("hex");
        nodes[path] = { type: "file", ...base, size: info.size, sha256: hash };
        if (info.nlink! > 1) inodes.set(info.ino!, [...(inodes.get(info.ino!) ?? []), path]);
      } else {
        const type = info.isFifo
          ? "fifo"
          : info.isCharDevice
          ? "char"
          : info.isBlockDevice
          ? "block"
          : "socket";
        nodes[path] = {
          type,
          ...base,
          ...(type === "char" || type === "block" ? { rdev: info.rdev! } : {}),
        };
      }
    }
  };
  await walk("");
  for (const [path, xattrs] of Object.entries(await xattrsUnder(root))) {
    if (nodes[path]) nodes[path]!.xattrs = xattrs;
  }
  const hardlinks = [...inodes.values()].map((g) => g.sort()).sort((a, b) =>
    a[0]!.localeCompare(b[0]!)
  );
  return { nodes, hardlinks };
}

/**
 * Every xattr under `root` (itself included, as "."), in one `getfattr -R` run: relative path to
 * name to hex value (`0x...`). `ownOfSymlinks` reads a symlink's own xattrs (`-h`).
 */
export async function xattrsUnder(
  root: string,
  ownOfSymlinks = false,
): Promise<Record<string, Record<string, string>>> {
  const args = ["-R", "-P", ...(ownOfSymlinks ? ["-h"] : []), "-d", "-m", "-", "-e", "hex", "."];
  const r = await run("getfattr", args, { cwd: root });
  if (r.code !== 0 && r.code !== 1) throw new Error(`getfattr failed: ${r.stderr}`);
  const out: Record<string, Record<string, string>> = {};
  let current: string | undefined;
  for (const line of new TextDecoder().decode(r.stdout).split("\n")) {
    if (line.startsWith("# file: ")) {
      current = line.slice("# file: ".length).replace(/^\.\//, "");
      continue;
    }
    const eq = line.indexOf("=");
    if (current && eq > 0) (out[current] ??= {})[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}
