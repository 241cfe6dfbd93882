// The engine's blob path into a destination that keeps partial data (the store's ingest): resume
// from the bytes already there (re-hashed), read the source from there with one BYOB read per
// ring buffer, hash every byte before it is written, commit (fdatasync, rename) only a blob
// whose digest and size match. Loaded only when a blob is missing: its hash (node:crypto) costs
// ~17 ms at start-up, a third of a warm re-pull.

import { createHash } from "node:crypto";
import type { BlobKind, ProgressListener } from "../progress/progress_event.ts";
import { DigestMismatchError, SizeMismatchError } from "../reference/digest_mismatch_error.ts";
import { parseDigest } from "../reference/parse_digest.ts";
import type { Descriptor } from "../oci/parse_manifest.ts";
import { DigestVerifier } from "../stream/digest_verifier.ts";
import { readRing } from "../stream/read_ring.ts";
import { sleep } from "../transport/retry_fetch.ts";
import type { BlobWrittenListener } from "./blob_written.ts";
import type { DownloadPriority } from "./download_priority.ts";
import type { BlobIngest } from "./image_destination.ts";
import type { ImageSource, OpenedBlob } from "./image_source.ts";

/** Where a blob comes from and goes to, and who is told. */
export interface IngestBlobContext {
  /** The source. */
  source: ImageSource;
  /** Where a committed blob is (for `onWritten`). */
  blobPath: (digest: string) => string;
  /** Aborts the copy; partial data stays for the next one. */
  signal: AbortSignal;
  /** Progress events. */
  onProgress: ProgressListener;
  /**
   * Milliseconds without a byte after which a read is aborted and resumed.
   * @default {30000}
   */
  stallTimeout?: number | undefined;
  /** Diagnostic lines. */
  onDebug?: ((line: string) => void) | undefined;
  /** Told each time bytes of the blob are on disk, and when it is committed. */
  onWritten?: BlobWrittenListener | undefined;
  /** Holds the download's reads back while a blob before it in the consumer's order goes. */
  priority?: DownloadPriority | undefined;
}

/** How many times a blob is fetched from zero after a digest mismatch (a CDN can glitch once). */
const MISMATCH_ATTEMPTS = 2;

/**
 * Copies one blob into an opened ingest (closed here), resuming after the bytes it holds.
 * Returns the bytes read from the source. A digest mismatch, or more bytes than the descriptor
 * says, deletes the partial data and reads once more from zero; the second one throws.
 */
export async function ingestBlob(
  ctx: IngestBlobContext,
  ingest: BlobIngest,
  descriptor: Descriptor,
  kind: BlobKind,
): Promise<number> {
  const { digest, size } = descriptor;
  const committed = () =>
    ctx.onWritten?.({ digest, path: ctx.blobPath(digest), bytes: size, committed: true });
  try {
    if (ingest.complete) {
      committed();
      ctx.onProgress({ type: "blob-done", digest, kind, size, fetched: 0, cached: true });
      return 0;
    }
    let fetched = 0;
    for (let attempt = 1;; attempt++) {
      const counter = { bytes: 0 };
      try {
        await transfer(ctx, ingest, descriptor, kind, counter);
        fetched += counter.bytes;
        // every byte is in: the next layer may use the network while this one is synced
        ctx.priority?.finish(digest);
        await ingest.commit();
        committed();
        ctx.onProgress({ type: "blob-done", digest, kind, size, fetched, cached: false });
        return fetched;
      } catch (e) {
        fetched += counter.bytes;
        const corrupt = e instanceof DigestMismatchError ||
          (e instanceof SizeMismatchError && e.actual > e.expected);
        if (!corrupt) throw e;
        await ingest.truncate();
        ctx.onWritten?.({ digest, path: ingest.path, bytes: 0, committed: false });
        ctx.source.distrust?.(digest); // a mirror that served it is not asked again
        if (attempt >= MISMATCH_ATTEMPTS) {
          await ingest.remove();
          throw e;
        }
      }
    }
  } finally {
    // no write or background sync of it outlives the call
    await ingest.flush().catch(() => {});
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

/** How many times in a row a read may break off without bringing a new byte. */
const NO_PROGRESS_LIMIT = 5;
/** How many times one blob's read may be resumed in all. */
const RESUME_LIMIT = 1000;

/** Whether a failed transfer is worth resuming from where it stopped. */
function resumable(error: unknown): boolean {
  if (error instanceof StallError || error instanceof TypeError) return true;
  if (error instanceof SizeMismatchError) return error.actual < error.expected; // cut short
  return error instanceof Error &&
    ["ConnectionReset", "ConnectionAborted", "UnexpectedEof", "BrokenPipe", "Interrupted"]
      .includes(error.name);
}

async function open(
  source: ImageSource,
  descriptor: Descriptor,
  offset: number,
  signal: AbortSignal,
): Promise<OpenedBlob> {
  if (source.openBlob) return await source.openBlob(descriptor, { offset, signal });
  return { body: await source.blob(descriptor, { offset, signal }), offset };
}

async function transfer(
  ctx: IngestBlobContext,
  ingest: BlobIngest,
  descriptor: Descriptor,
  kind: BlobKind,
  counter: { bytes: number },
): Promise<void> {
  const { source, signal, onProgress, priority } = ctx;
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
  onProgress({ type: "blob-start", digest, kind, size, offset });
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
    const requestSignal = AbortSignal.any([signal, attempt.signal]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const kick = () => {
      clearTimeout(timer);
      timer = setTimeout(() => attempt.abort(new StallError(stallTimeout)), stallTimeout);
    };
    const from = verifier.bytes;
    // held back by the priority: no byte is expected meanwhile, so the stall watch is off
    const inTurn = (p: DownloadPriority, s: AbortSignal) => {
      if (p.mayRead(digest)) return undefined;
      clearTimeout(timer);
      return p.turn(digest, s).finally(kick);
    };
    kick();
    try {
      const opened = await open(source, descriptor, from, requestSignal);
      if (opened.offset !== from) await restart(); // the source could only start over
      let written = verifier.bytes;
      const v = verifier;
      // hashed before it is written; a byte past the expected size throws before any write
      await readRing(opened.body, (chunk) => {
        v.update(chunk);
        return ingest.write(chunk).then(() => {
          written += chunk.byteLength;
          counter.bytes += chunk.byteLength;
          ctx.onWritten?.({ digest, path: ingest.path, bytes: written, committed: false });
          onProgress({ type: "blob-progress", digest, bytes: written, size });
        });
      }, {
        signal: requestSignal,
        onRead: priority
          ? (bytes, waited) => {
            kick();
            priority.read(digest, waited, bytes);
          }
          : kick,
        ...(priority ? { beforeRead: () => inTurn(priority, requestSignal) } : {}),
      });
      verifier.verify();
      return;
    } catch (error) {
      const cause = attempt.signal.aborted && !signal.aborted ? attempt.signal.reason : error;
      // whatever a mirror sent is kept only once it verified: on any failure (short, long,
      // wrong, stalled, broken, interrupted) its bytes go, and the next source starts afresh
      if (source.distrust?.(digest)) {
        await restart();
        failures.length = 0;
        if (signal.aborted) throw signal.reason;
        ctx.onDebug?.(`blob ${digest}: a mirror failed (${(cause as Error).message}); next source`);
        continue;
      }
      if (signal.aborted) throw signal.reason;
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
