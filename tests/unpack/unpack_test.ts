// Integration: unpack() of images pushed to the real registry, compared with umoci's unpack of
// the same store; layer formats, digests, and the failure modes.

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { gzip, mustRun, run, sha256 } from "../_images.ts";
import { pushImage } from "../_push.ts";
import { startRegistry } from "../_registry.ts";
import { pushDebianImage, snapshot } from "../_rootfs.ts";
import { makeTar } from "../_tar.ts";
import { DigestMismatchError } from "../../lib/reference/digest_mismatch_error.ts";
import { unpack } from "../../lib/unpack/unpack.ts";
import { tempDir } from "../_temp.ts";

const isRoot = Deno.uid() === 0;

async function workDir(): Promise<string> {
  return await tempDir({ prefix: "skiff-unpack-" });
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("unpack: a Debian root filesystem in three layers, the same as umoci's", async () => {
  const registry = await startRegistry();
  const work = await workDir();
  try {
    const name = `${registry.host}/test/debian:1`;
    const digest = await pushDebianImage(registry.host, "test/debian:1");
    const store = `${work}/store`;
    const events: string[] = [];
    const result = await unpack(name, `${work}/rootfs`, {
      store,
      onProgress: (e) => events.push(e.type),
    });
    assertEquals([result.digest, result.layers, result.pulled], [digest, 3, true]);
    assertEquals(events.filter((e) => e === "layer-unpacked").length, 3);
    // streamed (pulled while unpacked). Whether the first layer is applied before this pull of
    // small layers on loopback is done depends on the applying worker's start (~70 ms) against
    // the transfer: an order of timings, not asserted here; stream_test.ts shows the overlap with
    // a download held back in the middle of layer 1
    assertEquals(events.filter((e) => e === "done").length, 1);
    assert(result.entries > 2000, `${result.entries} entries`);
    assertEquals(result.whiteouts, 4);
    assertEquals(result.skippedDevices, 0);

    await mustRun("umoci", ["unpack", "--rootless", "--image", `${store}:${name}`, `${work}/b`]);
    const ours = await snapshot(`${work}/rootfs`);
    const theirs = await snapshot(`${work}/b/rootfs`);
    assertEquals(Object.keys(ours.nodes).sort(), Object.keys(theirs.nodes).sort());
    for (const [path, node] of Object.entries(theirs.nodes)) {
      assertEquals(ours.nodes[path], node, path);
    }
    assertEquals(ours.hardlinks, theirs.hardlinks);

    // the image's story, checked on skiff's result itself
    const root = `${work}/rootfs`;
    const n = ours.nodes;
    for (const gone of ["usr/bin/yes", "usr/share/doc/coreutils", "opt/old", "opt/old/a.txt"]) {
      assertEquals(n[gone], undefined, gone);
    }
    assert(!Object.keys(n).some((p) => p.split("/").pop()!.startsWith(".wh.")), "no whiteouts");
    assertEquals(await names(`${root}/var/cache/skiff`), ["upper"]);
    assertEquals(n["etc/hostname"]?.type, "dir");
    assertEquals(n["etc/hostname/inner"]?.type, "file");
    assertEquals(n["usr/share/doc/dash"]?.type, "dir");
    assertEquals(await names(`${root}/usr/share/doc/dash`), ["again"]);
    assertEquals(n["usr/bin/passwd"]?.mode, 0o4755);
    assertEquals(n["srv/sticky"]?.mode, 0o1777);
    assertEquals(n["tmp"]?.mode, 0o1777);
    assertEquals(n["root"]?.mode, 0o700);
    assertEquals(n["etc/localtime"]?.target, "/usr/share/zoneinfo/Etc/UTC");
    assertEquals(n["usr/local/bin/sh"]?.target, "../../../bin/dash");
    assertEquals(
      await Deno.readTextFile(`${root}/home/grüße/naïve résumé.txt`),
      "non-ASCII names\n",
    );
    assertEquals(await Deno.readTextFile(`${root}/opt/日本語.txt`), "こんにちは\n");
    assertEquals(n["etc/issue"]?.mtime, 1_234_567_890);
    assert(ours.hardlinks.some((g) => g.includes("usr/bin/perl")), "perl's hardlink");
    assert(ours.hardlinks.some((g) => g.join() === "opt/hard-a,opt/hard-b"), "opt/hard-*");
    const owned = await Deno.lstat(`${root}/opt/owned`);
    if (isRoot) assertEquals([owned.uid, owned.gid, owned.mode! & 0o7777], [1234, 5678, 0o2750]);
    else assertEquals(owned.uid, Deno.uid());
    assertEquals((await Deno.stat(root)).mode! & 0o7777, 0o755);

    // present in the store: no registry needed any more
    await registry.stop();
    const again = await unpack(name, `${work}/again`, { store, pull: "never" });
    assertEquals([again.pulled, again.digest], [false, digest]);
    assertEquals((await snapshot(`${work}/again`)).nodes, ours.nodes);
    // nothing is left beside the targets
    assertEquals(await names(work), ["again", "b", "rootfs", "store"]);
  } finally {
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("unpack: plain tar, zstd, multi-member gzip, non-distributable; bad diff_ids fail", async () => {
  const registry = await startRegistry();
  const work = await workDir();
  try {
    const store = `${work}/store`;
    const t1 = makeTar([
      { path: "etc/", type: "directory" },
      { path: "etc/one", content: "plain tar\n" },
      { path: "gone", content: "deleted by the zstd layer\n" },
    ]);
    const t2 = makeTar([{ path: "etc/two", content: "zstd\n" }, { path: ".wh.gone" }]);
    const t3 = makeTar([{ path: "etc/three", content: "non-distributable gzip\n" }]);
    const t4 = makeTar([{ path: "etc/four", content: "non-distributable zstd\n" }]);
    const t5 = makeTar([{ path: "etc/five", content: "gzip members one after another\n" }]);
    const zstd = (b: Uint8Array) => mustRun("zstd", ["-q", "-c"], { stdin: b });
    const layers = [
      { mediaType: "application/vnd.oci.image.layer.v1.tar", bytes: t1 },
      {
        mediaType: "application/vnd.oci.image.layer.v1.tar+zstd",
        bytes: await zstd(t2),
        diffId: sha256(t2),
      },
      {
        mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        bytes: await gzip(t3),
        diffId: sha256(t3),
      },
      {
        mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        bytes: await zstd(t4),
        diffId: sha256(t4),
      },
      {
        // several gzip members in a row, as eStargz layers are
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
        bytes: new Uint8Array([
          ...await gzip(t5.subarray(0, 700)),
          ...await gzip(t5.subarray(700)),
        ]),
        diffId: sha256(t5),
      },
    ];
    await pushImage(registry.url, "test/formats", "1", layers);
    const r = await unpack(`${registry.host}/test/formats:1`, `${work}/root`, { store });
    assertEquals(r.layers, 5);
    assertEquals(await names(`${work}/root`), ["etc"]);
    assertEquals(await names(`${work}/root/etc`), ["five", "four", "one", "three", "two"]);
    assertEquals(await Deno.readTextFile(`${work}/root/etc/two`), "zstd\n");

    // aborted after the first layer: the error is the signal's reason, nothing is left
    const controller = new AbortController();
    const stopped = await assertRejects(() =>
      unpack(`${registry.host}/test/formats:1`, `${work}/stopped`, {
        store,
        signal: controller.signal,
        onProgress: (e) => {
          if (e.type === "layer-unpacked") controller.abort(new Error("stop"));
        },
      })
    );
    assertEquals(stopped.message, "stop");
    assertEquals(await names(work), ["root", "store"]);

    // a config whose diff_id is not the tar's: refused, nothing left
    const wrong = [{ ...layers[1]!, diffId: sha256(t1) }];
    await pushImage(registry.url, "test/wrong-diff", "1", wrong);
    const e = await assertRejects(
      () => unpack(`${registry.host}/test/wrong-diff:1`, `${work}/wrong`, { store }),
      DigestMismatchError,
    );
    assert(e.message.includes("diff_id"), e.message);
    assertEquals(await names(work), ["root", "store"]);

    // a layer type that is no tar: refused before anything is written
    await pushImage(registry.url, "test/odd", "1", [{
      mediaType: "application/vnd.example.not-a-layer",
      bytes: t1,
    }]);
    const odd = await assertRejects(() =>
      unpack(`${registry.host}/test/odd:1`, `${work}/odd`, { store })
    );
    assert(odd.message.includes(`"application/vnd.example.not-a-layer"`), odd.message);
    assertEquals(await names(work), ["root", "store"]);
  } finally {
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("unpack: hostile layers are refused or neutralised, a failure leaves no DIR", async () => {
  const registry = await startRegistry();
  const work = await workDir();
  try {
    const store = `${work}/store`;
    const canary = `${work}/canary`;
    await Deno.mkdir(canary);
    await Deno.writeTextFile(`${canary}/secret`, "do not touch\n");
    const layer = async (entries: Parameters<typeof makeTar>[0], end = true) => {
      const tar = makeTar(entries, { end });
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
    const check = async (expected: string[]) => {
      assertEquals(await names(work), expected);
      assertEquals(await names(canary), ["secret"]);
      const secret = await Deno.lstat(`${canary}/secret`);
      assertEquals([secret.nlink, await Deno.readTextFile(`${canary}/secret`)], [
        1,
        "do not touch\n",
      ]);
    };

    const refused: [string, Parameters<typeof makeTar>[0][], string][] = [
      ["dotdot", [[{ path: "ok", content: "x" }, { path: "../canary/pwned", content: "x" }]], ".."],
      ["hardlink", [[{ path: "l", type: "link", linkname: `../canary/secret` }]], "climbs out"],
      ["hardlink-abs", [[{ path: "l", type: "link", linkname: `${canary}/secret` }]], "not in"],
      ["liar", [[{ path: "big", content: "short", size: 5_000_000 }]], "truncated"],
    ];
    for (const [repo, layers, message] of refused) {
      const ref = await image(`hostile/${repo}`, layers);
      const e = await assertRejects(() => unpack(ref, `${work}/out`, { store }));
      assert(e.message.startsWith(`Cannot unpack ${ref}: layer 1 of 1`), e.message);
      assert(e.message.includes(message), `${repo}: ${e.message}`);
      await check(["canary", "store"]); // no out/, no temporary directory
    }

    // neutralised: absolute names and symlinks lead inside the root, across layers too
    const ref = await image("hostile/through", [
      [
        { path: `${canary}/absolute`, content: "inside" },
        { path: "evil", type: "symlink", linkname: canary },
        { path: "evil-rel", type: "symlink", linkname: "../../../../../../canary" },
      ],
      [{ path: "evil/pwned", content: "inside" }, { path: "evil-rel/pwned", content: "inside" }],
    ]);
    await unpack(ref, `${work}/out`, { store });
    await check(["canary", "out", "store"]);
    assertEquals(await names(`${work}/out${canary}`), ["absolute", "pwned"]);
    assertEquals(await names(`${work}/out/canary`), ["pwned"]);
    await Deno.remove(`${work}/out`, { recursive: true });

    // a tar bomb: a few KiB of gzip, gigabytes of zeros, stopped by maxBytes
    const zeros = await mustRun("sh", ["-c", "head -c 64000000 /dev/zero | gzip -1"]);
    const bomb = await run("sh", ["-c", "head -c 64000000 /dev/zero | sha256sum"]);
    await pushImage(registry.url, "hostile/bomb", "1", [{
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      bytes: zeros,
      diffId: `sha256:${new TextDecoder().decode(bomb.stdout).split(" ")[0]}`,
    }]);
    const e = await assertRejects(() =>
      unpack(`${registry.host}/hostile/bomb:1`, `${work}/out`, { store, maxBytes: 10_000_000 })
    );
    assert(e.message.includes("more than 10000000 uncompressed bytes"), e.message);
    await check(["canary", "store"]);

    // the target must be empty or absent: refused before anything else
    await Deno.mkdir(`${work}/full`);
    await Deno.writeTextFile(`${work}/full/mine`, "mine");
    const full = await assertRejects(() => unpack(ref, `${work}/full`, { store }));
    assert(full.message.includes("not empty"), full.message);
    assertEquals(await names(`${work}/full`), ["mine"]);
    // an empty directory is fine, and replaced whole
    await Deno.mkdir(`${work}/empty`);
    await unpack(ref, `${work}/empty`, { store });
    assertEquals(await names(`${work}/empty`), ["canary", "evil", "evil-rel", work.split("/")[1]!]);
  } finally {
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});
