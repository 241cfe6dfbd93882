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
    const what = `Cannot ${request.method} ${url.origin}${url.pathname}`;
    const deadline = new AbortController();
    // AbortSignal.timeout, not setTimeout: it costs nothing to start (Deno's first setTimeout
    // loads its timers, ~3.5 ms of a warm re-pull). One watch at a time, re-armed for what is
    // left when bytes came meanwhile, and only while something waits: the headers, or a read of
    // the body. Its listener is removed once the request is over, since a pending listener keeps
    // the process alive until the deadline (a library caller's script would linger 30 s); a body
    // nobody reads any more arms nothing.
    let last = Date.now();
    let phase: "headers" | "body" | "done" = "headers";
    let reading = false; // a body only stalls while it is being read: a busy consumer is no stall
    let armed: AbortSignal | undefined;
    const watch = (ms: number) => {
      armed = AbortSignal.timeout(ms);
      armed.addEventListener("abort", check, { once: true });
    };
    const check = () => {
      armed = undefined;
      if (phase === "done") return;
      if (phase === "body" && !reading) return; // the next read arms it again
      const idle = Date.now() - last;
      if (idle < timeout) return watch(timeout - idle);
      const why = phase === "headers"
        ? `no response within ${formatDuration(timeout)}`
        : `the response stopped for ${formatDuration(timeout)}`;
      deadline.abort(new ResponseTimeoutError(`${what}: ${why}`));
    };
    const startRead = () => {
      reading = true;
      last = Date.now();
      if (!armed) watch(timeout);
    };
    const finish = () => {
      phase = "done";
      armed?.removeEventListener("abort", check);
      armed = undefined;
      signal.removeEventListener("abort", onAbort);
    };
    watch(timeout);
    const signal = AbortSignal.any([request.signal, deadline.signal]);
    const timedOut = () => deadline.signal.aborted && !request.signal.aborted;
    // Deno 2.9 does not always fail a pending read of a response body when the request's signal
    // aborts (about 1 in 30 reads of a stalled body stayed pending for ever): one listener per
    // body fails the read in flight itself and cancels the body; it goes when the request ends
    let failRead: ((reason: unknown) => void) | undefined;
    let cancelBody: (() => Promise<void>) | undefined;
    const onAbort = () => {
      cancelBody?.().catch(() => {});
      failRead?.(signal.reason);
    };
    const raced = <T>(read: Promise<T>) =>
      new Promise<T>((resolve, reject) => {
        failRead = reject;
        // followed even when the abort came first: a read nobody follows rejects unhandled
        const settled = () => {
          if (failRead === reject) failRead = undefined;
        };
        read.then((value) => {
          settled();
          resolve(value);
        }, (error) => {
          settled();
          reject(error);
        });
        if (signal.aborted) onAbort();
      });
    let res: Response;
    try {
      res = await next(new Request(request, { signal }));
    } catch (error) {
      finish();
      throw timedOut() ? deadline.signal.reason : error;
    }
    if (!res.body) {
      finish();
      return res;
    }
    phase = "body";
    last = Date.now();
    signal.addEventListener("abort", onAbort, { once: true });
    const fail = (error: unknown) => {
      finish();
      return timedOut() ? deadline.signal.reason : error;
    };
    let body: ReadableStream<Uint8Array>;
    let byob: ReadableStreamBYOBReader | undefined;
    try {
      byob = res.body.getReader({ mode: "byob" });
    } catch {
      byob = undefined;
    }
    if (byob) {
      // a byte stream stays one: a BYOB reader of the wrapper reads straight into its own
      // buffer through the network's (the hot path of every blob download allocates nothing)
      const inner = byob;
      cancelBody = () => inner.cancel();
      body = new ReadableStream({
        type: "bytes",
        autoAllocateChunkSize: 64 * 1024,
        async pull(controller) {
          const request = controller.byobRequest!;
          const view = request.view!;
          let r: ReadableStreamReadResult<Uint8Array>;
          try {
            startRead();
            r = await raced(
              inner.read(
                new Uint8Array(view.buffer as ArrayBuffer, view.byteOffset, view.byteLength),
              ),
            );
            reading = false;
            last = Date.now();
          } catch (error) {
            throw fail(error);
          }
          if (r.done) {
            finish();
            controller.close();
            if (r.value) request.respondWithNewView(r.value.subarray(0, 0));
            else request.respond(0);
            return;
          }
          request.respondWithNewView(r.value);
        },
        cancel(reason) {
          finish();
          return inner.cancel(reason);
        },
      });
    } else {
      const reader = res.body.getReader();
      cancelBody = () => reader.cancel();
      body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          let r: ReadableStreamReadResult<Uint8Array>;
          try {
            startRead();
            r = await raced(reader.read());
            reading = false;
            last = Date.now();
          } catch (error) {
            throw fail(error);
          }
          if (r.done) {
            finish();
            controller.close();
            return;
          }
          controller.enqueue(r.value);
        },
        cancel(reason) {
          finish();
          return reader.cancel(reason);
        },
      }, { highWaterMark: 0 });
    }
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
