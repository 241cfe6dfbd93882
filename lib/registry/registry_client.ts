/**
 * The distribution API client: manifests, blobs and tags of one registry.
 *
 * @module
 */

import { computeDigest } from "../reference/compute_digest.ts";
import { DigestMismatchError } from "../reference/digest_mismatch_error.ts";
import { parseDigest } from "../reference/parse_digest.ts";
import type { CredentialResolver, Credentials } from "../transport/auth_fetch.ts";
import { storedCredentials } from "../transport/stored_credentials.ts";
import { createTransport, DEFAULT_TIMEOUT } from "../transport/create_transport.ts";
import { discard, type Fetcher, readCapped } from "../transport/fetcher.ts";
import { isLoopback } from "../transport/is_loopback.ts";
import { parseRetryAfter } from "../transport/parse_retry_after.ts";
import { RegistryError } from "../transport/registry_error.ts";
import { speaksTls } from "../transport/speaks_tls.ts";
import type { RetryOptions } from "../transport/retry_fetch.ts";
import { MANIFEST_ACCEPT } from "../oci/media_types.ts";
import { MANIFEST_SIZE_LIMIT, type ParsedManifest, parseManifest } from "../oci/parse_manifest.ts";

export { MANIFEST_SIZE_LIMIT } from "../oci/parse_manifest.ts";

/** Options for {@linkcode RegistryClient}. */
export interface RegistryClientOptions {
  /**
   * Use plain HTTP for this registry, whatever its host. Loopback registries fall back to plain
   * HTTP on their own when TLS fails.
   * @default {false}
   */
  plainHttp?: boolean;
  /**
   * Other hosts the user configured as plain HTTP (the registries configuration): a token realm
   * on one of them may get credentials in clear. Loopback hosts may always.
   * @default {[]}
   */
  plainHosts?: readonly string[];
  /**
   * Credentials for this registry, or a function that finds them. Pass `() => undefined` for
   * anonymous access.
   * @default {the credentials docker and podman stored (see storedCredentials)}
   */
  credentials?: Credentials | CredentialResolver;
  /**
   * The network: any fetch-shaped function.
   * @default {globalThis.fetch}
   */
  fetch?: Fetcher;
  /**
   * Retry policy for every request.
   * @default {5 attempts with backoff}
   */
  retry?: RetryOptions;
  /**
   * Milliseconds the registry may take to answer a request, and a response body may pause; an
   * attempt that runs out counts as a failed attempt of the retry budget.
   * @default {30000}
   */
  timeout?: number;
  /**
   * The `User-Agent` header.
   * @default {"skiff/<version>"}
   */
  userAgent?: string;
  /** Called with diagnostic lines (never with secrets). */
  onDebug?: (line: string) => void;
  /** Called when a credential source cannot be used (the next one, or anonymous, is tried). */
  onWarning?: (message: string) => void;
}

/** The most pages a tag list may have, by default. */
export const TAG_PAGES_LIMIT = 10_000;
/** The most tags a tag list may have, by default. */
export const TAGS_LIMIT = 1_000_000;
/** The most bytes one page of a tag list may have. */
export const TAG_PAGE_LIMIT = 16 * 1024 * 1024;

/** Options for {@linkcode RegistryClient.tagPages} and {@linkcode RegistryClient.listTags}. */
export interface TagPagesOptions extends RequestOptions {
  /**
   * How many tags to ask for per page (`?n=`); the registry may send fewer.
   * @default {the registry's default}
   */
  pageSize?: number;
  /**
   * The most pages followed; a list with more is an error.
   * @default {10000}
   */
  maxPages?: number;
  /**
   * The most tags in all; a list with more is an error.
   * @default {1000000}
   */
  maxTags?: number;
}

/** Options for one request. */
export interface RequestOptions {
  /** Aborts the request. */
  signal?: AbortSignal;
}

/** A manifest as fetched: its bytes, verified digest, and parsed document. */
export type FetchedManifest = ParsedManifest & {
  /** The digest of `bytes`, verified. */
  digest: string;
  /** The exact bytes the registry sent. */
  bytes: Uint8Array;
};

/** What a `HEAD` of a manifest tells. */
export interface ManifestHead {
  /** `Docker-Content-Digest`, when the registry sent a valid one. */
  digest: string | undefined;
  /** The `Content-Type`. */
  mediaType: string | undefined;
  /** The `Content-Length`. */
  size: number | undefined;
}

/**
 * A client for one registry's distribution API.
 *
 * Requests go through the transport (retry, auth, redirects). `docker.io` is reached at
 * `registry-1.docker.io`. HTTPS is used unless `plainHttp` is set; a loopback registry whose TLS
 * handshake fails is spoken to in plain HTTP, as Docker does.
 *
 * @example Fetch a manifest
 * ```ts ignore
 * import { RegistryClient } from "./registry_client.ts";
 *
 * const client = new RegistryClient("docker.io");
 * const m = await client.getManifest("library/alpine", "3.20");
 * console.log(m.digest, m.kind);
 * ```
 */
