// The main thread's end of lib/unpack/_apply_worker.ts: a RootfsWriter in a worker thread that
// reads, verifies and decompresses each layer itself, following the pull through the notices this
// side forwards. One request at a time (a layer, or the finish); any failure terminates it.

import { DigestMismatchError, SizeMismatchError } from "../reference/digest_mismatch_error.ts";
import type { Descriptor } from "../oci/parse_manifest.ts";
import { LayerChangedError } from "./layer_changed_error.ts";
import type { BlobFeed, BlobNotice, LayerBlob } from "./sink.ts";

/** Messages to the worker. */
export type ToWorker =
  | { type: "start"; root: string; owners?: boolean; maxEntries: number }
  | { type: "notice"; notice: BlobNotice }
  | {
    type: "layer";
    layer: Descriptor;
    diffId: string;
    path: string;
    follow: boolean;
    bytesBefore: number;
    maxBytes: number;
  }
  | { type: "finish" }
  | { type: "abort" };

/** The writer's counters, as the worker reports them after every request. */
export interface WorkerCounters {
  entries: number;
  whiteouts: number;
  bytes: number;
  skippedDevices: number;
}

/** An error thrown in the worker, as it crosses (the class by name, its fields). */
export interface WorkerError {
  name: string;
  message: string;
  expected?: string | number;
  actual?: string | number;
}

/** Messages from the worker. */
export type FromWorker =
  | { type: "ready" }
  | { type: "done"; tarBytes: number; counters: WorkerCounters }
  | { type: "error"; error: WorkerError; counters: WorkerCounters };

/** The error as it was thrown in the worker: the digest errors keep their class and fields. */
function revive(e: WorkerError): Error {
  let error: Error;
  if (e.name === "DigestMismatchError") {
    error = new DigestMismatchError("-", String(e.expected ?? ""), String(e.actual ?? ""));
  } else if (e.name === "SizeMismatchError") {
    error = new SizeMismatchError("-", Number(e.expected ?? 0), Number(e.actual ?? 0));
  } else if (e.name === "LayerChangedError") error = new LayerChangedError("-");
  else error = new Error();
  error.message = e.message;
  return error;
}

/** Options for {@linkcode WorkerWriter.start}. */
export interface WorkerWriterOptions {
  /** The most entries of all layers together. */
  maxEntries: number;
  /** Owners and device nodes (the RootfsWriter's default when absent). */
  owners?: boolean;
  /** The worker's module (tests give one that cannot load). */
  module?: URL;
}

/** A RootfsWriter in a worker thread, applying layers from their blobs. */
export class WorkerWriter implements WorkerCounters {
  entries = 0;
  whiteouts = 0;
  bytes = 0;
  skippedDevices = 0;
  #worker: Worker;
  #pending: PromiseWithResolvers<FromWorker> | undefined;
  #dead: Error | undefined;
  #feed: BlobFeed | undefined;
  #unsubscribe: (() => void) | undefined;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const pending = this.#pending;
      this.#pending = undefined;
      pending?.resolve(event.data);
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault(); // handled here: not the process's uncaught error
      this.#fail(new Error(`Cannot apply layers in a worker: ${event.message}`));
    };
    worker.onmessageerror = () =>
      this.#fail(new Error("Cannot apply layers in a worker: a message"));
  }

  /**
   * Starts the worker and its writer on `root`.
   *
   * @param root The (temporary, empty) directory the layers go into.
   * @param options Limits and ownership.
   * @returns The writer, or `undefined` when no worker could be started (its module could not be
   * loaded, e.g. a `deno compile` binary built without it): the caller applies on its own thread.
   */
  static async start(
    root: string,
    options: WorkerWriterOptions,
  ): Promise<WorkerWriter | undefined> {
    let worker: Worker;
    try {
      const module = options.module ?? new URL("./_apply_worker.ts", import.meta.url);
      worker = new Worker(module.href, { type: "module" });
    } catch {
      return undefined;
    }
    const writer = new WorkerWriter(worker);
    try {
      await writer.#request({
        type: "start",
        root,
        maxEntries: options.maxEntries,
        ...(options.owners === undefined ? {} : { owners: options.owners }),
      });
      return writer;
    } catch {
      writer.terminate();
      return undefined;
    }
  }

  /**
   * Applies one layer in the worker.
   *
   * @param blob The layer's blob (and the pull's notices while it downloads).
   * @param signal Terminates the worker and rejects.
   * @returns The layer's uncompressed tar bytes.
   */
  async apply(blob: LayerBlob, signal?: AbortSignal): Promise<number> {
    if (blob.feed && blob.feed !== this.#feed) {
      this.#unsubscribe?.();
      this.#feed = blob.feed;
      this.#unsubscribe = blob.feed.subscribe((notice) => {
        if (!this.#dead) this.#worker.postMessage({ type: "notice", notice } satisfies ToWorker);
      });
    }
    const reply = await this.#request({
      type: "layer",
      layer: blob.layer,
      diffId: blob.diffId,
      path: blob.path,
      follow: blob.feed !== undefined,
      bytesBefore: blob.bytesBefore,
      maxBytes: blob.maxBytes,
    }, signal);
    return reply.type === "done" ? reply.tarBytes : 0;
  }

  /** Sets the directories' metadata (the writer's finish), then ends the worker. */
  async finish(): Promise<void> {
    try {
      await this.#request({ type: "finish" });
    } finally {
      this.terminate();
    }
  }

  /**
   * Ends the worker: a request it is working on is aborted first and its reply awaited (so that
   * nothing writes into the directory once this resolves), then the worker is terminated.
   * Safe to call twice.
   *
   * @returns Resolves once the worker does nothing any more.
   */
  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    const pending = this.#pending;
    if (pending && !this.#dead) {
      this.#worker.postMessage({ type: "abort" } satisfies ToWorker);
      // a worker that does not answer (it cannot hang on a read: the abort wakes every wait)
      // is terminated after a while all the same
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<void>((resolve) => timer = setTimeout(resolve, 10_000));
      await Promise.race([pending.promise.then(() => {}, () => {}), late]);
      clearTimeout(timer);
    }
    this.terminate();
  }

  /** Ends the worker at once (whatever it was doing); safe to call twice. */
  terminate(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#fail(new Error("Cannot apply layers in a worker: it was stopped"));
  }

  #fail(error: Error): void {
    if (!this.#dead) {
      this.#dead = error;
      this.#worker.terminate();
    }
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(error);
  }

  async #request(message: ToWorker, signal?: AbortSignal): Promise<FromWorker> {
    if (this.#dead) throw this.#dead;
    signal?.throwIfAborted();
    const pending = Promise.withResolvers<FromWorker>();
    this.#pending = pending;
    // the worker stops between two chunks and answers; its answer settles this request
    const onAbort = () => {
      if (!this.#dead) this.#worker.postMessage({ type: "abort" } satisfies ToWorker);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#worker.postMessage(message);
    let reply: FromWorker;
    try {
      reply = await pending.promise;
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      throw e;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
    if (reply.type !== "ready") Object.assign(this, pickCounters(reply.counters));
    if (reply.type === "error") throw revive(reply.error);
    return reply;
  }
}

function pickCounters(c: WorkerCounters): WorkerCounters {
  return {
    entries: c.entries,
    whiteouts: c.whiteouts,
    bytes: c.bytes,
    skippedDevices: c.skippedDevices,
  };
}
