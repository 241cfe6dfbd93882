/**
 * A registry with mirrors in front: every request goes to the mirrors first, in order, and to the
 * registry itself when they fail. Content is verified the same way whoever serves it.
 *
 * @module
 */

import type {
  FetchedManifest,
  ManifestHead,
  RequestOptions,
  TagPagesOptions,
} from "./registry_client.ts";
import type { RegistryClient } from "./registry_client.ts";

/** What a pull needs from a registry: `RegistryClient`, or a `MirroredRegistry` in front of one. */
export interface RegistrySource {
  /** The registry's name as references spell it. */
  readonly registry: string;
  /** See `RegistryClient.getManifest`. */
  getManifest(
    repository: string,
    reference: string,
    options?: RequestOptions,
  ): Promise<FetchedManifest>;
  /** See `RegistryClient.headManifest`. */
  headManifest(
    repository: string,
    reference: string,
    options?: RequestOptions,
  ): Promise<ManifestHead | undefined>;
  /** See `RegistryClient.getBlob`. */
  getBlob(
    repository: string,
    digest: string,
    options?: RequestOptions & { offset?: number },
  ): Promise<Response>;
  /** See `RegistryClient.listTags` (a mirror source asks the registry itself). */
  listTags(repository: string, options?: TagPagesOptions): Promise<string[]>;
  /** See `RegistryClient.tagPages` (a mirror source asks the registry itself). */
  tagPages(
    repository: string,
    options?: TagPagesOptions,
  ): AsyncGenerator<string[], void, undefined>;
  /**
   * Told that a blob it served failed (did not match its digest, broke off, stalled): the next
   * request for it goes elsewhere. Returns `true` when a mirror served it (the bytes it sent are
   * not to be kept), `false` when the registry itself did.
   */
  distrust?(digest: string): boolean;
  /**
   * See `RegistryClient.request`: a request to the registry itself (never a mirror), for the
   * API calls that have no method of their own (the referrers API).
   */
  request?(
    method: string,
    path: string,
    headers?: HeadersInit,
    signal?: AbortSignal,
  ): Promise<Response>;
}

/** A mirror: a client for its host, and how it names repositories. */
export interface Mirror {
  /** A client for the mirror's host. */
  client: RegistryClient;
  /** What the mirror puts before repository names. */
  prefix?: string;
  /**
   * Whether tags may be resolved through it (else only digests).
   * @default {true}
   */
  resolve?: boolean;
}

interface Endpoint {
  client: RegistryClient;
  prefix: string;
  resolve: boolean;
  mirror: boolean;
  down: boolean;
}

/**
 * Tries mirrors before the registry, per request. A mirror that cannot be reached is skipped for
 * the rest of this instance's life; one that answers with an error (it does not have the image,
 * refuses, breaks) is skipped for that request; one that served a blob whose digest did not match
 * is skipped for that blob. Errors of the registry itself are the ones reported.
 *
 * @example Docker Hub behind a pull-through cache
 * ```ts ignore
 * import { MirroredRegistry } from "./mirrored_registry.ts";
 * import { RegistryClient } from "./registry_client.ts";
 *
 * const hub = new MirroredRegistry(new RegistryClient("docker.io"), [
 *   { client: new RegistryClient("mirror.gcr.io") },
 * ]);
 * const m = await hub.getManifest("library/alpine", "3.20");
 * ```
 */
export class MirroredRegistry implements RegistrySource {
  /** The registry's name. */
  readonly registry: string;
  #endpoints: Endpoint[];
  #distrusted = new Map<string, Set<number>>();
  #served = new Map<string, number>();
  #onDebug: ((line: string) => void) | undefined;

