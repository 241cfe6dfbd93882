// Integration: exportRootfs() of images pushed to the real registry, read back by GNU tar and
// compared with skiff's unpack and umoci's; determinism; xattrs, devices, hardlinks in pax.

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { gzip, mustRun, sha256 } from "../_images.ts";
import { pushImage } from "../_push.ts";
import { startRegistry } from "../_registry.ts";
import { pushDebianImage, snapshot } from "../_rootfs.ts";
import { makeTar } from "../_tar.ts";
import { DigestMismatchError } from "../../lib/reference/digest_mismatch_error.ts";
import { exportRootfs } from "../../lib/unpack/export_rootfs.ts";
import { unpack } from "../../lib/unpack/unpack.ts";
import { tempDir } from "../_temp.ts";

const isRoot = Deno.uid() === 0;
/** A version 2 file capability: effective, permitted cap_net_raw (bit 13). */
const CAP = "\x01\x00\x00\x02\x00\x20" + "\x00".repeat(14);

async function collect(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(readable).arrayBuffer());
}

Deno.test("exportRootfs: the Debian image as one tar; GNU tar extracts the same tree as unpack and umoci", async () => {
  const registry = await startRegistry();
  const work = await tempDir({ prefix: "skiff-export-" });
  try {
    const name = `${registry.host}/test/debian:1`;
    await pushDebianImage(registry.host, "test/debian:1");
    const store = `${work}/store`;
    // streamed from the registry (the store lacks it)
    const first = exportRootfs(name, { store });
    const tar = await collect(first.readable);
    const result = await first.result;
    assertEquals([result.pulled, result.layers, result.whiteouts], [true, 3, 4]);
    await Deno.writeFile(`${work}/rootfs.tar`, tar);
    // from the store: the same bytes
    const again = exportRootfs(name, { store, pull: "never" });
    assertEquals(sha256(await collect(again.readable)), sha256(tar));
    assertEquals((await again.result).pulled, false);

    // GNU tar lists no whiteout and reads it all; extracted as root, it is the unpack's tree
    const list = new TextDecoder().decode(await mustRun("tar", ["-tf", `${work}/rootfs.tar`]));
    assert(!list.split("\n").some((p) => p.split("/").pop()!.startsWith(".wh.")), "no whiteouts");
    await Deno.mkdir(`${work}/x`);
    await mustRun("tar", [
      "-xpf",
      `${work}/rootfs.tar`,
      "-C",
      `${work}/x`,
      "--numeric-owner",
      "--xattrs",
      "--xattrs-include=*",
    ]);
    await unpack(name, `${work}/u`, { store, pull: "never" });
    const ours = await snapshot(`${work}/x`);
    const unpacked = await snapshot(`${work}/u`);
    assertEquals(Object.keys(ours.nodes).sort(), Object.keys(unpacked.nodes).sort());
    for (const [path, node] of Object.entries(unpacked.nodes)) {
      assertEquals(ours.nodes[path], node, path);
    }
    assertEquals(ours.hardlinks, unpacked.hardlinks);
    await mustRun("umoci", ["unpack", "--rootless", "--image", `${store}:${name}`, `${work}/m`]);
    const theirs = await snapshot(`${work}/m/rootfs`);
    for (const [path, node] of Object.entries(theirs.nodes)) {
      assertEquals(ours.nodes[path], node, path);
    }
    if (isRoot) {
      const owned = await Deno.lstat(`${work}/x/opt/owned`);
      assertEquals([owned.uid, owned.gid, owned.mode! & 0o7777], [1234, 5678, 0o2750]);
    }
  } finally {
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("exportRootfs: devices, xattrs, long names, a hardlink whose first name was deleted; a bad diff_id errors the stream", async () => {
  const registry = await startRegistry();
  const work = await tempDir({ prefix: "skiff-export-" });
  try {
    const long = `deep/${"d".repeat(120)}/${"n".repeat(150)}`;
    const t1 = makeTar([
      { path: "dev/", type: "directory" },
      { path: "dev/null", type: "char", devmajor: 1, devminor: 3, mode: 0o666 },
      { path: "dev/sda", type: "block", devmajor: 8, devminor: 0, mode: 0o660 },
      { path: "dev/fifo", type: "fifo" },
      { path: "first", content: "shared body\n", mode: 0o640, gid: 7, pax: { uid: "3000000" } },
      { path: "second", type: "link", linkname: "first" },
      {
        path: "cap",
        content: "x",
        pax: { "SCHILY.xattr.security.capability": CAP },
      },
      { path: long, content: "long\n" },
      { path: "lib", type: "symlink", linkname: "usr/lib" },
      { path: "usr/lib/", type: "directory" },
    ]);
    const t2 = makeTar([
      { path: ".wh.first" },
      { path: "lib/through-symlink", content: "in usr/lib\n" },
    ]);
    const layer = async (tar: Uint8Array) => ({
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      bytes: await gzip(tar),
      diffId: sha256(tar),
    });
    await pushImage(registry.url, "test/special", "1", [await layer(t1), await layer(t2)]);
    const store = `${work}/store`;
    const name = `${registry.host}/test/special:1`;
    const { readable, result } = exportRootfs(name, { store });
    await Deno.writeFile(`${work}/out.tar`, readable);
    assertEquals((await result).whiteouts, 1);
    const raw = new TextDecoder().decode(await Deno.readFile(`${work}/out.tar`));
    assert(raw.includes(` SCHILY.xattr.security.capability=${CAP}\n`), "the xattr, as it was");
    const list = new TextDecoder().decode(
      await mustRun("tar", ["--numeric-owner", "-tvf", `${work}/out.tar`]),
    ).trim().split("\n");
    const line = (path: string) =>
      list.map((l) => l.replace(/ +/g, " ")).find((l) =>
        l.endsWith(` ${path}`) || l.includes(` ${path} `)
      );
    assert(line("dev/null")?.startsWith("crw-rw-rw- 0/0 1,3 "), line("dev/null"));
    assert(line("dev/sda")?.startsWith("brw-rw---- 0/0 8,0 "), line("dev/sda"));
    assert(line("dev/fifo")?.startsWith("p"), line("dev/fifo"));
    // "first" is gone; its content is written under the surviving hardlink's name
    assert(!list.some((l) => / first$/.test(l)), list.join("\n"));
    assert(line("second")?.startsWith("-rw-r----- 3000000/7 12 "), line("second"));
    assert(line(long) !== undefined, "the long name");
    assert(line("usr/lib/through-symlink") !== undefined, list.join("\n"));
    await Deno.mkdir(`${work}/x`);
    await mustRun("tar", [
      "-xpf",
      `${work}/out.tar`,
      "-C",
      `${work}/x`,
      "--xattrs",
      "--xattrs-include=*",
    ]);
    assertEquals(await Deno.readTextFile(`${work}/x/second`), "shared body\n");
    assertEquals(await Deno.readTextFile(`${work}/x/${long}`), "long\n");
    if (isRoot) {
      const cap = new TextDecoder().decode(
        await mustRun("getfattr", ["-n", "security.capability", "-e", "hex", `${work}/x/cap`]),
      );
      assert(cap.includes("0x0100000200200000000000000000000000000000"), cap);
    }

    // a config whose diff_id is not the tar's: the stream errors with DigestMismatchError
    await pushImage(registry.url, "test/wrong", "1", [{
      ...(await layer(t1)),
      diffId: sha256(t2),
    }]);
    const bad = exportRootfs(`${registry.host}/test/wrong:1`, { store });
    await assertRejects(() => collect(bad.readable), DigestMismatchError);
    await assertRejects(() => bad.result, DigestMismatchError);
  } finally {
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("exportRootfs: pax times come out as the layer wrote them, to the nanosecond", async () => {
  const registry = await startRegistry();
  const work = await tempDir({ prefix: "skiff-export-" });
  try {
    // more digits than a double holds near these times; negative; past ustar's 11 octal digits
    const times: Record<string, string> = {
      "ns": "1700000000.123456789",
      "ns-dir/": "1700000000.987654321",
      "ms": "1700000000.001",
      "neg": "-1.000000001",
      "neg-whole": "-3",
      "far": "99999999999.999999999",
      "link": "1234567890.000000007",
    };
    const specs = Object.entries(times).map(([path, mtime]) =>
      path.endsWith("/")
        ? { path, type: "directory" as const, pax: { mtime } }
        : path === "link"
        ? { path, type: "symlink" as const, linkname: "ns", pax: { mtime } }
        : { path, content: `${path}\n`, pax: { mtime } }
    );
    const tar = makeTar(specs);
    await pushImage(registry.url, "test/times", "1", [{
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      bytes: await gzip(tar),
      diffId: sha256(tar),
    }]);
    const { readable, result } = exportRootfs(`${registry.host}/test/times:1`, {
      store: `${work}/store`,
    });
    const out = await collect(readable);
    await result;
    // each entry's pax mtime record, byte for byte as in the layer
    const text = new TextDecoder("latin1").decode(out);
    const records = [...text.matchAll(/\d+ mtime=([^\n]*)\n/g)].map((m) => m[1]).sort();
    assertEquals(records, Object.values(times).sort());
    // and GNU tar reads the same instants (a negative one it reads its own way: not checked)
    const list = new TextDecoder().decode(
      await mustRun("tar", ["--full-time", "--utc", "-tvf", "-"], { stdin: out }),
    );
    assert(list.includes("2023-11-14 22:13:20.123456789 ns\n"), list);
    assert(list.includes("5138-11-16 09:46:39.999999999 far\n"), list);
  } finally {
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});
