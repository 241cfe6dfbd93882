// RootfsWriter: entries of every type with their metadata, whiteouts, and the path guard against
// hostile layers, each checked against a canary directory beside the root.

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { makeTar, type TarSpec } from "../_tar.ts";
import { applyLayer } from "../../lib/layer/apply_layer.ts";
import { type LayerHandler, type LayerNode, LayerTree } from "../../lib/layer/layer_tree.ts";
import { RootfsWriter, type RootfsWriterOptions } from "../../lib/unpack/rootfs_writer.ts";
import { tempDir } from "../_temp.ts";

const isRoot = Deno.uid() === 0;
const dec = new TextDecoder();

async function* chunks(bytes: Uint8Array, size = 700): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

interface Sandbox {
  dir: string;
  root: string;
  canary: string;
  writer: RootfsWriter;
  apply(entries: TarSpec[]): Promise<void>;
  /** The canary is as it was, and nothing but root/ and canary/ is in the sandbox. */
  checkCanary(): Promise<void>;
}

async function sandbox(options: RootfsWriterOptions = {}): Promise<Sandbox> {
  const dir = await tempDir({ prefix: "skiff-guard-" });
  const root = `${dir}/root`;
  const canary = `${dir}/canary`;
  await Deno.mkdir(root);
  await Deno.mkdir(canary);
  await Deno.writeTextFile(`${canary}/secret`, "do not touch\n");
  const writer = new RootfsWriter(root, options);
  return {
    dir,
    root,
    canary,
    writer,
    apply: (entries) => writer.applyLayer(chunks(makeTar(entries))),
    async checkCanary() {
      const inDir = [];
      for await (const e of Deno.readDir(dir)) inDir.push(e.name);
      assertEquals(inDir.sort(), ["canary", "root"]);
      const inCanary = [];
      for await (const e of Deno.readDir(canary)) inCanary.push(e.name);
      assertEquals(inCanary, ["secret"]);
      const secret = await Deno.lstat(`${canary}/secret`);
      assertEquals([secret.isFile, secret.nlink, secret.size], [true, 1, 13]);
      assertEquals(await Deno.readTextFile(`${canary}/secret`), "do not touch\n");
    },
  };
}

