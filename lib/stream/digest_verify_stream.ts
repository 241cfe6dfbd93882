/**
 * A pass-through stream that hashes and counts the bytes flowing through it and fails the stream
 * when they do not match a descriptor's digest and size.
 *
 * @module
 */

import {
  DigestVerifier,
  type DigestVerifierOptions,
  type ExpectedContent,
} from "./digest_verifier.ts";

export type { ExpectedContent } from "./digest_verifier.ts";

/** Options for {@linkcode DigestVerifyStream}. */
export type DigestVerifyStreamOptions = DigestVerifierOptions;

/**
 * Passes bytes through unchanged while hashing and counting them; errors the stream
 *
 * - as soon as more bytes arrive than the expected size (the excess is never passed on), and
 * - at the end, when the size is short or the digest differs.
 *
 * So a consumer that sees the stream close normally has received exactly the expected content.
 *
 * @example Verify a body
 * ```ts
 * import { DigestVerifyStream } from "./digest_verify_stream.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = new TextEncoder().encode("hello");
 * const digest = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
 * const out = await new Response(
 *   new Response(bytes).body!.pipeThrough(new DigestVerifyStream({ digest, size: 5 })),
 * ).text();
 * assert.deepEqual(out, "hello");
 * ```
 */
export class DigestVerifyStream extends TransformStream<Uint8Array, Uint8Array> {
  #verifier: DigestVerifier;

  /**
   * Makes the stream.
   *
   * @param expected The digest and size the content must have.
   * @param options A hash and offset to resume from.
   * @throws {SyntaxError} When the expected digest is malformed or unsupported.
   */
  constructor(expected: ExpectedContent, options: DigestVerifyStreamOptions = {}) {
    const verifier = new DigestVerifier(expected, options);
    super({
      transform(chunk, controller) {
        try {
          verifier.update(chunk);
        } catch (e) {
          controller.error(e);
          return;
        }
        controller.enqueue(chunk);
      },
      flush(controller) {
        try {
          verifier.verify();
        } catch (e) {
          controller.error(e);
        }
      },
    });
    this.#verifier = verifier;
  }

  /** How many bytes have passed so far, including the offset. */
  get bytes(): number {
    return this.#verifier.bytes;
  }
}
