// A realistic image of the tests' own: a Debian root filesystem from real packages (unpacked with
// dpkg-deb from .deb files that tests/_setup.ts downloads once), in three layers that delete,
// replace and hide what the ones below made; and a snapshot of a directory tree to compare
// skiff's result with umoci's.

import { createHash } from "node:crypto";
import { gzip, type Layer, LayoutBuilder, mustRun, push, sha256 } from "./_images.ts";
import { tempDir } from "./_temp.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** Where tests/_setup.ts keeps the downloaded packages (gitignored). */
export const DEB_CACHE = `${ROOT}/.cache/debs`;

/** The packages of the image: base system, a shell, coreutils, perl (hardlinks), tzdata (many
 * symlinks), passwd (setuid programs). */
export const DEB_PACKAGES = ["base-files", "dash", "coreutils", "perl-base", "tzdata", "passwd"];

export async function cachedDebs(): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  try {
    for await (const e of Deno.readDir(DEB_CACHE)) {
      const name = e.name.split("_")[0]!;
      if (e.name.endsWith(".deb") && DEB_PACKAGES.includes(name)) {
        found[name] = `${DEB_CACHE}/${e.name}`;
      }
    }
  } catch {
    // no cache yet
  }
  const missing = DEB_PACKAGES.filter((p) => !found[p]);
  if (missing.length > 0) {
    throw new Error(
      `the test image needs ${missing.join(" ")} in ${DEB_CACHE}: run deno task test ` +
        `(tests/_setup.ts downloads them)`,
    );
  }
  return found;
}

async function tarLayer(dir: string): Promise<Layer> {
  await Deno.chmod(dir, 0o755);
  const tar = await mustRun("tar", [
    "--format=pax",
    "--sort=name",
    "--numeric-owner",
    "-C",
    dir,
    "-cf",
    "-",
    ".",
  ]);
  const gz = await gzip(tar);
  return {
    mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
    digest: sha256(gz),
    size: gz.length,
    bytes: gz,
    diffId: sha256(tar),
  };
}

async function write(path: string, content: string): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(path, content);
}

