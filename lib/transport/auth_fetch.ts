/**
 * The auth layer: answers `401` challenges (Bearer tokens and Basic), caches tokens per scope,
 * follows redirects itself, and sends `Authorization` to the registry's own host only.
 *
 * @module
 */

import { discard, type Fetcher, readCapped } from "./fetcher.ts";
import { isLoopback } from "./is_loopback.ts";
import { type Challenge, parseChallenges } from "./parse_challenges.ts";
import { RegistryError } from "./registry_error.ts";

/** Credentials for one registry. */
export interface Credentials {
  /** User name for Basic auth, or for the token request. */
  username?: string;
  /** Password or personal access token. */
  password?: string;
  /** An identity (refresh) token, as `docker login` stores for some registries. */
  identityToken?: string;
  /** A ready registry bearer token, sent as is. */
  registryToken?: string;
}

/**
 * Finds credentials for a registry (`docker.io`, `ghcr.io`, `127.0.0.1:5000`...) and, when known,
 * the repository being accessed (some stores keep per-repository entries). Returns `undefined`
 * for anonymous access.
 */
export type CredentialResolver = (
  registry: string,
  repository?: string,
) => Credentials | undefined | Promise<Credentials | undefined>;

/** Options for {@linkcode withAuth}. */
export interface AuthOptions {
  /** The registry's name as references spell it, e.g. `docker.io`; passed to `credentials`. */
  registry: string;
  /** The host (and port) that requests to the registry go to, e.g. `registry-1.docker.io`. */
  host: string;
  /**
   * Whether credentials may go to the registry over plain HTTP (loopback, or `--plain-http`).
   * @default {false}
   */
  allowInsecure?: boolean;
  /**
   * Other hosts (`host[:port]`) the user configured as plain HTTP (`plainHttp` in the registries
   * configuration): a token realm there may get credentials over plain HTTP. Loopback hosts may
   * always; any other plain-HTTP host never.
   * @default {[]}
   */
  plainHosts?: readonly string[];
  /**
   * Where credentials come from.
   * @default {() => undefined} (anonymous)
   */
  credentials?: CredentialResolver;
  /**
   * The fetcher for token requests (usually the retrying one).
   * @default {the wrapped fetcher}
   */
  tokenFetch?: Fetcher;
  /** Called with diagnostic lines (never with secrets). */
  onDebug?: (line: string) => void;
}

interface Token {
  value: string;
  expiresAt: number;
}

/** The longest a redirect chain may be. */
const MAX_REDIRECTS = 10;
/** Tokens are renewed this long before they expire. */
const EXPIRY_MARGIN_MS = 10_000;
/** The shortest token lifetime assumed (Docker's token spec). */
const MIN_TOKEN_LIFETIME_S = 60;
const TOKEN_BODY_LIMIT = 1024 * 1024;

/**
 * Wraps a fetcher with registry authentication.
 *
 * - On `401` with a `Bearer` challenge it gets a token from the realm (with the credentials as
 *   Basic auth, or anonymously), caches it per scope until it expires, and retries once.
 *   Concurrent requests for one scope share one token request.
 * - On `401` with a `Basic` challenge it sends the credentials directly.
 * - Redirects are followed here, and `Authorization` goes only to the registry's own host: a blob
 *   redirected to a CDN or object store on another origin is fetched without it.
 *
 * A request with a body (an upload, a manifest `PUT`) is sent once and no redirect is followed with
 * it: after a `401` the fresh token is cached and the `401` returned, so the caller sends the body
 * again (or first makes a request without a body, such as the `POST` that starts an upload).
 * Writes and upload sessions ask for `pull,push` scopes.
 *
 * @param next The fetcher to wrap.
 * @param options The registry and where credentials come from.
 * @returns A fetcher that authenticates.
 *
 * @example Anonymous token flow
 * ```ts
 * import { withAuth } from "./auth_fetch.ts";
 * import assert from "node:assert/strict";
 *
 * const fake = (req: Request) => {
 *   const url = new URL(req.url);
 *   if (url.pathname === "/token") return Promise.resolve(Response.json({ token: "t1" }));
 *   if (req.headers.get("authorization") === "Bearer t1") return Promise.resolve(new Response("ok"));
 *   return Promise.resolve(new Response(null, {
 *     status: 401,
 *     headers: { "www-authenticate": 'Bearer realm="https://r.example/token",service="r"' },
 *   }));
 * };
 * const authed = withAuth(fake, { registry: "r.example", host: "r.example" });
 * const res = await authed(new Request("https://r.example/v2/a/manifests/1"));
 * assert.deepEqual(await res.text(), "ok");
 * ```
 */
