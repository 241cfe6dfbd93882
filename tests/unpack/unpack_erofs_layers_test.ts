// Layered EROFS: unpack(ref, DIR, { format: "erofs", layers: true }) writes one image per layer,
// named by diff_id, reused on the next run, whiteouts kept as overlayfs reads them. As root, the
// layer images are mounted and stacked with overlayfs, and the merged tree must equal what
// `umoci unpack` (as root) makes of the same image.

import { assert, assertEquals } from "../_assert.ts";
import {
  diffSnapshots,
  fsckErofs,
  isRoot,
  type TreeSnapshot,
  treeSnapshot,
  withErofsMount,
} from "../_erofs.ts";
import { mustRun } from "../_images.ts";
import { startRegistry } from "../_registry.ts";
import { pushDebianImage } from "../_rootfs.ts";
import { unpack } from "../../lib/unpack/unpack.ts";
import { tempDir } from "../_temp.ts";

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

/** Mounts each image, stacks them (top first) with a read-only overlayfs, snapshots the merge. */
async function overlaySnapshot(images: string[], work: string): Promise<TreeSnapshot> {
  const mount = async (i: number, lower: string[]): Promise<TreeSnapshot> => {
    if (i === images.length) {
      const merged = `${work}/merged`;
      await Deno.mkdir(merged);
      try {
        const lowerdir = lower.reverse().join(":");
        await mustRun("mount", [
          "-t",
          "overlay",
          "overlay",
          "-o",
          `ro,lowerdir=${lowerdir}`,
          merged,
        ]);
        try {
          return await treeSnapshot(merged);
        } finally {
          await mustRun("umount", [merged]);
        }
      } finally {
        await Deno.remove(merged);
      }
    }
    return await withErofsMount(images[i]!, (dir) => mount(i + 1, [...lower, dir]));
  };
  return await mount(0, []);
}

Deno.test(
  `unpack erofs --layers: one image per layer, reused; ${
    isRoot ? "stacked by overlayfs, equal to umoci unpack as root" : "(no mount: not root)"
  }`,
  async (t) => {
    const registry = await startRegistry();
    const work = await tempDir({ prefix: "skiff-erofs-layers-" });
    try {
      const name = `${registry.host}/test/debian:1`;
      await pushDebianImage(registry.host, "test/debian:1");
      const store = `${work}/store`;
      const dir = `${work}/layers`;
      const r = await unpack(name, dir, { store, format: "erofs", layers: true });
      const images = r.layerImages!;
      assertEquals(images.length, 3);
      assertEquals(images.map((l) => l.reused), [false, false, false]);
      assertEquals(r.whiteouts, 4);
      // each image, and beside it its SHA-256 as sha256sum writes it
      assertEquals(
        await names(dir),
        images.flatMap((l) =>
          [".erofs", ".erofs.sha256"].map((x) => l.diffId.replace(":", "-") + x)
        )
          .sort(),
      );
      await mustRun("sha256sum", ["--strict", "-c", ...images.map((l) => `${l.path}.sha256`)], {
        cwd: dir,
      });
      for (const l of images) {
        assertEquals((await Deno.stat(l.path)).size, l.size);
        assertEquals(await fsckErofs(l.path), "");
      }
      // layer 3 as overlayfs reads it: whiteouts are 0:0 devices, the opaque dir is marked
      const top = `${work}/top`;
      await fsckErofs(images[2]!.path, top);
      const topTree = await treeSnapshot(top);
      assertEquals(topTree.entries["usr/bin/yes"]?.type, "char");
      assertEquals(topTree.entries["usr/bin/yes"]?.rdev, "0:0");
      assertEquals(topTree.entries["opt/old"]?.type, "char");
      await Deno.remove(top, { recursive: true });

      await t.step("a second run reuses every layer image, unchanged", async () => {
        const before = await Promise.all(images.map((l) => Deno.readFile(l.path)));
        const again = await unpack(name, dir, { store, format: "erofs", layers: true });
        assertEquals(again.layerImages!.map((l) => l.reused), [true, true, true]);
        assertEquals(again.layerImages!.map((l) => l.path), images.map((l) => l.path));
        assertEquals(await Promise.all(images.map((l) => Deno.readFile(l.path))), before);
        // and a deleted one is written again, the same bytes
        const listing = await names(dir);
        await Deno.remove(images[1]!.path);
        const third = await unpack(name, dir, { store, format: "erofs", layers: true });
        assertEquals(third.layerImages!.map((l) => l.reused), [true, false, true]);
        assertEquals(await Deno.readFile(images[1]!.path), before[1]);
        assertEquals(await names(dir), listing);
        // as is one truncated, one altered in place (the same size), one without its record
        await Deno.truncate(images[0]!.path, 0);
        const altered = await Deno.open(images[2]!.path, { write: true });
        await altered.seek(images[2]!.size - 1, Deno.SeekMode.Start);
        await altered.write(new Uint8Array([1]));
        altered.close();
        const fourth = await unpack(name, dir, { store, format: "erofs", layers: true });
        assertEquals(fourth.layerImages!.map((l) => l.reused), [false, true, false]);
        assertEquals(await Promise.all(images.map((l) => Deno.readFile(l.path))), before);
        await Deno.remove(`${images[1]!.path}.sha256`);
        const fifth = await unpack(name, dir, { store, format: "erofs", layers: true });
        assertEquals(fifth.layerImages!.map((l) => l.reused), [true, false, true]);
        assertEquals(await Promise.all(images.map((l) => Deno.readFile(l.path))), before);
        assertEquals(await names(dir), listing);
      });

      await t.step({
        name: "mounted and stacked with overlayfs, equal to umoci unpack (as root)",
        ignore: !isRoot,
        fn: async () => {
          await mustRun("umoci", ["unpack", "--image", `${store}:${name}`, `${work}/bundle`]);
          const theirs = await treeSnapshot(`${work}/bundle/rootfs`);
          const ours = await overlaySnapshot(images.map((l) => l.path), work);
          assert(Object.keys(ours.entries).length > 2000, "a real tree");
          assertEquals(diffSnapshots(ours, theirs), []);
          assertEquals(await names(work), ["bundle", "layers", "store"]);
        },
      });
    } finally {
      await registry.stop();
      await Deno.remove(work, { recursive: true });
    }
  },
);
