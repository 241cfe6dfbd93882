/**
 * The credential files docker and podman keep: `~/.docker/config.json` and containers'
 * `auth.json` (the same `auths` / `credHelpers` / `credsStore` shape), read and written the way
 * those tools do.
 *
 * @module
 */

import { parseReference } from "../reference/parse_reference.ts";
import type { Credentials } from "./auth_fetch.ts";
import { updateSharedFile } from "./update_shared_file.ts";

/** One `auths` entry. */
export interface AuthEntry {
  /** base64 of `username:password`. */
  auth?: string;
  /** User name, when stored apart. */
  username?: string;
  /** Password, when stored apart. */
  password?: string;
  /** An identity (refresh) token. */
  identitytoken?: string;
  /** A registry bearer token. */
  registrytoken?: string;
  /** Other fields (e.g. `email`), kept. */
  [key: string]: unknown;
}

/** A docker `config.json` or containers `auth.json`. Other fields are kept on write. */
export interface AuthFile {
  /** Stored credentials by registry (or, for containers, registry/namespace/repository). */
  auths?: Record<string, AuthEntry>;
  /** A credential helper per registry: `docker-credential-<name>`. */
  credHelpers?: Record<string, string>;
  /** The credential helper for every registry not in `credHelpers`. */
  credsStore?: string;
  /** Other fields, kept. */
  [key: string]: unknown;
}

/** The key docker uses for Docker Hub in `auths` and with credential helpers. */
export const DOCKER_HUB_KEY = "https://index.docker.io/v1/";

const DOCKER_HUB_ALIASES = new Set([
  "docker.io",
  "index.docker.io",
  "registry-1.docker.io",
  "registry.hub.docker.com",
]);

/**
 * The registry a key of `auths` or `credHelpers` names, the way docker reads keys: without a
 * scheme, without a path (`https://index.docker.io/v1/` is `docker.io`), Docker Hub's aliases
 * folded into `docker.io`. containers keys may add a repository path, which is kept.
 *
 * @param key A key as stored.
 * @returns `registry` or `registry/namespace/...`.
 *
 * @example Docker Hub's key
 * ```ts
 * import { normalizeAuthKey } from "./auth_file.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(normalizeAuthKey("https://index.docker.io/v1/"), "docker.io");
 * assert.equal(normalizeAuthKey("quay.io/org/repo"), "quay.io/org/repo");
 * ```
 */
