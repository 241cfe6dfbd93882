// Integration: unpack(ref, file, { format: "erofs" }) of images pushed to the real registry. The
// image is checked by fsck.erofs and, as root, mounted by the kernel and compared with what
// `umoci unpack` (as root) makes of the same store; hostile layers and limits leave no file.

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { diffSnapshots, fsckErofs, isRoot, treeSnapshot, withErofsMount } from "../_erofs.ts";
import { gzip, mustRun, run, sha256 } from "../_images.ts";
import { pushImage } from "../_push.ts";
import { startRegistry } from "../_registry.ts";
import { pushDebianImage } from "../_rootfs.ts";
import { makeTar } from "../_tar.ts";
import { DigestMismatchError } from "../../lib/reference/digest_mismatch_error.ts";
import { unpack } from "../../lib/unpack/unpack.ts";
import { tempDir } from "../_temp.ts";

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

async function fileDigest(path: string): Promise<string> {
  return sha256(await Deno.readFile(path));
}

Deno.test(
  `unpack erofs: the Debian image in three layers, fsck clean, the same bytes twice; ${
    isRoot ? "mounted, equal to umoci unpack as root" : "(no mount or umoci comparison: not root)"
  }`,
  async (t) => {
    const registry = await startRegistry();
    const work = await tempDir({ prefix: "skiff-unpack-erofs-" });
    try {
      const name = `${registry.host}/test/debian:1`;
      const digest = await pushDebianImage(registry.host, "test/debian:1");
      const store = `${work}/store`;
      const events: string[] = [];
      const result = await unpack(name, `${work}/debian.erofs`, {
        store,
        format: "erofs",
        onProgress: (e) => events.push(e.type),
      });
      assertEquals([result.digest, result.layers, result.pulled, result.format], [
        digest,
        3,
        true,
        "erofs",
      ]);
      assertEquals(events.filter((e) => e === "layer-unpacked").length, 3);
      assertEquals(result.whiteouts, 4);
      assertEquals(result.dir, `${work}/debian.erofs`);
      const size = (await Deno.stat(`${work}/debian.erofs`)).size;
      assertEquals(result.image, { size, digest: await fileDigest(`${work}/debian.erofs`) });
      assertEquals(await fsckErofs(`${work}/debian.erofs`), "");
      assertEquals(await names(work), ["debian.erofs", "store"]); // no temporary file left

      await t.step(
        "the same image gives the same bytes (from the store, no registry)",
        async () => {
          const again = await unpack(name, `${work}/again.erofs`, {
            store,
            format: "erofs",
            pull: "never",
          });
          assertEquals(again.image, result.image);
          assertEquals(
            await Deno.readFile(`${work}/again.erofs`),
            await Deno.readFile(`${work}/debian.erofs`),
          );
          await Deno.remove(`${work}/again.erofs`);
        },
      );

      await t.step({
        name: "mounted read-only, it equals umoci unpack (as root): owners, modes, times, links",
        ignore: !isRoot,
        fn: async () => {
          await mustRun("umoci", ["unpack", "--image", `${store}:${name}`, `${work}/bundle`]);
          const theirs = await treeSnapshot(`${work}/bundle/rootfs`);
          const ours = await withErofsMount(`${work}/debian.erofs`, (dir) => treeSnapshot(dir));
          assert(Object.keys(ours.entries).length > 2000, "a real tree");
          assertEquals(diffSnapshots(ours, theirs), []);
          const e = ours.entries;
          assertEquals([e["opt/owned"]?.uid, e["opt/owned"]?.gid, e["opt/owned"]?.mode], [
            1234,
            5678,
            0o2750,
          ]);
          assertEquals([e["usr/bin/passwd"]?.uid, e["usr/bin/passwd"]?.mode], [0, 0o4755]);
          assertEquals(e["etc/hostname"]?.type, "dir");
          assertEquals(e["usr/bin/yes"], undefined);
          assertEquals(e["var/cache/skiff/lower-1"], undefined);
          assertEquals(e["var/cache/skiff/upper"]?.type, "file");
          assert(ours.hardlinks.some((g) => g.join() === "opt/hard-a,opt/hard-b"), "hardlinks");
        },
      });
    } finally {
      await registry.stop();
      await Deno.remove(work, { recursive: true });
    }
  },
);

