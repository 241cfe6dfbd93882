// Integration: unpack(..., { format: "ext4" }) of images pushed to the real registry; the images
// are read by e2fsck, debugfs and the kernel (a read-only loop mount, as root), and the mounted
// tree is compared with umoci's unpack (as root) of the same store.

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { debugfs, describeTree, e2fsck, withMount, xattrsUnder } from "../_ext4.ts";
import { gzip, mustRun, run, sha256 } from "../_images.ts";
import { pushImage } from "../_push.ts";
import { startRegistry } from "../_registry.ts";
import { pushDebianImage } from "../_rootfs.ts";
import { makeTar, type TarSpec } from "../_tar.ts";
import { unpack } from "../../lib/unpack/unpack.ts";
import { Ext4Writer } from "../../lib/disk/ext4/ext4_writer.ts";
import { tempDir } from "../_temp.ts";

const isRoot = Deno.uid() === 0;
const CLI = new URL("../../cli.ts", import.meta.url).pathname;

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

async function layerOf(entries: TarSpec[]) {
  const tar = makeTar(entries);
  return {
    mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
    bytes: await gzip(tar),
    diffId: sha256(tar),
  };
}

/** umoci's unpack (as root: owners, devices and xattrs applied) of `name` in `store`. */
async function umoci(store: string, name: string, dir: string): Promise<string> {
  await mustRun("umoci", ["unpack", "--image", `${store}:${name}`, dir]);
  return `${dir}/rootfs`;
}

/** Compares the two trees path by path (lost+found is the image's own). */
async function assertSameTree(image: string, reference: string): Promise<number> {
  return await withMount(image, async (mnt) => {
    const ours = await describeTree(mnt, ["lost+found"]);
    const theirs = await describeTree(reference);
    assertEquals(Object.keys(ours.nodes).sort(), Object.keys(theirs.nodes).sort());
    for (const [path, node] of Object.entries(theirs.nodes)) {
      assertEquals(ours.nodes[path], node, path);
    }
    assertEquals(ours.hardlinks, theirs.hardlinks);
    const root = [await Deno.lstat(mnt), await Deno.lstat(reference)];
    assertEquals(root[0]!.mode! & 0o7777, root[1]!.mode! & 0o7777);
    return Object.keys(ours.nodes).length;
  });
}

