/**
 * The error of a streamed layer whose bytes may not be the ones its download verified.
 *
 * @module
 */

/**
 * A layer applied while it downloaded, without a hash of its own (the download verifies the same
 * bytes), whose download started over from zero while it was read: the bytes applied may be
 * other than the verified ones. The streaming unpack then starts over from the store, once the
 * pull has verified every blob.
 *
 * @example Tell it apart
 * ```ts
 * import { LayerChangedError } from "./layer_changed_error.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new LayerChangedError("sha256:" + "0".repeat(64));
 * assert.ok(e instanceof LayerChangedError);
 * assert.match(e.message, /^Cannot apply layer sha256:0+: its download restarted/);
 * ```
 */
export class LayerChangedError extends Error {
  /**
   * Makes the error.
   *
   * @param digest The layer's digest.
   */
  constructor(digest: string) {
    super(
      `Cannot apply layer ${digest}: its download restarted from zero while it was read, so ` +
        `what was read is not known to be the verified bytes`,
    );
    this.name = "LayerChangedError";
  }
}