Deno.test("unpack erofs: zstd and plain layers; hostile layers, limits, abort leave no file", async () => {
  const registry = await startRegistry();
  const work = await tempDir({ prefix: "skiff-unpack-erofs-" });
  try {
    const store = `${work}/store`;
    const layer = async (entries: Parameters<typeof makeTar>[0]) => {
      const tar = makeTar(entries);
      return {
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
        bytes: await gzip(tar),
        diffId: sha256(tar),
      };
    };
    const image = async (repo: string, layers: Parameters<typeof makeTar>[0][]) => {
      await pushImage(registry.url, repo, "1", await Promise.all(layers.map((l) => layer(l))));
      return `${registry.host}/${repo}:1`;
    };

    // zstd and plain tar layers
    const t1 = makeTar([
      { path: "etc/", type: "directory" },
      { path: "etc/one", content: "plain tar\n" },
      { path: "gone", content: "deleted by the zstd layer\n" },
    ]);
    const t2 = makeTar([{ path: "etc/two", content: "zstd\n" }, { path: ".wh.gone" }]);
    const zstd = await mustRun("zstd", ["-q", "-c"], { stdin: t2 });
    await pushImage(registry.url, "test/formats", "1", [
      { mediaType: "application/vnd.oci.image.layer.v1.tar", bytes: t1 },
      { mediaType: "application/vnd.oci.image.layer.v1.tar+zstd", bytes: zstd, diffId: sha256(t2) },
    ]);
    const formats = `${registry.host}/test/formats:1`;
    const r = await unpack(formats, `${work}/formats.erofs`, { store, format: "erofs" });
    assertEquals([r.layers, r.entries, r.whiteouts], [2, 5, 1]);
    await fsckErofs(`${work}/formats.erofs`, `${work}/formats`);
    assertEquals(await names(`${work}/formats`), ["etc"]);
    assertEquals(await Deno.readTextFile(`${work}/formats/etc/two`), "zstd\n");
    await Deno.remove(`${work}/formats`, { recursive: true });

    // the target must be absent: refused before anything, the file untouched
    const exists = await assertRejects(() =>
      unpack(formats, `${work}/formats.erofs`, { store, format: "erofs" })
    );
    assertEquals(exists.message, `Cannot unpack into ${work}/formats.erofs: it exists`);
    await Deno.remove(`${work}/formats.erofs`);

    const refused: [string, Parameters<typeof makeTar>[0][], string][] = [
      [
        "dotdot",
        [[{ path: "ok", content: "x" }, { path: "../pwned", content: "x" }]],
        "climbs out",
      ],
      ["hardlink", [[{ path: "l", type: "link", linkname: "../etc/passwd" }]], "climbs out"],
      ["hardlink-abs", [[{ path: "l", type: "link", linkname: "/etc/passwd" }]], "not in the root"],
      ["liar", [[{ path: "big", content: "short", size: 5_000_000 }]], "truncated"],
      ["loop", [[
        { path: "loop", type: "symlink", linkname: "loop" },
        { path: "loop/x", content: "x" },
      ]], "too many symlinks"],
      ["long-name", [[{ path: "n".repeat(300), content: "x" }]], "longer than 255 bytes"],
    ];
    for (const [repo, layers, message] of refused) {
      const ref = await image(`hostile/${repo}`, layers);
      const e = await assertRejects(() =>
        unpack(ref, `${work}/out.erofs`, { store, format: "erofs" })
      );
      assert(e.message.startsWith(`Cannot unpack ${ref}: layer 1 of 1`), e.message);
      assert(e.message.includes(message), `${repo}: ${e.message}`);
      assertEquals(await names(work), ["store"]); // no image, no temporary file
    }

    // limits: entries, and a tar bomb stopped by maxBytes
    const many = await image("hostile/many", [[{ path: "a" }, { path: "b" }, { path: "c" }]]);
    const e = await assertRejects(() =>
      unpack(many, `${work}/out.erofs`, { store, format: "erofs", maxEntries: 2 })
    );
    assert(e.message.includes("more than 2 entries (the maxEntries limit)"), e.message);
    const zeros = await mustRun("sh", ["-c", "head -c 64000000 /dev/zero | gzip -1"]);
    const bomb = await run("sh", ["-c", "head -c 64000000 /dev/zero | sha256sum"]);
    await pushImage(registry.url, "hostile/bomb", "1", [{
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      bytes: zeros,
      diffId: `sha256:${new TextDecoder().decode(bomb.stdout).split(" ")[0]}`,
    }]);
    const b = await assertRejects(() =>
      unpack(`${registry.host}/hostile/bomb:1`, `${work}/out.erofs`, {
        store,
        format: "erofs",
        maxBytes: 10_000_000,
      })
    );
    assert(b.message.includes("more than 10000000 uncompressed bytes"), b.message);
    assertEquals(await names(work), ["store"]);

    // a diff_id that is not the tar's: the layer fails verification at its end, no file
    await pushImage(registry.url, "test/wrong-diff", "1", [{
      mediaType: "application/vnd.oci.image.layer.v1.tar+zstd",
      bytes: zstd,
      diffId: sha256(t1),
    }]);
    const wrong = await assertRejects(
      () =>
        unpack(`${registry.host}/test/wrong-diff:1`, `${work}/out.erofs`, {
          store,
          format: "erofs",
        }),
      DigestMismatchError,
    );
    assert(wrong.message.includes("diff_id"), wrong.message);
    assertEquals(await names(work), ["store"]);

    // aborted after the first layer: the signal's reason, no file
    const controller = new AbortController();
    const stopped = await assertRejects(() =>
      unpack(formats, `${work}/out.erofs`, {
        store,
        format: "erofs",
        signal: controller.signal,
        onProgress: (e) => {
          if (e.type === "layer-unpacked") controller.abort(new Error("stop"));
        },
      })
    );
    assertEquals(stopped.message, "stop");
    assertEquals(await names(work), ["store"]);

    const bad = await assertRejects(
      // @ts-expect-error: a format the type does not allow, as JavaScript callers could pass
      () => unpack(formats, `${work}/out.ext9`, { store, format: "ext9" }),
      RangeError,
    );
    assertEquals(bad.message, `Cannot unpack as "ext9": expected directory, erofs or ext4`);
  } finally {
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});
