// listImages on stores filled by real pulls, and by skopeo.

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { startFixture } from "../_fixture.ts";
import { mustRun } from "../_images.ts";
import { pull } from "../../lib/pull/pull.ts";
import { listImages } from "../../lib/store/list_images.ts";
import { MediaType } from "../../lib/oci/media_types.ts";
import { tempDir } from "../_temp.ts";

Deno.test("listImages: name, digest, platform, size, pulled time, completeness", async (t) => {
  const fx = await startFixture();
  try {
    const store = `${await tempDir()}/s`;
    await t.step("images skiff pulled", async () => {
      const before = Date.now();
      const single = await pull(`${fx.host}/test/single:1`, { store });
      const arm = await pull(`${fx.host}/test/multi:1`, { store, platform: "linux/arm64" });
      const images = await listImages(store);
      assertEquals(images.map((i) => i.name), [
        `${fx.host}/test/single:1`,
        `${fx.host}/test/multi:1`,
      ]);
      const [a, b] = images;
      assertEquals([a!.digest, b!.digest], [single.digest, arm.digest]);
      assertEquals(a!.mediaType, MediaType.OciManifest);
      assertEquals(b!.platform, { os: "linux", architecture: "arm64", variant: "v8" });
      assertEquals(a!.platform?.os, "linux");
      const size = (r: typeof single) =>
        [r.manifest.config, ...r.layers].reduce((n, d) => n + d.size, 0);
      assertEquals([a!.size, b!.size], [size(single), size(arm)]);
      assert(a!.size > fx.bigLayerSize);
      for (const i of images) {
        assertEquals(i.missing, []);
        const t = Date.parse(i.pulled!);
        assert(t >= before - 1000 && t <= Date.now() + 1000, i.pulled);
      }
    });

    await t.step("a missing layer is reported", async () => {
      const [a] = await listImages(store);
      const r = await pull(`${fx.host}/test/single:1`, { store });
      const big = r.layers[1]!.digest;
      await Deno.remove(`${store}/blobs/sha256/${big.slice(7)}`);
      const again = (await listImages(store)).find((i) => i.name === `${fx.host}/test/single:1`);
      assertEquals(again!.missing, [big]);
      assertEquals(again!.size, a!.size); // sizes come from the manifest
    });

    await t.step("a layout skopeo wrote: an unnamed-platform index entry", async () => {
      const dir = `${await tempDir()}/skopeo`;
      await mustRun("skopeo", [
        "copy",
        "--quiet",
        "--all",
        "--src-tls-verify=false",
        `docker://${fx.host}/test/multi:1`,
        `oci:${dir}:multi`,
      ]);
      // an index entry is one line per platform whose manifest is stored
      const images = await listImages(dir);
      assertEquals(
        images.map((i) => [i.name, i.digest, i.indexDigest, i.platform?.architecture]),
        [
          ["multi", fx.amd64.digest, fx.multi.digest, "amd64"],
          ["multi", fx.arm64.digest, fx.multi.digest, "arm64"],
        ],
      );
      for (const image of images) {
        assertEquals(image.missing, []);
        assertEquals(image.pulled, undefined);
        assertEquals(image.storedDigest, image.digest);
      }
      assert(images[0]!.size > fx.bigLayerSize); // the amd64 image has the big layer
    });

    await t.step(
      "no store yet: empty, and nothing is created; a non-layout is refused",
      async () => {
        const dir = `${await tempDir()}/none`;
        assertEquals(await listImages(dir), []);
        await assertRejects(() => Deno.stat(dir), Deno.errors.NotFound);
        const other = await tempDir();
        await Deno.writeTextFile(`${other}/notes.txt`, "mine");
        await assertRejects(() => listImages(other), Error, "not an OCI image layout");
      },
    );
  } finally {
    await fx.stop();
  }
});
