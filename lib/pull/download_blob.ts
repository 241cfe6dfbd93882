/**
 * One blob from the registry into the store: resume from partial data, verify while streaming,
 * commit by rename.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { DigestMismatchError, SizeMismatchError } from "../reference/digest_mismatch_error.ts";
import { parseDigest } from "../reference/parse_digest.ts";
import type { BlobKind, ProgressListener } from "../progress/progress_event.ts";
import type { Descriptor } from "../oci/parse_manifest.ts";
import type { RegistrySource } from "../registry/mirrored_registry.ts";
import { DigestVerifier } from "../stream/digest_verifier.ts";
import { readRing } from "../stream/read_ring.ts";
import type { Ingest } from "../store/ingest.ts";
import type { Store } from "../store/store.ts";
import { discard } from "../transport/fetcher.ts";
import { sleep } from "../transport/retry_fetch.ts";

/** Where a blob comes from and goes to. */
export interface DownloadBlobContext {
  /** The registry (or its mirrors). */
  client: RegistrySource;
  /** The repository the blob belongs to. */
  repository: string;
  /** The store to put it in. */
  store: Store;
  /** Aborts the download; partial data stays for resume. */
  signal?: AbortSignal;
  /** Progress events. */
  onProgress?: ProgressListener;
  /**
   * Milliseconds without a byte after which a download is aborted and resumed.
   * @default {30000}
   */
  stallTimeout?: number;
  /** Diagnostic lines. */
  onDebug?: (line: string) => void;
  /** Told each time bytes of the blob are on disk, and when it is committed. */
  onWritten?: BlobWrittenListener;
}

/**
 * What a {@linkcode BlobWrittenListener} learns: how much of a blob is on disk, and where. A
 * consumer may read a blob while it downloads by following its ingest file (bytes at an offset
 * never change unless the download starts over, which only happens for content that will fail its
 * digest check or for a server that ignored Range and resent the same bytes).
 */
export interface BlobWritten {
  /** The blob's digest. */
  digest: string;
  /** The file that holds the bytes: the ingest file, or the blob in `blobs/` once committed. */
  path: string;
  /** Bytes of the blob written so far (fewer than before after a restart from zero). */
  bytes: number;
  /** `true` once the blob is verified and renamed into `blobs/` (or was there already). */
  committed: boolean;
}

/** Receives {@linkcode BlobWritten} notices; it runs synchronously and must not throw. */
export type BlobWrittenListener = (event: BlobWritten) => void;

/** What {@linkcode downloadBlob} did. */
export interface DownloadBlobResult {
  /** `true` when the blob was already in the store. */
  cached: boolean;
  /** Bytes transferred from the registry. */
  fetched: number;
}

/** How many times a blob is fetched from zero after a digest mismatch (a CDN can glitch once). */
const MISMATCH_ATTEMPTS = 2;

/**
 * Downloads one blob into the store, unless it is there already.
 *
 * Partial data from an interrupted download is re-hashed and the download resumes after it with
 * `Range: bytes=N-`; a `206` must carry the matching `Content-Range`, a `200` or `416` restarts the
 * blob from zero (a full body is never appended to partial data). Bytes are hashed and counted as
 * they stream; only a blob whose digest and size match is renamed into `blobs/`. A mismatch
 * deletes the partial data and fetches once more from zero; a second mismatch throws.
 *
 * @param ctx The client, repository, store and signal.
 * @param descriptor The blob's digest and size.
 * @param kind Config or layer, for progress events.
 * @returns Whether it was cached and how many bytes were fetched.
 * @throws {DigestMismatchError} When the content does not match the digest twice.
 * @throws {SizeMismatchError} When the server sends more bytes than the descriptor's size twice.
 * @throws {RegistryError} When the registry refuses.
 */
