// readBlobBytes and resolveImage over a source of the test's own (a unit: the registry paths
// that use them, resolveManifest and fetchImageConfig, are tested against the real registry in
// tests/registry/): every lie about a small blob is one typed error, a source that lied is
// distrusted and the next one serves, and a platform is chosen by the engine's rules.

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { readBlobBytes } from "../../lib/image/read_blob_bytes.ts";
import { resolveImage } from "../../lib/image/resolve_image.ts";
import type { ImageSource } from "../../lib/image/image_source.ts";
import type { Descriptor } from "../../lib/oci/parse_manifest.ts";
import { PlatformNotFoundError } from "../../lib/oci/choose_platform.ts";
import { computeDigest } from "../../lib/reference/compute_digest.ts";
import {
  DigestMismatchError,
  SizeMismatchError,
} from "../../lib/reference/digest_mismatch_error.ts";

const text = new TextEncoder();

/** A source serving `serve(n)` for the n-th read of a blob, with a mirror that can be distrusted. */
function sourceOf(
  serve: (n: number) => Uint8Array[],
  manifests: Record<string, Uint8Array> = {},
): ImageSource & { reads: number; distrusted: number } {
  const s = {
    name: "test/source",
    reads: 0,
    distrusted: 0,
    resolve(ref: string) {
      const bytes = manifests[ref]!;
      return Promise.resolve({
        descriptor: { mediaType: "", digest: ref, size: bytes.byteLength },
        bytes,
      });
    },
    manifest(d: Descriptor) {
      return Promise.resolve(manifests[d.digest]!);
    },
    blob() {
      const chunks = serve(s.reads++);
      return Promise.resolve(
        new ReadableStream<Uint8Array>({
          pull(c) {
            const next = chunks.shift();
            if (next) c.enqueue(next);
            else c.close();
          },
        }),
      );
    },
    distrust() {
      // the first source is a mirror: distrusted once, then the registry serves
      return s.distrusted++ === 0;
    },
  };
  return s;
}

Deno.test("readBlobBytes: exact bytes, or one typed error for every lie", async () => {
  const body = text.encode('{"architecture":"amd64","os":"linux"}');
  const d = { mediaType: "x", digest: await computeDigest(body), size: body.byteLength };
  const honest = sourceOf(() => [body.subarray(0, 5), body.subarray(5)]);
  assertEquals(await readBlobBytes(honest, d, { limit: 1000 }), body);

  const long = new Uint8Array([...body, 0x20]);
  const altered = body.slice();
  altered[3] = altered[3]! ^ 1;
  const lies: [
    string,
    Uint8Array[],
    typeof SizeMismatchError | typeof DigestMismatchError,
    string,
  ][] = [
    ["too long", [long], SizeMismatchError, "the server sent too many bytes"],
    ["too short", [body.subarray(0, 4)], SizeMismatchError, "got 4"],
    ["altered", [altered], DigestMismatchError, "Cannot verify config"],
  ];
  for (const [what, chunks, kind, says] of lies) {
    // both reads lie: the mirror's, then the registry's; the second error is the one thrown
    const liar = sourceOf(() => chunks.map((c) => c.slice()));
    await assertRejects(() => readBlobBytes(liar, d, { limit: 1000, what: "config" }), kind, says);
    assertEquals(liar.reads, 2, `${what}: the next source was asked once`);
  }
  // the mirror lied, the registry did not: the bytes, from the second read
  const mirror = sourceOf((n) => n === 0 ? [altered] : [body]);
  assertEquals(await readBlobBytes(mirror, d, { limit: 1000 }), body);
  assertEquals(mirror.reads, 2);
  // a descriptor over the limit is refused before any read
  const never = sourceOf(() => [body]);
  await assertRejects(() => readBlobBytes(never, d, { limit: 10 }), RangeError);
  assertEquals(never.reads, 0);
});

Deno.test("resolveImage: the root, or an index's entry for the platform", async () => {
  const image = text.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: `sha256:${"1".repeat(64)}`,
      size: 2,
    },
    layers: [],
  }));
  const imageDigest = await computeDigest(image);
  const index = text.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: imageDigest,
      size: image.byteLength,
      platform: { os: "linux", architecture: "arm64" },
    }],
  }));
  const source = sourceOf(() => [], { idx: index, [imageDigest]: image });
  const all = await resolveImage(source, "idx", undefined, "test:1");
  assertEquals(all.root.parsed.kind, "index");
  assert(all.chosen === all.root);
  const arm = await resolveImage(source, "idx", { os: "linux", architecture: "arm64" }, "test:1");
  assertEquals(arm.chosen.descriptor.digest, imageDigest);
  assertEquals(arm.platform, { os: "linux", architecture: "arm64" });
  assertEquals(arm.chosen.parsed.kind, "manifest");
  await assertRejects(
    () => resolveImage(source, "idx", { os: "linux", architecture: "s390x" }, "test:1"),
    PlatformNotFoundError,
  );
});
