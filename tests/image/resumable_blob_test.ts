// The engine's source stream with the digest checked in it (units with a source in memory; the
// registry tests in copy_image_test.ts hold the same end to end: a lying source, a cut source):
// one continuous verified stream across a reopen at the offset reached, a wrong byte that errors
// the stream instead of ending it and is never read again, bytes past the size never passed on.

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { sha256 } from "../_images.ts";
import { resumableBlob } from "../../lib/image/_resumable_blob.ts";
import type { ImageSource } from "../../lib/image/image_source.ts";
import type { Descriptor } from "../../lib/oci/parse_manifest.ts";
import {
  DigestMismatchError,
  SizeMismatchError,
} from "../../lib/reference/digest_mismatch_error.ts";
import { DigestVerifier } from "../../lib/stream/digest_verifier.ts";

const PIECE = 1000;

/** A source serving `served` in pieces; the first open breaks after `breakAfter` pieces. */
function source(served: Uint8Array, breakAfter?: number) {
  const opens: number[] = [];
  const src = {
    blob(_d: Descriptor, options: { offset?: number } = {}) {
      const offset = options.offset ?? 0;
      opens.push(offset);
      const first = opens.length === 1;
      let at = offset;
      let pieces = 0;
      return Promise.resolve(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            if (first && breakAfter !== undefined && pieces === breakAfter) {
              controller.error(new TypeError("connection reset"));
              return;
            }
            if (at >= served.byteLength) {
              controller.close();
              return;
            }
            controller.enqueue(served.slice(at, at + PIECE));
            at += PIECE;
            pieces++;
          },
        }),
      );
    },
  } as unknown as ImageSource;
  return { src, opens };
}

async function drain(stream: ReadableStream<Uint8Array>, got: Uint8Array[]): Promise<void> {
  for await (const piece of stream) got.push(piece);
}

const bytes = new Uint8Array(10 * PIECE).map((_, i) => (i * 7) % 251);
const descriptor: Descriptor = {
  mediaType: "application/octet-stream",
  digest: sha256(bytes),
  size: bytes.byteLength,
};
const verifier = () => new DigestVerifier(descriptor);

Deno.test("resumableBlob with a verifier: one verified stream across a reopen", async () => {
  const { src, opens } = source(bytes, 4);
  const got: Uint8Array[] = [];
  await drain(resumableBlob(src, descriptor, undefined, undefined, 5, verifier()), got);
  // reopened at the offset reached; the verifier saw the one continuous stream and let it end
  assertEquals(opens, [0, 4 * PIECE]);
  const out = new Uint8Array(got.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of got) (out.set(p, at), at += p.byteLength);
  assertEquals(sha256(out), descriptor.digest);
});

Deno.test("resumableBlob with a verifier: a wrong byte errors the stream, never re-read", async () => {
  const lying = bytes.slice();
  lying[lying.length - 1]! ^= 1;
  const { src, opens } = source(lying);
  const got: Uint8Array[] = [];
  await assertRejects(
    () => drain(resumableBlob(src, descriptor, undefined, undefined, 5, verifier()), got),
    DigestMismatchError,
  );
  assertEquals(opens, [0], "a mismatch is not a break: the source is not opened again");
  // every byte was passed on, but the stream errored instead of ending: nothing may commit it
  assertEquals(got.reduce((n, p) => n + p.byteLength, 0), bytes.byteLength);
});

Deno.test("resumableBlob with a verifier: bytes past the size are never passed on", async () => {
  const longer = new Uint8Array(bytes.byteLength + PIECE / 2);
  longer.set(bytes);
  const { src, opens } = source(longer);
  const got: Uint8Array[] = [];
  await assertRejects(
    () => drain(resumableBlob(src, descriptor, undefined, undefined, 5, verifier()), got),
    SizeMismatchError,
  );
  assertEquals(opens, [0]);
  const passed = got.reduce((n, p) => n + p.byteLength, 0);
  assert(passed <= descriptor.size, `passed on ${passed} of ${descriptor.size}`);
});
