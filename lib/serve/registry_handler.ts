/**
 * The store as a read-only OCI Distribution registry: one function from a `Request` to a
 * `Response`, which {@linkcode serve} listens with (and which a caller can mount in a server of
 * its own).
 *
 * Routes (every one also answers `HEAD`): `/v2/`, `/v2/_catalog`, `/v2/<name>/tags/list`,
 * `/v2/<name>/manifests/<tag|digest>`, `/v2/<name>/blobs/<digest>` and
 * `/v2/<name>/referrers/<digest>`. Writes (`POST`, `PUT`, `PATCH`, `DELETE`, and the upload
 * routes) answer 405 `UNSUPPORTED`; errors are the distribution spec's JSON
 * (`{"errors":[{"code":"MANIFEST_UNKNOWN",...}]}`) with its status codes.
 *
 * @module
 */

import { isDigest } from "../reference/parse_digest.ts";
import { isRepositoryPath, isTag } from "../reference/parse_reference.ts";
import { MediaType } from "../oci/media_types.ts";
import type { Store } from "../store/store.ts";
import { BlobFiles, matchesEtag } from "./_blob_response.ts";
import { Htpasswd } from "./_htpasswd.ts";
import { type RepositoryKey, StoreView } from "./_store_view.ts";

/** One request, as the access log shows it. */
export interface AccessLogEntry {
  /** When the answer was made. */
  time: Date;
  /** The client's address (`127.0.0.1:40312`), when known. */
  remote: string | undefined;
  /** The method. */
  method: string;
  /** The request target as sent (path and query): untrusted, escape it to print it. */
  target: string;
  /** The status answered. */
  status: number;
  /** The body's length as announced (`Content-Length`), when there is one. */
  bytes: number | undefined;
  /**
   * Whether the whole answer reached the client (`false`: it went away, or the server broke the
   * answer off); `undefined` when the server does not tell (a handler called without `completed`).
   */
  completed: boolean | undefined;
  /** Milliseconds from the request to the answer's end (to its headers, when that is unknown). */
  milliseconds: number;
  /** The authenticated user, when basic auth is on and the credentials were accepted. */
  user: string | undefined;
  /** The client's `User-Agent`: untrusted. */
  userAgent: string | undefined;
}

/** Basic authentication for {@linkcode RegistryHandler}. */
export interface RegistryAuthOptions {
  /** An htpasswd file's text: `user:<bcrypt hash>` lines (`htpasswd -B`). */
  htpasswd: string;
  /**
   * What to call the file in errors.
   * @default {"htpasswd file"}
   */
  source?: string;
}

/** Options for {@linkcode RegistryHandler}. */
export interface RegistryHandlerOptions {
  /**
   * Require basic authentication with these users on every route (`/v2/` too).
   * @default {undefined}
   */
  auth?: RegistryAuthOptions;
  /**
   * Called once per request, when its answer ended (delivered, or broken off).
   * @default {undefined}
   */
  onRequest?: (entry: AccessLogEntry) => void;
  /**
   * Called with a warning of the server's own (a damaged blob refused, an internal error).
   * @default {undefined}
   */
  onWarning?: (message: string) => void;
}

/** The most entries of a `tags/list` or `_catalog` page (`n` above it gives this many). */
export const PAGE_LIMIT = 10_000;

const API_VERSION = "registry/2.0";
const JSON_TYPE = "application/json; charset=utf-8";