/** The Debian image, pushed as `NAME` to the registry at `host`; returns its manifest digest. */
export async function pushDebianImage(host: string, name: string): Promise<string> {
  const debs = await cachedDebs();
  const work = await tempDir({ prefix: "skiff-debian-" });
  const b = await LayoutBuilder.create();
  try {
    // layer 1: the base system
    const l1 = `${work}/l1`;
    await Deno.mkdir(l1);
    for (const p of ["base-files", "dash", "coreutils", "perl-base"]) {
      await mustRun("dpkg-deb", ["-x", debs[p]!, l1]);
    }
    await Deno.symlink("/usr/share/zoneinfo/Etc/UTC", `${l1}/etc/localtime`); // absolute
    await write(`${l1}/etc/hostname`, "skiff\n"); // a file, a directory in layer 3
    await write(`${l1}/opt/old/a.txt`, "old a\n"); // deleted in layer 3
    await write(`${l1}/opt/old/deep/b.txt`, "old b\n");
    await write(`${l1}/var/cache/skiff/lower-1`, "hidden by the opaque dir\n");
    await write(`${l1}/var/cache/skiff/sub/lower-2`, "hidden too\n");
    await write(`${l1}/opt/owned`, "owned by 1234:5678\n");
    if (Deno.uid() === 0) await Deno.chown(`${l1}/opt/owned`, 1234, 5678); // else: the tester's
    await Deno.chmod(`${l1}/opt/owned`, 0o2750); // setgid, kept after the chown
    // layer 2: more packages; a directory becomes a file; links and non-ASCII names
    const l2 = `${work}/l2`;
    await Deno.mkdir(l2);
    for (const p of ["tzdata", "passwd"]) await mustRun("dpkg-deb", ["-x", debs[p]!, l2]);
    await write(`${l2}/usr/share/doc/dash`, "a file where a directory was\n");
    await write(`${l2}/home/grüße/naïve résumé.txt`, "non-ASCII names\n");
    await write(`${l2}/opt/日本語.txt`, "こんにちは\n");
    await write(`${l2}/opt/hard-a`, "two names, one inode\n");
    await Deno.link(`${l2}/opt/hard-a`, `${l2}/opt/hard-b`);
    await Deno.mkdir(`${l2}/usr/local/bin`, { recursive: true });
    await Deno.symlink("../../../bin/dash", `${l2}/usr/local/bin/sh`); // relative
    await Deno.mkdir(`${l2}/srv/sticky`, { recursive: true });
    await Deno.chmod(`${l2}/srv/sticky`, 0o1777);
    // layer 3: whiteouts, an opaque directory, a file becomes a directory, and back
    const l3 = `${work}/l3`;
    await write(`${l3}/usr/bin/.wh.yes`, ""); // a file
    await write(`${l3}/usr/share/doc/.wh.coreutils`, ""); // a directory
    await write(`${l3}/opt/.wh.old`, "");
    await write(`${l3}/var/cache/skiff/.wh..wh..opq`, "");
    await write(`${l3}/var/cache/skiff/upper`, "the only one left\n");
    await write(`${l3}/etc/hostname/inner`, "a directory where a file was\n");
    await write(`${l3}/usr/share/doc/dash/again`, "a directory again\n");
    await write(`${l3}/etc/issue`, "skiff test image\n");
    await Deno.utime(`${l3}/etc/issue`, 1_234_567_890, 1_234_567_890);

    const layers = [await tarLayer(l1), await tarLayer(l2), await tarLayer(l3)];
    const image = await b.image(layers, {
      architecture: Deno.build.arch === "aarch64" ? "arm64" : "amd64",
    });
    await b.tag("debian", image);
    await push(b.dir, "debian", `${host}/${name}`);
    return image.digest;
  } finally {
    await b.remove();
    await Deno.remove(work, { recursive: true });
  }
}

export interface Node {
  type: "file" | "dir" | "symlink" | "fifo" | "other";
  mode: number;
  size?: number;
  sha256?: string;
  target?: string;
  mtime?: number;
}

export interface Snapshot {
  nodes: Record<string, Node>;
  /** Paths that share an inode, each group sorted, the groups sorted. */
  hardlinks: string[][];
}

/** Everything under `root`: type, permission bits, size, content hash, link target, mtime. */
export async function snapshot(root: string): Promise<Snapshot> {
  const nodes: Record<string, Node> = {};
  const inodes = new Map<string, string[]>();
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(rel === "" ? root : `${root}/${rel}`)) {
      const path = rel === "" ? e.name : `${rel}/${e.name}`;
      const full = `${root}/${path}`;
      const info = await Deno.lstat(full);
      const mode = info.mode! & 0o7777;
      const mtime = Math.floor(info.mtime!.getTime() / 1000);
      if (info.isSymlink) {
        nodes[path] = { type: "symlink", mode: 0, target: await Deno.readLink(full) };
      } else if (info.isDirectory) {
        nodes[path] = { type: "dir", mode, mtime };
        await walk(path);
      } else if (info.isFile) {
        const hash = createHash("sha256").update(await Deno.readFile(full)).digest("hex");
        nodes[path] = { type: "file", mode, size: info.size, sha256: hash, mtime };
        if (info.nlink! > 1) {
          const key = `${info.dev}:${info.ino}`;
          inodes.set(key, [...(inodes.get(key) ?? []), path]);
        }
      } else {
        nodes[path] = { type: info.isFifo ? "fifo" : "other", mode, mtime };
      }
    }
  };
  await walk("");
  const hardlinks = [...inodes.values()].map((g) => g.sort()).sort((a, b) =>
    a[0]!.localeCompare(b[0]!)
  );
  return { nodes, hardlinks };
}
