/**
 * The one shape every transport layer has: a function from a `Request` to a `Response`.
 *
 * @module
 */

/**
 * A fetch-shaped function. Every transport wrapper takes one and returns one, so they compose:
 * `withRetry(withAuth(withSchemeFallback(fetch)))`.
 *
 * The request's `signal` is the one cancellation channel: every layer honours it.
 */
export type Fetcher = (request: Request) => Promise<Response>;

/**
 * Cancels a response body that will not be read, so its connection can be reused or closed.
 *
 * @param response The response to discard.
 *
 * @example Drop a body
 * ```ts
 * import { discard } from "./fetcher.ts";
 * await discard(new Response("unused"));
 * ```
 */
export async function discard(response: Response): Promise<void> {
  if (response.body && !response.bodyUsed) {
    try {
      await response.body.cancel();
    } catch {
      // the stream is already errored or locked; nothing is left to release
    }
  }
}

/**
 * Reads a whole response body, refusing one larger than `limit` bytes (by `Content-Length` before
 * reading, and by counting while reading, so a lying or chunked server cannot exhaust memory).
 *
 * @param response The response whose body to read.
 * @param limit The largest body accepted, in bytes.
 * @param what What the body is, for the error message (e.g. `manifest`).
 * @returns The body's bytes.
 * @throws {RangeError} When the body is larger than `limit`.
 *
 * @example Read a small body
 * ```ts
 * import { readCapped } from "./fetcher.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = await readCapped(new Response("hello"), 1024, "greeting");
 * assert.deepEqual(bytes.byteLength, 5);
 * ```
 */
export async function readCapped(
  response: Response,
  limit: number,
  what: string,
): Promise<Uint8Array> {
  const tooBig = () => new RangeError(`Cannot read ${what}: larger than ${limit} bytes`);
  const declared = Number(response.headers.get("content-length") ?? NaN);
  if (declared > limit) {
    await discard(response);
    throw tooBig();
  }
  if (!response.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooBig();
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