export async function downloadBlob(
  ctx: DownloadBlobContext,
  descriptor: Descriptor,
  kind: BlobKind,
): Promise<DownloadBlobResult> {
  const { store, onProgress } = ctx;
  const { digest, size } = descriptor;
  const committed = () =>
    ctx.onWritten?.({ digest, path: store.blobPath(digest), bytes: size, committed: true });
  const cachedResult = () => {
    committed();
    onProgress?.({ type: "blob-done", digest, kind, size, fetched: 0, cached: true });
    return { cached: true, fetched: 0 };
  };
  if (await store.hasBlob(digest, size)) return cachedResult();
  const ingest = await store.openIngest(digest, size);
  try {
    if (ingest.complete) return cachedResult();
    let fetched = 0;
    for (let attempt = 1;; attempt++) {
      const counter = { bytes: 0 };
      try {
        await transfer(ctx, ingest, descriptor, kind, counter);
        fetched += counter.bytes;
        await ingest.commit();
        committed();
        onProgress?.({ type: "blob-done", digest, kind, size, fetched, cached: false });
        return { cached: false, fetched };
      } catch (e) {
        fetched += counter.bytes;
        const corrupt = e instanceof DigestMismatchError ||
          (e instanceof SizeMismatchError && e.actual > e.expected);
        if (!corrupt) throw e;
        await ingest.truncate();
        ctx.onWritten?.({ digest, path: ingest.path, bytes: 0, committed: false });
        ctx.client.distrust?.(digest); // a mirror that served it is not asked again
        if (attempt >= MISMATCH_ATTEMPTS) {
          await ingest.remove();
          throw e;
        }
      }
    }
  } finally {
    ingest.close();
  }
}

/** A body that brought no bytes for the stall timeout. */
export class StallError extends Error {
  /**
   * Makes the error.
   *
   * @param ms How long nothing came.
   */
  constructor(ms: number) {
    super(`no data for ${Math.round(ms / 1000)} s`);
    this.name = "StallError";
  }
}

/** How many times in a row a download may break off without bringing a new byte. */
const NO_PROGRESS_LIMIT = 5;
/** How many times one blob's download may be resumed in all. */
const RESUME_LIMIT = 1000;

/** Whether a failed transfer is worth resuming from where it stopped. */
function resumable(error: unknown): boolean {
  if (error instanceof StallError || error instanceof TypeError) return true;
  if (error instanceof SizeMismatchError) return error.actual < error.expected; // cut short
  return error instanceof Error &&
    ["ConnectionReset", "ConnectionAborted", "UnexpectedEof", "BrokenPipe", "Interrupted"]
      .includes(error.name);
}

