/**
 * The deadline layer: no request waits forever for a server that accepted the connection and
 * never answers.
 *
 * @module
 */

import type { Fetcher } from "./fetcher.ts";

/**
 * A server took longer than the deadline to answer, or its response body stopped for that long.
 * It is a `TypeError`, as network failures are, so the retry layer counts it as one attempt.
 */
export class ResponseTimeoutError extends TypeError {
  /**
   * Makes the error.
   *
   * @param message What did not answer, and for how long.
   * @param options The cause, when it wraps another error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ResponseTimeoutError";
  }
}

/**
 * Says a duration the way messages do: `500 ms`, `30 s`.
 *
 * @param ms Milliseconds.
 * @returns The text.
 */
export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${Math.round(ms / 100) / 10} s`;
}

/**
 * Wraps a fetcher with a response deadline: the response's headers must arrive within `timeout`
 * milliseconds of the request, and its body may then pause for at most `timeout` between two
 * chunks (a slow body that keeps moving is fine). When either runs out, the request is aborted
 * (its connection closed) and the call, or the body's read, fails with a
 * {@linkcode ResponseTimeoutError} naming the request.
 *
 * @param next The fetcher to wrap (the network).
 * @param timeout The deadline in milliseconds.
 * @returns A fetcher with the deadline.
 *
 * @example A server that never answers
 * ```ts
 * import { ResponseTimeoutError, withDeadline } from "./with_deadline.ts";
 * import assert from "node:assert/strict";
 *
 * const silent = (req: Request) =>
 *   new Promise<Response>((_, reject) =>
 *     req.signal.addEventListener("abort", () => reject(req.signal.reason))
 *   );
 * await assert.rejects(
 *   withDeadline(silent, 10)(new Request("http://127.0.0.1:1/v2/")),
 *   ResponseTimeoutError,
 * );
 * ```
 */
export function withDeadline(next: Fetcher, timeout: number): Fetcher {
  return async (request) => {
    const url = new URL(request.url);
    const watch = new DeadlineWatch(
      `Cannot ${request.method} ${url.origin}${url.pathname}`,
      timeout,
      request.signal,
    );
    let res: Response;
    try {
      res = await next(new Request(request, { signal: watch.signal }));
    } catch (error) {
      throw watch.fail(error);
    }
    if (!res.body) {
      watch.finish();
      return res;
    }
    watch.bodyStarts();
    let byob: ReadableStreamBYOBReader | undefined;
    try {
      byob = res.body.getReader({ mode: "byob" });
    } catch {
      byob = undefined;
    }
    const body = byob ? watchedByteBody(byob, watch) : watchedBody(res.body.getReader(), watch);
    const wrapped = new Response(body, {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
    // what callers read from a fetch response besides the body
    Object.defineProperty(wrapped, "url", { value: res.url });
    Object.defineProperty(wrapped, "redirected", { value: res.redirected });
    return wrapped;
  };
}

/**
 * One request's deadline: the headers must come within the timeout, and each read of the body
 * must get bytes within it; when either runs out, the request is aborted with a
 * {@linkcode ResponseTimeoutError}.
 *
 * AbortSignal.timeout, not setTimeout: it costs nothing to start (Deno's first setTimeout loads
 * its timers, ~3.5 ms of a warm re-pull). One watch at a time, re-armed for what is left when
 * bytes came meanwhile, and only while something waits: the headers, or a read of the body. Its
 * listener is removed once the request is over, since a pending listener keeps the process alive
 * until the deadline (a library caller's script would linger 30 s); a body nobody reads any more
 * arms nothing.
 */
class DeadlineWatch {
  /** The request's own signal and the deadline's, together: what the request is sent with. */
  readonly signal: AbortSignal;
  readonly #what: string;
  readonly #timeout: number;
  readonly #request: AbortSignal;
  readonly #deadline = new AbortController();
  #last = Date.now();
  #phase: "headers" | "body" | "done" = "headers";
  /** A body only stalls while it is being read: a busy consumer is no stall. */
  #reading = false;
  #armed: AbortSignal | undefined;
  // Deno 2.9 does not always fail a pending read of a response body when the request's signal
  // aborts (about 1 in 30 reads of a stalled body stayed pending for ever): one listener per body
  // fails the read in flight itself and cancels the body; it goes when the request ends
  #failRead: ((reason: unknown) => void) | undefined;
  /** Cancels the body being read (set once it is). */
  cancelBody: (() => Promise<void>) | undefined;
  readonly #check = () => this.#expire();
  readonly #onAbort = () => {
    this.cancelBody?.().catch(() => {});
    this.#failRead?.(this.signal.reason);
  };

  constructor(what: string, timeout: number, request: AbortSignal) {
    this.#what = what;
    this.#timeout = timeout;
    this.#request = request;
    this.#watch(timeout);
    this.signal = AbortSignal.any([request, this.#deadline.signal]);
  }

  /** The headers came: from now on the body's reads are watched. */
  bodyStarts(): void {
    this.#phase = "body";
    this.#last = Date.now();
    this.signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** A read of the body begins, raced against the abort (see `#failRead`). */
  read<T>(read: Promise<T>): Promise<T> {
    this.#reading = true;
    this.#last = Date.now();
    if (!this.#armed) this.#watch(this.#timeout);
    return new Promise<T>((resolve, reject) => {
      this.#failRead = reject;
      // followed even when the abort came first: a read nobody follows rejects unhandled
      const settled = () => {
        if (this.#failRead === reject) this.#failRead = undefined;
        this.#reading = false;
        this.#last = Date.now();
      };
      read.then((value) => {
        settled();
        resolve(value);
      }, (error) => {
        settled();
        reject(error);
      });
      if (this.signal.aborted) this.#onAbort();
    });
  }

  /** The request is over (its body read to the end, cancelled, or failed). */
  finish(): void {
    this.#phase = "done";
    this.#armed?.removeEventListener("abort", this.#check);
    this.#armed = undefined;
    this.signal.removeEventListener("abort", this.#onAbort);
  }

  /** Ends the request after `error`: the deadline's error when it was the deadline. */
  fail(error: unknown): unknown {
    this.finish();
    return this.#deadline.signal.aborted && !this.#request.aborted
      ? this.#deadline.signal.reason
      : error;
  }

  #watch(ms: number): void {
    this.#armed = AbortSignal.timeout(ms);
    this.#armed.addEventListener("abort", this.#check, { once: true });
  }

  #expire(): void {
    this.#armed = undefined;
    if (this.#phase === "done") return;
    if (this.#phase === "body" && !this.#reading) return; // the next read arms it again
    const idle = Date.now() - this.#last;
    if (idle < this.#timeout) return this.#watch(this.#timeout - idle);
    const why = this.#phase === "headers"
      ? `no response within ${formatDuration(this.#timeout)}`
      : `the response stopped for ${formatDuration(this.#timeout)}`;
    this.#deadline.abort(new ResponseTimeoutError(`${this.#what}: ${why}`));
  }
}

/**
 * A byte stream stays one: a BYOB reader of the wrapper reads straight into its own buffer
 * through the network's (the hot path of every blob download allocates nothing).
 */
function watchedByteBody(
  inner: ReadableStreamBYOBReader,
  watch: DeadlineWatch,
): ReadableStream<Uint8Array> {
  watch.cancelBody = () => inner.cancel();
  return new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: 64 * 1024,
    async pull(controller) {
      const request = controller.byobRequest!;
      const view = request.view!;
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await watch.read(
          inner.read(new Uint8Array(view.buffer as ArrayBuffer, view.byteOffset, view.byteLength)),
        );
      } catch (error) {
        throw watch.fail(error);
      }
      if (r.done) {
        watch.finish();
        controller.close();
        if (r.value) request.respondWithNewView(r.value.subarray(0, 0));
        else request.respond(0);
        return;
      }
      request.respondWithNewView(r.value);
    },
    cancel(reason) {
      watch.finish();
      return inner.cancel(reason);
    },
  });
}

/** A body that is not a byte stream, read chunk by chunk. */
function watchedBody(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  watch: DeadlineWatch,
): ReadableStream<Uint8Array> {
  watch.cancelBody = () => reader.cancel();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await watch.read(reader.read());
      } catch (error) {
        throw watch.fail(error);
      }
      if (r.done) {
        watch.finish();
        controller.close();
        return;
      }
      controller.enqueue(r.value);
    },
    cancel(reason) {
      watch.finish();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
