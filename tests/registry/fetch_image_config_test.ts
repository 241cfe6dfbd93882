// fetchImageConfig: the config of the right platform, verified against its digest.

import { assertEquals, assertRejects } from "../_assert.ts";
import { HOST_ARCH, startFixture } from "../_fixture.ts";
import { sha256 } from "../_images.ts";
import { FaultProxy } from "../_proxy.ts";
import { fetchImageConfig } from "../../lib/registry/fetch_image_config.ts";
import {
  DigestMismatchError,
  SizeMismatchError,
} from "../../lib/reference/digest_mismatch_error.ts";

Deno.test("fetchImageConfig: the platform's config, verified", async (t) => {
  const fx = await startFixture();
  try {
    await t.step("an index: this machine's platform by default, or the one asked for", async () => {
      const host = await fetchImageConfig(`${fx.host}/test/multi:1`);
      assertEquals(host.config.architecture, HOST_ARCH);
      assertEquals(host.manifestDigest, HOST_ARCH === "amd64" ? fx.amd64.digest : fx.arm64.digest);
      assertEquals(host.indexDigest, fx.multi.digest);
      assertEquals(sha256(host.bytes), host.digest);
      const arm = await fetchImageConfig(`${fx.host}/test/multi:1`, { platform: "linux/arm64" });
      assertEquals([arm.config.architecture, arm.config.variant], ["arm64", "v8"]);
      assertEquals(arm.platform, { os: "linux", architecture: "arm64", variant: "v8" });
      assertEquals(arm.config.config, { Env: ["PATH=/usr/bin:/bin"], Cmd: ["/bin/sh"] });
    });

    await t.step("a Docker schema 2 image: the registry's config blob", async () => {
      const c = await fetchImageConfig(`${fx.host}/test/docker:1`, { platform: "linux/amd64" });
      assertEquals(c.config.rootfs?.diff_ids.length, 2);
      assertEquals(c.platform?.architecture, "amd64");
    });

    await t.step("a config cut short (a clean end, no Content-Length) is refused", async () => {
      await using proxy = FaultProxy.start(fx.registry.url);
      proxy.on((_req, url) =>
        url.pathname.includes("/blobs/") ? { kind: "short", after: 20 } : undefined
      );
      await assertRejects(
        () => fetchImageConfig(`${proxy.host}/test/single:1`),
        SizeMismatchError,
        "got 20",
      );
    });

    await t.step("a config altered on the way is refused", async () => {
      await using proxy = FaultProxy.start(fx.registry.url);
      proxy.on((_req, url) =>
        url.pathname.includes("/blobs/") ? { kind: "flip", at: 3 } : undefined
      );
      await assertRejects(
        () => fetchImageConfig(`${proxy.host}/test/single:1`),
        DigestMismatchError,
      );
    });
  } finally {
    await fx.stop();
  }
});