export function normalizeAuthKey(key: string): string {
  let k = key.trim();
  const hadScheme = /^https?:\/\//i.test(k);
  k = k.replace(/^https?:\/\//i, "").replace(/\/+$/, "");
  const slash = k.indexOf("/");
  let host = slash === -1 ? k : k.slice(0, slash);
  let path = slash === -1 ? "" : k.slice(slash + 1);
  // a URL key's path is an API version (`/v1/`, `/v2/`), not a repository
  if (hadScheme || /^v[12]$/.test(path)) path = "";
  host = host.toLowerCase();
  if (DOCKER_HUB_ALIASES.has(host)) host = "docker.io";
  return path ? `${host}/${path}` : host;
}

/**
 * A registry host as `login` and `logout` take it: a host (`ghcr.io`, `127.0.0.1:5000`,
 * `[::1]:5000`) or a docker key spelling one (`https://index.docker.io/v1/`), normalized as
 * references are; Docker Hub is `docker.io`.
 *
 * @param input What the user wrote.
 * @returns The registry, as references spell it.
 * @throws {SyntaxError} When it is not a registry host (a path, spaces, a malformed port).
 *
 * @example Docker Hub's key and a host with a port
 * ```ts
 * import { registryHost } from "./auth_file.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(registryHost("https://index.docker.io/v1/"), "docker.io");
 * assert.equal(registryHost("127.0.0.1:5000"), "127.0.0.1:5000");
 * assert.throws(() => registryHost("ghcr.io/org"), SyntaxError);
 * ```
 */
export function registryHost(input: string): string {
  const host = normalizeAuthKey(input);
  const bad = () =>
    new SyntaxError(`Cannot use "${input}" as a registry: it is not a registry host`);
  if (host === "" || host.includes("/")) throw bad();
  let ref;
  try {
    ref = parseReference(`${host}/x`);
  } catch {
    throw bad();
  }
  if (host !== "docker.io" && ref.registry !== host) throw bad();
  return host;
}

/**
 * The key docker and credential helpers use for a registry when storing: Docker Hub's is
 * `https://index.docker.io/v1/`, every other registry's is its host.
 *
 * @param registry The registry as references spell it.
 * @returns The key.
 */
export function authKeyFor(registry: string): string {
  return normalizeAuthKey(registry) === "docker.io" ? DOCKER_HUB_KEY : registry;
}

/**
 * Reads an auth file.
 *
 * @param path The file.
 * @returns Its content, or `undefined` when the file does not exist.
 * @throws {SyntaxError} When it is not a JSON object.
 * @throws {Error} When it cannot be read (permissions, a loop of symlinks), naming it.
 */
export async function readAuthFile(path: string): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw new Error(`Cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parseAuthFile(path, text);
}

/** An auth file's text as a document (empty text: an empty one). */
function parseAuthFile(path: string, text: string): AuthFile {
  if (text.trim() === "") return {};
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new SyntaxError(`Cannot read ${path}: not valid JSON`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new SyntaxError(`Cannot read ${path}: not a JSON object`);
  }
  return doc as AuthFile;
}

/**
 * Finds the key of `table` that applies to an image: the most specific
 * `registry/namespace/repository` prefix first (containers' rule), then the registry.
 *
 * @param table `auths` or `credHelpers`.
 * @param registry The registry.
 * @param repository The repository, when known.
 * @returns The matching key as stored, or `undefined`.
 */
export function matchAuthKey(
  table: Record<string, unknown> | undefined,
  registry: string,
  repository?: string,
): string | undefined {
  if (!table) return undefined;
  const host = normalizeAuthKey(registry);
  const byNormal = new Map<string, string>();
  for (const key of Object.keys(table)) {
    const n = normalizeAuthKey(key);
    if (!byNormal.has(n)) byNormal.set(n, key);
  }
  if (repository) {
    const parts = repository.split("/");
    for (let i = parts.length; i > 0; i--) {
      const key = byNormal.get(`${host}/${parts.slice(0, i).join("/")}`);
      if (key !== undefined) return key;
    }
  }
  return byNormal.get(host);
}

/**
 * Turns an `auths` entry into credentials.
 *
 * @param entry The entry.
 * @returns The credentials, or `undefined` when the entry holds none.
 * @throws {SyntaxError} When `auth` is not base64 of `user:password`.
 */
export function entryCredentials(entry: AuthEntry): Credentials | undefined {
  const out: Credentials = {};
  if (typeof entry.auth === "string" && entry.auth !== "") {
    let decoded: string;
    try {
      decoded = new TextDecoder().decode(Uint8Array.from(atob(entry.auth), (c) => c.charCodeAt(0)));
    } catch {
      throw new SyntaxError("Cannot read stored credentials: auth is not base64");
    }
    const colon = decoded.indexOf(":");
    if (colon === -1) throw new SyntaxError("Cannot read stored credentials: auth has no ':'");
    out.username = decoded.slice(0, colon);
    out.password = decoded.slice(colon + 1);
  } else if (typeof entry.username === "string" && typeof entry.password === "string") {
    out.username = entry.username;
    out.password = entry.password;
  }
  if (typeof entry.identitytoken === "string" && entry.identitytoken !== "") {
    out.identityToken = entry.identitytoken;
  }
  if (typeof entry.registrytoken === "string" && entry.registrytoken !== "") {
    out.registryToken = entry.registrytoken;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Changes an auth file the way every shared file is changed ({@linkcode updateSharedFile}):
 * under an exclusive lock (`<file>.lock` beside it), re-read inside it, written beside and renamed
 * over, through a symlink to the file it names (as docker writes `config.json`). Concurrent
 * `skiff login`s never lose each other's entries. It is created (and its directory) when
 * missing, with mode 0600 (it holds secrets). Fields skiff does not know are kept.
 *
 * @param path The file.
 * @param change Gets the current content, changes it in place; returns `false` when it changed
 *   nothing (the file is then not written).
 * @param signal Stops waiting for another writer.
 */
export async function updateAuthFile(
  path: string,
  change: (file: AuthFile) => boolean | void,
  signal?: AbortSignal,
): Promise<void> {
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await updateSharedFile(path, (text) => {
    const file = text === undefined ? {} : parseAuthFile(path, text);
    if (change(file) === false) return undefined;
    return JSON.stringify(file, null, "\t") + "\n";
  }, { mode: 0o600, ...(signal ? { signal } : {}) });
}