async function ls(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("RootfsWriter: types, modes with setuid/setgid/sticky, times, owners when root", async () => {
  const s = await sandbox();
  try {
    await s.apply([
      { path: "./", type: "directory", mode: 0o750, mtime: 1_000_000_000 },
      { path: "bin/", type: "directory", mode: 0o555, mtime: 1_100_000_000 },
      {
        path: "bin/su",
        content: "#!/bin/sh\n",
        mode: 0o4755,
        uid: 0,
        gid: 0,
        mtime: 1_200_000_000,
      },
      { path: "bin/wall", content: "x", mode: 0o2755, uid: 1001, gid: 5, mtime: 1_200_000_001 },
      { path: "tmp/", type: "directory", mode: 0o1777 },
      { path: "bin/sh", type: "symlink", linkname: "su", mtime: 1_300_000_000, uid: 7, gid: 8 },
      { path: "bin/su2", type: "link", linkname: "bin/su" },
      { path: "run/fifo", type: "fifo", mode: 0o620, mtime: 1_400_000_000 },
      { path: "dev/null", type: "char", devmajor: 1, devminor: 3, mode: 0o666 },
      { path: "dev/loop0", type: "block", devmajor: 7, devminor: 0, mode: 0o660 },
      { path: "empty", content: "" },
      { path: "bin/private", content: "secret", mode: 0o400 },
    ]);
    s.writer.finish();
    const st = (p: string) => Deno.lstat(`${s.root}/${p}`);
    const su = await st("bin/su");
    assertEquals([su.mode! & 0o7777, su.mtime!.getTime() / 1000], [0o4755, 1_200_000_000]);
    assertEquals((await st("bin/wall")).mode! & 0o7777, 0o2755);
    assertEquals((await st("tmp")).mode! & 0o7777, 0o1777);
    const bin = await st("bin");
    assertEquals([bin.mode! & 0o7777, bin.mtime!.getTime() / 1000], [0o555, 1_100_000_000]);
    const root = await Deno.stat(s.root);
    assertEquals([root.mode! & 0o7777, root.mtime!.getTime() / 1000], [0o750, 1_000_000_000]);
    assertEquals(await Deno.readLink(`${s.root}/bin/sh`), "su");
    assertEquals((await st("bin/sh")).mtime!.getTime() / 1000, 1_300_000_000);
    assertEquals((await st("bin/su2")).ino, su.ino);
    const fifo = await st("run/fifo");
    assertEquals([fifo.isFifo, fifo.mode! & 0o7777], [true, 0o620]);
    assertEquals((await st("empty")).size, 0);
    assertEquals((await st("bin/private")).mode! & 0o7777, 0o400);
    if (isRoot) {
      const dev = await st("dev/null");
      assertEquals([dev.isCharDevice, dev.rdev, dev.mode! & 0o7777], [true, 0x103, 0o666]);
      assertEquals((await st("dev/loop0")).isBlockDevice, true);
      const wall = await st("bin/wall");
      assertEquals([wall.uid, wall.gid], [1001, 5]);
      assertEquals([(await st("bin/sh")).uid, (await st("bin/sh")).gid], [7, 8]);
      assertEquals(s.writer.skippedDevices, 0);
    } else {
      assertEquals(await ls(`${s.root}/dev`), []);
      assertEquals(s.writer.skippedDevices, 2);
    }
    assertEquals([s.writer.entries, s.writer.bytes], [12, 17]);
    await s.checkCanary();
  } finally {
    await Deno.chmod(`${s.root}/bin`, 0o755);
    await Deno.remove(s.dir, { recursive: true });
  }
});

Deno.test("RootfsWriter: without owners, device nodes are skipped and counted", async () => {
  const s = await sandbox({ owners: false });
  try {
    await s.apply([
      { path: "dev/null", type: "char", devmajor: 1, devminor: 3 },
      { path: "dev/sda", type: "block", devmajor: 8, devminor: 0 },
      { path: "dev/fifo", type: "fifo" },
      { path: "mine", content: "x", uid: 4321, gid: 4321 },
    ]);
    s.writer.finish();
    assertEquals(s.writer.skippedDevices, 2);
    assertEquals(await ls(`${s.root}/dev`), ["fifo"]);
    assertEquals((await Deno.lstat(`${s.root}/mine`)).uid, Deno.uid());
  } finally {
    await Deno.remove(s.dir, { recursive: true });
  }
});

Deno.test("RootfsWriter: whiteouts and opaque directories, across layers", async () => {
  const s = await sandbox();
  try {
    await s.apply([
      { path: "a/", type: "directory" },
      { path: "a/keep", content: "1" },
      { path: "a/drop", content: "2" },
      { path: "a/sub/deep", content: "3" },
      { path: "o/lower", content: "4" },
      { path: "o/lowerdir/x", content: "5" },
      { path: "f", content: "a file, then a directory" },
      { path: "d/inside", content: "a directory, then a file" },
    ]);
    await s.apply([
      { path: "a/.wh.drop" },
      { path: "a/.wh.sub" },
      { path: "a/.wh.never-existed" },
      { path: "missing/.wh.x" }, // under a directory that is not there: nothing to do
      { path: "o/upper-before", content: "kept: this layer's" },
      { path: "o/.wh..wh..opq" },
      { path: "o/upper-after", content: "kept too" },
      { path: "o/lowerdir/", type: "directory" }, // re-made by this layer: kept, emptied
      { path: "a/.wh..wh.plnk.123" }, // aufs metadata: ignored
      { path: "f/", type: "directory" },
      { path: "f/child", content: "x" },
      { path: "d", content: "now a file" },
    ]);
    s.writer.finish();
    assertEquals(await ls(`${s.root}/a`), ["keep"]);
    assertEquals(await ls(`${s.root}/o`), ["lowerdir", "upper-after", "upper-before"]);
    assertEquals(await ls(`${s.root}/o/lowerdir`), []);
    assertEquals(await ls(`${s.root}/f`), ["child"]);
    assertEquals(await Deno.readTextFile(`${s.root}/d`), "now a file");
    assertEquals(s.writer.whiteouts, 6);
    await s.checkCanary();
  } finally {
    await Deno.remove(s.dir, { recursive: true });
  }
});

Deno.test("RootfsWriter: .. above the root is refused, whatever the entry type", async () => {
  for (
    const entry of [
      { path: "../canary/pwned", content: "x" },
      { path: "a/../../canary/pwned", content: "x" },
      { path: "../../../../../../../../tmp/skiff-pwned", content: "x" },
      { path: "../canary/", type: "directory" },
      { path: "../canary/link", type: "symlink", linkname: "/" },
      { path: "../canary/.wh.secret" },
      { path: "x", type: "link", linkname: "../canary/secret" },
      { path: "y", type: "link", linkname: "a/../../canary/secret" },
    ] as TarSpec[]
  ) {
    const s = await sandbox();
    try {
      const e = await assertRejects(() => s.apply([entry]));
      assert(e.message.includes("climbs out of the root"), `${entry.path}: ${e.message}`);
      await s.checkCanary();
    } finally {
      await Deno.remove(s.dir, { recursive: true });
    }
  }
});

Deno.test("RootfsWriter: absolute names and symlinks as parents stay inside the root", async () => {
  const s = await sandbox();
  try {
    await s.apply([
      // absolute names are relative to the root
      { path: `${s.canary}/pwned-absolute`, content: "inside" },
      // a symlink to the canary (absolute), then a write through it
      { path: "evil-abs", type: "symlink", linkname: s.canary },
      { path: "evil-abs/pwned", content: "inside" },
      // relative, climbing out, then a write through it
      { path: "evil-rel", type: "symlink", linkname: "../canary" },
      { path: "evil-rel/pwned", content: "inside" },
      // a chain of symlinks that climbs far
      { path: "hop1", type: "symlink", linkname: "hop2/../../.." },
      { path: "hop2", type: "symlink", linkname: "sub/deeper" },
      { path: "hop1/canary/pwned-by-chain", content: "inside" },
    ]);
    const inside = `${s.root}${s.canary}`;
    assertEquals(await ls(inside), ["pwned", "pwned-absolute"]);
    assertEquals(await ls(`${s.root}/canary`), ["pwned", "pwned-by-chain"]);
    // a later layer deletes and hides through symlinks an earlier one planted
    await s.apply([
      { path: "evil-abs/secret", content: "inside, a new file" },
      { path: "evil-rel/.wh.pwned" }, // root/canary/pwned, not the canary's
      { path: "evil-abs/.wh..wh..opq" }, // empties root/<canary> but for this layer's secret
    ]);
    s.writer.finish();
    assertEquals(await ls(inside), ["secret"]);
    assertEquals(await ls(`${s.root}/canary`), ["pwned-by-chain"]);
    await s.checkCanary();
  } finally {
    await Deno.remove(s.dir, { recursive: true });
  }
});

Deno.test("RootfsWriter: an entry replaces a symlink at its own name, never follows it", async () => {
  const s = await sandbox();
  try {
    await s.apply([
      { path: "file", type: "symlink", linkname: `${s.canary}/secret` },
      { path: "file", content: "replaced the symlink" },
      { path: "dir", type: "symlink", linkname: s.canary },
      { path: "dir/", type: "directory", mode: 0o700 },
      { path: "hard", type: "symlink", linkname: `${s.canary}/secret` },
      { path: "hard", type: "link", linkname: "file" },
    ]);
    s.writer.finish();
    assertEquals(await Deno.readTextFile(`${s.root}/file`), "replaced the symlink");
    assert((await Deno.lstat(`${s.root}/dir`)).isDirectory);
    assertEquals((await Deno.lstat(`${s.root}/hard`)).nlink, 2);
    await s.checkCanary();
  } finally {
    await Deno.remove(s.dir, { recursive: true });
  }
});

Deno.test("RootfsWriter: hardlinks must point at a file inside the root", async () => {
  const cases: [TarSpec[], string][] = [
    [[{ path: "l", type: "link", linkname: `${"/"}etc/passwd` }], "is not in the root"],
    [[
      { path: "evil", type: "symlink", linkname: "/" },
      { path: "l", type: "link", linkname: "evil/../../canary/secret" },
    ], "climbs out"],
    [[
      { path: "evil", type: "symlink", linkname: "/" },
      { path: "l", type: "link", linkname: "evil/../canary/secret" }, // root/canary/secret
    ], "is not in the root"],
    [[
      { path: "evil", type: "symlink", linkname: "../canary" },
      { path: "l", type: "link", linkname: "evil/secret" }, // resolves to root/canary/secret
    ], "is not in the root"],
    [[{ path: "d/", type: "directory" }, { path: "l", type: "link", linkname: "d" }], "directory"],
    [[{ path: "l", type: "link", linkname: "/" }], "root"],
  ];
  for (const [entries, message] of cases) {
    const s = await sandbox();
    try {
      const e = await assertRejects(() => s.apply(entries));
      assert(e.message.includes(message), `${message}: ${e.message}`);
      await s.checkCanary();
    } finally {
      await Deno.remove(s.dir, { recursive: true });
    }
  }
});

Deno.test("RootfsWriter: truncated data, symlink loops, entry limits, a file as the root", async () => {
  const cases: [Uint8Array, string, RootfsWriterOptions][] = [
    [
      makeTar([{ path: "big", content: "only this", size: 1_000_000 }], { end: false }),
      "truncated",
      {},
    ],
    [
      makeTar([
        { path: "loop", type: "symlink", linkname: "loop" },
        { path: "loop/x", content: "x" },
      ]),
      "too many symlinks",
      {},
    ],
    [makeTar([{ path: "a" }, { path: "b" }, { path: "c" }]), "more than 2 entries", {
      maxEntries: 2,
    }],
    [makeTar([{ path: ".", content: "x" }]), "cannot replace the root", {}],
    [makeTar([{ path: "f", content: "x" }, { path: "f/g", content: "y" }]), "not a directory", {}],
  ];
  for (const [tar, message, options] of cases) {
    const s = await sandbox(options);
    try {
      const e = await assertRejects(() => s.writer.applyLayer(chunks(tar)));
      assert(e.message.includes(message), `${message}: ${e.message}`);
      await s.checkCanary();
    } finally {
      await Deno.remove(s.dir, { recursive: true });
    }
  }
});

type Listing = Record<string, string>;

function listTree(tree: LayerTree<string>): { nodes: Listing; links: string[][] } {
  const nodes: Listing = {};
  const names = new Map<LayerNode<string>, string[]>();
  const visit = (dir: LayerNode<string>, rel: string) => {
    for (const [name, n] of tree.children(dir)) {
      const path = rel === "" ? name : `${rel}/${name}`;
      let line = `${n.type} ${n.mode.toString(8)} ${n.uid}:${n.gid}`;
      if (n.type !== "directory") line += ` ${n.mtime}`;
      if (n.type === "file") line += ` ${n.data}`;
      if (n.type === "symlink") line += ` -> ${n.target}`;
      nodes[path] = line;
      if (n.type === "directory") visit(n, path);
      else names.set(n, [...(names.get(n) ?? []), path]);
    }
  };
  visit(tree.root, "");
  return { nodes, links: [...names.values()].filter((g) => g.length > 1).map((g) => g.sort()) };
}

async function listDir(root: string): Promise<{ nodes: Listing; links: string[][] }> {
  const nodes: Listing = {};
  const inodes = new Map<number, string[]>();
  const visit = async (rel: string) => {
    const names: string[] = [];
    for await (const e of Deno.readDir(rel === "" ? root : `${root}/${rel}`)) names.push(e.name);
    for (const name of names.sort()) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const info = await Deno.lstat(`${root}/${path}`);
      const type = info.isDirectory
        ? "directory"
        : info.isSymlink
        ? "symlink"
        : info.isFile
        ? "file"
        : "fifo";
      let line = `${type} ${(info.mode! & 0o7777).toString(8)} ${info.uid}:${info.gid}`;
      if (type !== "directory") line += ` ${info.mtime!.getTime() / 1000}`;
      if (type === "file") line += ` ${await Deno.readTextFile(`${root}/${path}`)}`;
      if (type === "symlink") line += ` -> ${await Deno.readLink(`${root}/${path}`)}`;
      nodes[path] = line;
      if (type === "directory") await visit(path);
      else if (info.nlink! > 1) inodes.set(info.ino!, [...(inodes.get(info.ino!) ?? []), path]);
    }
  };
  await visit("");
  return { nodes, links: [...inodes.values()].map((g) => g.sort()) };
}

