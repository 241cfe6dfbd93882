// Reading disk images with the real tools: fsck.erofs (check, --extract), the kernel's read-only
// loop mount (root only; always unmounted), and a snapshot of a tree that keeps everything the
// comparison needs exactly: type, permission bits, owner, mtime in nanoseconds, size, content hash,
// symlink target, device numbers, link count groups and xattrs (read by python3's os module, as
// Deno has no lstat nanoseconds, rdev split or getxattr).

import { mustRun, run } from "./_images.ts";

export const isRoot = Deno.uid() === 0;

export interface Entry {
  type: "file" | "dir" | "symlink" | "fifo" | "char" | "block" | "socket";
  mode: number;
  uid: number;
  gid: number;
  /** Nanoseconds since the epoch, as a string. */
  mtime: string;
  size?: number;
  sha256?: string;
  target?: string;
  rdev?: string;
  /** Hex of each xattr value, by name. */
  xattrs?: Record<string, string>;
}

export interface TreeSnapshot {
  entries: Record<string, Entry>;
  /** Paths sharing an inode (non-directories), each group sorted, the groups sorted. */
  hardlinks: string[][];
}

const SNAPSHOT = `
import hashlib, json, os, stat, sys
root = sys.argv[1]
out = {}
inodes = {}
def walk(rel):
    d = os.path.join(root, rel) if rel else root
    for name in sorted(os.listdir(d)):
        path = os.path.join(rel, name) if rel else name
        full = os.path.join(root, path)
        st = os.lstat(full)
        m = st.st_mode
        e = {"mode": stat.S_IMODE(m), "uid": st.st_uid, "gid": st.st_gid,
             "mtime": str(st.st_mtime_ns)}
        if stat.S_ISDIR(m): e["type"] = "dir"
        elif stat.S_ISLNK(m):
            e["type"] = "symlink"; e["target"] = os.readlink(full)
            del e["mode"]; e["mode"] = 0o777
        elif stat.S_ISREG(m):
            e["type"] = "file"; e["size"] = st.st_size
            h = hashlib.sha256()
            with open(full, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""): h.update(chunk)
            e["sha256"] = h.hexdigest()
        elif stat.S_ISFIFO(m): e["type"] = "fifo"
        elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
            e["type"] = "char" if stat.S_ISCHR(m) else "block"
            e["rdev"] = "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
        else: e["type"] = "socket"
        try: names = os.listxattr(full, follow_symlinks=False)
        except OSError: names = []
        if names:
            e["xattrs"] = {n: os.getxattr(full, n, follow_symlinks=False).hex() for n in sorted(names)}
        out[path] = e
        if not stat.S_ISDIR(m) and st.st_nlink > 1:
            inodes.setdefault((st.st_dev, st.st_ino), []).append(path)
        if stat.S_ISDIR(m): walk(path)
walk("")
groups = sorted(sorted(g) for g in inodes.values())
json.dump({"entries": out, "hardlinks": groups}, sys.stdout)
`;
import { tempDir } from "./_temp.ts";

/** Everything under `root`, exactly. */
export async function treeSnapshot(root: string): Promise<TreeSnapshot> {
  const out = await mustRun("python3", ["-c", SNAPSHOT, root]);
  return JSON.parse(new TextDecoder().decode(out));
}

/** `fsck.erofs IMAGE` (and `--extract=DIR` when given): the output, when it exits 0. */
export async function fsckErofs(image: string, extractTo?: string): Promise<string> {
  const args = extractTo ? [`--extract=${extractTo}`, image] : [image];
  const r = await run("fsck.erofs", args);
  const text = new TextDecoder().decode(r.stdout) + r.stderr;
  if (r.code !== 0) throw new Error(`fsck.erofs ${args.join(" ")} exited ${r.code}: ${text}`);
  return text;
}

/** Mounts an image read-only (loop, as root), runs `fn` on the mount point, always unmounts. */
export async function withErofsMount<T>(
  image: string,
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  const dir = await tempDir({ prefix: "skiff-mnt-" });
  try {
    await mustRun("mount", ["-o", "loop,ro", "-t", "erofs", image, dir]);
    try {
      return await fn(dir);
    } finally {
      await mustRun("umount", [dir]);
    }
  } finally {
    await Deno.remove(dir);
  }
}

/** Asserts two snapshots equal, entry by entry (so a failure names the path). */
export function diffSnapshots(ours: TreeSnapshot, theirs: TreeSnapshot): string[] {
  const problems: string[] = [];
  const paths = new Set([...Object.keys(ours.entries), ...Object.keys(theirs.entries)]);
  for (const path of [...paths].sort()) {
    const a = JSON.stringify(ours.entries[path]);
    const b = JSON.stringify(theirs.entries[path]);
    if (a !== b) problems.push(`${path}: ${a} != ${b}`);
  }
  if (JSON.stringify(ours.hardlinks) !== JSON.stringify(theirs.hardlinks)) {
    problems.push(
      `hardlinks: ${JSON.stringify(ours.hardlinks)} != ${JSON.stringify(theirs.hardlinks)}`,
    );
  }
  return problems;
}

/** Owner and permission bits (0777: dump.erofs prints no setuid, setgid, sticky) of one path, as
 * dump.erofs reads them from the image, without a mount. */
export async function dumpErofsOwner(
  image: string,
  path: string,
): Promise<{ uid: number; gid: number; mode: number }> {
  const text = new TextDecoder().decode(await mustRun("dump.erofs", [`--path=${path}`, image]));
  const m = /Uid: (\d+)\s+Gid: (\d+)\s+Access: ([0-7]+)\//.exec(text);
  if (!m) throw new Error(`dump.erofs --path=${path}: no owner in ${text}`);
  return { uid: Number(m[1]), gid: Number(m[2]), mode: parseInt(m[3]!, 8) };
}
