// The disks skiff writes, judged by what a microVM sees: a stock Debian kernel boots in QEMU
// with the ext4 image, the EROFS image and the per-layer EROFS images of the Debian test image as
// virtio disks, mounts each (the layers stacked with overlayfs, top first), and lists the tree
// (type, owner, mode, size, link count, mtime, content hash, link target, device numbers). Each
// listing must equal the same listing of the directory unpack on the host, line for line. One
// boot checks all three formats (TCG boots take about 20 s here).

import { assertEquals } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { bootGuest, LIST_TREE, listTree, parseTree } from "../_qemu.ts";
import { startRegistry } from "../_registry.ts";
import { pushDebianImage } from "../_rootfs.ts";
import { tempDir } from "../_temp.ts";

const isRoot = Deno.uid() === 0;

Deno.test({
  name:
    "boot: ext4, EROFS and layered EROFS images mount in a Debian guest as the directory unpack",
  ignore: !isRoot, // the directory unpack keeps the image's owners and devices only as root
  async fn() {
    const registry = await startRegistry();
    const work = await tempDir({ prefix: "skiff-boot-" });
    try {
      const ref = `${registry.host}/test/debian:1`;
      await pushDebianImage(registry.host, "test/debian:1");
      const store = `${work}/store`;
      const run = async (args: string[]) => {
        const r = await skiff(["unpack", "-q", "--store", store, ...args]);
        assertEquals(r.code, 0, r.stderr);
      };
      await run([ref, `${work}/rootfs`]);
      await run(["--format", "ext4", ref, `${work}/root.ext4`]);
      await run(["--format", "erofs", ref, `${work}/root.erofs`]);
      await Deno.mkdir(`${work}/layers`);
      const layered = await skiff([
        "unpack",
        "--json",
        "--store",
        store,
        "--format",
        "erofs",
        "--layers",
        `${work}/layers`,
        ref,
      ]);
      assertEquals(layered.code, 0, layered.stderr);
      const layers: { path: string }[] = JSON.parse(layered.stdout).layerImages;
      assertEquals(layers.length, 3);

      const disks = [
        { path: `${work}/root.ext4`, format: "raw" as const },
        { path: `${work}/root.erofs`, format: "raw" as const },
        ...layers.map((l) => ({ path: l.path, format: "raw" as const })),
      ];
      // vda: ext4, vdb: EROFS, vdc..: the layers, base first; overlayfs lists them top first
      const lower = layers.map((_, i) => `/mnt/l${i}`).reverse().join(":");
      const out = await bootGuest({
        disks,
        files: { "/bin/list-tree": LIST_TREE },
        script: [
          "mkdir -p /mnt/ext4 /mnt/erofs /mnt/merged",
          "mount -t ext4 -o ro /dev/vda /mnt/ext4",
          "mount -t erofs -o ro /dev/vdb /mnt/erofs",
          ...layers.map((_, i) =>
            `mkdir -p /mnt/l${i} && mount -t erofs -o ro /dev/vd${
              String.fromCharCode(99 + i)
            } /mnt/l${i}`
          ),
          `mount -t overlay overlay -o ro,lowerdir=${lower} /mnt/merged`,
          'for fs in ext4 erofs merged; do echo "### $fs"; list-tree /mnt/$fs; done',
        ].join("\n"),
      });
      const sections = new Map<string, string>();
      for (const part of out.split(/^### /m).slice(1)) {
        const nl = part.indexOf("\n");
        sections.set(part.slice(0, nl), part.slice(nl + 1));
      }
      const expected = await listTree(`${work}/rootfs`);
      expected.delete("."); // the target directory's own metadata is the caller's
      for (const fs of ["ext4", "erofs", "merged"]) {
        const seen = sections.get(fs);
        if (seen === undefined) throw new Error(`the guest printed no ${fs} listing:\n${out}`);
        const tree = parseTree(seen);
        tree.delete(".");
        // ext4 has lost+found, which no layer made
        for (const path of [...tree.keys()]) {
          if (path === "./lost+found" || path.startsWith("./lost+found/")) tree.delete(path);
        }
        assertEquals(tree, expected, `${fs} as the guest's kernel sees it`);
      }
    } finally {
      await registry.stop();
      await Deno.remove(work, { recursive: true });
    }
  },
});
