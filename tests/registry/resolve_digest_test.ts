// resolveDigest: one HEAD when the registry answers it, GET when it does not.

import { assertEquals, assertRejects } from "../_assert.ts";
import { startFixture } from "../_fixture.ts";
import { FaultProxy } from "../_proxy.ts";
import { resolveDigest } from "../../lib/registry/resolve_digest.ts";
import { MediaType } from "../../lib/oci/media_types.ts";
import { RegistryError } from "../../lib/transport/registry_error.ts";

Deno.test("resolveDigest: HEAD first, GET as the fallback", async (t) => {
  const fx = await startFixture();
  await using proxy = FaultProxy.start(fx.registry.url);
  const requests = () => proxy.seen.map((r) => `${r.method} ${r.path}`);
  try {
    await t.step("one HEAD request, nothing else", async () => {
      proxy.seen.length = 0;
      const d = await resolveDigest(`${proxy.host}/test/multi:1`);
      assertEquals(d, {
        reference: `${proxy.host}/test/multi:1`,
        digest: fx.multi.digest,
        mediaType: MediaType.OciIndex,
        size: fx.multi.size,
        method: "HEAD",
      });
      assertEquals(requests(), ["HEAD /v2/test/multi/manifests/1"]);
    });

    await t.step("a registry that refuses HEAD: the manifest is fetched and hashed", async () => {
      proxy.seen.length = 0;
      proxy.rules = [(req) => req.method === "HEAD" ? { kind: "status", status: 405 } : undefined];
      const d = await resolveDigest(`${proxy.host}/test/single:1`, { retry: { attempts: 1 } });
      assertEquals([d.digest, d.method], [fx.single.digest, "GET"]);
      assertEquals(requests(), [
        "HEAD /v2/test/single/manifests/1",
        "GET /v2/test/single/manifests/1",
      ]);
      proxy.rules = [];
    });

    await t.step("with a platform: the platform's manifest digest", async () => {
      const d = await resolveDigest(`${proxy.host}/test/multi:1`, { platform: "linux/arm64" });
      assertEquals([d.digest, d.method], [fx.arm64.digest, "GET"]);
    });

    await t.step("not found: RegistryError 404", async () => {
      const e = await assertRejects(
        () => resolveDigest(`${proxy.host}/test/single:nope`),
        RegistryError,
      ) as RegistryError;
      assertEquals(e.status, 404);
    });
  } finally {
    await fx.stop();
  }
});
