/**
 * The error for a name the store does not have.
 *
 * @module
 */

/** An image is not in the store (or not complete there), and the caller asked for it by name. */
export class ImageNotFoundError extends Error {
  /** The name asked for, as given. */
  readonly reference: string;
  /** The store's directory. */
  readonly store: string;

  /**
   * Makes the error.
   *
   * @param action What could not be done, e.g. `remove` or `pull`.
   * @param reference The name asked for.
   * @param store The store's directory.
   * @param reason The state, when not just "not in the store <dir>".
   *
   * @example The message says what and where
   * ```ts
   * import { ImageNotFoundError } from "./image_not_found_error.ts";
   * import assert from "node:assert/strict";
   *
   * const e = new ImageNotFoundError("remove", "docker.io/library/alpine:3.20", "/s");
   * assert.deepEqual(e.message, "Cannot remove docker.io/library/alpine:3.20: not in the store /s");
   * ```
   */
  constructor(action: string, reference: string, store: string, reason?: string) {
    super(`Cannot ${action} ${reference}: ${reason ?? `not in the store ${store}`}`);
    this.name = "ImageNotFoundError";
    this.reference = reference;
    this.store = store;
  }
}