export class RegistryClient {
  /** The registry's name, e.g. `docker.io`. */
  readonly registry: string;
  /** The host (and port) requests go to, e.g. `registry-1.docker.io`. */
  readonly host: string;
  #transport: Fetcher;
  #network: Fetcher;
  #plainHttp: boolean;
  #timeout: number;
  #base: Promise<string> | undefined;
  #onDebug: ((line: string) => void) | undefined;

  /**
   * Makes a client.
   *
   * @param registry The registry as references spell it: `docker.io`, `ghcr.io`, `127.0.0.1:5000`.
   * @param options Transport and credential options.
   */
  constructor(registry: string, options: RegistryClientOptions = {}) {
    this.registry = registry;
    this.host = registry === "docker.io" ? "registry-1.docker.io" : registry;
    this.#plainHttp = options.plainHttp ?? false;
    this.#timeout = options.timeout ?? DEFAULT_TIMEOUT;
    this.#onDebug = options.onDebug;
    this.#network = options.fetch ?? ((r: Request) => fetch(r));
    this.#transport = createTransport({
      registry,
      host: this.host,
      allowInsecure: this.#plainHttp || isLoopback(this.host),
      ...(options.plainHosts ? { plainHosts: options.plainHosts } : {}),
      fetch: this.#network,
      credentials: resolverOf(options),
      ...(options.retry ? { retry: options.retry } : {}),
      timeout: this.#timeout,
      ...(options.userAgent ? { userAgent: options.userAgent } : {}),
      ...(options.onDebug ? { onDebug: options.onDebug } : {}),
    });
  }

  /**
   * The registry's base URL (`https://host` or `http://host`), decided once.
   *
   * @param signal Aborts the TLS probe of a loopback registry.
   * @returns The base URL without a trailing slash.
   */
  baseUrl(signal?: AbortSignal): Promise<string> {
    if (this.#base) return this.#base;
    if (this.#plainHttp) return this.#base = Promise.resolve(`http://${this.host}`);
    if (!isLoopback(this.host)) return this.#base = Promise.resolve(`https://${this.host}`);
    const probe = (async () => {
      // one TCP round trip says whether the port speaks TLS, without starting a TLS client
      // both probes are short: a server that never answers must not eat the retry budget
      const probeTimeout = Math.min(3000, this.#timeout);
      const tls = await speaksTls(this.host, {
        ...(signal ? { signal } : {}),
        timeout: probeTimeout,
      });
      signal?.throwIfAborted();
      if (tls !== undefined) return `${tls ? "https" : "http"}://${this.host}`;
      try {
        const deadline = AbortSignal.timeout(probeTimeout);
        const res = await this.#network(
          new Request(`https://${this.host}/v2/`, {
            signal: signal ? AbortSignal.any([signal, deadline]) : deadline,
          }),
        );
        await discard(res);
        return `https://${this.host}`;
      } catch (e) {
        if (signal?.aborted) throw e;
        return `http://${this.host}`;
      }
    })();
    this.#base = probe;
    probe.catch(() => {
      if (this.#base === probe) this.#base = undefined;
    });
    return probe;
  }

  /**
   * Sends a request to the registry API through the transport.
   *
   * @param method HTTP method.
   * @param path Path below the base URL, starting with `/v2/`.
   * @param headers Request headers.
   * @param signal Aborts the request.
   * @returns The response, whatever its status.
   */
  async request(
    method: string,
    path: string,
    headers: HeadersInit = {},
    signal?: AbortSignal,
  ): Promise<Response> {
    const base = await this.baseUrl(signal);
    const init: RequestInit = { method, headers };
    if (signal) init.signal = signal;
    const res = await this.#transport(new Request(base + path, init));
    const limit = res.headers.get("ratelimit-limit");
    if (limit !== null && this.#onDebug) {
      const remaining = res.headers.get("ratelimit-remaining") ?? "?";
      this.#onDebug(`rate limit: ${remaining.split(";")[0]} of ${limit.split(";")[0]} pulls left`);
    }
    return res;
  }

  /**
   * Checks that the registry answers the API root (`GET /v2/`) with the credentials it was given:
   * what `skiff login` does before storing them.
   *
   * @param options Abort signal.
   * @throws {RegistryError} When the registry refuses (401: wrong credentials).
   */
  async ping(options: RequestOptions = {}): Promise<void> {
    const res = await this.request("GET", "/v2/", {}, options.signal);
    if (res.status !== 200) {
      throw await RegistryError.fromResponse(res, "GET", undefined, `log in to ${this.registry}`);
    }
    await discard(res);
  }

  /**
   * Fetches a manifest or index by tag or digest, reads it with a 4 MiB cap, verifies its digest
   * (against the requested digest, or against `Docker-Content-Digest` when fetched by tag), and
   * parses it.
   *
   * @param repository The repository, e.g. `library/alpine`.
   * @param reference A tag or a digest.
   * @param options Abort signal.
   * @returns The verified manifest.
   * @throws {RegistryError} When the registry answers with an error (404: not found).
   * @throws {DigestMismatchError} When the bytes do not match the digest.
   * @throws {ManifestError} When the body is not a supported manifest.
   */
  async getManifest(
    repository: string,
    reference: string,
    options: RequestOptions = {},
  ): Promise<FetchedManifest> {
    const what = `${this.registry}/${repository}${reference.includes(":") ? "@" : ":"}${reference}`;
    const res = await this.request(
      "GET",
      `/v2/${repository}/manifests/${reference}`,
      { accept: MANIFEST_ACCEPT },
      options.signal,
    );
    if (res.status !== 200) throw await this.#error(res, "GET", `fetch manifest ${what}`);
    const bytes = await readCapped(res, MANIFEST_SIZE_LIMIT, `manifest ${what}`);
    const header = res.headers.get("docker-content-digest");
    let digest: string;
    if (reference.includes(":")) {
      const want = parseDigest(reference);
      digest = await computeDigest(bytes, want.algorithm);
      if (digest !== reference) {
        throw new DigestMismatchError(`manifest ${what}`, reference, digest);
      }
    } else {
      digest = await computeDigest(bytes);
      if (header !== null && header.trim() !== "") {
        let claimed;
        try {
          claimed = parseDigest(header.trim());
        } catch {
          throw new DigestMismatchError(`manifest ${what}`, header.trim(), digest);
        }
        const actual = await computeDigest(bytes, claimed.algorithm);
        if (actual !== claimed.digest) {
          throw new DigestMismatchError(
            `manifest ${what}`,
            claimed.digest,
            actual,
            "the registry's Docker-Content-Digest does not match the bytes it sent",
          );
        }
        digest = actual;
      }
    }
    const parsed = parseManifest(bytes, res.headers.get("content-type"));
    return { ...parsed, digest, bytes };
  }

  /**
   * Asks for a manifest's digest with `HEAD` (Docker Hub does not count it against the pull rate
   * limit).
   *
   * @param repository The repository.
   * @param reference A tag or a digest.
   * @param options Abort signal.
   * @returns What the headers tell, or `undefined` when the registry does not know the manifest.
   * @throws {RegistryError} On other errors.
   */
  async headManifest(
    repository: string,
    reference: string,
    options: RequestOptions = {},
  ): Promise<ManifestHead | undefined> {
    const res = await this.request(
      "HEAD",
      `/v2/${repository}/manifests/${reference}`,
      { accept: MANIFEST_ACCEPT },
      options.signal,
    );
    if (res.status === 404) {
      await discard(res);
      return undefined;
    }
    if (res.status !== 200) {
      throw await this.#error(res, "HEAD", `check manifest ${this.registry}/${repository}`);
    }
    await discard(res);
    const header = res.headers.get("docker-content-digest")?.trim();
    let digest: string | undefined;
    try {
      if (header) digest = parseDigest(header).digest;
    } catch {
      digest = undefined;
    }
    const length = res.headers.get("content-length");
    return {
      digest,
      mediaType: res.headers.get("content-type")?.split(";")[0]?.trim() ?? undefined,
      size: length !== null && /^\d+$/.test(length) ? Number(length) : undefined,
    };
  }

  /**
   * Starts a blob download, optionally from an offset (`Range: bytes=N-`).
   *
   * The caller reads (or cancels) the body. Statuses 200 and 206 are a body; 416 means the range
   * is not satisfiable (the caller restarts from zero). Anything else throws.
   *
   * @param repository The repository.
   * @param digest The blob's digest (validated by the caller).
   * @param options Offset and abort signal.
   * @returns The response.
   * @throws {RegistryError} On error statuses other than 416.
   */
  async getBlob(
    repository: string,
    digest: string,
    options: RequestOptions & { offset?: number } = {},
  ): Promise<Response> {
    // blobs are already compressed; a transfer encoding would change the bytes that are hashed
    const headers: Record<string, string> = { "accept-encoding": "identity" };
    if (options.offset && options.offset > 0) headers.range = `bytes=${options.offset}-`;
    const res = await this.request(
      "GET",
      `/v2/${repository}/blobs/${digest}`,
      headers,
      options.signal,
    );
    if (res.status === 200 || res.status === 206 || res.status === 416) return res;
    throw await this.#error(res, "GET", `fetch blob ${digest} from ${this.registry}/${repository}`);
  }

  /**
   * Lists a repository's tags, following `Link` pagination.
   *
   * @param repository The repository.
   * @param options Abort signal, the page size to ask for, and the caps.
   * @returns All tags, in the registry's order.
   * @throws {RegistryError} When the registry answers with an error.
   * @throws {RangeError} When the list goes past a cap.
   */
  async listTags(repository: string, options: TagPagesOptions = {}): Promise<string[]> {
    const tags: string[] = [];
    for await (const page of this.tagPages(repository, options)) {
      for (const t of page) tags.push(t);
    }
    return tags;
  }

  /**
   * Lists a repository's tags page by page, as the registry sends them, following `Link`
   * pagination to the registry's own origin. Only one page is held at a time. A loop in the
   * links, more than `maxPages` pages or more than `maxTags` tags end it with an error.
   *
   * @param repository The repository.
   * @param options Abort signal, the page size to ask for, and the caps.
   * @returns The pages' tags, one array per page.
   * @throws {RegistryError} When the registry answers with an error.
   * @throws {RangeError} When the list goes past a cap.
   */
  async *tagPages(
    repository: string,
    options: TagPagesOptions = {},
  ): AsyncGenerator<string[], void, undefined> {
    const maxPages = options.maxPages ?? TAG_PAGES_LIMIT;
    const maxTags = options.maxTags ?? TAGS_LIMIT;
    const what = `list tags of ${this.registry}/${repository}`;
    let path: string | undefined = `/v2/${repository}/tags/list` +
      (options.pageSize ? `?n=${options.pageSize}` : "");
    const seen = new Set<string>();
    let total = 0;
    while (path !== undefined) {
      if (seen.has(path)) throw new Error(`Cannot ${what}: pagination loops`);
      if (seen.size >= maxPages) {
        throw new RangeError(`Cannot ${what}: more than ${maxPages} pages`);
      }
      seen.add(path);
      const res = await this.request("GET", path, { accept: "application/json" }, options.signal);
      if (res.status !== 200) throw await this.#error(res, "GET", what);
      const text = new TextDecoder().decode(await readCapped(res, TAG_PAGE_LIMIT, "tag list page"));
      let body: { tags?: unknown };
      try {
        body = JSON.parse(text);
      } catch {
        throw new Error(`Cannot ${what}: the registry's answer is not JSON`);
      }
      const page = Array.isArray(body?.tags)
        ? body.tags.filter((t): t is string => typeof t === "string")
        : [];
      total += page.length;
      if (total > maxTags) throw new RangeError(`Cannot ${what}: more than ${maxTags} tags`);
      yield page;
      path = nextLink(res.headers.get("link"), await this.baseUrl());
    }
  }

  async #error(res: Response, method: string, action: string): Promise<RegistryError> {
    let hint: string | undefined;
    if (res.status === 401 || res.status === 403) {
      hint = "the repository does not exist, or it needs credentials: skiff login " + this.registry;
    } else if (res.status === 429) {
      hint = rateLimitHint(res.headers);
    }
    return await RegistryError.fromResponse(res, method, undefined, action, hint);
  }
}

/** The credential resolver for the options: static, a function, or the stored ones. */
function resolverOf(options: RegistryClientOptions): CredentialResolver {
  const given = options.credentials;
  if (typeof given === "function") return given;
  if (given !== undefined) return () => given;
  return storedCredentials({
    ...(options.onWarning ? { onWarning: options.onWarning } : {}),
    ...(options.onDebug ? { onDebug: options.onDebug } : {}),
  });
}

/** Docker Hub's `ratelimit-limit: 100;w=21600` -> `100 per 6 h`. */
function describeRateLimit(value: string | null): { count: number; window?: number } | undefined {
  const m = value ? /^\s*(\d+)(?:\s*;\s*w=(\d+))?/.exec(value) : null;
  if (!m) return undefined;
  return { count: Number(m[1]), ...(m[2] ? { window: Number(m[2]) } : {}) };
}

function rateLimitHint(headers: Headers): string {
  const limit = describeRateLimit(headers.get("ratelimit-limit"));
  const reset = parseRetryAfter(headers.get("retry-after") ?? headers.get("ratelimit-reset"));
  let hint = "the registry's pull rate limit was reached";
  if (limit) {
    const window = limit.window
      ? ` per ${limit.window % 3600 === 0 ? `${limit.window / 3600} h` : `${limit.window} s`}`
      : "";
    hint += ` (${limit.count} pulls${window})`;
  }
  if (reset !== undefined) hint += `; it resets in ${reset} s`;
  return `${hint}; logging in (skiff login) raises it`;
}

function nextLink(header: string | null, base: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(",")) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (!m || !/rel="?next"?/.test(m[2]!)) continue;
    const url = new URL(m[1]!, base);
    if (url.origin !== new URL(base).origin) return undefined;
    return url.pathname + url.search;
  }
  return undefined;
}
