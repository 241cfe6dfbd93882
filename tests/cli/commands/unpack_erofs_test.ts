// `skiff unpack --format erofs` as a user runs it: skiff itself runs as an unprivileged user
// (nobody, through setpriv, when the tests run as root), and the image it writes is byte for byte
// the one root gets: owners and modes are the image's, whoever runs skiff. --json, usage errors,
// and a hostile layer ending in one line with no file left.

import { assert, assertEquals, assertMatch } from "../../_assert.ts";
import { skiff } from "../../_cli.ts";
import { dumpErofsOwner, fsckErofs, isRoot, treeSnapshot, withErofsMount } from "../../_erofs.ts";
import { gzip, mustRun, sha256 } from "../../_images.ts";
import { pushImage } from "../../_push.ts";
import { startRegistry } from "../../_registry.ts";
import { pushDebianImage } from "../../_rootfs.ts";
import { makeTar } from "../../_tar.ts";
import { tempDir } from "../../_temp.ts";

const CLI = new URL("../../../cli.ts", import.meta.url).pathname;
const NOBODY = 65534;

async function ls(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

/** The CLI as nobody (setpriv drops every id and group), with a home and Deno cache of its own. */
async function skiffAsNobody(args: string[], home: string) {
  const out = await new Deno.Command("setpriv", {
    args: [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      "--clear-groups",
      "--",
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      CLI,
      ...args,
    ],
    env: { NO_COLOR: "1", HOME: home, DENO_DIR: `${home}/deno` },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

Deno.test("cli unpack --format erofs: usage errors", async () => {
  const work = await tempDir();
  try {
    const help = await skiff(["unpack", "--help"]);
    assertMatch(help.stdout, /--format F +directory \(default\), erofs or ext4/);
    assertMatch(help.stdout, /--json/);
    const cases: [string[], RegExp][] = [
      [["unpack", "--store", work, "--format", "ext9", "alpine", "x"], /--format must be/],
      [["unpack", "--store", work, "--format", "erofs", "alpine"], /missing image file/],
    ];
    for (const [args, message] of cases) {
      const r = await skiff(args);
      assertEquals([r.code, r.stdout], [2, ""], args.join(" "));
      assertMatch(r.stderr, /^skiff: /);
      assertMatch(r.stderr, message);
    }
    assertEquals(await ls(work), []);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test(
  isRoot
    ? "cli unpack --format erofs: run as nobody, the image is root's byte for byte; owners kept"
    : "cli unpack --format erofs: run unprivileged, owners kept (not root: no mount)",
  async () => {
    const registry = await startRegistry();
    const work = await tempDir({ prefix: "skiff-cli-erofs-" });
    try {
      await Deno.chmod(work, 0o755);
      const ref = `${registry.host}/test/debian:1`;
      const digest = await pushDebianImage(registry.host, "test/debian:1");
      const store = `${work}/store`;

      // the caller (root, when the tests are): pulls, writes the image, prints JSON
      const first = await skiff([
        "unpack",
        "--format",
        "erofs",
        "--json",
        "--store",
        store,
        ref,
        `${work}/mine.erofs`,
      ]);
      assertEquals(first.code, 0, first.stderr);
      assertEquals(first.stderr, "");
      const result = JSON.parse(first.stdout);
      const size = (await Deno.stat(`${work}/mine.erofs`)).size;
      assertEquals(result.reference, ref);
      assertEquals(result.digest, digest);
      assertEquals(result.format, "erofs");
      assertEquals(result.path, `${work}/mine.erofs`);
      assertEquals(result.layers, 3);
      assertEquals(result.whiteouts, 4);
      assertEquals(result.pulled, true);
      assertEquals(result.image, {
        size,
        digest: sha256(await Deno.readFile(`${work}/mine.erofs`)),
      });
      assertEquals(await fsckErofs(`${work}/mine.erofs`), "");
      const checkOwners = async (image: string) => {
        // read from the image without a mount
        assertEquals(await dumpErofsOwner(image, "/opt/owned"), {
          uid: 1234,
          gid: 5678,
          mode: 0o750,
        });
        assertEquals(await dumpErofsOwner(image, "/usr/bin/passwd"), {
          uid: 0,
          gid: 0,
          mode: 0o755,
        });
      };
      if (!isRoot) {
        // not root: the run above was unprivileged already, and the mount needs root
        await checkOwners(`${work}/mine.erofs`);
        return;
      }

      // nobody: reads the store (no pull: it has the image), writes into a directory of its own
      await mustRun("chmod", ["-R", "a+rX", store]);
      const home = `${work}/home`;
      const out = `${work}/out`;
      await Deno.mkdir(home);
      await Deno.mkdir(out);
      await Deno.chown(home, NOBODY, NOBODY);
      await Deno.chown(out, NOBODY, NOBODY);
      const r = await skiffAsNobody(
        ["unpack", "--format", "erofs", "--store", store, ref, `${out}/nobody.erofs`],
        home,
      );
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, `${ref} ${digest}\n`);
      assertMatch(r.stderr, /nobody\.erofs: \d+ entries from 3 layers, .*; an EROFS image of /);
      const made = await Deno.lstat(`${out}/nobody.erofs`);
      assertEquals([made.uid, made.gid], [NOBODY, NOBODY]); // the file is nobody's...
      assertEquals( // ...its contents are the same bytes root got
        await Deno.readFile(`${out}/nobody.erofs`),
        await Deno.readFile(`${work}/mine.erofs`),
      );
      assertEquals(await ls(out), ["nobody.erofs"]);
      await checkOwners(`${out}/nobody.erofs`);

      // and mounted, the files belong to whom the image says, not to nobody
      const tree = await withErofsMount(`${out}/nobody.erofs`, (dir) => treeSnapshot(dir));
      const e = tree.entries;
      assertEquals([e["opt/owned"]?.uid, e["opt/owned"]?.gid, e["opt/owned"]?.mode], [
        1234,
        5678,
        0o2750,
      ]);
      assertEquals([e["usr/bin/passwd"]?.uid, e["usr/bin/passwd"]?.mode], [0, 0o4755]);
      const owners = new Set(Object.values(e).map((x) => x.uid));
      assert(!owners.has(NOBODY), "nothing belongs to nobody");
    } finally {
      await registry.stop();
      await Deno.remove(work, { recursive: true });
    }
  },
);

Deno.test("cli unpack --format erofs: a hostile layer is one line, exit 1, no file", async () => {
  const registry = await startRegistry();
  const work = await tempDir({ prefix: "skiff-cli-erofs-" });
  try {
    const tar = makeTar([{ path: "ok", content: "x" }, { path: "../escape", content: "x" }]);
    await pushImage(registry.url, "test/hostile", "1", [{
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      bytes: await gzip(tar),
      diffId: sha256(tar),
    }]);
    const ref = `${registry.host}/test/hostile:1`;
    const r = await skiff([
      "unpack",
      "-q",
      "--format",
      "erofs",
      "--store",
      `${work}/store`,
      ref,
      `${work}/out.erofs`,
    ]);
    assertEquals(r.code, 1);
    assertMatch(
      r.stderr,
      /^skiff: Cannot unpack .*hostile:1: layer 1 of 1 \(sha256:[0-9a-f]{64}\): entry "..\/escape": "..\/escape" climbs out of the root with ".."\n$/,
    );
    assertEquals(r.stdout, "");
    assertEquals(await ls(work), ["store"]);
  } finally {
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("cli unpack --format erofs --layers DIR: one image per layer, the lowerdir order", async () => {
  const registry = await startRegistry();
  const work = await tempDir({ prefix: "skiff-cli-erofs-" });
  try {
    const t1 = makeTar([{ path: "etc/", type: "directory" }, { path: "etc/a", content: "a\n" }]);
    const t2 = makeTar([{ path: "etc/.wh.a" }, { path: "etc/b", content: "b\n" }]);
    const layer = async (tar: Uint8Array) => ({
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      bytes: await gzip(tar),
      diffId: sha256(tar),
    });
    await pushImage(registry.url, "test/two", "1", [await layer(t1), await layer(t2)]);
    const ref = `${registry.host}/test/two:1`;
    const dir = `${work}/layers`;
    const base = `${dir}/${sha256(t1).replace(":", "-")}.erofs`;
    const top = `${dir}/${sha256(t2).replace(":", "-")}.erofs`;
    const args = ["unpack", "--format", "erofs", "--layers", dir, "--store", `${work}/store`];
    const r = await skiff([...args, ref]);
    assertEquals(r.code, 0, r.stderr);
    const out = r.stdout.split("\n");
    assertMatch(out[0]!, new RegExp(`^${ref} sha256:[0-9a-f]{64}$`));
    assertEquals(out.slice(1), [`${top}:${base}`, ""]); // top first, as overlayfs's lowerdir
    assertMatch(r.stderr, /2 layer image\(s\) written, 0 reused/);
    const again = await skiff([...args, "--json", ref]);
    assertEquals(again.code, 0, again.stderr);
    const json = JSON.parse(again.stdout);
    assertEquals(json.lowerdir, [top, base]);
    assertEquals(json.layerImages.map((l: { reused: boolean }) => l.reused), [true, true]);
    assertEquals(json.image, null);
    for (const path of [base, top]) assertEquals(await fsckErofs(path), "");
    // an image truncated since it was written is not stacked: it is written again
    const size = (await Deno.stat(base)).size;
    await Deno.truncate(base, 0);
    const repaired = await skiff([...args, ref]);
    assertEquals(repaired.code, 0, repaired.stderr);
    assertMatch(repaired.stderr, /1 layer image\(s\) written, 1 reused/);
    assertEquals((await Deno.stat(base)).size, size);
    assertEquals(await fsckErofs(base), "");

    const usage = await skiff(["unpack", "--layers", dir, ref]);
    assertEquals(usage.code, 2);
    assertMatch(usage.stderr, /--layers takes a directory, and only with --format erofs/);
    const extra = await skiff([...args, ref, `${work}/x`]);
    assertEquals(extra.code, 2);
    assertMatch(extra.stderr, /with --layers, unpack takes only a reference/);

    // a hardlink to a lower layer's file: one line with the README's reason, nothing written
    const t3 = makeTar([{ path: "etc/c", type: "link", linkname: "etc/a" }]);
    const pushed = await pushImage(registry.url, "test/linked", "1", [
      await layer(t1),
      await layer(t3),
    ]);
    const other = `${work}/other`;
    const linked = await skiff([
      ...args.slice(0, 4),
      other,
      ...args.slice(5),
      "-q",
      `${registry.host}/test/linked:1`,
    ]);
    assertEquals(linked.code, 1);
    assertEquals(
      linked.stderr,
      `skiff: Cannot unpack ${registry.host}/test/linked:1: layer 2 of 2 (${
        pushed.layers[1]!.digest
      }): entry "etc/c": the hardlink target "etc/a" is not in this layer: hardlinks across layers cannot be ` +
        "expressed in one layer's image\n",
    );
    const baseName = `${sha256(t1).replace(":", "-")}.erofs`;
    assertEquals(await ls(other), [baseName, `${baseName}.sha256`]);
  } finally {
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});
