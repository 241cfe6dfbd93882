// removeImages: by name (normalized) or digest, all or nothing, under the index lock.

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { startFixture } from "../_fixture.ts";
import { run } from "../_images.ts";
import { pull } from "../../lib/pull/pull.ts";
import { removeImages } from "../../lib/store/remove_images.ts";
import { ImageNotFoundError } from "../../lib/store/image_not_found_error.ts";
import { REF_NAME_ANNOTATION } from "../../lib/store/store.ts";
import { tempDir } from "../_temp.ts";

async function names(store: string): Promise<string[]> {
  const index = JSON.parse(await Deno.readTextFile(`${store}/index.json`));
  return index.manifests.map((m: { annotations: Record<string, string> }) =>
    m.annotations[REF_NAME_ANNOTATION]
  );
}

Deno.test("removeImages: drops names from index.json, keeps blobs, skopeo reads the rest", async () => {
  const fx = await startFixture();
  try {
    const store = `${await tempDir()}/s`;
    const single = `${fx.host}/test/single:1`;
    const multi = `${fx.host}/test/multi:1`;
    const pinned = `${fx.host}/test/multi@${fx.arm64.digest}`;
    await pull(single, { store });
    await pull(multi, { store });
    await pull(pinned, { store });
    // keep what other tools wrote in index.json
    const index = JSON.parse(await Deno.readTextFile(`${store}/index.json`));
    await Deno.writeTextFile(
      `${store}/index.json`,
      JSON.stringify({ ...index, annotations: { keep: "me" } }),
    );

    // one unknown name: an error, and nothing removed
    const e = await assertRejects(
      () => removeImages(store, [single, `${fx.host}/test/nope:1`]),
      ImageNotFoundError,
    ) as ImageNotFoundError;
    assertEquals(e.reference, `${fx.host}/test/nope:1`);
    assertEquals(e.message, `Cannot remove ${fx.host}/test/nope:1: not in the store ${store}`);
    assertEquals(await names(store), [single, multi, pinned]);

    // by the name as written: matched after normalization
    const removed = await removeImages(store, [
      `${fx.host}/test/single`.replace("test/single", "test/single:1"),
    ]);
    assertEquals(removed, [{ query: single, name: single, digest: fx.single.digest }]);
    assertEquals(await names(store), [multi, pinned]);
    // by digest, ignoring what is not there
    const byDigest = await removeImages(store, [fx.arm64.digest, "docker.io/library/nope:1"], {
      ignoreMissing: true,
    });
    assertEquals(byDigest.map((r) => r.name), [pinned]);
    assertEquals(await names(store), [multi]);
    assertEquals(JSON.parse(await Deno.readTextFile(`${store}/index.json`)).annotations, {
      keep: "me",
    });

    // blobs stay; skopeo reads what is left and not what is gone
    await Deno.stat(`${store}/blobs/sha256/${fx.arm64.digest.slice(7)}`);
    assertEquals((await run("skopeo", ["inspect", `oci:${store}:${multi}`])).code, 0);
    assert((await run("skopeo", ["inspect", `oci:${store}:${pinned}`])).code !== 0);

    // a store that does not exist: the name is not there
    await assertRejects(() => removeImages(`${store}-none`, ["alpine"]), ImageNotFoundError);
    assertEquals(await removeImages(`${store}-none`, ["alpine"], { ignoreMissing: true }), []);
  } finally {
    await fx.stop();
  }
});
