/**
 * The error a destination throws when an interrupted write cannot be resumed.
 *
 * @module
 */

/**
 * A blob's write was interrupted and the destination lost what it had received (a registry that
 * dropped the upload session): nothing of it was committed, and the engine may write the blob
 * again from its start, from a new source stream.
 *
 * @example The engine tells it from other failures
 * ```ts
 * import { WriteLostError } from "./write_lost_error.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new WriteLostError("upload blob sha256:ab to r/x", "the session is gone", 1024);
 * assert.ok(e instanceof WriteLostError);
 * assert.match(e.message, /^Cannot upload blob/);
 * ```
 */
export class WriteLostError extends Error {
  /** How many bytes had been sent when it was lost. */
  readonly sent: number;
  /** What was being done, e.g. `upload blob sha256:... to host/repo`. */
  readonly action: string;
  /** Why it cannot be resumed, in words a user reads. */
  readonly reason: string;

  /**
   * Makes the error.
   *
   * @param action What was being done, e.g. `upload blob sha256:... to host/repo`.
   * @param reason Why it cannot be resumed.
   * @param sent Bytes sent for it so far.
   * @param options The cause.
   */
  constructor(action: string, reason: string, sent: number, options?: ErrorOptions) {
    super(`Cannot ${action}: ${reason}`, options);
    this.name = "WriteLostError";
    this.sent = sent;
    this.action = action;
    this.reason = reason;
  }
}