  /**
   * Makes the source.
   *
   * @param upstream The registry itself (tried last).
   * @param mirrors Its mirrors, in order.
   * @param onDebug Told which endpoint served what, and why one was skipped.
   */
  constructor(upstream: RegistryClient, mirrors: Mirror[], onDebug?: (line: string) => void) {
    this.registry = upstream.registry;
    this.#endpoints = [
      ...mirrors.map((m) => ({
        client: m.client,
        prefix: m.prefix ?? "",
        resolve: m.resolve ?? true,
        mirror: true,
        down: false,
      })),
      { client: upstream, prefix: "", resolve: true, mirror: false, down: false },
    ];
    this.#onDebug = onDebug;
  }

  async #try<T>(
    what: string,
    byTag: boolean,
    digest: string | undefined,
    signal: AbortSignal | undefined,
    request: (client: RegistryClient, repository: (r: string) => string) => Promise<T>,
  ): Promise<T> {
    for (const [i, endpoint] of this.#endpoints.entries()) {
      const skip = endpoint.mirror &&
        (endpoint.down || (byTag && !endpoint.resolve) ||
          (digest !== undefined && this.#distrusted.get(digest)?.has(i)));
      if (skip) continue;
      const repository = (r: string) => endpoint.prefix ? `${endpoint.prefix}/${r}` : r;
      try {
        const result = await request(endpoint.client, repository);
        if (digest !== undefined) this.#served.set(digest, i);
        if (endpoint.mirror) this.#onDebug?.(`${what}: from mirror ${endpoint.client.host}`);
        return result;
      } catch (error) {
        if (!endpoint.mirror || signal?.aborted) throw error;
        if (error instanceof TypeError) endpoint.down = true; // unreachable: not again
        this.#onDebug?.(
          `${what}: mirror ${endpoint.client.host} failed (${(error as Error).message}); ` +
            "trying the next",
        );
      }
    }
    throw new Error(`Cannot ${what}: no registry left to try`); // the upstream always throws first
  }

  /**
   * Fetches a manifest, from the first mirror that has it, else the registry.
   *
   * @param repository The repository.
   * @param reference A tag or a digest.
   * @param options Abort signal.
   * @returns The verified manifest.
   */
  getManifest(
    repository: string,
    reference: string,
    options: RequestOptions = {},
  ): Promise<FetchedManifest> {
    const byTag = !reference.includes(":");
    return this.#try(
      `fetch manifest ${repository}:${reference}`,
      byTag,
      undefined,
      options.signal,
      (c, repo) => c.getManifest(repo(repository), reference, options),
    );
  }

  /**
   * Asks for a manifest's digest: the first mirror that knows it, else the registry.
   *
   * @param repository The repository.
   * @param reference A tag or a digest.
   * @param options Abort signal.
   * @returns What the headers tell, or `undefined` when no one knows the manifest.
   */
  headManifest(
    repository: string,
    reference: string,
    options: RequestOptions = {},
  ): Promise<ManifestHead | undefined> {
    const byTag = !reference.includes(":");
    return this.#try(
      `check manifest ${repository}:${reference}`,
      byTag,
      undefined,
      options.signal,
      async (c, repo) => {
        const head = await c.headManifest(repo(repository), reference, options);
        if (head === undefined && c !== this.#endpoints.at(-1)!.client) {
          throw new Error("not found");
        }
        return head;
      },
    );
  }

  /**
   * Starts a blob download from the first mirror that serves it, else the registry.
   *
   * @param repository The repository.
   * @param digest The blob's digest.
   * @param options Offset and abort signal.
   * @returns The response.
   */
  getBlob(
    repository: string,
    digest: string,
    options: RequestOptions & { offset?: number } = {},
  ): Promise<Response> {
    return this.#try(
      `fetch blob ${digest}`,
      false,
      digest,
      options.signal,
      (c, repo) => c.getBlob(repo(repository), digest, options),
    );
  }

  /**
   * A request to the registry itself (see `RegistryClient.request`).
   *
   * @param method HTTP method.
   * @param path Path below the base URL, starting with `/v2/`.
   * @param headers Request headers.
   * @param signal Aborts the request.
   * @returns The response, whatever its status.
   */
  request(
    method: string,
    path: string,
    headers: HeadersInit = {},
    signal?: AbortSignal,
  ): Promise<Response> {
    return this.#endpoints.at(-1)!.client.request(method, path, headers, signal);
  }

  /**
   * Lists a repository's tags, from the registry itself: a pull-through cache knows only the
   * tags it was asked for.
   *
   * @param repository The repository.
   * @param options Abort signal and page size.
   * @returns All tags.
   */
  listTags(repository: string, options: TagPagesOptions = {}): Promise<string[]> {
    return this.#endpoints.at(-1)!.client.listTags(repository, options);
  }

  /**
   * Lists a repository's tags page by page, from the registry itself.
   *
   * @param repository The repository.
   * @param options Abort signal, page size and caps.
   * @returns The pages.
   */
  tagPages(
    repository: string,
    options: TagPagesOptions = {},
  ): AsyncGenerator<string[], void, undefined> {
    return this.#endpoints.at(-1)!.client.tagPages(repository, options);
  }

  /**
   * Stops asking the mirror that served a blob for it (for this instance's life).
   *
   * @param digest The blob whose download from it failed.
   * @returns `true` when a mirror served it, `false` when the registry itself did.
   */
  distrust(digest: string): boolean {
    const i = this.#served.get(digest);
    if (i === undefined || !this.#endpoints[i]!.mirror) return false;
    const set = this.#distrusted.get(digest) ?? new Set<number>();
    set.add(i);
    this.#distrusted.set(digest, set);
    this.#served.delete(digest);
    this.#onDebug?.(`blob ${digest}: not asking mirror ${this.#endpoints[i]!.client.host} again`);
    return true;
  }
}
