/**
 * `logout()`: removes the credentials `login()` (or docker) stored for a registry.
 *
 * @module
 */

import {
  authKeyFor,
  matchAuthKey,
  normalizeAuthKey,
  readAuthFile,
  registryHost,
  updateAuthFile,
} from "./auth_file.ts";
import { helperErase } from "./credential_helper.ts";
import { dockerConfigPath } from "./stored_credentials.ts";

/** Options for {@linkcode logout}. */
export interface LogoutOptions {
  /**
   * The docker config file (its helper, and its `auths`).
   * @default {$DOCKER_CONFIG/config.json, else ~/.docker/config.json}
   */
  configFile?: string;
  /** Stops a credential helper that is running. */
  signal?: AbortSignal;
}

/** What {@linkcode logout} did. */
export interface LogoutResult {
  /** The registry, normalized. */
  registry: string;
  /** Whether any credentials were there to remove. */
  removed: boolean;
  /** The credential helper asked to erase them, or `undefined`. */
  helper: string | undefined;
  /** The docker config file. */
  file: string;
}

/**
 * Removes a registry's stored credentials: from the credential helper the docker config names
 * for it (`credHelpers`, else `credsStore`), and every `auths` entry spelling that registry (the
 * file changed under its lock and re-read inside it, rewritten atomically with mode 0600, through
 * a symlink to the file it names). Sends nothing to the registry.
 *
 * @param registry The registry host.
 * @param options The docker config file, abort signal.
 * @returns Whether anything was removed, and from where.
 * @throws {SyntaxError} When `registry` is not a registry host, or the config file is not JSON.
 * @throws {CredentialHelperError} When the configured helper is missing or fails.
 * @throws {Error} When there is no config file to use (no `DOCKER_CONFIG` and no `HOME`).
 *
 * @example Log out of a registry one was never logged in to
 * ```ts
 * import { logout } from "./logout.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const r = await logout("127.0.0.1:5000", { configFile: `${dir}/config.json` });
 * assert.equal(r.removed, false);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function logout(
  registry: string,
  options: LogoutOptions = {},
): Promise<LogoutResult> {
  const host = registryHost(registry);
  const path = options.configFile ?? dockerConfigPath();
  if (!path) throw new Error("Cannot find the docker config: set HOME or DOCKER_CONFIG");
  const file = (await readAuthFile(path)) ?? {};
  let removed = false;
  const helperKey = matchAuthKey(file.credHelpers, host);
  const named = helperKey !== undefined ? file.credHelpers![helperKey] : file.credsStore;
  const helper = typeof named === "string" && named !== "" ? named : undefined;
  if (helper !== undefined) {
    removed = await helperErase(helper, authKeyFor(host), options.signal);
  }
  options.signal?.throwIfAborted();
  if (matchAuthKey(file.auths, host) !== undefined) {
    // read again under the file's lock: another process may have changed it meanwhile
    await updateAuthFile(path, (f) => {
      let changed = false;
      for (const k of Object.keys(f.auths ?? {})) {
        if (normalizeAuthKey(k) === normalizeAuthKey(host)) {
          delete f.auths![k];
          changed = true;
        }
      }
      removed ||= changed;
      return changed;
    }, options.signal);
  }
  return { registry: host, removed, helper, file: path };
}
