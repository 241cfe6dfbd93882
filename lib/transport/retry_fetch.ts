/**
 * The retry layer: exponential backoff with jitter, `Retry-After`, bounded attempts.
 *
 * @module
 */

import { discard, type Fetcher } from "./fetcher.ts";
import { parseRetryAfter } from "./parse_retry_after.ts";
import { ResponseTimeoutError } from "./with_deadline.ts";

/** Options for {@linkcode withRetry}. */
export interface RetryOptions {
  /**
   * How many times a request is sent at most.
   * @default {5}
   */
  attempts?: number;
  /**
   * The first backoff delay in milliseconds; it doubles with each attempt, and each
   * delay is drawn between half of it and all of it (jitter).
   * @default {250}
   */
  baseDelay?: number;
  /**
   * The longest backoff delay in milliseconds.
   * @default {10000}
   */
  maxDelay?: number;
  /**
   * The longest `Retry-After` honoured, in milliseconds. A server asking for longer gets no
   * retry: its response is returned so the caller can report when the limit resets.
   * @default {60000}
   */
  maxRetryAfter?: number;
  /**
   * The longest one request may take, retries included, in milliseconds: no retry starts that
   * could end after it, an attempt being expected to take as long as the one that just failed
   * (a server that never answers takes the whole response deadline each time). With the
   * default 30 s response deadline, such a server is given up on after two attempts, about 60 s.
   * @default {90000}
   */
  deadline?: number;
  /**
   * Called before each retry, for logging: attempt number (1-based, of the failed attempt), the
   * reason, and the delay in milliseconds.
   */
  onRetry?: (attempt: number, reason: string, delay: number) => void;
}

/** HTTP statuses worth another attempt. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/**
 * Wraps a fetcher so that network errors and the statuses 408, 429, 500, 502, 503 and 504 are
 * retried with exponential backoff and jitter, honouring `Retry-After` up to a cap.
 *
 * A host that fails or asks for a pause (`Retry-After`) is paused for every request, not just the
 * one that failed. The last response (or error) is passed on when the attempts or the deadline run
 * out; the error then says how many attempts there were and how each ended. A request whose signal is
 * aborted is never retried.
 *
 * @param next The fetcher to wrap.
 * @param options Attempts and delays.
 * @returns A fetcher with retries.
 *
 * @example Retry a flaky server
 * ```ts
 * import { withRetry } from "./retry_fetch.ts";
 * import assert from "node:assert/strict";
 *
 * let calls = 0;
 * const flaky = (_req: Request) =>
 *   Promise.resolve(new Response(null, { status: ++calls < 3 ? 503 : 200 }));
 * const res = await withRetry(flaky, { baseDelay: 1 })(new Request("http://x/"));
 * assert.deepEqual(res.status, 200);
 * assert.deepEqual(calls, 3);
 * ```
 */
