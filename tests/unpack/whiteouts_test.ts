// The opaque whiteout (`.wh..wh..opq`) when the same layer re-declares subdirectories of its
// directory before the marker: what the lower layers put inside them is hidden, what this layer
// put there stays (a hardlink it made to a lower file too), in every sink (directory, tar export,
// EROFS, ext4), as umoci unpacks it. An
// image of the tests' own on the real registry; the CLI as a user runs it, and the module.

import { assertEquals } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { debugfs } from "../_ext4.ts";
import { fsckErofs } from "../_erofs.ts";
import { mustRun } from "../_images.ts";
import { pushImage } from "../_push.ts";
import { startRegistry } from "../_registry.ts";
import { makeTar, type TarSpec } from "../_tar.ts";
import { tempDir } from "../_temp.ts";
import { exportRootfs } from "../../lib/unpack/export_rootfs.ts";
import { unpack } from "../../lib/unpack/unpack.ts";

const LOWER: TarSpec[] = [
  { path: "d/", type: "directory", mode: 0o755 },
  { path: "d/lower.txt", content: "lower\n" },
  { path: "d/sub/", type: "directory", mode: 0o755 },
  { path: "d/sub/lower.txt", content: "lower, inside a subdirectory\n" },
  { path: "d/sub/deeper/", type: "directory", mode: 0o755 },
  { path: "d/sub/deeper/lower.txt", content: "lower, two levels down\n" },
  { path: "d/gone/", type: "directory", mode: 0o755 },
  { path: "d/gone/lower.txt", content: "lower, in a directory the upper layer does not name\n" },
  { path: "outside.txt", content: "not under d\n" },
  { path: "base.txt", content: "a lower file the upper layer links to under d\n" },
];
// the directory and its subdirectories declared again, a file added, then the marker
const UPPER: TarSpec[] = [
  { path: "d/", type: "directory", mode: 0o755 },
  { path: "d/sub/", type: "directory", mode: 0o750 },
  { path: "d/sub/deeper/", type: "directory", mode: 0o755 },
  { path: "d/sub/upper.txt", content: "upper, before the marker\n" },
  { path: "d/link.txt", type: "link", linkname: "base.txt" }, // this layer's name, a lower file
  { path: "d/.wh..wh..opq", content: "" },
  { path: "d/after.txt", content: "upper, after the marker\n" },
];
/** What is left: the upper layer's entries only (and its hardlink to a lower file), under d. */
const EXPECTED = [
  "base.txt",
  "d/",
  "d/after.txt",
  "d/link.txt",
  "d/sub/",
  "d/sub/deeper/",
  "d/sub/upper.txt",
  "outside.txt",
];

/** Every path under `root` (directories with a trailing `/`), sorted. */
async function tree(root: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${root}/${prefix}`)) {
    const path = `${prefix}${e.name}`;
    if (e.isDirectory) {
      out.push(`${path}/`, ...await tree(root, `${path}/`));
    } else out.push(path);
  }
  return out.sort();
}

Deno.test("an opaque whiteout after re-declared subdirectories hides the lower files in every sink", async (t) => {
  await using registry = await startRegistry();
  const work = await tempDir({ prefix: "skiff-opaque-" });
  const store = `${work}/store`;
  const layers = [LOWER, UPPER].map((entries) => ({
    mediaType: "application/vnd.oci.image.layer.v1.tar",
    bytes: makeTar(entries),
  }));
  await pushImage(registry.url, "test/opaque", "1", layers);
  const name = `${registry.host}/test/opaque:1`;
  const cli = async (command: string, ...args: string[]) => {
    const r = await skiff([command, "--store", store, ...args]);
    assertEquals(r.code, 0, r.stderr);
    return r;
  };

  await t.step("umoci agrees with the expectation", async () => {
    await cli("pull", "-q", name);
    await mustRun("umoci", [
      "unpack",
      "--rootless",
      "--image",
      `${store}:${name}`,
      `${work}/umoci`,
    ]);
    assertEquals(await tree(`${work}/umoci/rootfs`), EXPECTED);
  });

  await t.step("directory: CLI and module", async () => {
    await cli("unpack", "-q", name, `${work}/dir`);
    assertEquals(await tree(`${work}/dir`), EXPECTED);
    await unpack(name, `${work}/module`, { store });
    assertEquals(await tree(`${work}/module`), EXPECTED);
  });

  await t.step("tar export: CLI and module", async () => {
    await cli("export", "-q", name, "-o", `${work}/rootfs.tar`);
    await Deno.mkdir(`${work}/tar`);
    await mustRun("tar", ["-xf", `${work}/rootfs.tar`, "-C", `${work}/tar`]);
    assertEquals(await tree(`${work}/tar`), EXPECTED);
    const { readable, result } = exportRootfs(name, { store });
    const bytes = new Uint8Array(await new Response(readable).arrayBuffer());
    await result;
    await Deno.writeFile(`${work}/module.tar`, bytes);
    const listed = new TextDecoder().decode(await mustRun("tar", ["-tf", `${work}/module.tar`]));
    assertEquals(listed.split("\n").filter(Boolean).sort(), EXPECTED);
  });

  await t.step("EROFS: the image fsck.erofs extracts", async () => {
    await cli("unpack", "-q", "--format", "erofs", name, `${work}/rootfs.erofs`);
    await fsckErofs(`${work}/rootfs.erofs`, `${work}/erofs`);
    assertEquals(await tree(`${work}/erofs`), EXPECTED);
  });

  await t.step("ext4: the image debugfs dumps", async () => {
    await cli("unpack", "-q", "--format", "ext4", name, `${work}/rootfs.ext4`);
    await Deno.mkdir(`${work}/ext4`);
    await debugfs(`${work}/rootfs.ext4`, `rdump / ${work}/ext4`);
    assertEquals(
      (await tree(`${work}/ext4`)).filter((p) => !p.startsWith("lost+found")),
      EXPECTED,
    );
  });
  await Deno.remove(work, { recursive: true });
});
