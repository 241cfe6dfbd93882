/**
 * A pass-through stream that hashes and counts the bytes flowing through it and fails the stream
 * when they do not match a descriptor's digest and size.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { DigestMismatchError, SizeMismatchError } from "../reference/digest_mismatch_error.ts";
import { parseDigest } from "../reference/parse_digest.ts";

/** What the content must be: a digest and a size. */
export interface ExpectedContent {
  /** The digest, `sha256:...` or `sha512:...`. */
  digest: string;
  /** The size in bytes. */
  size: number;
}

/** Options for {@linkcode DigestVerifyStream}. */
export interface DigestVerifyStreamOptions {
  /**
   * A hash already fed with the first `offset` bytes (when resuming a partial download).
   * @default {a new hash of the digest's algorithm}
   */
  hash?: Hash;
  /**
   * How many bytes came before this stream (already hashed into `hash`).
   * @default {0}
   */
  offset?: number;
  /**
   * What is verified, for error messages.
   * @default {"blob <digest>"}
   */
  what?: string;
}

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
  #state: { bytes: number };

  /**
   * Makes the stream.
   *
   * @param expected The digest and size the content must have.
   * @param options A hash and offset to resume from.
   * @throws {SyntaxError} When the expected digest is malformed or unsupported.
   */
  constructor(expected: ExpectedContent, options: DigestVerifyStreamOptions = {}) {
    const { algorithm } = parseDigest(expected.digest);
    const hash = options.hash ?? createHash(algorithm);
    const what = options.what ?? `blob ${expected.digest}`;
    const state = { bytes: options.offset ?? 0 };
    super({
      transform(chunk, controller) {
        const next = state.bytes + chunk.byteLength;
        if (next > expected.size) {
          controller.error(
            new SizeMismatchError(what, expected.size, next, "the server sent too many bytes"),
          );
          return;
        }
        state.bytes = next;
        hash.update(chunk);
        controller.enqueue(chunk);
      },
      flush(controller) {
        if (state.bytes !== expected.size) {
          controller.error(new SizeMismatchError(what, expected.size, state.bytes));
          return;
        }
        const actual = `${algorithm}:${hash.digest("hex")}`;
        if (actual !== expected.digest) {
          controller.error(new DigestMismatchError(what, expected.digest, actual));
        }
      },
    });
    this.#state = state;
  }

  /** How many bytes have passed so far, including the offset. */
  get bytes(): number {
    return this.#state.bytes;
  }
}