/**
 * Answers the distribution API from a store, read-only.
 *
 * @example Answer requests in a server of one's own
 * ```ts ignore
 * import { RegistryHandler } from "./registry_handler.ts";
 * import { Store } from "../store/store.ts";
 *
 * const handler = new RegistryHandler(await Store.open("./images", { create: false }));
 * Deno.serve({ hostname: "127.0.0.1", port: 5000 }, (request, info) =>
 *   handler.handle(request, info));
 * ```
 *
 * @example The API's base answers with the version header
 * ```ts
 * import { RegistryHandler } from "./registry_handler.ts";
 * import { Store } from "../store/store.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const handler = new RegistryHandler(await Store.open(dir));
 * const res = await handler.handle(new Request("http://127.0.0.1/v2/"));
 * assert.equal(res.status, 200);
 * assert.equal(res.headers.get("docker-distribution-api-version"), "registry/2.0");
 * await res.body?.cancel();
 * const push = await handler.handle(new Request("http://127.0.0.1/v2/a/blobs/uploads/", { method: "POST" }));
 * assert.equal(push.status, 405);
 * assert.equal((await push.json()).errors[0].code, "UNSUPPORTED");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class RegistryHandler {
  readonly #view: StoreView;
  readonly #blobs = new BlobFiles();
  readonly #auth: Htpasswd | undefined;
  readonly #onRequest: ((entry: AccessLogEntry) => void) | undefined;
  readonly #onWarning: (message: string) => void;

  /**
   * Makes a handler.
   *
   * @param store The store served.
   * @param options Authentication and logging.
   * @throws {SyntaxError} When the htpasswd text has a line that is not a bcrypt entry.
   */
  constructor(store: Store, options: RegistryHandlerOptions = {}) {
    this.#view = new StoreView(store);
    this.#auth = options.auth
      ? new Htpasswd(options.auth.htpasswd, options.auth.source)
      : undefined;
    this.#onRequest = options.onRequest;
    this.#onWarning = options.onWarning ?? (() => {});
  }

  /** How many blob responses stream through JavaScript right now (verifying or a bounded range). */
  get streaming(): number {
    return this.#blobs.streaming;
  }

  /** Breaks off every blob response that streams through JavaScript (a shutdown's last step). */
  cut(): void {
    this.#blobs.cut();
  }

  /**
   * Answers one request.
   *
   * @param request The request.
   * @param info Where it came from and when its answer was delivered (what `Deno.serve` passes),
   *   for the access log.
   * @returns The answer.
   */
  handle = async (
    request: Request,
    info?: { remoteAddr: Deno.Addr; completed?: Promise<void> },
  ): Promise<Response> => {
    const start = performance.now();
    const state: { user?: string } = {};
    let response: Response;
    try {
      response = await this.#route(request, state);
    } catch (e) {
      this.#onWarning(
        `Cannot answer ${request.method} ${targetOf(request.url)}: ${(e as Error).message}`,
      );
      response = error(500, "UNKNOWN", "internal error; see the server's log");
    }
    if (request.method === "HEAD" && response.body !== null) {
      // a HEAD answer has the headers of the GET, and no body
      await response.body.cancel();
      response = new Response(null, { status: response.status, headers: response.headers });
    }
    const onRequest = this.#onRequest;
    if (onRequest) {
      // read now: once the answer is delivered, the request is closed
      const length = response.headers.get("content-length");
      const remote = info?.remoteAddr;
      const entry = {
        remote: remote && "hostname" in remote
          ? `${
            remote.hostname.includes(":") ? `[${remote.hostname}]` : remote.hostname
          }:${remote.port}`
          : undefined,
        method: request.method,
        target: targetOf(request.url),
        status: response.status,
        bytes: length === null ? undefined : Number(length),
        user: state.user,
        userAgent: request.headers.get("user-agent") ?? undefined,
      };
      const log = (completed: boolean | undefined) =>
        onRequest({
          time: new Date(),
          ...entry,
          completed,
          milliseconds: performance.now() - start,
        });
      if (info?.completed) info.completed.then(() => log(true), () => log(false));
      else log(undefined);
    }
    return response;
  };

  async #route(request: Request, state: { user?: string }): Promise<Response> {
    const target = targetOf(request.url);
    const q = target.indexOf("?");
    const path = q === -1 ? target : target.slice(0, q);
    const query = new URLSearchParams(q === -1 ? "" : target.slice(q + 1));
    if (path !== "/v2" && !path.startsWith("/v2/")) return notFound();
    if (this.#auth) {
      const result = await this.#auth.check(request.headers.get("authorization"));
      if (!result.ok) {
        const res = error(401, "UNAUTHORIZED", "authentication required");
        res.headers.set("www-authenticate", 'Basic realm="skiff", charset="UTF-8"');
        return res;
      }
      state.user = result.user;
    }
    const read = request.method === "GET" || request.method === "HEAD";
    if (!read || /^\/v2\/.+\/blobs\/uploads(\/.*)?$/.test(path)) {
      const res = error(405, "UNSUPPORTED", "this registry is read-only");
      res.headers.set("allow", "GET, HEAD");
      return res;
    }
    if (path === "/v2" || path === "/v2/") return json({});
    if (path === "/v2/_catalog") return await this.#catalog(query);
    const m = /^\/v2\/(.+)\/(manifests|blobs|tags|referrers)\/([^/]*)$/.exec(path);
    if (!m) return notFound();
    const [, name, kind, reference] = m as unknown as [string, string, string, string];
    if (!isRepositoryPath(name)) {
      return error(400, "NAME_INVALID", "invalid repository name", { name: name.slice(0, 300) });
    }
    if (kind === "tags" && reference !== "list") return notFound();
    if (kind !== "tags" && kind !== "manifests" && !isDigest(reference)) {
      return error(400, "DIGEST_INVALID", "invalid digest", { digest: reference.slice(0, 300) });
    }
    const ns = query.get("ns") ?? undefined;
    const key = await this.#view.resolve(name, ns);
    if (!key) return error(404, "NAME_UNKNOWN", "repository name not known to registry", { name });
    switch (kind) {
      case "tags":
        return await this.#tags(name, key, query);
      case "manifests":
        return await this.#manifest(request, key, reference);
      case "blobs":
        return await this.#blob(request, key, reference);
      default:
        return await this.#referrers(key, reference, query);
    }
  }

  async #catalog(query: URLSearchParams): Promise<Response> {
    const page = paginate(await this.#view.catalog(), query);
    if (page instanceof Response) return page;
    const res = json({ repositories: page.items });
    if (page.next !== undefined) {
      res.headers.set(
        "link",
        `</v2/_catalog?${linkQuery(page.n, page.next, undefined)}>; rel="next"`,
      );
    }
    return res;
  }

  async #tags(
    name: string,
    key: RepositoryKey,
    query: URLSearchParams,
  ): Promise<Response> {
    const page = paginate(await this.#view.tags(key), query);
    if (page instanceof Response) return page;
    const res = json({ name, tags: page.items });
    if (page.next !== undefined) {
      const ns = query.get("ns") ?? undefined;
      res.headers.set(
        "link",
        `</v2/${name}/tags/list?${linkQuery(page.n, page.next, ns)}>; rel="next"`,
      );
    }
    return res;
  }

  async #manifest(request: Request, key: RepositoryKey, reference: string): Promise<Response> {
    let manifest;
    if (isDigest(reference)) {
      manifest = await this.#view.manifestByDigest(key, reference);
    } else if (isTag(reference)) {
      manifest = await this.#view.manifestForTag(key, reference, request.headers.get("accept"));
    } else if (reference.includes(":")) {
      return error(400, "DIGEST_INVALID", "invalid digest", { digest: reference.slice(0, 300) });
    }
    if (!manifest) {
      return error(404, "MANIFEST_UNKNOWN", "manifest unknown to registry", {
        reference: reference.slice(0, 300),
      });
    }
    const etag = `"${manifest.digest}"`;
    const headers = baseHeaders();
    headers.set("content-type", manifest.mediaType);
    headers.set("content-length", String(manifest.bytes.byteLength));
    headers.set("docker-content-digest", manifest.digest);
    headers.set("etag", etag);
    if (matchesEtag(request.headers.get("if-none-match"), etag)) {
      return new Response(null, { status: 304, headers });
    }
    return new Response(manifest.bytes as Uint8Array<ArrayBuffer>, { headers });
  }

  async #blob(request: Request, key: RepositoryKey, digest: string): Promise<Response> {
    const size = (await this.#view.content(key)).blobs.get(digest);
    const unknown = (detail: string) =>
      error(404, "BLOB_UNKNOWN", "blob unknown to registry", { digest, state: detail });
    if (size === undefined) return unknown("not in this repository");
    return await this.#blobs.respond(request, this.#view.blobPath(digest), digest, size, {
      headers: baseHeaders(),
      unknown,
      onDamaged: (d, problem) =>
        this.#onWarning(
          `Cannot serve blob ${d}: it is damaged in the store ${this.#view.path} (${problem}); ` +
            `run skiff fsck --repair`,
        ),
    });
  }

  async #referrers(
    key: RepositoryKey,
    digest: string,
    query: URLSearchParams,
  ): Promise<Response> {
    const all = (await this.#view.content(key)).referrers.get(digest) ?? [];
    const artifactType = query.get("artifactType");
    const manifests = artifactType === null
      ? all
      : all.filter((d) => d.artifactType === artifactType);
    const res = json({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests });
    res.headers.set("content-type", MediaType.OciIndex);
    if (artifactType !== null) res.headers.set("oci-filters-applied", "artifactType");
    return res;
  }
}

