// The applying side of the streaming unpack into a directory, in a worker thread: it follows the
// blobs' files with its own BlobFollower (fed the pull's notices by the main thread), verifies and
// decompresses each layer (readLayer) and writes it with a RootfsWriter into the sink's temporary
// directory. The main thread keeps the pull (fetch, SHA-256, ingest writes); the two halves then
// use both cores instead of taking turns on one. Protocol: lib/unpack/_worker_writer.ts.

import { BlobFollower } from "./_blob_follower.ts";
import { LayerChangedError } from "./layer_changed_error.ts";
import { readLayer } from "./read_layer.ts";
import { RootfsWriter } from "./rootfs_writer.ts";
import type { ToWorker, WorkerCounters, WorkerError } from "./_worker_writer.ts";

const READ_SIZE = 1024 * 1024;

interface Port {
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
}
const port = globalThis as unknown as Port;

let writer: RootfsWriter | undefined;
const paths = new Map<string, string>();
const follower = new BlobFollower({
  blobPath: (digest) => {
    const path = paths.get(digest);
    if (path === undefined) throw new Error(`Cannot read blob ${digest}: not a layer of the image`);
    return path;
  },
});
/** Messages are handled one after the other (a layer, then the finish). */
let queue = Promise.resolve();
/** One per request received and not yet answered: the main thread's abort message aborts them
 * all (also one still queued, which then stops at its first step). */
const requests = new Set<AbortController>();

function counters(): WorkerCounters {
  return {
    entries: writer?.entries ?? 0,
    whiteouts: writer?.whiteouts ?? 0,
    bytes: writer?.bytes ?? 0,
    skippedDevices: writer?.skippedDevices ?? 0,
  };
}

function serialize(e: unknown): WorkerError {
  if (!(e instanceof Error)) return { name: "Error", message: String(e) };
  const fields = e as Error & { expected?: unknown; actual?: unknown };
  return {
    name: e.name,
    message: e.message,
    ...(typeof fields.expected === "string" || typeof fields.expected === "number"
      ? { expected: fields.expected }
      : {}),
    ...(typeof fields.actual === "string" || typeof fields.actual === "number"
      ? { actual: fields.actual }
      : {}),
  };
}

port.onmessage = (event) => {
  const message = event.data;
  if (message.type === "notice") {
    // synchronous, as on the main thread: a notice during a read wakes that reader's wait
    const notice = message.notice;
    if (notice.type === "written") follower.written(notice);
    else {
      follower.ended(
        notice.error === undefined ? undefined : { error: new Error(notice.error) },
      );
    }
    return;
  }
  if (message.type === "abort") {
    const reason = new Error("Cannot apply the layer: the unpack was aborted");
    for (const request of requests) request.abort(reason);
    return;
  }
  const request = new AbortController();
  requests.add(request);
  const signal = request.signal;
  queue = queue.then(async () => {
    try {
      signal.throwIfAborted();
      if (message.type === "start") {
        writer = new RootfsWriter(message.root, {
          maxEntries: message.maxEntries,
          ...(message.owners === undefined ? {} : { owners: message.owners }),
        });
        port.postMessage({ type: "ready" });
      } else if (message.type === "layer") {
        if (!writer) throw new Error("Cannot apply a layer: the worker was not started");
        const { layer, diffId, path } = message;
        paths.set(layer.digest, path);
        // the download hashes these very bytes as it writes them: hashed again here only when
        // that verdict does not cover them (a blob found in the store, a restart from zero)
        const since = follower.restarts(layer.digest);
        const source = message.follow ? follower.read(layer.digest, READ_SIZE, signal) : undefined;
        const verifiedByDownload = () => follower.verifiedSince(layer.digest, since);
        let tarBytes = 0;
        const budget = message.maxBytes - message.bytesBefore;
        const tar = (async function* () {
          for await (
            const chunk of readLayer({ blobPath: () => path }, layer, diffId, {
              signal,
              release: true, // RootfsWriter is done with a chunk when it asks for the next
              ...(source ? { source, verifiedByDownload } : {}),
            })
          ) {
            tarBytes += chunk.byteLength;
            if (tarBytes > budget) {
              throw new Error(
                `more than ${message.maxBytes} uncompressed bytes (the maxBytes limit)`,
              );
            }
            yield chunk;
          }
        })();
        try {
          await writer.applyLayer(tar, { signal });
        } catch (e) {
          // bytes that changed under the read (a restart from zero) may break the decompressor
          // or the tar before the blob's end: the restart, not its symptom, is the cause
          if (source && !signal.aborted && follower.restarts(layer.digest) !== since) {
            throw new LayerChangedError(layer.digest);
          }
          throw e;
        }
        port.postMessage({ type: "done", tarBytes, counters: counters() });
      } else if (message.type === "finish") {
        if (!writer) throw new Error("Cannot finish: the worker was not started");
        writer.finish();
        port.postMessage({ type: "done", tarBytes: 0, counters: counters() });
      }
    } catch (e) {
      port.postMessage({ type: "error", error: serialize(e), counters: counters() });
    } finally {
      requests.delete(request);
    }
  });
};