export function withAuth(next: Fetcher, options: AuthOptions): Fetcher {
  const auth = new RegistryAuth(next, options);
  return (request) => auth.fetch(request);
}

/** The state {@linkcode withAuth} keeps for one registry: its challenge, tokens and credentials. */
class RegistryAuth {
  readonly #next: Fetcher;
  readonly #options: AuthOptions;
  readonly #tokenFetch: Fetcher;
  readonly #plainHosts: Set<string>;
  /** Tokens by realm, service and scope; a pending request is shared. */
  readonly #tokens = new Map<string, Promise<Token>>();
  /** Credentials by repository (asked once each). */
  readonly #credentials = new Map<string, Promise<Credentials | undefined>>();
  /** The registry's last challenge, answered before the next request is sent. */
  #challenge: Challenge | undefined;

  constructor(next: Fetcher, options: AuthOptions) {
    this.#next = next;
    this.#options = options;
    this.#tokenFetch = options.tokenFetch ?? next;
    this.#plainHosts = new Set((options.plainHosts ?? []).map((h) => h.toLowerCase()));
  }

  /** Sends a request to the registry, answering its challenge once. */
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (!this.#isOwn(url)) return (await this.#follow(request, undefined)).res;
    const scope = scopeFor(url.pathname, request.method);
    let authz: string | undefined;
    if (this.#challenge) {
      authz = await this.#authorization(this.#challenge, scope, url, request.signal);
    }
    const { res, url: answered } = await this.#follow(request, authz);
    // only the registry's own challenges are answered: a 401 from a redirect target (a CDN,
    // another origin) must never make us send credentials to a realm it names
    if (res.status !== 401 || !this.#isOwn(answered)) return res;
    const parsed = parseChallenges(res.headers.get("www-authenticate") ?? "");
    const c = parsed.find((p) => p.scheme === "bearer") ?? parsed.find((p) => p.scheme === "basic");
    if (!c) return res;
    const challenge: Challenge = { scheme: c.scheme, params: { ...c.params } };
    delete challenge.params.scope;
    delete challenge.params.error;
    this.#challenge = challenge;
    const fresh = await this.#authorization(
      challenge,
      c.params.scope ?? scope,
      url,
      request.signal,
      authz,
    );
    if (fresh === undefined || fresh === authz || request.body !== null) return res;
    await discard(res);
    return (await this.#follow(request, fresh)).res;
  }

  /** The registry's own host, over HTTPS (or plain HTTP where allowed). */
  #isOwn(url: URL): boolean {
    return url.host === this.#options.host &&
      (url.protocol === "https:" || this.#options.allowInsecure === true);
  }

  /** Whether a credential may be sent to this URL: HTTPS, loopback, or configured as plain. */
  #mayCarryCredentials(url: URL): boolean {
    return url.protocol === "https:" || this.#isOwn(url) || isLoopback(url.host) ||
      this.#plainHosts.has(url.host.toLowerCase());
  }

