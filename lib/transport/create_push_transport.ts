/**
 * The transport for writing to a registry: one auth layer (one token cache) shared by the requests
 * without a body, which are retried, and the requests with one, which are sent once (their caller
 * resumes an upload from what the registry says it has, rather than replaying blindly).
 *
 * @module
 */

import { authenticated, DEFAULT_TIMEOUT, type TransportOptions } from "./create_transport.ts";
import { withDeadline } from "./with_deadline.ts";
import type { Fetcher } from "./fetcher.ts";
import { withRetry } from "./retry_fetch.ts";

/** The two fetchers of {@linkcode createPushTransport}. */
export interface PushTransport {
  /** For requests without a body (`HEAD`, `GET`, the `POST` that starts an upload): retried. */
  fetch: Fetcher;
  /** For requests with a body (`PATCH`, `PUT`): sent once, authenticated, not retried. */
  sendOnce: Fetcher;
}

/**
 * Builds the transport a registry destination uses: authentication (with `pull,push` scopes for
 * writes and upload sessions) shared by a retrying fetcher and a send-once fetcher.
 *
 * @param options The registry, credentials and policies (as for `createTransport`).
 * @returns The two fetchers.
 *
 * @example Build a push transport for a local registry
 * ```ts
 * import { createPushTransport } from "./create_push_transport.ts";
 *
 * const t = createPushTransport({ registry: "127.0.0.1:5000", host: "127.0.0.1:5000" });
 * console.log(typeof t.fetch, typeof t.sendOnce);
 * ```
 */
export function createPushTransport(options: TransportOptions): PushTransport {
  const raw = options.fetch ?? ((request: Request) => fetch(request));
  const timeout = options.timeout ?? DEFAULT_TIMEOUT;
  const plain = withDeadline(raw, timeout);
  // a request with a body is answered once the body is in: its deadline grows with the body's
  // size (at 256 KiB/s, far below any working link), so that a destination that never answers
  // still ends the push, and a big PATCH on a slow link is not cut short
  const network: Fetcher = (request) => {
    const length = Number(request.headers.get("content-length") ?? "0");
    if (!Number.isSafeInteger(length) || length <= 0) return plain(request);
    return withDeadline(raw, timeout + Math.ceil(length / 256))(request);
  };
  const { auth, retry } = authenticated(options, network);
  return { fetch: withRetry(auth, retry), sendOnce: auth };
}
