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
    // AbortSignal.timeout, not setTimeout: it keeps no process alive and costs nothing to start
    // (Deno's first setTimeout loads its timers, ~3.5 ms of a warm re-pull); one watch per
    // period, re-armed for what is left when bytes came meanwhile
    let last = Date.now();
    let phase: "headers" | "body" | "done" = "headers";
    let reading = false; // a body only stalls while it is being read: a busy consumer is no stall
    const watch = (ms: number) => {
      AbortSignal.timeout(ms).addEventListener("abort", check, { once: true });
    };
    const check = () => {
      if (phase === "done") return;
      if (phase === "body" && !reading) last = Date.now();
      const idle = Date.now() - last;
      if (idle < timeout) return watch(timeout - idle);
      const why = phase === "headers"
        ? `no response within ${formatDuration(timeout)}`
        : `the response stopped for ${formatDuration(timeout)}`;
      deadline.abort(new ResponseTimeoutError(`${what}: ${why}`));
    };
    watch(timeout);
    const signal = AbortSignal.any([request.signal, deadline.signal]);
    const timedOut = () => deadline.signal.aborted && !request.signal.aborted;
    let res: Response;
    try {
      res = await next(new Request(request, { signal }));
    } catch (error) {
      phase = "done";
      throw timedOut() ? deadline.signal.reason : error;
    }
    if (!res.body) {
      phase = "done";
      return res;
    }
    phase = "body";
    last = Date.now();
    const fail = (error: unknown) => {
      phase = "done";
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
      body = new ReadableStream({
        type: "bytes",
        autoAllocateChunkSize: 64 * 1024,
        async pull(controller) {
          const request = controller.byobRequest!;
          const view = request.view!;
          let r: ReadableStreamReadResult<Uint8Array>;
          try {
            reading = true;
            last = Date.now();
            r = await inner.read(
              new Uint8Array(view.buffer as ArrayBuffer, view.byteOffset, view.byteLength),
            );
            reading = false;
            last = Date.now();
          } catch (error) {
            throw fail(error);
          }
          if (r.done) {
            phase = "done";
            controller.close();
            if (r.value) request.respondWithNewView(r.value.subarray(0, 0));
            else request.respond(0);
            return;
          }
          request.respondWithNewView(r.value);
        },
        cancel(reason) {
          phase = "done";
          return inner.cancel(reason);
        },
      });
    } else {
      const reader = res.body.getReader();
      body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          let r: ReadableStreamReadResult<Uint8Array>;
          try {
            reading = true;
            last = Date.now();
            r = await reader.read();
            reading = false;
            last = Date.now();
          } catch (error) {
            throw fail(error);
          }
          if (r.done) {
            phase = "done";
            controller.close();
            return;
          }
          controller.enqueue(r.value);
        },
        cancel(reason) {
          phase = "done";
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