  #inClear(url: URL, what: string): Error {
    return new Error(
      `Cannot authenticate to ${this.#options.registry}: ${what} ${url.origin} is plain HTTP, ` +
        "and credentials go over plain HTTP only to loopback or to a host configured as plain " +
        "(--plain-http, plainHttp in the config)",
    );
  }

  /** Credentials for the repository a scope names (asked once per repository). */
  #getCredentials(scope: string | undefined): Promise<Credentials | undefined> {
    const repository = /^repository:(.+):[^:]*$/.exec(scope?.split(" ")[0] ?? "")?.[1];
    const key = repository ?? "";
    let found = this.#credentials.get(key);
    if (!found) {
      found = Promise.resolve(this.#options.credentials?.(this.#options.registry, repository));
      this.#credentials.set(key, found);
    }
    return found;
  }

  /** The `Authorization` value for a challenge and scope: Basic, a stored token, or a (cached)
   * token from the realm; `stale` is one the registry just refused. */
  async #authorization(
    c: Challenge,
    scope: string | undefined,
    url: URL,
    signal: AbortSignal,
    stale?: string,
  ): Promise<string | undefined> {
    const creds = await this.#getCredentials(scope);
    if (c.scheme === "basic") {
      if (creds?.username === undefined || creds.password === undefined) return undefined;
      return basic(creds.username, creds.password);
    }
    if (creds?.registryToken) return `Bearer ${creds.registryToken}`;
    const key = `${c.params.realm}|${c.params.service ?? ""}|${scope ?? ""}`;
    const cached = this.#tokens.get(key);
    if (cached) {
      try {
        const t = await cached;
        if (t.expiresAt - EXPIRY_MARGIN_MS > Date.now() && `Bearer ${t.value}` !== stale) {
          return `Bearer ${t.value}`;
        }
      } catch {
        // a failed request is not cached; fetch again below
      }
      if (this.#tokens.get(key) !== cached) {
        return this.#authorization(c, scope, url, signal, stale);
      }
    }
    const pending = this.#fetchToken(c, scope, url, signal);
    this.#tokens.set(key, pending);
    pending.catch(() => {
      if (this.#tokens.get(key) === pending) this.#tokens.delete(key);
    });
    return `Bearer ${(await pending).value}`;
  }

  /** A token from the challenge's realm for the scope. */
  async #fetchToken(
    c: Challenge,
    scope: string | undefined,
    registryUrl: URL,
    signal: AbortSignal,
  ): Promise<Token> {
    const url = this.#realm(c, registryUrl);
    const creds = await this.#getCredentials(scope);
    const scopes = (scope ?? "").split(" ").filter(Boolean);
    const what = `get a token for ${this.#options.registry}${scope ? ` (${scope})` : ""}`;
    let res: Response | undefined;
    if (creds?.identityToken) {
      // an identity (refresh) token goes to the realm in an OAuth2 POST (Docker's token spec)
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: creds.identityToken,
        client_id: "skiff",
      });
      if (c.params.service) form.set("service", c.params.service);
      if (scopes.length > 0) form.set("scope", scopes.join(" "));
      this.#options.onDebug?.(
        `token request: POST ${url.origin}${url.pathname} scope=${scope ?? ""}`,
      );
      res = await this.#tokenRequest(url, {
        method: "POST",
        headers: new Headers({ "content-type": "application/x-www-form-urlencoded" }),
        body: form.toString(),
      }, signal);
      if (res.status === 404 || res.status === 405) {
        // a realm that does not do OAuth: fall back to GET below
        await discard(res);
        res = undefined;
      } else if (!res.ok) {
        throw await RegistryError.fromResponse(res, "POST", url.toString(), what);
      }
    }
    if (!res) {
      if (c.params.service) url.searchParams.set("service", c.params.service);
      for (const s of scopes) url.searchParams.append("scope", s);
      const headers = new Headers();
      if (creds?.username !== undefined && creds.password !== undefined) {
        headers.set("authorization", basic(creds.username, creds.password));
      }
      this.#options.onDebug?.(
        `token request: GET ${url.origin}${url.pathname} scope=${scope ?? ""}`,
      );
      res = await this.#tokenRequest(url, { method: "GET", headers }, signal);
      if (!res.ok) throw await RegistryError.fromResponse(res, "GET", url.toString(), what);
    }
    return parseTokenResponse(
      await readCapped(res, TOKEN_BODY_LIMIT, "token response"),
      this.#options.registry,
    );
  }

  /** The challenge's realm, checked: an HTTP(S) URL that may receive the credentials. */
  #realm(c: Challenge, registryUrl: URL): URL {
    const cannot = (why: string) =>
      new Error(`Cannot authenticate to ${this.#options.registry}: ${why}`);
    const realm = c.params.realm;
    if (!realm) throw cannot("challenge has no realm");
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw cannot("invalid token realm");
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw cannot("token realm is not HTTP(S)");
    }
    if (
      url.protocol !== "https:" && registryUrl.protocol !== "http:" &&
      !this.#mayCarryCredentials(url)
    ) {
      throw cannot(`token realm ${url.origin} is not HTTPS`);
    }
    return url;
  }

  /**
   * Sends a token request, following redirects here so that a credential (the Basic header, a
   * refresh token in the body) never follows one to a host that may not have it in clear.
   */
  async #tokenRequest(
    url: URL,
    init: { method: string; headers: Headers; body?: string },
    signal: AbortSignal,
  ): Promise<Response> {
    let method = init.method;
    let body = init.body;
    const headers = new Headers(init.headers);
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const carries = headers.has("authorization") || body !== undefined;
      if (carries && !this.#mayCarryCredentials(url)) {
        throw this.#inClear(url, hop === 0 ? "the token realm" : "the token realm redirects to");
      }
      const res = await this.#tokenFetch(
        new Request(url, {
          method,
          headers,
          signal,
          redirect: "manual",
          ...(body !== undefined ? { body } : {}),
        }),
      );
      const location = res.headers.get("location");
      if (![301, 302, 303, 307, 308].includes(res.status) || location === null) return res;
      await discard(res);
      const target = redirectTarget(location, url);
      // as fetch does: no Authorization to another host; 301/302/303 turn a POST into a GET
      if (target.host !== url.host) headers.delete("authorization");
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
        method = "GET";
        body = undefined;
        headers.delete("content-type");
      }
      this.#options.onDebug?.(`token redirect ${res.status} -> ${target.origin}${target.pathname}`);
      url = target;
    }
    throw new Error(
      `Cannot ${init.method} ${url.origin}${url.pathname}: more than ${MAX_REDIRECTS} redirects`,
    );
  }

  /** Sends the request, following redirects; returns the last response and where it came from. */
  async #follow(
    request: Request,
    authz: string | undefined,
  ): Promise<{ res: Response; url: URL }> {
    let url = new URL(request.url);
    let method = request.method;
    const hasBody = request.body !== null;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const headers = new Headers(request.headers);
      headers.delete("authorization");
      if (authz !== undefined && this.#isOwn(url)) headers.set("authorization", authz);
      const init: RequestInit = { method, headers, signal: request.signal, redirect: "manual" };
      // a body is sent once, with the request it came in (its length kept)
      const res = await this.#next(
        hop === 0 && hasBody ? new Request(request, init) : new Request(url, init),
      );
      const location = res.headers.get("location");
      if (hasBody || ![301, 302, 303, 307, 308].includes(res.status) || location === null) {
        return { res, url };
      }
      await discard(res);
      const target = redirectTarget(location, url);
      if (url.protocol === "https:" && target.protocol === "http:" && !this.#isOwn(target)) {
        throw new Error(`Cannot follow redirect from HTTPS to plain HTTP (${target.host})`);
      }
      this.#options.onDebug?.(`redirect ${res.status} -> ${target.origin}${target.pathname}`);
      if (res.status === 303 && method !== "HEAD") method = "GET";
      url = target;
    }
    throw new Error(
      `Cannot ${request.method} ${request.url}: more than ${MAX_REDIRECTS} redirects`,
    );
  }
}

