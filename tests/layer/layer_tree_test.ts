// The one interpreter of the layer rules: what LayerTree decides for each entry (and tells its
// handler, in order), what it refuses, the overlay hook, and what it records for the sinks: the
// layer and entry that made each node, the content of the files it made.

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { makeTar, type TarSpec } from "../_tar.ts";
import { applyLayer } from "../../lib/layer/apply_layer.ts";
import {
  type LayerHandler,
  type LayerNode,
  LayerTree,
  type LayerTreeOptions,
  overlayWhiteouts,
} from "../../lib/layer/layer_tree.ts";

const dec = new TextDecoder();

async function* chunks(bytes: Uint8Array, size = 700): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

/** A handler that keeps file content on the nodes and records every call. */
class Recorder implements LayerHandler<string> {
  calls: string[] = [];
  released: string[] = [];
  create(path: string, node: LayerNode<string>): void {
    this.calls.push(`create ${path} ${node.type}`);
    if (node.type === "file") node.data = "";
  }
  update(path: string, node: LayerNode<string>): void {
    this.calls.push(`update ${path}${node.opaque ? " opaque" : ""}`);
  }
  link(path: string, _node: LayerNode<string>, target: string): void {
    this.calls.push(`link ${path} -> ${target}`);
  }
  remove(path: string, node: LayerNode<string>): void {
    this.calls.push(`remove ${path} ${node.type}`);
  }
  release(node: LayerNode<string>): void {
    this.released.push(node.data ?? node.type);
  }
  content(chunk: Uint8Array, node: LayerNode<string>): void {
    node.data += dec.decode(chunk);
  }
  contentEnd(node: LayerNode<string>): void {
    this.calls.push(`end ${node.data}`);
  }
}

async function apply(
  layers: TarSpec[][],
  options: LayerTreeOptions = {},
): Promise<{ tree: LayerTree<string>; recorder: Recorder }> {
  const tree = new LayerTree<string>(options);
  const recorder = new Recorder();
  for (const layer of layers) await applyLayer(chunks(makeTar(layer), 333), tree, recorder);
  return { tree, recorder };
}

/** Every path of the tree, `TYPE MODE UID:GID [content | -> target]`, hardlinks as `=path`. */
function listing(tree: LayerTree<string>): Record<string, string> {
  const out: Record<string, string> = {};
  const first = new Map<LayerNode<string>, string>();
  const visit = (dir: LayerNode<string>, prefix: string) => {
    for (const [name, n] of tree.children(dir)) {
      const path = prefix === "" ? name : `${prefix}/${name}`;
      const seen = first.get(n);
      if (seen !== undefined) {
        out[path] = `=${seen}`;
        continue;
      }
      first.set(n, path);
      let line = `${n.type} ${n.mode.toString(8)} ${n.uid}:${n.gid}`;
      if (n.type === "file") line += ` ${n.data}`;
      if (n.type === "symlink") line += ` -> ${n.target}`;
      out[path] = line;
      if (n.type === "directory") visit(n, path);
    }
  };
  visit(tree.root, "");
  return out;
}

