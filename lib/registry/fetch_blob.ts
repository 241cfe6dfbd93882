/**
 * One blob from the registry as a stream that verifies itself: its consumer gets the bytes as
 * they arrive, and the stream errors at the end when they do not match the digest.
 *
 * @module
 */

import { SizeMismatchError } from "../reference/digest_mismatch_error.ts";
import { DigestVerifyStream } from "../stream/digest_verify_stream.ts";
import { parseDigest } from "../reference/parse_digest.ts";
import { parseReference, type Reference } from "../reference/parse_reference.ts";
import { discard } from "../transport/fetcher.ts";
import { clientFor, type RemoteOptions } from "./remote_options.ts";

/** Options for {@linkcode fetchBlob}. */
export interface FetchBlobOptions extends RemoteOptions {
  /**
   * The blob's size, when known (from a descriptor): more or fewer bytes are an error.
   * @default {the response's Content-Length, else unchecked}
   */
  size?: number;
}

/** What {@linkcode fetchBlob} returns. */
export interface FetchedBlob {
  /** The blob's digest. */
  digest: string;
  /** The size the bytes are checked against, when known. */
  size: number | undefined;
  /**
   * The bytes. They are hashed and counted as they pass; the stream errors with
   * {@linkcode DigestMismatchError} or {@linkcode SizeMismatchError} after the last chunk when
   * they do not match, and as soon as they exceed a known size. Read it to the end, or cancel it.
   */
  body: ReadableStream<Uint8Array>;
}

/**
 * Starts fetching a blob (a layer, a config) by digest, without storing it.
 *
 * Nothing is buffered: the bytes are passed on as they arrive, so a consumer writing them out
 * has written everything but the verdict when a mismatch is found. Consumers that must not act
 * on unverified bytes should use `pull`, which commits a blob only after verifying it.
 *
 * @param reference `repository@digest`, e.g. `alpine@sha256:...`.
 * @param options The expected size, and how to reach the registry.
 * @returns The digest, the size checked, and the verifying stream.
 * @throws {SyntaxError} When the reference is malformed or has no digest.
 * @throws {RegistryError} When the registry refuses (404: no such blob).
 * @throws {SizeMismatchError} When the registry announces a size other than `options.size`.
 *
 * @example Save a layer to a file, verified
 * ```ts ignore
 * import { fetchBlob } from "./fetch_blob.ts";
 *
 * const blob = await fetchBlob("alpine@sha256:<digest>");
 * await blob.body.pipeTo((await Deno.create("layer.tar.gz")).writable); // rejects on a mismatch
 * ```
 */
export async function fetchBlob(
  reference: string | Reference,
  options: FetchBlobOptions = {},
): Promise<FetchedBlob> {
  const ref = typeof reference === "string" ? parseReference(reference) : reference;
  if (ref.digest === undefined) {
    throw new SyntaxError(
      `Cannot fetch a blob of ${ref.name}: give it as repository@digest, not by tag`,
    );
  }
  const digest = ref.digest;
  parseDigest(digest); // a malformed digest is refused before any request
  const client = await clientFor(ref, options);
  const res = await client.getBlob(
    ref.repository,
    digest,
    options.signal ? { signal: options.signal } : {},
  );
  const what = `blob ${digest}`;
  if (res.status !== 200 || !res.body) {
    await discard(res);
    throw new Error(`Cannot fetch ${what}: unexpected status ${res.status}`);
  }
  const header = res.headers.get("content-length");
  const declared = header !== null && /^\d+$/.test(header) ? Number(header) : undefined;
  if (options.size !== undefined && declared !== undefined && declared !== options.size) {
    await discard(res);
    throw new SizeMismatchError(what, options.size, declared, "the server announced that size");
  }
  const size = options.size ?? declared;
  // the verifier every blob the engine copies goes through
  const verify = new DigestVerifyStream({ digest, size }, { what });
  return { digest, size, body: res.body.pipeThrough(verify) };
}