/** Where a redirect's `Location` points, an HTTP(S) URL. */
function redirectTarget(location: string, base: URL): URL {
  const target = new URL(location, base);
  if (target.protocol !== "https:" && target.protocol !== "http:") {
    throw new Error(`Cannot follow redirect to ${target.protocol} URL`);
  }
  return target;
}

/** A token endpoint's answer: the token and when it expires (Docker's token spec). */
function parseTokenResponse(bytes: Uint8Array, registry: string): Token {
  let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
  try {
    body = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Error(`Cannot authenticate to ${registry}: token response is not JSON`);
  }
  const value = typeof body.token === "string" && body.token !== ""
    ? body.token
    : typeof body.access_token === "string"
    ? body.access_token
    : "";
  if (value === "") {
    throw new Error(`Cannot authenticate to ${registry}: token response has no token`);
  }
  const lifetime = typeof body.expires_in === "number" && body.expires_in > MIN_TOKEN_LIFETIME_S
    ? body.expires_in
    : MIN_TOKEN_LIFETIME_S;
  // issued_at is the server's clock: trusted only when it agrees with ours
  const now = Date.now();
  let issued = typeof body.issued_at === "string" ? Date.parse(body.issued_at) : NaN;
  if (Number.isNaN(issued) || issued > now || now - issued > lifetime * 1000) issued = now;
  return { value, expiresAt: issued + lifetime * 1000 };
}

/**
 * The scope a registry API request needs: `repository:NAME:pull` to read `/v2/NAME/...`, and
 * `repository:NAME:pull,push` to write (any method but `GET` and `HEAD`) or for an upload session
 * (`/v2/NAME/blobs/uploads/...`).
 *
 * @param pathname A URL path.
 * @param method The request's method.
 * @returns The scope, or `undefined` for paths outside a repository (such as `/v2/`).
 */
export function scopeFor(pathname: string, method = "GET"): string | undefined {
  const upload = /^\/v2\/(.+)\/blobs\/uploads\/[^/]*$/.exec(pathname);
  const m = upload ?? /^\/v2\/(.+)\/(?:manifests|blobs|tags)\/[^/]*$/.exec(pathname);
  if (!m) return undefined;
  const push = upload !== null || (method !== "GET" && method !== "HEAD");
  try {
    return `repository:${decodeURIComponent(m[1]!)}:${push ? "pull,push" : "pull"}`;
  } catch {
    return undefined; // a malformed escape: not a repository path we built
  }
}

function basic(username: string, password: string): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}