Deno.test("LayerTree: replacement, whiteouts, opaque directories, links and parents, each told in order", async () => {
  const { tree, recorder } = await apply([
    [
      { path: "a/keep", content: "1" },
      { path: "a/drop", content: "2" },
      { path: "o/lower", content: "3" },
      { path: "o/sub/", type: "directory" },
      { path: "o/sub/lower", content: "4" },
      { path: "f", content: "a file, then a directory" },
      { path: "hard", content: "two names" },
      { path: "hard2", type: "link", linkname: "hard" },
      { path: "lnk", type: "symlink", linkname: "/a" },
    ],
    [
      { path: "a/.wh.drop" },
      { path: "o/sub/", type: "directory", mode: 0o750 },
      { path: "o/.wh..wh..opq" },
      { path: "f/", type: "directory" },
      { path: "lnk/through", content: "in a/" },
      { path: "hard", content: "replaced: hard2 keeps the old one" },
    ],
  ]);
  assertEquals(recorder.calls, [
    // layer 0: the parents each entry implies, made before it
    "create a directory",
    "create a/keep file",
    "end 1",
    "create a/drop file",
    "end 2",
    "create o directory",
    "create o/lower file",
    "end 3",
    "create o/sub directory",
    "create o/sub/lower file",
    "end 4",
    "create f file",
    "end a file, then a directory",
    "create hard file",
    "end two names",
    "link hard2 -> hard",
    "create lnk symlink",
    // layer 1
    "remove a/drop file",
    "update o/sub",
    "remove o/lower file", // the opaque whiteout: what layer 0 made in o/ and o/sub/ goes
    "remove o/sub/lower file",
    "remove f file",
    "create f directory",
    "create a/through file", // through the symlink, inside the root
    "end in a/",
    "remove hard file",
    "create hard file",
    "end replaced: hard2 keeps the old one",
  ]);
  // a file no name keeps any more is given back, once; "two names" is kept by hard2
  assertEquals(recorder.released.sort(), ["2", "3", "4", "a file, then a directory"]);
  assertEquals(listing(tree), {
    "a": "directory 755 0:0",
    "a/keep": "file 644 0:0 1",
    "a/through": "file 644 0:0 in a/",
    "f": "directory 755 0:0",
    "hard": "file 644 0:0 replaced: hard2 keeps the old one",
    "hard2": "file 644 0:0 two names",
    "lnk": "symlink 777 0:0 -> /a",
    "o": "directory 755 0:0",
    "o/sub": "directory 750 0:0",
  });
  assertEquals([tree.entries, tree.whiteouts], [15, 2]);
  // where each node comes from: the layer and the entry that made (or last declared) it
  const at = (path: string) => [tree.find(path)?.layer, tree.find(path)?.entry];
  assertEquals(at("a/keep"), [0, 0]);
  assertEquals(at("hard2"), [0, 6]); // the node's own entry: its content is there
  assertEquals(at("o/sub"), [1, 1]); // declared again
  assertEquals(at("a"), [0, 0]); // implied by entry 0
  assertEquals(at(""), [-1, -1]); // the root, never declared
  const implied = tree.find("a")!;
  assertEquals([implied.mode, implied.uid, implied.gid, implied.mtime], [0o755, 0, 0, 0]);
  assertEquals(tree.find("lnk/through"), tree.find("a/through")); // parents resolved in the tree
  assertEquals(tree.find("/../a"), undefined);
  tree.finish();
  assertEquals([tree.root.nlink, tree.find("hard2")!.nlink, tree.find("o")!.nlink], [5, 1, 3]);
});

Deno.test("LayerTree: an opaque whiteout keeps what its own layer made or linked, and recurses into what it declared", async () => {
  const { tree } = await apply([
    [
      { path: "d/lower", content: "lower" },
      { path: "d/sub/", type: "directory" },
      { path: "d/sub/lower", content: "lower, one down" },
      { path: "d/gone/", type: "directory" },
      { path: "d/gone/x", content: "under a directory the upper layer does not name" },
      { path: "base", content: "a lower file" },
    ],
    [
      { path: "d/sub/", type: "directory" },
      { path: "d/sub/upper", content: "upper" },
      { path: "d/link", type: "link", linkname: "base" }, // this layer's name, a lower node
      { path: "d/lower", type: "link", linkname: "d/lower" }, // a hardlink to itself: this layer's
      { path: "d/.wh..wh..opq" },
      { path: "d/after", content: "after the marker" },
    ],
  ]);
  assertEquals(Object.keys(listing(tree)), [
    "base",
    "d",
    "d/after",
    "d/link",
    "d/lower",
    "d/sub",
    "d/sub/upper",
  ]);
  assertEquals(tree.find("d/link"), tree.find("base"));
});

Deno.test("LayerTree: device nodes, xattrs (raw bytes) and ids above 65535, whoever runs it; or devices skipped", async () => {
  const capability = new Uint8Array([1, 0, 0, 2, 0x20, ...new Array(15).fill(0)]);
  const layer: TarSpec[] = [
    { path: "dev/sda", type: "block", devmajor: 8, devminor: 1, mode: 0o660, gid: 6 },
    { path: "dev/null", type: "char", devmajor: 1, devminor: 3, mode: 0o666 },
    {
      path: "bin/ping",
      content: "ELF",
      uid: 100_000,
      gid: 200_000,
      pax: { "SCHILY.xattr.security.capability": capability, "SCHILY.xattr.user.note": "hé" },
    },
    { path: "p", type: "fifo", mode: 0o640, pax: { mtime: "1700000000.123456789" } },
  ];
  const { tree } = await apply([layer]);
  const sda = tree.find("dev/sda")!;
  assertEquals([sda.type, sda.devmajor, sda.devminor, sda.mode, sda.gid], [
    "block",
    8,
    1,
    0o660,
    6,
  ]);
  assertEquals(tree.find("dev/null")!.type, "char");
  const ping = tree.find("bin/ping")!;
  assertEquals([ping.uid, ping.gid, ping.size], [100_000, 200_000, 3]);
  assertEquals(ping.xattrs?.get("security.capability"), capability);
  assertEquals(dec.decode(ping.xattrs?.get("user.note")), "hé");
  assertEquals(tree.find("p")!.mtimeNs, 1_700_000_000_123_456_789n);
  assertEquals(tree.skippedDevices, 0);

  // what a directory unpack that may not make devices does: nothing made, nothing replaced
  const skipping = await apply([[{ path: "dev/null", content: "a file" }], layer], {
    skipDevices: true,
  });
  assertEquals(skipping.tree.skippedDevices, 2);
  assertEquals(skipping.tree.find("dev/sda"), undefined);
  assertEquals(skipping.tree.find("dev/null")!.data, "a file");
  assertEquals(skipping.tree.entries, 5);
});

