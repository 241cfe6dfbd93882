/**
 * How to reach a registry: the options every function that talks to one takes, and the client
 * they build from them.
 *
 * @module
 */

import type { Reference } from "../reference/parse_reference.ts";
import type { CredentialResolver } from "../transport/auth_fetch.ts";
import type { Fetcher } from "../transport/fetcher.ts";
import type { RetryOptions } from "../transport/retry_fetch.ts";
import { RegistryClient } from "./registry_client.ts";

/** Options for the functions that read from a registry ({@linkcode resolveManifest} and co). */
export interface RemoteOptions {
  /**
   * Speak plain HTTP to the registry (loopback registries fall back to it on their own).
   * @default {false}
   */
  plainHttp?: boolean;
  /**
   * Where credentials come from.
   * @default {anonymous}
   */
  credentials?: CredentialResolver;
  /**
   * Retry policy for requests.
   * @default {5 attempts with backoff}
   */
  retry?: RetryOptions;
  /**
   * The network, for tests and embedders.
   * @default {globalThis.fetch}
   */
  fetch?: Fetcher;
  /**
   * A ready client for the reference's registry (its options win over the ones above).
   * @default {a new RegistryClient}
   */
  client?: RegistryClient;
  /** Aborts the requests. */
  signal?: AbortSignal;
  /** Called with diagnostic lines (never with secrets). */
  onDebug?: (line: string) => void;
}

/**
 * The client for a reference's registry: `options.client` when given, else a new one built from
 * the options.
 *
 * @param ref The reference whose registry is spoken to.
 * @param options Transport options.
 * @returns The client.
 * @throws {TypeError} When `options.client` is for another registry.
 *
 * @example A client for a reference
 * ```ts
 * import { clientFor } from "./remote_options.ts";
 * import { parseReference } from "../reference/parse_reference.ts";
 * import assert from "node:assert/strict";
 *
 * const client = clientFor(parseReference("ghcr.io/org/app:1"), { plainHttp: false });
 * assert.deepEqual(client.registry, "ghcr.io");
 * ```
 */
export function clientFor(ref: Reference, options: RemoteOptions = {}): RegistryClient {
  if (options.client) {
    if (options.client.registry !== ref.registry) {
      throw new TypeError(
        `Cannot use a client for ${options.client.registry} to reach ${ref.registry}`,
      );
    }
    return options.client;
  }
  return new RegistryClient(ref.registry, {
    ...(options.plainHttp ? { plainHttp: true } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
    ...(options.onDebug ? { onDebug: options.onDebug } : {}),
  });
}