const LAYERS: TarSpec[][] = [
  [
    { path: "./", type: "directory", mode: 0o750, mtime: 1_000_000_000 },
    { path: "bin/", type: "directory", mode: 0o555, mtime: 1_100_000_000 },
    { path: "bin/su", content: "#!/bin/sh\n", mode: 0o4755, mtime: 1_200_000_000 },
    { path: "bin/wall", content: "x", mode: 0o2755, uid: 1001, gid: 5, mtime: 1_200_000_001 },
    { path: "tmp/", type: "directory", mode: 0o1777 },
    { path: "bin/sh", type: "symlink", linkname: "su", mtime: 1_300_000_000, uid: 7, gid: 8 },
    { path: "bin/su2", type: "link", linkname: "bin/su" },
    { path: "p", type: "fifo", mode: 0o640, mtime: 1_400_000_000 },
    { path: "a/", type: "directory" },
    { path: "a/keep", content: "1" },
    { path: "a/drop", content: "2" },
    { path: "a/sub/deep", content: "3" },
    { path: "o/lower", content: "4" },
    { path: "o/lowerdir/x", content: "5" },
    { path: "f", content: "a file, then a directory" },
    { path: "d/inside", content: "a directory, then a file" },
    { path: "hard-a", content: "two names" },
    { path: "hard-b", type: "link", linkname: "hard-a" },
    { path: "lnk", type: "symlink", linkname: "/a" },
    { path: "rel", type: "symlink", linkname: "../../a/sub" },
    { path: "implicit/parent/file", content: "parents made" },
  ],
  [
    { path: "a/.wh.drop" },
    { path: "a/.wh.sub" },
    { path: "a/.wh.never-existed" },
    { path: "missing/.wh.x" },
    { path: "o/upper-before", content: "kept: this layer's" },
    { path: "o/.wh..wh..opq" },
    { path: "o/upper-after", content: "kept too" },
    { path: "o/lowerdir/", type: "directory" },
    { path: "a/.wh..wh.plnk.123" },
    { path: "f/", type: "directory" },
    { path: "f/child", content: "x" },
    { path: "d", content: "now a file" },
    { path: "lnk/through-absolute", content: "in a/" }, // a symlink as parent: resolved inside
    { path: "rel/made-through-relative", content: "in a/sub/ (made again)" },
    { path: "hard-a", content: "replaced: hard-b keeps the old one" },
    { path: "bin/sh", content: "a file where a symlink was" },
  ],
];