export function withRetry(next: Fetcher, options: RetryOptions = {}): Fetcher {
  const attempts = Math.max(1, options.attempts ?? 5);
  const baseDelay = options.baseDelay ?? 250;
  const maxDelay = options.maxDelay ?? 10_000;
  const maxRetryAfter = options.maxRetryAfter ?? 60_000;
  const deadline = options.deadline ?? 90_000;
  // a host that asked for a pause (Retry-After, or a failure's backoff) gets it from every request
  const pauses = new Map<string, number>();
  return async (request) => {
    const signal = request.signal;
    const host = new URL(request.url).host;
    const started = Date.now();
    const history: string[] = [];
    for (let attempt = 1;; attempt++) {
      const pause = (pauses.get(host) ?? 0) - Date.now();
      if (pause > 0) await sleep(pause, signal);
      let last = attempt >= attempts;
      let response: Response;
      const attemptStarted = Date.now();
      try {
        response = await next(last ? request : request.clone());
      } catch (error) {
        if (signal.aborted || !isNetworkError(error)) throw error;
        history.push((error as Error).message);
        const delay = backoff(attempt, baseDelay, maxDelay);
        const took = Date.now() - attemptStarted;
        if (last || Date.now() + delay + took - started > deadline) {
          throw exhausted(error, history);
        }
        pauses.set(host, Math.max(pauses.get(host) ?? 0, Date.now() + delay));
        options.onRetry?.(attempt, (error as Error).message, delay);
        await sleep(delay, signal);
        continue;
      }
      if (!RETRYABLE_STATUSES.has(response.status)) return response;
      history.push(String(response.status));
      const after = parseRetryAfter(response.headers.get("retry-after"));
      let delay = backoff(attempt, baseDelay, maxDelay);
      if (after !== undefined) delay = Math.max(delay, after * 1000);
      if (after !== undefined && after * 1000 > maxRetryAfter) last = true;
      if (Date.now() + delay + (Date.now() - attemptStarted) - started > deadline) last = true;
      if (last) {
        if (history.length > 1) HISTORY.set(response, history);
        return response;
      }
      pauses.set(host, Math.max(pauses.get(host) ?? 0, Date.now() + delay));
      await discard(response);
      options.onRetry?.(attempt, `${response.status}`, delay);
      await sleep(delay, signal);
    }
  };
}

const HISTORY = new WeakMap<Response, string[]>();

/**
 * What the attempts before a response were, when the retry layer gave up on a retryable status
 * (`["503", "connection reset", "503"]`), for error messages.
 *
 * @param response The response the retry layer returned.
 * @returns The outcome of each attempt, or `undefined` when there was only one.
 */
export function retryHistory(response: Response): readonly string[] | undefined {
  return HISTORY.get(response);
}

/** The network error after the last attempt, saying how many there were and how each ended. */
function exhausted(error: unknown, history: string[]): unknown {
  if (history.length < 2 || !(error instanceof Error)) return error;
  const reasons = history.map((h) => h.replace(/^Cannot \w+ \S+: /, ""));
  const said = reasons.every((r) => r === reasons[0])
    ? "each ended the same way"
    : summarizeAttempts(reasons, "; ");
  const message = `${error.message} (after ${history.length} attempts: ${said})`;
  // the class says what happened: a timeout stays a timeout
  return error instanceof ResponseTimeoutError
    ? new ResponseTimeoutError(message, { cause: error })
    : new TypeError(message, { cause: error });
}

/**
 * How a series of attempts ended, with repeats folded: `503 x3, 502, 503`.
 *
 * @param outcomes One entry per attempt.
 * @param separator Between entries.
 * @returns The summary.
 *
 * @example Fold repeats
 * ```ts
 * import { summarizeAttempts } from "./retry_fetch.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(summarizeAttempts(["503", "503", "502", "503"]), "503 x2, 502, 503");
 * ```
 */
export function summarizeAttempts(outcomes: readonly string[], separator = ", "): string {
  const parts: string[] = [];
  for (let i = 0; i < outcomes.length;) {
    let j = i;
    while (j < outcomes.length && outcomes[j] === outcomes[i]) j++;
    parts.push(j - i > 1 ? `${outcomes[i]} x${j - i}` : outcomes[i]!);
    i = j;
  }
  return parts.join(separator);
}

/**
 * Tells whether an error thrown by `fetch` is a network failure (worth a retry) rather than an
 * abort or a programming error.
 *
 * @param error What `fetch` threw.
 * @returns `true` for network failures.
 */
export function isNetworkError(error: unknown): boolean {
  return error instanceof TypeError ||
    (error instanceof Error && (error.name === "ConnectionReset" || error.name === "Interrupted"));
}

function backoff(attempt: number, base: number, max: number): number {
  const ceiling = Math.min(max, base * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * ceiling / 2);
}

/**
 * Waits, unless the signal aborts first (then rejects with its reason).
 *
 * @param ms Milliseconds.
 * @param signal An optional abort signal.
 * @returns A promise that resolves after the delay.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
