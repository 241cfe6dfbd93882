// fetchBlob: the bytes as they come, and a verdict at the end of the stream.

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { startFixture } from "../_fixture.ts";
import { sha256 } from "../_images.ts";
import { FaultProxy } from "../_proxy.ts";
import { fetchBlob } from "../../lib/registry/fetch_blob.ts";
import {
  DigestMismatchError,
  SizeMismatchError,
} from "../../lib/reference/digest_mismatch_error.ts";
import { RegistryError } from "../../lib/transport/registry_error.ts";

async function layers(url: string): Promise<{ digest: string; size: number }[]> {
  const res = await fetch(`${url}/v2/test/single/manifests/1`, {
    headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
  });
  return (await res.json()).layers;
}

Deno.test("fetchBlob: streams verified bytes; a mismatch fails the stream after the data", async (t) => {
  const fx = await startFixture();
  try {
    const [small, big] = await layers(fx.registry.url);
    await t.step("the exact bytes, with the size from Content-Length", async () => {
      const blob = await fetchBlob(`${fx.host}/test/single@${big!.digest}`);
      assertEquals(blob.size, big!.size);
      const bytes = new Uint8Array(await new Response(blob.body).arrayBuffer());
      assertEquals([bytes.byteLength, sha256(bytes)], [big!.size, big!.digest]);
    });

    await using proxy = FaultProxy.start(fx.registry.url);
    await t.step("a flipped byte: every byte delivered, then DigestMismatchError", async () => {
      proxy.rules = [
        (_req, url) => url.pathname.endsWith(big!.digest) ? { kind: "flip", at: 5000 } : undefined,
      ];
      const blob = await fetchBlob(`${proxy.host}/test/single@${big!.digest}`);
      let received = 0;
      const reader = blob.body.getReader();
      const e = await assertRejects(async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          received += value.byteLength;
        }
      }, DigestMismatchError);
      assert(e.message.includes(big!.digest));
      assertEquals(received, big!.size);
    });

    await t.step("extra bytes: SizeMismatchError before they are passed on", async () => {
      proxy.rules = [
        (_req, url) =>
          url.pathname.endsWith(small!.digest)
            ? { kind: "append", bytes: new Uint8Array(10) }
            : undefined,
      ];
      const blob = await fetchBlob(`${proxy.host}/test/single@${small!.digest}`, {
        size: small!.size,
      });
      // read chunk by chunk: no byte past the blob's size may come out before the error
      const reader = blob.body.getReader();
      let received = 0;
      await assertRejects(async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          received += value.byteLength;
        }
      }, SizeMismatchError);
      assert(received <= small!.size, `${received} bytes passed on, the blob has ${small!.size}`);
    });

    await t.step("a body that ends early, cleanly: SizeMismatchError", async () => {
      proxy.rules = [
        (_req, url) =>
          url.pathname.endsWith(small!.digest) ? { kind: "short", after: 100 } : undefined,
      ];
      const blob = await fetchBlob(`${proxy.host}/test/single@${small!.digest}`, {
        size: small!.size,
      });
      await assertRejects(
        () => new Response(blob.body).arrayBuffer(),
        SizeMismatchError,
        "got 100",
      );
    });

    await t.step("bad input and unknown blobs", async () => {
      await assertRejects(
        () => fetchBlob(`${fx.host}/test/single:1`),
        SyntaxError,
        "repository@digest",
      );
      const e = await assertRejects(
        () => fetchBlob(`${fx.host}/test/single@sha256:${"0".repeat(64)}`),
        RegistryError,
      ) as RegistryError;
      assertEquals(e.status, 404);
      await assertRejects(
        () => fetchBlob(`${fx.host}/test/single@${small!.digest}`, { size: small!.size + 1 }),
        SizeMismatchError,
      );
    });
  } finally {
    await fx.stop();
  }
});
