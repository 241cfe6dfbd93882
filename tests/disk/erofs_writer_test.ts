// ErofsWriter with the real readers: fsck.erofs checks and extracts the images, and (as root) the
// kernel mounts them read-only; the mounted tree must equal what the directory unpack makes of the
// same layers (owners, devices, times to the nanosecond), plus the xattrs only the image keeps.

import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import {
  diffSnapshots,
  fsckErofs,
  isRoot,
  type TreeSnapshot,
  treeSnapshot,
  withErofsMount,
} from "../_erofs.ts";
import { xattrsUnder } from "../_ext4.ts";
import { mustRun, noise, sha256 } from "../_images.ts";
import { makeTar, type TarSpec } from "../_tar.ts";
import { ErofsWriter, type ErofsWriterOptions } from "../../lib/disk/erofs/erofs_writer.ts";
import { RootfsWriter } from "../../lib/unpack/rootfs_writer.ts";
import { tempDir } from "../_temp.ts";

async function* chunks(bytes: Uint8Array, size = 64 * 1024 + 7): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
const CAPABILITY = new Uint8Array([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

let cached: Uint8Array[] | undefined;
/** The layers' tars, made once. */
function tars(): Uint8Array[] {
  return cached ??= layers().map((l) => makeTar(l));
}

/** Directories no entry declares: made by both writers, with mtime 0 in the image. */
const IMPLICIT = ["links", "names", "o"];

/** Three layers with every entry type, sizes around block boundaries, whiteouts, opaque dirs. */
function layers(): TarSpec[][] {
  const many: TarSpec[] = [{ path: "many/", type: "directory", mode: 0o755, mtime: 1_600_000_000 }];
  for (let i = 0; i < 3000; i++) {
    many.push({ path: `many/entry-${String(i).padStart(5, "0")}`, content: `${i}\n` });
  }
  return [
    [
      { path: "./", type: "directory", mode: 0o755, mtime: 1_000_000_000 },
      { path: "bin/", type: "directory", mode: 0o755, mtime: 1_100_000_000 },
      { path: "bin/su", content: "#!/bin/sh\n", mode: 0o4755, mtime: 1_200_000_000 },
      { path: "bin/wall", content: "x", mode: 0o2755, uid: 1001, gid: 5 },
      { path: "bin/su2", type: "link", linkname: "bin/su" },
      {
        path: "bin/ping",
        content: noise(5000, "ping"),
        mode: 0o755,
        pax: {
          "SCHILY.xattr.security.capability": CAPABILITY,
          "SCHILY.xattr.user.note": "a note",
          "SCHILY.xattr.trusted.skiff": new Uint8Array([0, 1, 2, 255]),
          "SCHILY.xattr.weird.namespace": "not an EROFS prefix: left out",
        },
      },
      { path: "etc/", type: "directory", pax: { "SCHILY.xattr.user.dir": "on a directory" } },
      { path: "tmp/", type: "directory", mode: 0o1777 },
      { path: "sizes/", type: "directory", mode: 0o700 },
      { path: "sizes/empty", content: "" },
      { path: "sizes/one", content: "1" },
      { path: "sizes/b4095", content: noise(4095, "a") },
      { path: "sizes/b4096", content: noise(4096, "b") },
      { path: "sizes/b4097", content: noise(4097, "c") },
      { path: "sizes/b10000", content: noise(10000, "d") },
      { path: "sizes/big", content: noise(3 * 1024 * 1024 + 5, "e"), mtime: 1_500_000_000 },
      { path: "sizes/ns", content: "ns", pax: { mtime: "1700000000.123456789" } },
      { path: "sizes/ids", content: "big ids", uid: 100_000, gid: 200_000 },
      { path: "links/short", type: "symlink", linkname: "../bin/su" },
      { path: "links/abs", type: "symlink", linkname: "/etc/passwd" },
      { path: "links/long", type: "symlink", linkname: `/${"l".repeat(3000)}` },
      { path: "links/longest", type: "symlink", linkname: `/${"m/".repeat(2044)}x` }, // 4090 bytes
      { path: "dev/", type: "directory" },
      { path: "dev/null", type: "char", devmajor: 1, devminor: 3, mode: 0o666 },
      { path: "dev/sda1", type: "block", devmajor: 8, devminor: 1, mode: 0o660, gid: 6 },
      { path: "dev/nvme", type: "block", devmajor: 259, devminor: 65_537, mode: 0o600 },
      { path: "dev/fifo", type: "fifo", mode: 0o640 },
      { path: "names/-dash", content: "sorts before . and .." },
      { path: "names/é", content: "é" },
      { path: "names/\u{1F600}", content: "4-byte UTF-8" },
      { path: "names/\uFFFD", content: "3-byte UTF-8" },
      { path: "names/" + "n".repeat(255), content: "the longest name" },
      ...many,
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
    ],
    [
      { path: "a/.wh.drop" },
      { path: "a/.wh.sub" },
      { path: "o/upper-before", content: "kept: this layer's" },
      { path: "o/.wh..wh..opq" },
      { path: "o/upper-after", content: "kept too" },
      { path: "o/lowerdir/", type: "directory" },
      { path: "f/", type: "directory" },
      { path: "f/child", content: "x" },
      { path: "d", content: "now a file" },
      { path: "many/.wh.entry-00007" },
    ],
    [
      { path: "hard-a", content: "replaced: hard-b keeps the old one" },
      { path: "hard-c", type: "link", linkname: "hard-b" },
      { path: "sizes/b4096", content: "replaced, the old blocks stay dead in the image" },
      // into the blocks of the 3 MiB file they replace: no dead space, the last block zeroed
      { path: "sizes/big", content: noise(1024 * 1024 + 1, "f") },
      { path: "sizes/reused", content: noise(100_000, "g") },
    ],
  ];
}

async function writeImage(path: string, options: ErofsWriterOptions = {}): Promise<ErofsWriter> {
  const writer = new ErofsWriter(path, options);
  try {
    for (const tar of tars()) await writer.applyLayer(chunks(tar));
    await writer.finish();
    return writer;
  } finally {
    writer.close();
  }
}

/** The same layers through the directory unpack (as root: owners and devices too). */
async function directoryOf(root: string): Promise<TreeSnapshot> {
  await Deno.mkdir(root);
  const writer = new RootfsWriter(root);
  for (const tar of tars()) await writer.applyLayer(chunks(tar));
  writer.finish();
  const snapshot = await treeSnapshot(root);
  // the directory unpack's times: the wall clock for implicit directories, and microseconds at
  // best (utime takes a double); the image has 0 and the tar's nanoseconds
  for (const path of IMPLICIT) snapshot.entries[path]!.mtime = "0";
  assertEquals(snapshot.entries["sizes/ns"]?.mtime, "1700000000123000000");
  snapshot.entries["sizes/ns"]!.mtime = "1700000000123456789";
  return snapshot;
}

/** The xattrs the image must carry (the directory unpack sets none). */
const XATTRS: Record<string, Record<string, string>> = {
  "bin/ping": {
    "security.capability": hex(CAPABILITY),
    "trusted.skiff": "000102ff",
    "user.note": hex(new TextEncoder().encode("a note")),
  },
  "etc": { "user.dir": hex(new TextEncoder().encode("on a directory")) },
};

function withoutXattrs(s: TreeSnapshot): TreeSnapshot {
  const entries = Object.fromEntries(
    Object.entries(s.entries).map(([p, e]) => {
      const { xattrs: _, ...rest } = e;
      return [p, rest];
    }),
  );
  return { entries, hardlinks: s.hardlinks };
}

Deno.test(
  `ErofsWriter: fsck.erofs clean and --extract; ${
    isRoot ? "the kernel mount equals the directory unpack" : "(no kernel mount: not root)"
  }`,
  async (t) => {
    const work = await tempDir({ prefix: "skiff-erofs-" });
    try {
      const image = `${work}/image.erofs`;
      const writer = await writeImage(image);
      const info = await Deno.stat(image);
      assertEquals(writer.image!.size, info.size);
      assertEquals(info.size % 4096, 0);
      assertEquals(writer.skippedXattrs, 1); // weird.namespace
      // 4.2 MiB of file data were written, but the last two files reused the 3 MiB one's blocks
      assert(info.size < 3.4 * 1024 * 1024, `${info.size} bytes`);
      assert(
        writer.image!.extendedInodes > 0 && writer.image!.extendedInodes < writer.image!.inodes,
      );
      assertEquals(await fsckErofs(image), "");

      const expected = isRoot ? await directoryOf(`${work}/dir`) : undefined;

      await t.step("fsck.erofs --extract gives the same contents", async () => {
        await fsckErofs(image, `${work}/extracted`);
        const extracted = await treeSnapshot(`${work}/extracted`);
        const names = Object.keys(extracted.entries);
        assertEquals(names.length, 3000 - 1 + 47);
        assertEquals(extracted.entries["sizes/big"]?.size, 1024 * 1024 + 1);
        assertEquals(extracted.entries["links/longest"]?.target?.length, 4090);
        if (expected) {
          // contents, types and link targets as the directory unpack has them
          for (const [path, e] of Object.entries(expected.entries)) {
            const x = extracted.entries[path];
            assertEquals([x?.type, x?.sha256, x?.target], [e.type, e.sha256, e.target], path);
          }
        }
      });

      await t.step({
        name: "the kernel mounts it read-only: the same tree as the directory unpack, and xattrs",
        ignore: !isRoot,
        fn: async () => {
          const mounted = await withErofsMount(image, (dir) => treeSnapshot(dir));
          const problems = diffSnapshots(withoutXattrs(mounted), expected!);
          assertEquals(problems, []);
          const xattrs = Object.fromEntries(
            Object.entries(mounted.entries).filter(([, e]) => e.xattrs).map(([p, e]) => [
              p,
              e.xattrs,
            ]),
          );
          assertEquals(xattrs, XATTRS);
          const e = mounted.entries;
          assertEquals([e["sizes/ids"]?.uid, e["sizes/ids"]?.gid], [100_000, 200_000]);
          assertEquals(e["sizes/ns"]?.mtime, "1700000000123456789");
          assertEquals(e["dev/nvme"]?.rdev, "259:65537");
          assertEquals(e["bin/su"]?.mode, 0o4755);
          assertEquals(mounted.hardlinks, [["bin/su", "bin/su2"], ["hard-b", "hard-c"]]);
          assertEquals(e["many/entry-00007"], undefined);
          assertEquals(e["many/entry-02999"]?.sha256 !== undefined, true);
        },
      });
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
);

Deno.test("ErofsWriter: the same bytes on every run; with no inline budget still clean", async () => {
  const work = await tempDir({ prefix: "skiff-erofs-" });
  try {
    const uuid = new Uint8Array(16).fill(7);
    const a = await writeImage(`${work}/a.erofs`, { uuid });
    const b = await writeImage(`${work}/b.erofs`, { uuid });
    assertEquals(a.image, b.image);
    assertEquals(await Deno.readFile(`${work}/a.erofs`), await Deno.readFile(`${work}/b.erofs`));
    const bytes = await Deno.readFile(`${work}/a.erofs`);
    assertEquals(bytes.subarray(1024 + 48, 1024 + 64), uuid);

    // every tail in a block of its own (FLAT_PLAIN): larger, and as valid
    const plain = await writeImage(`${work}/plain.erofs`, { uuid, inlineBudget: 0 });
    assert(plain.image!.size > a.image!.size, `${plain.image!.size} > ${a.image!.size}`);
    assertEquals(await fsckErofs(`${work}/plain.erofs`), "");
    await fsckErofs(`${work}/plain.erofs`, `${work}/plain`);
    await fsckErofs(`${work}/a.erofs`, `${work}/inline`);
    const x = await treeSnapshot(`${work}/plain`);
    const y = await treeSnapshot(`${work}/inline`);
    assertEquals(diffSnapshots(x, y), []);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("ErofsWriter: what EROFS cannot hold is refused with its reason", async () => {
  const work = await tempDir({ prefix: "skiff-erofs-" });
  try {
    const cases: [TarSpec[], string][] = [
      [[{ path: "n".repeat(256), content: "x" }], "a name is longer than 255 bytes"],
      [
        [{ path: "short", pax: { path: `d/${"é".repeat(128)}/x` }, content: "x" }],
        "longer than 255",
      ],
      [
        [{ path: "big-xattr", content: "x", pax: { "SCHILY.xattr.user.big": "v".repeat(70000) } }],
        `"big-xattr": the xattr "user.big" is larger than 64 KiB`,
      ],
      [[{ path: "dev/odd", type: "char", devmajor: 4096, devminor: 0 }], "does not fit 12:20 bits"],
      [[{ path: "../escape", content: "x" }], "climbs out of the root"],
    ];
    for (const [i, [entries, message]] of cases.entries()) {
      const writer = new ErofsWriter(`${work}/${i}.erofs`);
      try {
        const e = await assertRejects(async () => {
          await writer.applyLayer(chunks(makeTar(entries)));
          await writer.finish();
        });
        assert(e.message.includes(message), `${message}: ${e.message}`);
      } finally {
        writer.close();
      }
    }
    const exists = assertThrows(
      () => new ErofsWriter(`${work}/0.erofs`),
      Deno.errors.AlreadyExists,
    );
    assert(exists.message.includes("0.erofs"), exists.message);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test(
  `ErofsWriter: xattrs beyond a block: inline across blocks, shared when repeated or too many ${
    isRoot ? "(the kernel reads them all)" : "(no kernel mount: not root)"
  }`,
  async () => {
    const work = await tempDir({ prefix: "skiff-erofs-" });
    try {
      const te = new TextEncoder();
      // user.* cannot be on a symlink (Linux refuses it): trusted.* there
      const set = (tag: string, n: number, size: number, ns = "user") =>
        Object.fromEntries(
          Array.from(
            { length: n },
            (_, i) => [`SCHILY.xattr.${ns}.${tag}${i}`, `${tag}${i}`.padEnd(size, tag)],
          ),
        );
      const repeated = { "SCHILY.xattr.user.same": "s".repeat(1000) };
      const specs: TarSpec[] = [
        // the root's must fit block 0 beside it: shared
        { path: "./", type: "directory", pax: set("r", 1, 3000) },
        // about 4 KiB of its own: inline, running into the next block
        { path: "four", content: "its tail\n", pax: set("f", 5, 1000) },
        { path: "dir/", type: "directory", pax: set("d", 4, 1000) },
        { path: "dir/inside", content: "x\n" },
        { path: "link", type: "symlink", linkname: "four", pax: set("l", 4, 1000, "trusted") },
        // the same value on three files: written once
        { path: "same1", content: "1\n", pax: repeated },
        { path: "same2", content: "2\n", pax: repeated },
        { path: "same3", content: "3\n", pax: { ...repeated, ...set("o", 1, 10) } },
        // more than an inode's 256 KiB: its largest are shared until the rest fits
        { path: "huge", content: "h\n", pax: set("h", 8, 60000) },
      ];
      const image = `${work}/x.erofs`;
      const writer = new ErofsWriter(image);
      await writer.applyLayer(chunks(makeTar(specs)));
      await writer.finish();
      assertEquals(await fsckErofs(image), "");
      const dump = async (args: string[]) =>
        new TextDecoder().decode(await mustRun("dump.erofs", [...args, image]));
      assert(!/shared xattr metadata start block:\s+0$/m.test(await dump(["-s"])));
      const xattrSize = async (path: string) =>
        Number(/Xattr size: (\d+)/.exec(await dump([`--path=${path}`]))?.[1]);
      assert(await xattrSize("/four") > 4096, "inline, across a block boundary");
      assertEquals(await xattrSize("/same1"), 16); // the header and one shared id
      assertEquals(await xattrSize("/same3"), 12 + 4 + 4 + 12); // and one of its own
      assertEquals(await xattrSize("/"), 16);
      if (!isRoot) return;
      await withErofsMount(image, async (mnt) => {
        // name -> a digest of the value (a failure then prints something readable)
        const digest = (hexValue: string) => sha256(te.encode(hexValue));
        const got = Object.fromEntries(
          Object.entries(await xattrsUnder(mnt, true)).map(([file, xattrs]) => [
            file,
            Object.fromEntries(Object.entries(xattrs).map(([k, v]) => [k, digest(v)])),
          ]),
        );
        const want: Record<string, Record<string, string>> = {};
        for (const spec of specs) {
          const file = spec.path === "./" ? "." : spec.path.replace(/\/$/, "");
          for (const [k, v] of Object.entries(spec.pax ?? {})) {
            (want[file] ??= {})[k.slice("SCHILY.xattr.".length)] = digest(
              `0x${hex(te.encode(v as string))}`,
            );
          }
        }
        assertEquals(got, want);
        assertEquals(await Deno.readTextFile(`${mnt}/four`), "its tail\n");
        assertEquals(await Deno.readTextFile(`${mnt}/dir/inside`), "x\n");
        assertEquals(await Deno.readLink(`${mnt}/link`), "four");
      });
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
);
