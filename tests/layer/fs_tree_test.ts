// FsTree against RootfsWriter: the same layers give the same tree (types, modes, owners, times,
// contents, link targets, hardlink groups), and the same hostile layers are refused; plus what
// only the tree has: xattrs, device numbers whoever runs it, the data store's calls.

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { makeTar, type TarSpec } from "../_tar.ts";
import { type FsDataStore, type FsNode, FsTree } from "../../lib/layer/fs_tree.ts";
import { RootfsWriter } from "../../lib/unpack/rootfs_writer.ts";
import { tempDir } from "../_temp.ts";

const isRoot = Deno.uid() === 0;
const dec = new TextDecoder();

async function* chunks(bytes: Uint8Array, size = 700): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

/** Keeps content in memory, and records every call. */
class MemoryStore implements FsDataStore<Uint8Array> {
  calls: string[] = [];
  discarded: string[] = [];
  #parts: Uint8Array[] = [];
  #size = 0;
  begin(size: number): void {
    this.calls.push(`begin ${size}`);
    this.#parts = [];
    this.#size = size;
  }
  write(chunk: Uint8Array): Promise<void> {
    this.#parts.push(chunk.slice());
    return Promise.resolve();
  }
  end(): Uint8Array {
    const out = new Uint8Array(this.#parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of this.#parts) {
      out.set(p, at);
      at += p.length;
    }
    assertEquals(out.length, this.#size);
    this.calls.push(`end ${out.length}`);
    return out;
  }
  discard(data: Uint8Array): void {
    this.discarded.push(dec.decode(data));
  }
}

type Listing = Record<string, string>;

function listTree(tree: FsTree<Uint8Array>): { nodes: Listing; links: string[][] } {
  const nodes: Listing = {};
  const names = new Map<FsNode<Uint8Array>, string[]>();
  const visit = (dir: FsNode<Uint8Array>, rel: string) => {
    for (const [name, n] of tree.children(dir)) {
      const path = rel === "" ? name : `${rel}/${name}`;
      let line = `${n.type} ${n.mode.toString(8)} ${n.uid}:${n.gid}`;
      if (n.type !== "directory") line += ` ${n.mtime}`;
      if (n.type === "file") line += ` ${dec.decode(n.data)}`;
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

Deno.test("FsTree: the same tree as RootfsWriter for the same layers", async () => {
  const dir = await tempDir({ prefix: "skiff-fstree-" });
  try {
    const writer = new RootfsWriter(dir);
    const store = new MemoryStore();
    const tree = new FsTree(store);
    for (const layer of LAYERS) {
      await writer.applyLayer(chunks(makeTar(layer)));
      await tree.applyLayer(chunks(makeTar(layer), 333));
    }
    writer.finish();
    tree.finish();
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
    assertEquals(tree.entries, writer.entries);
    assertEquals(tree.whiteouts, writer.whiteouts);
    assertEquals(tree.bytes, writer.bytes);
    // what was replaced or deleted and no other name keeps is given back, once
    assertEquals(store.discarded.sort(), [
      "2",
      "3",
      "4",
      "5",
      "a directory, then a file",
      "a file, then a directory",
    ]);
    // nlink: names for files, 2 + subdirectories for directories
    const bin = tree.root.children!.get("bin")!;
    assertEquals(bin.children!.get("su")!.nlink, 2);
    assertEquals(tree.root.children!.get("hard-b")!.nlink, 1);
    assertEquals(bin.nlink, 2);
    assertEquals(
      tree.root.nlink,
      2 + [...tree.root.children!.values()].filter((n) => n.type === "directory").length,
    );
    assertEquals(store.calls.filter((c) => c.startsWith("begin")).length, 19);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FsTree: devices, xattrs (raw bytes) and ids above 65535, whoever runs it", async () => {
  const capability = new Uint8Array([
    1,
    0,
    0,
    2,
    0x20,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  const tree = new FsTree(new MemoryStore());
  await tree.applyLayer(chunks(makeTar([
    { path: "dev/sda", type: "block", devmajor: 8, devminor: 1, mode: 0o660, gid: 6 },
    { path: "dev/null", type: "char", devmajor: 1, devminor: 3, mode: 0o666 },
    {
      path: "bin/ping",
      content: "ELF",
      uid: 100_000,
      gid: 200_000,
      pax: { "SCHILY.xattr.security.capability": capability, "SCHILY.xattr.user.note": "hé" },
    },
  ])));
  tree.finish();
  const dev = tree.root.children!.get("dev")!;
  const sda = dev.children!.get("sda")!;
  assertEquals([sda.type, sda.devmajor, sda.devminor, sda.mode, sda.gid], [
    "block",
    8,
    1,
    0o660,
    6,
  ]);
  assertEquals(dev.children!.get("null")!.type, "char");
  const ping = tree.root.children!.get("bin")!.children!.get("ping")!;
  assertEquals([ping.uid, ping.gid], [100_000, 200_000]);
  assertEquals(ping.xattrs?.get("security.capability"), capability);
  assertEquals(dec.decode(ping.xattrs?.get("user.note")), "hé");
  assertEquals(tree.skippedDevices, 0);
});

Deno.test("FsTree: refuses what RootfsWriter refuses, with the same messages", async () => {
  const cases: [TarSpec[], string][] = [
    [[{ path: "../pwned", content: "x" }], "climbs out of the root"],
    [[{ path: "a/../../pwned", content: "x" }], "climbs out of the root"],
    [[{ path: "../x/.wh.y" }], "climbs out of the root"],
    [[{ path: "x", type: "link", linkname: "../secret" }], "climbs out of the root"],
    [[{ path: "l", type: "link", linkname: "/etc/passwd" }], "is not in the root"],
    [[{ path: "d/", type: "directory" }, { path: "l", type: "link", linkname: "d" }], "directory"],
    [[{ path: "l", type: "link", linkname: "/" }], "cannot point at the root"],
    [[
      { path: "loop", type: "symlink", linkname: "loop" },
      { path: "loop/x", content: "x" },
    ], "too many symlinks"],
    [[{ path: ".", content: "x" }], "cannot replace the root"],
    [[{ path: "f", content: "x" }, { path: "f/g", content: "y" }], "not a directory"],
    [[{ path: "a/", type: "directory" }, { path: "a/.wh." }], "a whiteout must name an entry"],
  ];
  for (const [entries, message] of cases) {
    const tree = new FsTree(new MemoryStore());
    const e = await assertRejects(
      () => tree.applyLayer(chunks(makeTar(entries))),
      undefined,
      undefined,
      entries.map((x) => x.path).join(),
    );
    assert(e.message.includes(message), `${message}: ${e.message}`);
    const dir = await tempDir({ prefix: "skiff-fstree-" });
    try {
      const writer = new RootfsWriter(dir);
      const d = await assertRejects(() => writer.applyLayer(chunks(makeTar(entries))));
      assert(d.message.includes(message), `the directory unpack: ${message}: ${d.message}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  // what no Linux file system holds (the directory unpack fails on them too, later)
  const deep: [TarSpec[], string][] = [
    [[{ path: "l", type: "symlink", linkname: "x".repeat(4096) }], "longer than 4095 bytes"],
    [[{ path: "n".repeat(256) }], "a name is longer than 255 bytes"],
    [[
      { path: "deep", type: "symlink", linkname: "a/".repeat(2000) },
      { path: "deep/deeper", type: "symlink", linkname: "b/".repeat(100) },
      { path: "deep/deeper/x" },
    ], "a path is deeper than 2048 directories"],
  ];
  for (const [entries, message] of deep) {
    const tree = new FsTree(new MemoryStore());
    const e = await assertRejects(() => tree.applyLayer(chunks(makeTar(entries))));
    assert(e.message.includes(message), `${message}: ${e.message}`);
  }
  const limited = new FsTree(new MemoryStore(), { maxEntries: 2 });
  const e = await assertRejects(() =>
    limited.applyLayer(chunks(makeTar([{ path: "a" }, { path: "b" }, { path: "c" }])))
  );
  assert(e.message.includes("more than 2 entries (the maxEntries limit)"), e.message);
  const truncated = new FsTree(new MemoryStore());
  const t = await assertRejects(() =>
    truncated.applyLayer(
      chunks(makeTar([{ path: "big", content: "only this", size: 1_000_000 }], { end: false })),
    )
  );
  assert(t.message.includes("truncated"), t.message);
});

Deno.test("FsTree: children sort by UTF-8 bytes, walk visits each node once", async () => {
  const tree = new FsTree(new MemoryStore());
  await tree.applyLayer(chunks(makeTar([
    { path: "b", content: "" },
    { path: "\u{1F600}", content: "" }, // 4 UTF-8 bytes: after U+FFFD
    { path: "\uFFFD", content: "" },
    { path: "B", content: "" },
    { path: "é", content: "" },
    { path: "a/x", content: "" },
    { path: "h", type: "link", linkname: "b" },
  ])));
  tree.finish();
  assertEquals(tree.children(tree.root).map(([n]) => n), [
    "B",
    "a",
    "b",
    "h",
    "é",
    "\uFFFD",
    "\u{1F600}",
  ]);
  const walked = [...tree.walk()].map(([p]) => p);
  assertEquals(walked, ["", "B", "a", "a/x", "b", "é", "\uFFFD", "\u{1F600}"]);
});