Deno.test("RootfsWriter: the directory is the layer tree it performs (types, modes, owners, times, contents, links)", async () => {
  const dir = await tempDir({ prefix: "skiff-rootfs-tree-" });
  try {
    const writer = new RootfsWriter(dir);
    const tree = new LayerTree<string>();
    const content: LayerHandler<string> = {
      content: (chunk, node) => void (node.data = (node.data ?? "") + dec.decode(chunk)),
      contentEnd: (node) => void (node.data ??= ""),
    };
    for (const layer of LAYERS) {
      await writer.applyLayer(chunks(makeTar(layer)));
      await applyLayer(chunks(makeTar(layer), 333), tree, content);
    }
    writer.finish();
    const fromDir = await listDir(dir);
    const fromTree = listTree(tree);
    if (!isRoot) {
      // the directory unpack cannot give files away: compare all but owners
      const strip = (l: Listing) =>
        Object.fromEntries(Object.entries(l).map(([k, v]) => [k, v.replace(/ \d+:\d+/, "")]));
      fromDir.nodes = strip(fromDir.nodes);
      fromTree.nodes = strip(fromTree.nodes);
    }
    assertEquals(fromTree, fromDir);
    assertEquals(fromTree.nodes["a/through-absolute"]?.endsWith(" in a/"), true);
    assertEquals([writer.entries, writer.whiteouts], [tree.entries, tree.whiteouts]);
    // a parent no layer declared: 0755, 0:0, mtime 0, as in every other sink
    const implicit = await Deno.stat(`${dir}/implicit/parent`);
    assertEquals([implicit.mode! & 0o7777, implicit.mtime!.getTime()], [0o755, 0]);
    if (isRoot) assertEquals([implicit.uid, implicit.gid], [0, 0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
