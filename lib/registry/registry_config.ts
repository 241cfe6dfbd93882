/**
 * skiff's registries configuration: per registry, mirrors to try first (pull-through caches) and
 * plain HTTP. Read from `$SKIFF_CONFIG`, else `$XDG_CONFIG_HOME/skiff/config.json`, else
 * `~/.config/skiff/config.json`.
 *
 * ```json
 * {
 *   "registries": {
 *     "docker.io": {
 *       "mirrors": [
 *         "mirror.gcr.io",
 *         { "host": "harbor.example.com", "prefix": "dockerhub-proxy" },
 *         { "host": "10.0.0.5:5000", "plainHttp": true, "resolve": false }
 *       ]
 *     },
 *     "registry.lan:5000": { "plainHttp": true }
 *   }
 * }
 * ```
 *
 * @module
 */

/** One mirror of a registry. */
export interface MirrorConfig {
  /** The mirror's host and optional port. */
  host: string;
  /**
   * A path the mirror puts before repository names (Harbor's proxy-cache project, for example):
   * `library/alpine` is fetched as `<prefix>/library/alpine`.
   * @default {""}
   */
  prefix?: string;
  /**
   * Speak plain HTTP to the mirror.
   * @default {false}
   */
  plainHttp?: boolean;
  /**
   * Whether tags may be resolved through the mirror; `false` sends only digest requests to it
   * (containerd's `capabilities = ["pull"]`, registries.conf's `pull-from-mirror = "digest-only"`).
   * @default {true}
   */
  resolve?: boolean;
}

/** What the configuration says about one registry. */
export interface RegistryHostConfig {
  /** Mirrors, tried in order before the registry itself. */
  mirrors?: MirrorConfig[];
  /**
   * Speak plain HTTP to the registry.
   * @default {false}
   */
  plainHttp?: boolean;
}

/** The whole configuration. */
export interface RegistryConfig {
  /** By registry name as references spell it (`docker.io`, `ghcr.io`, `127.0.0.1:5000`). */
  registries: Record<string, RegistryHostConfig>;
}

/**
 * Where the configuration is read from.
 *
 * @param env Reads an environment variable.
 * @returns The path, or `undefined` without `SKIFF_CONFIG`, `XDG_CONFIG_HOME` and `HOME`.
 */
export function registryConfigPath(
  env: (name: string) => string | undefined = defaultEnv,
): string | undefined {
  const explicit = env("SKIFF_CONFIG");
  if (explicit) return explicit;
  const xdg = env("XDG_CONFIG_HOME");
  if (xdg) return `${xdg}/skiff/config.json`;
  const home = env("HOME");
  return home ? `${home}/.config/skiff/config.json` : undefined;
}

function defaultEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads and validates the configuration; a missing file is an empty configuration.
 *
 * @param path The file (default: {@linkcode registryConfigPath}).
 * @returns The configuration.
 * @throws {SyntaxError} When the file is not valid JSON or has a malformed entry.
 */
export async function loadRegistryConfig(
  path: string | undefined = registryConfigPath(),
): Promise<RegistryConfig> {
  if (path === undefined) return { registries: {} };
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { registries: {} };
    throw new Error(`Cannot read config ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parseRegistryConfig(text, path);
}

/**
 * Parses and validates a configuration document.
 *
 * @param text The JSON text.
 * @param where The file, for messages.
 * @returns The configuration, mirrors normalized to objects.
 * @throws {SyntaxError} When it is malformed.
 *
 * @example A mirror for Docker Hub
 * ```ts
 * import { parseRegistryConfig } from "./registry_config.ts";
 * import assert from "node:assert/strict";
 *
 * const c = parseRegistryConfig('{"registries":{"docker.io":{"mirrors":["mirror.gcr.io"]}}}');
 * assert.deepEqual(c.registries["docker.io"]?.mirrors, [{ host: "mirror.gcr.io" }]);
 * ```
 */
export function parseRegistryConfig(text: string, where = "config"): RegistryConfig {
  const fail = (why: string): never => {
    throw new SyntaxError(`Cannot read config ${where}: ${why}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return fail(`not valid JSON (${(e as Error).message})`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) fail("not a JSON object");
  const registries = (doc as { registries?: unknown }).registries ?? {};
  if (typeof registries !== "object" || registries === null || Array.isArray(registries)) {
    fail(`"registries" must be an object`);
  }
  const out: RegistryConfig = { registries: {} };
  for (const [name, value] of Object.entries(registries as Record<string, unknown>)) {
    if (typeof value !== "object" || value === null) fail(`"${name}" must be an object`);
    const v = value as Record<string, unknown>;
    const entry: RegistryHostConfig = {};
    if (v.plainHttp !== undefined) {
      if (typeof v.plainHttp !== "boolean") fail(`"${name}".plainHttp must be true or false`);
      entry.plainHttp = v.plainHttp as boolean;
    }
    if (v.mirrors !== undefined) {
      if (!Array.isArray(v.mirrors)) fail(`"${name}".mirrors must be a list`);
      entry.mirrors = (v.mirrors as unknown[]).map((m, i) => {
        const at = `"${name}".mirrors[${i}]`;
        const obj = typeof m === "string" ? { host: m } : m;
        if (typeof obj !== "object" || obj === null) fail(`${at} must be a host or an object`);
        const { host, prefix, plainHttp, resolve } = obj as Record<string, unknown>;
        if (typeof host !== "string" || !/^[A-Za-z0-9.\-\[\]:]+$/.test(host)) {
          fail(`${at}.host must be a host[:port]`);
        }
        const mirror: MirrorConfig = { host: host as string };
        if (prefix !== undefined) {
          const p = typeof prefix === "string" ? prefix.replace(/^\/+|\/+$/g, "") : undefined;
          const component = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
          if (p === undefined || (p !== "" && !p.split("/").every((c) => component.test(c)))) {
            fail(`${at}.prefix must be a repository path`);
          }
          if (p) mirror.prefix = p;
        }
        if (plainHttp !== undefined) {
          if (typeof plainHttp !== "boolean") fail(`${at}.plainHttp must be true or false`);
          mirror.plainHttp = plainHttp as boolean;
        }
        if (resolve !== undefined) {
          if (typeof resolve !== "boolean") fail(`${at}.resolve must be true or false`);
          mirror.resolve = resolve as boolean;
        }
        return mirror;
      });
    }
    out.registries[name] = entry;
  }
  return out;
}

/**
 * The hosts the configuration names as plain HTTP (registries and mirrors): besides loopback, the
 * only ones that may get credentials in clear (a token realm on one of them included).
 *
 * @param config The registries configuration.
 * @returns Their `host[:port]`s (`docker.io` as `registry-1.docker.io`, where requests go).
 *
 * @example The plain hosts of a configuration
 * ```ts
 * import { parseRegistryConfig, plainHostsOf } from "./registry_config.ts";
 * import assert from "node:assert/strict";
 *
 * const c = parseRegistryConfig(
 *   '{"registries":{"lan:5000":{"plainHttp":true,"mirrors":[{"host":"m:80","plainHttp":true}]}}}',
 * );
 * assert.deepEqual(plainHostsOf(c), ["lan:5000", "m:80"]);
 * ```
 */
export function plainHostsOf(config: RegistryConfig): string[] {
  const hosts: string[] = [];
  for (const [name, entry] of Object.entries(config.registries)) {
    if (entry.plainHttp) hosts.push(name === "docker.io" ? "registry-1.docker.io" : name);
    for (const m of entry.mirrors ?? []) if (m.plainHttp) hosts.push(m.host);
  }
  return hosts;
}