const ACL = (() => {
  const entries: [number, number, number][] = [
    [1, 6, 0xffffffff],
    [2, 4, 1000],
    [4, 4, 0xffffffff],
    [0x10, 4, 0xffffffff],
    [0x20, 4, 0xffffffff],
  ];
  const bytes = new Uint8Array(4 + 8 * entries.length);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, 2, true);
  entries.forEach(([tag, perm, id], i) => {
    v.setUint16(4 + 8 * i, tag, true);
    v.setUint16(6 + 8 * i, perm, true);
    v.setUint32(8 + 8 * i, id, true);
  });
  return bytes;
})();
const CAP = new Uint8Array([0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

Deno.test({
  name: "ext4: devices, fifos, hardlinks, xattrs, owners, a big directory, an extent index, " +
    "whiteouts; e2fsck clean, debugfs extracts it, the mount equals umoci's",
  ignore: !isRoot,
  async fn() {
    const registry = await startRegistry();
    const work = await tempDir({ prefix: "skiff-ext4-" });
    try {
      const store = `${work}/store`;
      // a file of 2000 runs of data with holes between: 2000 extents, an index of two levels
      const runs = new Uint8Array(4096 * 4000);
      for (let b = 0; b < 4000; b += 2) runs.fill(b % 251, b * 4096, b * 4096 + 4096);
      runs[runs.length - 1] = 1;
      const big: TarSpec[] = [{ path: "big/", type: "directory" }];
      for (let i = 0; i < 3000; i++) {
        big.push({
          path: `big/entry-with-a-longish-name-${String(i).padStart(5, "0")}`,
          content: `${i}\n`,
        });
      }
      const l1: TarSpec[] = [
        { path: "./", type: "directory", mode: 0o755, mtime: 1_600_000_000 },
        { path: "bin/", type: "directory" },
        {
          path: "bin/ping",
          content: "ping\n",
          mode: 0o4755,
          pax: { "SCHILY.xattr.security.capability": CAP },
        },
        {
          path: "bin/tagged",
          content: "user xattrs\n",
          pax: {
            "SCHILY.xattr.user.comment": "a comment",
            "SCHILY.xattr.user.big": "x".repeat(300), // too big for the inode: an xattr block
          },
        },
        {
          // a POSIX ACL in the xattr format (ext4 stores it in its own): user::rw- user:1000:r--
          // group::r-- mask::r-- other::r--
          path: "bin/acl",
          content: "with an ACL\n",
          mode: 0o644,
          pax: { "SCHILY.xattr.system.posix_acl_access": ACL },
        },
        { path: "dev/", type: "directory" },
        { path: "dev/null", type: "char", mode: 0o666, devmajor: 1, devminor: 3 },
        { path: "dev/sda1", type: "block", mode: 0o660, gid: 6, devmajor: 8, devminor: 1 },
        { path: "dev/big", type: "block", mode: 0o600, devmajor: 259, devminor: 70000 },
        { path: "dev/fifo", type: "fifo", mode: 0o640 },
        { path: "home/", type: "directory", uid: 100000, gid: 200000, mode: 0o750 },
        { path: "home/user-file", content: "owned\n", uid: 100000, gid: 200000, mode: 0o600 },
        {
          path: "home/precise",
          content: "a time with a fraction\n",
          pax: { mtime: "1700000000.123456789" }, // more digits than a double holds
        },
        { path: "etc/", type: "directory" },
        { path: "etc/a", content: "one inode, three names\n" },
        { path: "etc/b", type: "link", linkname: "etc/a" },
        { path: "etc/c", type: "link", linkname: "./etc/a" },
        { path: "etc/short", type: "symlink", linkname: "a" },
        { path: "etc/long", type: "symlink", linkname: `${"../".repeat(30)}etc/a` },
        { path: "etc/empty", content: "" },
        { path: "etc/zeros", content: new Uint8Array(100_000) },
        { path: "var/", type: "directory" },
        { path: "var/runs", content: runs },
        { path: "old/", type: "directory" },
        { path: "old/gone", content: "deleted in layer 2\n".repeat(1000) },
        { path: "opaque/", type: "directory" },
        { path: "opaque/lower", content: "hidden by layer 2\n" },
        ...big,
      ];
      const l2: TarSpec[] = [
        { path: "old/.wh.gone" },
        { path: "opaque/.wh..wh..opq" },
        { path: "opaque/upper", content: "the only one\n" },
        { path: "etc/short", content: "a file where a symlink was\n" },
        {
          path: "bin/tagged",
          content: "replaced, xattr kept\n",
          pax: { "SCHILY.xattr.user.v": "2" },
        },
      ];
      await pushImage(registry.url, "test/ext4", "1", [await layerOf(l1), await layerOf(l2)]);
      const name = `${registry.host}/test/ext4:1`;
      const result = await unpack(name, `${work}/a.ext4`, { store, format: "ext4" });
      assertEquals(result.layers, 2);
      assertEquals(result.whiteouts, 2);
      assertEquals(result.format, "ext4");
      const bytes = await Deno.readFile(`${work}/a.ext4`);
      assertEquals(result.image?.size, bytes.byteLength);
      assertEquals(result.image?.digest, sha256(bytes));
      assertEquals(await names(work), ["a.ext4", "store"]);

      const fsck = await e2fsck(`${work}/a.ext4`);
      assert(fsck.includes("Pass 5"), fsck);

      // the extent tree of the file of 2000 runs has index levels
      const extents = await debugfs(`${work}/a.ext4`, "ex /var/runs");
      assert(/^\s*0\/\s*[12]\s/m.test(extents), extents); // level 0 of a depth-1 or -2 tree
      assert(extents.includes("2/ 2") || extents.includes("1/ 1"), extents);

      // debugfs extracts it without a mount
      await Deno.mkdir(`${work}/rdump`);
      await debugfs(`${work}/a.ext4`, `rdump / ${work}/rdump`);
      assertEquals(await Deno.readTextFile(`${work}/rdump/opaque/upper`), "the only one\n");
      assertEquals(await names(`${work}/rdump/opaque`), ["upper"]);
      assertEquals(await names(`${work}/rdump/old`), []);
      assertEquals(await Deno.readFile(`${work}/rdump/var/runs`), runs);
      assertEquals((await names(`${work}/rdump/big`)).length, 3000);

      // the kernel's view equals umoci's unpack of the same store
      const ref = await umoci(store, name, `${work}/umoci`);
      const count = await assertSameTree(`${work}/a.ext4`, ref);
      assert(count > 3000, `${count} paths`);
      await withMount(`${work}/a.ext4`, async (mnt) => {
        const cap = await run("getfattr", [
          "-n",
          "security.capability",
          "-e",
          "hex",
          `${mnt}/bin/ping`,
        ]);
        assert(new TextDecoder().decode(cap.stdout).includes("0x0000000200200000"), cap.stderr);
        const acl = await mustRun("getfacl", ["-c", "-n", `${mnt}/bin/acl`]);
        assertEquals(
          new TextDecoder().decode(acl).trim().split("\n"),
          ["user::rw-", "user:1000:r--", "group::r--", "mask::r--", "other::r--"],
        );
        const dev = await Deno.lstat(`${mnt}/dev/big`);
        assert(dev.isBlockDevice);
        const stat = await mustRun("stat", [
          "-c",
          "%t:%T %y %u:%g",
          `${mnt}/dev/big`,
          `${mnt}/home/precise`,
          `${mnt}/home/user-file`,
        ]);
        const lines = new TextDecoder().decode(stat).split("\n");
        assert(lines[0]!.startsWith("103:11170 "), lines[0]); // 259:70000 in hex
        assert(lines[1]!.includes("22:13:20.123456789"), lines[1]);
        assert(lines[2]!.endsWith(" 100000:200000"), lines[2]);
        assertEquals((await Deno.lstat(`${mnt}/etc/a`)).nlink, 3);
        assertEquals((await Deno.lstat(`${mnt}/lost+found`)).mode! & 0o7777, 0o700);
      });

      // the same image gives the same bytes
      const again = await unpack(name, `${work}/b.ext4`, { store, format: "ext4", pull: "never" });
      assertEquals(again.image?.digest, result.image?.digest);
    } finally {
      await registry.stop();
      await Deno.remove(work, { recursive: true });
    }
  },
});

Deno.test({
  name: "ext4: the Debian image in three layers, written by an unprivileged skiff, mounts as " +
    "umoci (root) unpacks it, owners included, and root's run gives the same bytes",
  ignore: !isRoot,
  async fn() {
    const registry = await startRegistry();
    const work = await tempDir({ prefix: "skiff-ext4-" });
    try {
      const name = `${registry.host}/test/debian:1`;
      await pushDebianImage(registry.host, "test/debian:1");
      const store = `${work}/store`;
      const asRoot = await unpack(name, `${work}/root.ext4`, { store, format: "ext4" });
      await e2fsck(`${work}/root.ext4`);

      // skiff as nobody: reads the store, writes an image whose files belong to root
      await Deno.chmod(work, 0o777);
      await mustRun("chmod", ["-R", "a+rX", store]);
      await Deno.mkdir(`${work}/nobody`, { mode: 0o777 });
      await Deno.chmod(`${work}/nobody`, 0o777);
      const r = await run("setpriv", [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        Deno.execPath(),
        "run",
        "-A",
        "--quiet",
        CLI,
        "unpack",
        "--format",
        "ext4",
        "--json",
        "--store",
        store,
        name,
        `${work}/nobody/image.ext4`,
      ], { env: { NO_COLOR: "1", DENO_DIR: `${work}/nobody/deno`, HOME: `${work}/nobody` } });
      assertEquals(r.code, 0, r.stderr);
      const json = JSON.parse(new TextDecoder().decode(r.stdout));
      assertEquals(json.image.digest, asRoot.image?.digest); // the same bytes, whoever runs it
      assertEquals((await Deno.lstat(`${work}/nobody/image.ext4`)).uid, 65534);
      await e2fsck(`${work}/nobody/image.ext4`);

      const ref = await umoci(store, name, `${work}/umoci`);
      const count = await assertSameTree(`${work}/nobody/image.ext4`, ref);
      assert(count > 2000, `${count} paths`);
      await withMount(`${work}/nobody/image.ext4`, async (mnt) => {
        const owned = await Deno.lstat(`${mnt}/opt/owned`);
        assertEquals([owned.uid, owned.gid, owned.mode! & 0o7777], [1234, 5678, 0o2750]);
        const passwd = await Deno.lstat(`${mnt}/usr/bin/passwd`);
        assertEquals([passwd.uid, passwd.gid, passwd.mode! & 0o7777], [0, 0, 0o4755]);
        assertEquals(
          await Deno.readTextFile(`${mnt}/etc/hostname/inner`),
          "a directory where a file was\n",
        );
        assertEquals(await names(`${mnt}/var/cache/skiff`), ["upper"]);
      });
    } finally {
      await registry.stop();
      await Deno.remove(work, { recursive: true });
    }
  },
});

Deno.test("ext4: hostile layers, limits and a size too small fail with no file left", async () => {
  const registry = await startRegistry();
  const work = await tempDir({ prefix: "skiff-ext4-" });
  try {
    const store = `${work}/store`;
    const image = async (repo: string, layers: TarSpec[][]) => {
      await pushImage(registry.url, repo, "1", await Promise.all(layers.map(layerOf)));
      return `${registry.host}/${repo}:1`;
    };
    const refused: [string, TarSpec[][], string][] = [
      ["dotdot", [[{ path: "ok", content: "x" }, { path: "../pwned", content: "x" }]], ".."],
      ["hardlink", [[{ path: "l", type: "link", linkname: "../etc/passwd" }]], "climbs out"],
      ["hardlink-abs", [[{ path: "l", type: "link", linkname: "/etc/passwd" }]], "not in"],
      ["liar", [[{ path: "big", content: "short", size: 5_000_000 }]], "truncated"],
      [
        "through-file",
        [[{ path: "f", content: "x" }, { path: "f/x", content: "y" }]],
        "not a directory",
      ],
    ];
    for (const [repo, layers, message] of refused) {
      const ref = await image(`hostile/${repo}`, layers);
      const e = await assertRejects(() =>
        unpack(ref, `${work}/out.ext4`, { store, format: "ext4" })
      );
      assert(e.message.startsWith(`Cannot unpack ${ref}: layer 1 of 1`), e.message);
      assert(e.message.includes(message), `${repo}: ${e.message}`);
      assertEquals(await names(work), ["store"]);
    }

    const many = await image("limits/many", [[
      { path: "a", content: "1" },
      { path: "b", content: "2" },
      { path: "c", content: "3" },
    ]]);
    const e1 = await assertRejects(() =>
      unpack(many, `${work}/out.ext4`, { store, format: "ext4", maxEntries: 2 })
    );
    assert(e1.message.includes("more than 2 entries (the maxEntries limit)"), e1.message);
    const e2 = await assertRejects(() =>
      unpack(many, `${work}/out.ext4`, { store, format: "ext4", maxBytes: 1024 })
    );
    assert(e2.message.includes("more than 1024 uncompressed bytes"), e2.message);
    const e3 = await assertRejects(() =>
      unpack(many, `${work}/out.ext4`, { store, format: "ext4", size: 16 * 1024 })
    );
    assert(
      e3.message.startsWith(`Cannot unpack ${many}: cannot write the ext4 image: the image needs`),
      e3.message,
    );
    assertEquals(await names(work), ["store"]);

    // a directory at the target is refused before anything is written
    await Deno.mkdir(`${work}/dir`);
    const e4 = await assertRejects(() => unpack(many, `${work}/dir`, { store, format: "ext4" }));
    assertEquals(e4.message, `Cannot unpack into ${work}/dir: it is a directory`);

    // --size and --free: the room asked for, clean
    const sized = await unpack(many, `${work}/sized.ext4`, {
      store,
      format: "ext4",
      size: 64 * 1024 ** 2,
    });
    assertEquals(sized.image, { size: 64 * 1024 ** 2 }); // no digest: mostly empty space
    await e2fsck(`${work}/sized.ext4`);
    // 64 GiB: the empty space is neither written nor initialised (BLOCK_UNINIT groups, holes),
    // so what the file takes on disk is the content and its metadata, not 64 GiB of zeros
    const huge = await unpack(many, `${work}/huge.ext4`, {
      store,
      format: "ext4",
      size: 64 * 1024 ** 3,
    });
    assertEquals(huge.image, { size: 64 * 1024 ** 3 });
    const info = await Deno.stat(`${work}/huge.ext4`);
    assertEquals(info.size, 64 * 1024 ** 3);
    assert(info.blocks! * 512 < 1024 ** 2, `${info.blocks! * 512} bytes allocated`);
    const groups = new TextDecoder().decode(await mustRun("dumpe2fs", [`${work}/huge.ext4`]));
    // 512 groups: the 1 GiB of inode tables (one inode per 16 KiB) fill 8, the last is whole
    const uninit = (groups.match(/^Group \d+: .*BLOCK_UNINIT/gm) ?? []).length;
    assert(uninit > 500, `${uninit} groups uninitialised`);
    await e2fsck(`${work}/huge.ext4`);
    await Deno.remove(`${work}/huge.ext4`);
    // never rounded: a size that is not whole blocks is refused before anything is written
    const odd = await assertRejects(
      () => unpack(many, `${work}/odd.ext4`, { store, format: "ext4", size: 64 * 1024 ** 2 + 1 }),
      RangeError,
    );
    assertEquals(
      odd.message,
      "Cannot unpack as ext4: size 67108865 is not a whole number of 4 KiB blocks " +
        "(67108864 or 67112960 would be)",
    );
    const roomy = await unpack(many, `${work}/roomy.ext4`, {
      store,
      format: "ext4",
      free: 32 * 1024 ** 2,
    });
    const stats = await debugfs(`${work}/roomy.ext4`, "stats");
    const free = Number(/Free blocks:\s+(\d+)/.exec(stats)?.[1]);
    assert(free * 4096 >= 32 * 1024 ** 2, stats);
    assert(roomy.image!.size < 40 * 1024 ** 2, `${roomy.image!.size}`);
    await e2fsck(`${work}/roomy.ext4`);
    const journaled = await unpack(many, `${work}/journal.ext4`, {
      store,
      format: "ext4",
      journal: true,
    });
    assert(journaled.image!.size > 4 * 1024 ** 2);
    assert((await debugfs(`${work}/journal.ext4`, "stats")).includes("has_journal"));
    await e2fsck(`${work}/journal.ext4`);
    assertEquals(await names(work), ["dir", "journal.ext4", "roomy.ext4", "sized.ext4", "store"]);
  } finally {
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("Ext4Writer: an xattr outside ext4's namespaces, a name over 255 bytes", async () => {
  const work = await tempDir({ prefix: "skiff-ext4-" });
  try {
    const layer = (entries: TarSpec[]) =>
      (async function* () {
        yield makeTar(entries);
      })();
    // the namespace: found when the image is written
    const odd = new Ext4Writer(`${work}/odd.ext4`);
    await odd.applyLayer(
      layer([{ path: "f", content: "", pax: { "SCHILY.xattr.odd.name": "v" } }]),
    );
    await assertRejects(
      () => Promise.resolve().then(() => odd.finish()),
      Error,
      `Cannot write the ext4 image: "f": the xattr "odd.name" is not in a namespace ext4 stores`,
    );
    // the long name: refused by the tree as the layer is read
    const long = new Ext4Writer(`${work}/long.ext4`);
    await assertRejects(
      () => long.applyLayer(layer([{ path: "x".repeat(256), content: "" }])),
      Error,
      "a name is longer than 255 bytes",
    );
    long.close();
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test({
  name:
    "ext4: an image with --free or --size mounts read-write, and what the kernel writes keeps " +
    "it clean; a full disk ends in one error and no file",
  ignore: !isRoot,
  async fn() {
    const registry = await startRegistry();
    const work = await tempDir({ prefix: "skiff-ext4-" });
    const small = `${work}/small`;
    try {
      const store = `${work}/store`;
      const files: TarSpec[] = [{ path: "etc/", type: "directory" }];
      for (let i = 0; i < 100; i++) files.push({ path: `etc/f${i}`, content: "x".repeat(i * 100) });
      await pushImage(registry.url, "test/rw", "1", [await layerOf(files)]);
      const ref = `${registry.host}/test/rw:1`;
      // 300 MiB free: three block groups, so the kernel allocates across groups; 16 GiB: 512
      // groups, nearly all left uninitialised for the kernel to set up when it writes there
      const runs: [string, boolean, { free: number } | { size: number }][] = [
        ["free", false, { free: 300 * 1024 ** 2 }],
        ["journal", true, { free: 300 * 1024 ** 2 }],
        ["size", false, { size: 16 * 1024 ** 3 }],
      ];
      for (const [what, journal, space] of runs) {
        const image = `${work}/rw-${what}.ext4`;
        await unpack(ref, image, { store, format: "ext4", ...space, journal });
        const dir = await tempDir({ prefix: "skiff-mnt-" });
        try {
          await mustRun("mount", ["-o", "loop", "-t", "ext4", image, dir]);
          try {
            await Deno.mkdir(`${dir}/etc/new`);
            for (let i = 0; i < 3000; i++) {
              await Deno.writeTextFile(`${dir}/etc/new/${i}`, `${i}\n`);
            }
            for (let i = 10; i < 20; i++) await Deno.remove(`${dir}/etc/f${i}`);
            await Deno.writeFile(`${dir}/big`, new Uint8Array(200 * 1024 ** 2).fill(7));
            // new top-level directories: the kernel spreads them over the groups (Orlov)
            for (let i = 0; i < 8; i++) {
              await Deno.mkdir(`${dir}/top${i}`);
              await Deno.writeFile(`${dir}/top${i}/data`, new Uint8Array(1024 ** 2).fill(i + 1));
            }
          } finally {
            await mustRun("umount", [dir]);
          }
        } finally {
          await Deno.remove(dir);
        }
        await e2fsck(image);
        assertEquals((await debugfs(image, "ls /etc/new")).includes("2999"), true);
        assertEquals((await debugfs(image, "cat /top7/data")).length, 1024 ** 2);
      }

      // a file system with too little room for the image: one error, nothing left on it
      await Deno.mkdir(small);
      await mustRun("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", small]);
      try {
        await pushImage(registry.url, "test/large", "1", [
          await layerOf([{ path: "blob", content: new Uint8Array(3 * 1024 ** 2).fill(1) }]),
        ]);
        const e = await assertRejects(() =>
          unpack(`${registry.host}/test/large:1`, `${small}/image.ext4`, { store, format: "ext4" })
        );
        assert(e.message.startsWith(`Cannot unpack ${registry.host}/test/large:1`), e.message);
        assert(/No space left on device/i.test(e.message), e.message);
        assertEquals(await names(small), []);
      } finally {
        await mustRun("umount", [small]);
      }
    } finally {
      await registry.stop();
      await Deno.remove(work, { recursive: true });
    }
  },
});

const hex = (s: string | Uint8Array) =>
  "0x" + [...(typeof s === "string" ? new TextEncoder().encode(s) : s)]
    .map((b) => b.toString(16).padStart(2, "0")).join("");

Deno.test({
  name: "ext4: about 4 KiB of xattrs go into the inode and one xattr block (shared by the " +
    "inodes that have the same), the kernel reads them all; more is refused naming the file",
  ignore: !isRoot,
  async fn() {
    const registry = await startRegistry();
    const work = await tempDir({ prefix: "skiff-ext4-" });
    try {
      const store = `${work}/store`;
      const big = "b".repeat(3990); // with the others, more than one xattr block holds
      const split = {
        "SCHILY.xattr.user.big": big,
        "SCHILY.xattr.user.small": "s".repeat(40),
        "SCHILY.xattr.security.capability": CAP,
      };
      const shared = { "SCHILY.xattr.user.big": big };
      await pushImage(registry.url, "test/xattrs", "1", [
        await layerOf([
          { path: "split", content: "three xattrs\n", pax: split },
          { path: "same1", content: "1\n", pax: shared },
          { path: "same2", content: "2\n", pax: shared },
          { path: "dir/", type: "directory", pax: shared },
          {
            path: "acl",
            content: "an ACL and a big one\n",
            pax: {
              "SCHILY.xattr.system.posix_acl_access": ACL,
              "SCHILY.xattr.user.big": "a".repeat(4000),
            },
          },
        ]),
      ]);
      const ref = `${registry.host}/test/xattrs:1`;
      const image = `${work}/x.ext4`;
      await unpack(ref, image, { store, format: "ext4" });
      await e2fsck(image);
      // the three with the same block content share one block, counted in each inode
      const blockOf = async (path: string) =>
        Number(/File ACL: (\d+)/.exec(await debugfs(image, `stat ${path}`))?.[1]);
      const sharedBlock = await blockOf("/same1");
      assert(sharedBlock > 0);
      assertEquals(await blockOf("/same2"), sharedBlock);
      assertEquals(await blockOf("/dir"), sharedBlock);
      await withMount(image, async (mnt) => {
        const got = await xattrsUnder(mnt);
        const at = (p: string) => got[p];
        assertEquals(at("split"), {
          "security.capability": hex(CAP),
          "user.big": hex(big),
          "user.small": hex("s".repeat(40)),
        });
        assertEquals(at("same2"), { "user.big": hex(big) });
        assertEquals(at("dir"), { "user.big": hex(big) });
        assertEquals(at("acl")?.["user.big"], hex("a".repeat(4000)));
        const acl = await mustRun("getfacl", ["-c", "-n", `${mnt}/acl`]);
        assert(new TextDecoder().decode(acl).includes("user:1000:r--"));
      });

      // four values of 1000 bytes: more than the inode and one block hold, with the file named
      await pushImage(registry.url, "test/xattrs", "2", [
        await layerOf([{ path: "etc/", type: "directory" }, {
          path: "etc/too-many",
          content: "x",
          pax: Object.fromEntries(
            [0, 1, 2, 3].map((i) => [`SCHILY.xattr.user.k${i}`, "v".repeat(1000)]),
          ),
        }]),
      ]);
      const e = await assertRejects(() =>
        unpack(`${registry.host}/test/xattrs:2`, `${work}/y.ext4`, { store, format: "ext4" })
      );
      assertEquals(
        e.message,
        `Cannot unpack ${registry.host}/test/xattrs:2: cannot write the ext4 image: ` +
          `"etc/too-many": its xattrs take 4080 bytes (entries and values), more than ext4 holds ` +
          "in the inode (88) and one xattr block (4060)",
      );
      assertEquals(await names(work), ["store", "x.ext4"]);
    } finally {
      await registry.stop();
      await Deno.remove(work, { recursive: true });
    }
  },
});
