/**
 * How to reach a registry: the options every function that talks to one takes (`pull()`,
 * `resolveManifest()` and co), and the one place that builds a registry source from them, with
 * the configured mirrors in front.
 *
 * @module
 */

import type { Reference } from "../reference/parse_reference.ts";
import type { CredentialResolver, Credentials } from "../transport/auth_fetch.ts";
import type { Fetcher } from "../transport/fetcher.ts";
import type { RetryOptions } from "../transport/retry_fetch.ts";
import { type Mirror, MirroredRegistry, type RegistrySource } from "./mirrored_registry.ts";
import { RegistryClient } from "./registry_client.ts";
import { loadRegistryConfig, plainHostsOf } from "./registry_config.ts";
import type { RegistryConfig } from "./registry_config.ts";

/** Options for the functions that talk to a registry. */
export interface RemoteOptions {
  /**
   * Speak plain HTTP to the registry (loopback registries fall back to it on their own).
   * @default {false, or what the registries configuration says}
   */
  plainHttp?: boolean;
  /**
   * Credentials for the registry, or a function that finds them. Pass `() => undefined` for
   * anonymous access.
   * @default {the credentials docker and podman stored (see storedCredentials)}
   */
  credentials?: Credentials | CredentialResolver;
  /**
   * Retry policy for requests.
   * @default {5 attempts with backoff}
   */
  retry?: RetryOptions;
  /**
   * Milliseconds a registry (or mirror) may take to answer a request, and a response body may
   * pause between two chunks; an attempt that runs out counts as a failed attempt of the retry
   * budget. With the defaults, a server that never answers is given up on after about 60 s.
   * @default {30000}
   */
  timeout?: number;
  /**
   * The network, for tests and embedders.
   * @default {globalThis.fetch}
   */
  fetch?: Fetcher;
  /**
   * A ready client for the reference's registry (its options win over the ones above).
   * @default {a new RegistryClient, behind the configured mirrors}
   */
  client?: RegistrySource;
  /**
   * Mirrors and plain-HTTP registries (see `loadRegistryConfig`).
   * @default {read from $SKIFF_CONFIG, else $XDG_CONFIG_HOME/skiff/config.json}
   */
  config?: RegistryConfig;
  /** Aborts the requests. */
  signal?: AbortSignal;
  /** Called with diagnostic lines (never with secrets). */
  onDebug?: (line: string) => void;
  /** Called when a credential source cannot be used (the next one, or anonymous, is tried). */
  onWarning?: (message: string) => void;
}

/**
 * The registry source for a reference: `options.client` when given, else a `RegistryClient` for
 * its registry, behind the mirrors the configuration lists for it.
 *
 * @param ref The reference whose registry is spoken to.
 * @param options Transport options.
 * @returns The source.
 * @throws {TypeError} When `options.client` is for another registry.
 * @throws {SyntaxError} When the registries configuration is malformed.
 *
 * @example A source for a reference
 * ```ts
 * import { clientFor } from "./remote_options.ts";
 * import { parseReference } from "../reference/parse_reference.ts";
 * import assert from "node:assert/strict";
 *
 * const client = await clientFor(parseReference("ghcr.io/org/app:1"), {
 *   config: { registries: {} },
 * });
 * assert.deepEqual(client.registry, "ghcr.io");
 * ```
 */
export async function clientFor(
  ref: Reference,
  options: RemoteOptions = {},
): Promise<RegistrySource> {
  if (options.client) {
    if (options.client.registry !== ref.registry) {
      throw new TypeError(
        `Cannot use a client for ${options.client.registry} to reach ${ref.registry}`,
      );
    }
    return options.client;
  }
  const config = options.config ?? await loadRegistryConfig();
  const host = config.registries[ref.registry] ?? {};
  const shared = {
    plainHosts: plainHostsOf(config),
    ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.onDebug ? { onDebug: options.onDebug } : {}),
    ...(options.onWarning ? { onWarning: options.onWarning } : {}),
  };
  const upstream = new RegistryClient(ref.registry, {
    ...shared,
    ...(options.plainHttp || host.plainHttp ? { plainHttp: true } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
  });
  if (!host.mirrors?.length) return upstream;
  const mirrors: Mirror[] = host.mirrors.map((m) => ({
    // a mirror has its own credentials, and gets fewer attempts: the registry is there behind it
    client: new RegistryClient(m.host, {
      ...shared,
      ...(m.plainHttp ? { plainHttp: true } : {}),
      retry: { ...options.retry, attempts: Math.min(2, options.retry?.attempts ?? 2) },
    }),
    ...(m.prefix ? { prefix: m.prefix } : {}),
    ...(m.resolve === false ? { resolve: false } : {}),
  }));
  return new MirroredRegistry(upstream, mirrors, options.onDebug);
}
