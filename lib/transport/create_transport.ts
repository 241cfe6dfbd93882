/**
 * The transport, composed in one place: retry -> auth -> the network.
 *
 * @module
 */

import { USER_AGENT } from "../version.ts";
import { type CredentialResolver, withAuth } from "./auth_fetch.ts";
import type { Fetcher } from "./fetcher.ts";
import { type RetryOptions, withRetry } from "./retry_fetch.ts";
import { ResponseTimeoutError, withDeadline } from "./with_deadline.ts";

/** How long a server may take to answer a request (and a body may pause), by default. */
export const DEFAULT_TIMEOUT = 30_000;

/** Options for {@linkcode createTransport}. */
export interface TransportOptions {
  /** The registry's name as references spell it, e.g. `docker.io`. */
  registry: string;
  /** The host (and port) requests go to, e.g. `registry-1.docker.io`. */
  host: string;
  /**
   * Whether credentials may be sent to the registry over plain HTTP.
   * @default {false}
   */
  allowInsecure?: boolean;
  /**
   * Other hosts the user configured as plain HTTP: token realms there may get credentials in
   * clear (see `AuthOptions.plainHosts`).
   * @default {[]}
   */
  plainHosts?: readonly string[];
  /**
   * Where credentials come from.
   * @default {anonymous}
   */
  credentials?: CredentialResolver;
  /**
   * Retry policy.
   * @default {5 attempts, 250 ms doubling, Retry-After up to 60 s}
   */
  retry?: RetryOptions;
  /**
   * Milliseconds a server may take to answer a request (its headers), and a response body may
   * pause between two chunks; each attempt that runs out counts as one failed attempt of the
   * retry budget, and no attempt starts that could end after the retry deadline.
   * @default {30000}
   */
  timeout?: number;
  /**
   * The network: any fetch-shaped function (tests and embedders can inject one).
   * @default {globalThis.fetch}
   */
  fetch?: Fetcher;
  /**
   * The `User-Agent` header.
   * @default {"skiff/<version>"}
   */
  userAgent?: string;
  /** Called with diagnostic lines (never with secrets). */
  onDebug?: (line: string) => void;
}

/**
 * Gives a network failure a message that says what failed: `fetch` throws `TypeError("fetch
 * failed")` and keeps the reason (refused, reset, certificate, DNS) in its cause. The result is
 * still a `TypeError`, so the retry layer still sees a network error.
 *
 * @param error What the network threw.
 * @param request The request, for the message (its query string is not shown).
 * @returns The error to throw.
 */
export function networkError(error: unknown, request: Request): unknown {
  if (!(error instanceof TypeError) || error instanceof ResponseTimeoutError) return error;
  if (request.signal.aborted) return error;
  let reason = error.cause instanceof Error ? error.cause.message : error.message;
  reason = reason.replace(/^error sending request for url \([^)]*\):\s*/, "");
  const url = new URL(request.url);
  return new TypeError(
    `Cannot ${request.method} ${url.origin}${url.pathname}: ${reason}`,
    { cause: error },
  );
}

/**
 * Builds the fetcher every registry request goes through: retries on the outside (so a retry
 * repeats the whole exchange, token included), then authentication and redirects, then the
 * network.
 *
 * @param options The registry, credentials and policies.
 * @returns A fetch-shaped function.
 *
 * @example Build a transport for a local registry
 * ```ts
 * import { createTransport } from "./create_transport.ts";
 *
 * const transport = createTransport({ registry: "127.0.0.1:5000", host: "127.0.0.1:5000" });
 * // await transport(new Request("http://127.0.0.1:5000/v2/"));
 * ```
 */
export function createTransport(options: TransportOptions): Fetcher {
  const timeout = options.timeout ?? DEFAULT_TIMEOUT;
  const network = withDeadline(options.fetch ?? ((request: Request) => fetch(request)), timeout);
  const { auth, retry } = authenticated(options, network);
  return withRetry(auth, retry);
}

/**
 * The layers under the retry, shared by {@linkcode createTransport} and the push transport:
 * `network` (already under its deadline) with the User-Agent and readable network errors, then
 * auth (its token requests retried), and the retry options with the debug hook.
 *
 * @param options The transport's options.
 * @param network The fetch to send through.
 * @returns The authenticated fetcher (not retried) and the retry options to wrap it with.
 */
export function authenticated(
  options: TransportOptions,
  network: Fetcher,
): { auth: Fetcher; retry: RetryOptions } {
  const userAgent = options.userAgent ?? USER_AGENT;
  const base: Fetcher = async (request) => {
    if (!request.headers.has("user-agent")) {
      const headers = new Headers(request.headers);
      headers.set("user-agent", userAgent);
      request = new Request(request, { headers });
    }
    try {
      return await network(request);
    } catch (error) {
      throw networkError(error, request);
    }
  };
  const retry: RetryOptions = { ...options.retry };
  if (options.onDebug && !retry.onRetry) {
    const debug = options.onDebug;
    retry.onRetry = (attempt, reason, delay) =>
      debug(`attempt ${attempt} failed (${reason}); retrying in ${delay} ms`);
  }
  const auth = withAuth(base, {
    registry: options.registry,
    host: options.host,
    allowInsecure: options.allowInsecure ?? false,
    ...(options.plainHosts ? { plainHosts: options.plainHosts } : {}),
    tokenFetch: withRetry(base, retry),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.onDebug ? { onDebug: options.onDebug } : {}),
  });
  return { auth, retry };
}
