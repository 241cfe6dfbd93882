// resolveManifest against the real registry: tags, digests, indexes with and without a platform.

import { assertEquals, assertMatch, assertRejects } from "../_assert.ts";
import { HOST_ARCH, startFixture } from "../_fixture.ts";
import { sha256 } from "../_images.ts";
import { FaultProxy } from "../_proxy.ts";
import { resolveManifest } from "../../lib/registry/resolve_manifest.ts";
import { PlatformNotFoundError } from "../../lib/oci/choose_platform.ts";
import { DigestMismatchError } from "../../lib/reference/digest_mismatch_error.ts";
import { MediaType } from "../../lib/oci/media_types.ts";
import { RegistryError } from "../../lib/transport/registry_error.ts";

Deno.test("resolveManifest: what a reference points at, verified", async (t) => {
  const fx = await startFixture();
  try {
    await t.step("a manifest by tag: exact bytes and their digest", async () => {
      const m = await resolveManifest(`${fx.host}/test/single:1`);
      assertEquals(m.kind, "manifest");
      assertEquals(m.digest, fx.single.digest);
      assertEquals(sha256(m.bytes), fx.single.digest);
      assertEquals([m.indexDigest, m.platform], [undefined, undefined]);
      assertEquals(m.reference, `${fx.host}/test/single:1`);
      // a single-platform image is checked against an explicit platform: its own passes (and
      // is told), another is an error naming both
      const again = await resolveManifest(`${fx.host}/test/single:1`, {
        platform: `linux/${HOST_ARCH}`,
      });
      assertEquals([again.digest, again.platform], [fx.single.digest, {
        os: "linux",
        architecture: HOST_ARCH,
      }]);
      await assertRejects(
        () => resolveManifest(`${fx.host}/test/single:1`, { platform: "linux/s390x" }),
        PlatformNotFoundError,
        `Cannot find platform linux/s390x in ${fx.host}/test/single:1: the image has linux/${HOST_ARCH}`,
      );
    });

    await t.step(
      "an index: itself without a platform, the platform's manifest with one",
      async () => {
        const index = await resolveManifest(`${fx.host}/test/multi:1`);
        assertEquals([index.kind, index.digest, index.mediaType], [
          "index",
          fx.multi.digest,
          MediaType.OciIndex,
        ]);
        const arm = await resolveManifest(`${fx.host}/test/multi:1`, { platform: "linux/arm64" });
        assertEquals([arm.kind, arm.digest, arm.indexDigest], [
          "manifest",
          fx.arm64.digest,
          fx.multi.digest,
        ]);
        assertEquals(arm.platform, { os: "linux", architecture: "arm64", variant: "v8" });
        const host = await resolveManifest(`${fx.host}/test/multi:1`, {
          platform: { os: "linux", architecture: HOST_ARCH },
        });
        assertEquals(host.digest, HOST_ARCH === "amd64" ? fx.amd64.digest : fx.arm64.digest);
        const e = await assertRejects(
          () => resolveManifest(`${fx.host}/test/multi:1`, { platform: "linux/riscv64" }),
          PlatformNotFoundError,
        ) as PlatformNotFoundError;
        assertEquals([...e.available], ["linux/amd64", "linux/arm64/v8"]);
      },
    );

    await t.step("by digest, and the Docker manifest list as the registry has it", async () => {
      const byDigest = await resolveManifest(`${fx.host}/test/multi@${fx.arm64.digest}`);
      assertEquals(byDigest.digest, fx.arm64.digest);
      const list = await resolveManifest(`${fx.host}/test/docker:1`);
      assertEquals([list.digest, list.mediaType], [fx.dockerList, MediaType.DockerManifestList]);
    });

    await t.step("errors: not found, and a manifest altered on the way", async () => {
      const e = await assertRejects(
        () => resolveManifest(`${fx.host}/test/nope:1`),
        RegistryError,
      ) as RegistryError;
      assertEquals(e.status, 404);
      await using proxy = FaultProxy.start(fx.registry.url);
      proxy.on((req, url) =>
        req.method === "GET" && url.pathname.includes("/manifests/")
          ? { kind: "flip", at: 20 }
          : undefined
      );
      const bad = await assertRejects(
        () => resolveManifest(`${proxy.host}/test/single@${fx.single.digest}`),
        DigestMismatchError,
      );
      assertMatch(bad.message, /digest mismatch/);
    });
  } finally {
    await fx.stop();
  }
});
