// `save --format oci` of an index the store holds only part of (`pull --platform a,b` keeps the
// whole index and two platforms): what is stored is saved, the index rewritten to list it (as
// push does), said on stderr; nothing is fetched. skopeo reads the archive, every blob of it.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { mustRun, sha256 } from "../_images.ts";
import { FaultProxy } from "../_proxy.ts";
import { tempDir } from "../_temp.ts";
import { startThreePlatforms } from "../_three_platforms.ts";
import { save } from "../../lib/archive/save.ts";

Deno.test("save --format oci of a name pulled with --platform a,b: the stored platforms, said", async (t) => {
  const src = await startThreePlatforms();
  // the registry behind a proxy that counts: a save must not ask it anything
  await using proxy = FaultProxy.start(src.registry.url);
  const dir = await tempDir({ prefix: "skiff-save-part-" });
  try {
    const name = `${proxy.host}/test/three:1`;
    const store = `${dir}/store`;
    const pulled = await skiff([
      "pull",
      "-q",
      "--platform",
      "linux/amd64,linux/arm64",
      "--store",
      store,
      name,
    ]);
    assertEquals(pulled.code, 0, pulled.stderr);
    const fsck = await skiff(["fsck", "--store", store]);
    assertEquals(fsck.code, 0, fsck.stdout + fsck.stderr);
    const asked = proxy.seen.length;

    await t.step("the CLI: exit 0, the rewrite said, skopeo reads every blob", async () => {
      for (const args of [[], ["--pull", "never"]]) {
        const out = `${dir}/three${args.length}.tar`;
        const r = await skiff([
          "save",
          "--format",
          "oci",
          ...args,
          "--store",
          store,
          name,
          "-o",
          out,
        ]);
        assertEquals(r.code, 0, r.stderr);
        const lines = r.stderr.trim().split("\n");
        assertEquals(lines.length, 2, r.stderr);
        assertMatch(
          lines[0]!,
          new RegExp(
            `^skiff: note: the index of ${name} was rewritten to list what the store holds, ` +
              `linux/amd64, linux/arm64/v8: its digest is (sha256:[0-9a-f]{64}), not the ` +
              `stored index's ${src.index.digest}$`,
          ),
        );
        const digest = lines[0]!.match(/its digest is (sha256:[0-9a-f]{64})/)![1]!;
        assertEquals(lines[1], `saved ${name} ${digest}`);
        // what skopeo reads: the rewritten index, listing the two stored platforms
        const raw = await mustRun("skopeo", ["inspect", "--raw", `oci-archive:${out}`]);
        assertEquals(sha256(raw), digest);
        const doc = JSON.parse(new TextDecoder().decode(raw));
        assertEquals(
          doc.manifests.map((m: { digest: string }) => m.digest),
          [src.amd64.digest, src.arm64.digest],
        );
        // and every blob of both platforms, each checked against its digest
        await mustRun("skopeo", [
          "copy",
          "--quiet",
          "--all",
          `oci-archive:${out}`,
          `oci:${dir}/back${args.length}:x`,
        ]);
      }
      // nothing was asked of the registry
      assertEquals(proxy.seen.length, asked);
    });

    await t.step("the module: root rewritten, the platforms, the stored digest", async () => {
      const r = await save(name, `${dir}/module.tar`, { store, format: "oci", pull: "never" });
      assertEquals(r.images.length, 1);
      const image = r.images[0]!;
      assertEquals(
        [image.root, image.platforms, image.storedDigest, image.pulled],
        ["rewritten", ["linux/amd64", "linux/arm64/v8"], src.index.digest, false],
      );
      assert(image.digest !== src.index.digest);
      // the docker format is as before: one platform, its manifest
      const docker = await save(name, `${dir}/docker.tar`, {
        store,
        platform: "linux/arm64",
        pull: "never",
      });
      assertEquals([docker.images[0]!.root, docker.images[0]!.digest], [
        "platform",
        src.arm64.digest,
      ]);
    });
  } finally {
    await src.stop();
  }
});
