// The store as a copy destination: every platform of an index, the index's exact bytes as the
// name's entry, read back by skopeo (which verifies every blob it copies out of the layout).

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { startFixture } from "../_fixture.ts";
import { mustRun, sha256 } from "../_images.ts";
import { FaultProxy } from "../_proxy.ts";
import { startRegistry } from "../_registry.ts";
import { copyImage } from "../../lib/image/copy_image.ts";
import { DigestMismatchError } from "../../lib/reference/digest_mismatch_error.ts";
import { RegistryClient } from "../../lib/registry/registry_client.ts";
import { RegistryImageSource } from "../../lib/registry/registry_image_source.ts";
import { LayoutImageDestination } from "../../lib/store/layout_image_destination.ts";
import { Store } from "../../lib/store/store.ts";
import { tempDir } from "../_temp.ts";

Deno.test("LayoutImageDestination: an index with every platform, named last", async () => {
  const fx = await startFixture();
  const dest = await startRegistry();
  const dir = await tempDir({ prefix: "skiff-layout-dest-" });
  try {
    const store = await Store.open(`${dir}/store`);
    const client = new RegistryClient(fx.host, { credentials: () => undefined });
    const name = `${fx.host}/test/multi:1`;
    {
      using destination = await LayoutImageDestination.open(store);
      const result = await copyImage(
        new RegistryImageSource(client, "test/multi"),
        "1",
        destination,
        {
          tag: name,
        },
      );
      assertEquals(result.digest, fx.multi.digest);
    }
    const index = await store.readLayoutIndex();
    assertEquals(index.manifests.length, 1);
    assertEquals(index.manifests[0]!.digest, fx.multi.digest);
    // skopeo copies the whole index out of the layout, attestation included: same digest
    await mustRun("skopeo", [
      "copy",
      "--quiet",
      "--all",
      "--dest-tls-verify=false",
      `oci:${dir}/store:${name}`,
      `docker://${dest.host}/from-layout/multi:1`,
    ]);
    const raw = await mustRun("skopeo", [
      "inspect",
      "--raw",
      "--tls-verify=false",
      `docker://${dest.host}/from-layout/multi:1`,
    ]);
    assertEquals(sha256(raw), fx.multi.digest);
    for (const d of [fx.amd64, fx.arm64, fx.attestation]) {
      assert(await store.hasBlob(d.digest, d.size), `${d.digest} stored`);
    }

    // a lying source: nothing renamed into blobs/, no name
    await using proxy = FaultProxy.start(fx.registry.url);
    proxy.on((req, url) =>
      req.method === "GET" && url.pathname.includes("/blobs/") ? { kind: "flip", at: 5 } : undefined
    );
    const lied = await Store.open(`${dir}/lied`);
    const liar = new RegistryClient(proxy.host, { credentials: () => undefined });
    {
      using destination = await LayoutImageDestination.open(lied);
      await assertRejects(
        () =>
          copyImage(new RegistryImageSource(liar, "test/single"), "1", destination, {
            tag: "x",
            jobs: 1,
          }),
        DigestMismatchError,
      );
    }
    assertEquals((await lied.readLayoutIndex()).manifests, []);
    const blobs = [...Deno.readDirSync(`${dir}/lied/blobs/sha256`)];
    assertEquals(blobs, []);
    const ingest = [...Deno.readDirSync(`${dir}/lied/ingest`)].filter((e) =>
      e.name.startsWith("sha256-")
    );
    assertEquals(ingest, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await dest.stop();
    await fx.stop();
  }
});