Deno.test("LayerTree: refuses hostile and impossible entries, naming the entry", async () => {
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
    // what no Linux file system holds
    [[{ path: "l", type: "symlink", linkname: "x".repeat(4096) }], "longer than 4095 bytes"],
    [[{ path: "n".repeat(256) }], "a name is longer than 255 bytes"],
    [[
      { path: "deep", type: "symlink", linkname: "a/".repeat(2000) },
      { path: "deep/deeper", type: "symlink", linkname: "b/".repeat(100) },
      { path: "deep/deeper/x" },
    ], "a path is deeper than 2048 directories"],
  ];
  for (const [entries, message] of cases) {
    const e = await assertRejects(() => apply([entries]), Error, undefined, entries[0]!.path);
    assert(e.message.includes(message), `${message}: ${e.message}`);
    assert(e.message.startsWith(`entry "${entries.at(-1)!.path}": `), e.message);
  }
  const limited = await assertRejects(() =>
    apply([[{ path: "a" }, { path: "b" }, { path: "c" }]], { maxEntries: 2 })
  );
  assert(limited.message.includes("more than 2 entries (the maxEntries limit)"), limited.message);
  const truncated = await assertRejects(() =>
    applyLayer(
      chunks(makeTar([{ path: "big", content: "only this", size: 1_000_000 }], { end: false })),
      new LayerTree(),
    )
  );
  assert(truncated.message.includes("truncated"), truncated.message);
});

Deno.test("LayerTree: the overlay hook keeps whiteouts as overlayfs reads them, for one layer's tree", async () => {
  const { tree, recorder } = await apply([[
    { path: "etc/.wh.motd", uid: 5, mtime: 1_000 },
    { path: "var/cache/.wh..wh..opq" },
    { path: "var/.wh..wh.plnk.1" }, // aufs metadata: nothing, not even a parent
    { path: "dir/", type: "directory" },
    { path: ".wh.dir" }, // replaces what this layer made
  ]], { convertWhiteout: overlayWhiteouts, scope: "layer" });
  const motd = tree.find("etc/motd")!;
  assertEquals([motd.type, motd.mode, motd.devmajor, motd.devminor], ["char", 0, 0, 0]);
  assertEquals([motd.uid, motd.mtime], [5, 1_000]);
  assertEquals(tree.find("var/cache")!.opaque, true);
  assertEquals(tree.find("dir")!.type, "char");
  assertEquals(tree.whiteouts, 4);
  assert(recorder.calls.includes("update var/cache opaque"), recorder.calls.join("\n"));
  assertEquals(tree.find("var")!.children!.size, 1);
  const e = await assertRejects(() =>
    apply([[{ path: "l", type: "link", linkname: "lower" }]], {
      convertWhiteout: overlayWhiteouts,
      scope: "layer",
    })
  );
  assertEquals(
    e.message,
    `entry "l": the hardlink target "lower" is not in this layer: hardlinks across layers ` +
      `cannot be expressed in one layer's image`,
  );
});

Deno.test("LayerTree: children sort by UTF-8 bytes, walk visits each node once", async () => {
  const { tree } = await apply([[
    { path: "b", content: "" },
    { path: "\u{1F600}", content: "" }, // 4 UTF-8 bytes: after U+FFFD
    { path: "\uFFFD", content: "" },
    { path: "B", content: "" },
    { path: "é", content: "" },
    { path: "a/x", content: "" },
    { path: "h", type: "link", linkname: "b" },
  ]]);
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