async function transfer(
  ctx: DownloadBlobContext,
  ingest: Ingest,
  descriptor: Descriptor,
  kind: BlobKind,
  counter: { bytes: number },
): Promise<void> {
  const { client, repository, signal, onProgress } = ctx;
  const stallTimeout = ctx.stallTimeout ?? 30_000;
  const { digest, size } = descriptor;
  const algorithm = parseDigest(digest).algorithm;
  let offset = await ingest.length();
  if (offset > size) {
    await ingest.truncate();
    offset = 0;
  }
  let hash = createHash(algorithm);
  if (offset > 0) offset = await ingest.rehash(hash, signal);
  if (offset === size) {
    // everything is here already (a process died between the last byte and the rename)
    const actual = `${algorithm}:${hash.digest("hex")}`;
    if (actual !== digest) throw new DigestMismatchError(`blob ${digest}`, digest, actual);
    return;
  }

  ctx.onWritten?.({ digest, path: ingest.path, bytes: offset, committed: false });
  onProgress?.({ type: "blob-start", digest, kind, size, offset });
  let verifier = new DigestVerifier(descriptor, { hash, offset });
  const restart = async () => {
    // never append a full body to partial data
    await ingest.truncate();
    ctx.onWritten?.({ digest, path: ingest.path, bytes: 0, committed: false });
    hash = createHash(algorithm);
    verifier = new DigestVerifier(descriptor, { hash });
  };
  const failures: string[] = [];
  for (let resumes = 0;; resumes++) {
    const attempt = new AbortController();
    const requestSignal = signal ? AbortSignal.any([signal, attempt.signal]) : attempt.signal;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const kick = () => {
      clearTimeout(timer);
      timer = setTimeout(() => attempt.abort(new StallError(stallTimeout)), stallTimeout);
    };
    const from = verifier.bytes;
    kick();
    try {
      let res = await client.getBlob(repository, digest, { offset: from, signal: requestSignal });
      if (from > 0) {
        if (res.status === 206) {
          const range = res.headers.get("content-range");
          const m = range ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(range.trim()) : null;
          const ok = m !== null && Number(m[1]) === from && Number(m[2]) === size - 1 &&
            (m[3] === "*" || Number(m[3]) === size);
          if (!ok) {
            await discard(res);
            throw new Error(
              `Cannot resume blob ${digest}: asked for bytes ${from}-, the server answered ` +
                `Content-Range ${range === null ? "(none)" : `"${range}"`}`,
            );
          }
        } else {
          // 200 (Range ignored) or 416 (not satisfiable): start over
          await restart();
          if (res.status === 416) {
            await discard(res);
            res = await client.getBlob(repository, digest, { signal: requestSignal });
          }
        }
      }
      if (res.status !== 200 && res.status !== 206) {
        await discard(res);
        throw new Error(`Cannot fetch blob ${digest}: unexpected status ${res.status}`);
      }
      const start = verifier.bytes;
      const declared = res.headers.get("content-length");
      if (declared !== null && /^\d+$/.test(declared) && Number(declared) > size - start) {
        await discard(res);
        throw new SizeMismatchError(
          `blob ${digest}`,
          size,
          start + Number(declared),
          "the server announced too many bytes",
        );
      }
      if (!res.body) throw new SizeMismatchError(`blob ${digest}`, size, start);
      let written = start;
      const v = verifier;
      // hashed before it is written; a byte past the expected size throws before any write
      await readRing(res.body, (chunk) => {
        v.update(chunk);
        return ingest.write(chunk).then(() => {
          written += chunk.byteLength;
          counter.bytes += chunk.byteLength;
          ctx.onWritten?.({ digest, path: ingest.path, bytes: written, committed: false });
          onProgress?.({ type: "blob-progress", digest, bytes: written, size });
        });
      }, {
        signal: requestSignal,
        onRead: kick,
      });
      verifier.verify();
      return;
    } catch (error) {
      const cause = attempt.signal.aborted && !signal?.aborted ? attempt.signal.reason : error;
      // whatever a mirror sent is kept only once it verified: on any failure (short, long,
      // wrong, stalled, broken, interrupted) its bytes go, and the next source starts afresh
      if (client.distrust?.(digest)) {
        await restart();
        failures.length = 0;
        if (signal?.aborted) throw signal.reason;
        ctx.onDebug?.(`blob ${digest}: a mirror failed (${(cause as Error).message}); next source`);
        continue;
      }
      if (signal?.aborted) throw signal.reason;
      if (!resumable(cause)) throw cause;
      if (verifier.bytes > from) failures.length = 0; // it moved: only stalls in a row count
      failures.push((cause as Error).message);
      if (failures.length >= NO_PROGRESS_LIMIT || resumes >= RESUME_LIMIT) {
        throw new Error(
          `Cannot fetch blob ${digest}: the download broke off ${failures.length} times in a ` +
            `row without progress (${failures.join("; ")}); ${verifier.bytes} of ${size} ` +
            "bytes are kept for the next pull",
          { cause },
        );
      }
      ctx.onDebug?.(
        `blob ${digest}: ${(cause as Error).message} at byte ${verifier.bytes}; resuming`,
      );
      await sleep(failures.length === 1 ? 0 : Math.min(5000, 100 * 2 ** failures.length), signal);
    } finally {
      clearTimeout(timer);
    }
  }
}