/** The request target as the client sent it (path and query), from `Request.url`. */
function targetOf(url: string): string {
  const authority = url.indexOf("//");
  const slash = url.indexOf("/", authority === -1 ? 0 : authority + 2);
  return slash === -1 ? "/" : url.slice(slash);
}

function baseHeaders(): Headers {
  return new Headers({
    "docker-distribution-api-version": API_VERSION,
    "x-content-type-options": "nosniff",
  });
}

/** A JSON answer. */
function json(value: unknown, status = 200): Response {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  const headers = baseHeaders();
  headers.set("content-type", JSON_TYPE);
  headers.set("content-length", String(bytes.byteLength));
  return new Response(bytes, { status, headers });
}

/** An error in the distribution spec's form. */
function error(
  status: number,
  code: string,
  message: string,
  detail?: Record<string, string>,
): Response {
  const bytes = new TextEncoder().encode(
    JSON.stringify({ errors: [{ code, message, ...(detail ? { detail } : {}) }] }),
  );
  const headers = baseHeaders();
  headers.set("content-type", JSON_TYPE);
  headers.set("content-length", String(bytes.byteLength));
  return new Response(bytes, { status, headers });
}

/** What Distribution answers for a path it has no route for. */
function notFound(): Response {
  const headers = baseHeaders();
  headers.set("content-type", "text/plain; charset=utf-8");
  return new Response("404 page not found\n", { status: 404, headers });
}

/** A page of a sorted list by `n` and `last`, or the error for a bad `n`. */
function paginate(
  items: string[],
  query: URLSearchParams,
): { items: string[]; n: number; next: string | undefined } | Response {
  const nText = query.get("n");
  const last = query.get("last");
  let n = Infinity;
  if (nText !== null) {
    if (!/^\d{1,9}$/.test(nText)) {
      return error(400, "PAGINATION_NUMBER_INVALID", "invalid number of results requested", {
        n: nText.slice(0, 50),
      });
    }
    n = Math.min(Number(nText), PAGE_LIMIT);
  } else if (items.length > PAGE_LIMIT) {
    n = PAGE_LIMIT;
  }
  const from = last === null ? 0 : items.findIndex((i) => i > last);
  const rest = from === -1 ? [] : items.slice(from);
  const page = rest.slice(0, n);
  const more = rest.length > page.length && page.length > 0;
  return { items: page, n: n === Infinity ? page.length : n, next: more ? page.at(-1) : undefined };
}

function linkQuery(n: number, last: string, ns: string | undefined): string {
  const params = new URLSearchParams({ n: String(n), last });
  if (ns !== undefined) params.set("ns", ns);
  return params.toString();
}
