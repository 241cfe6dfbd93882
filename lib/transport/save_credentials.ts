/**
 * `saveCredentials()`: where `skiff login` (and `login()`) put credentials, the way docker does.
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
import { helperStore } from "./credential_helper.ts";
import { dockerConfigPath } from "./stored_credentials.ts";

/** Options for {@linkcode saveCredentials}. */
export interface SaveCredentialsOptions {
  /**
   * The docker config file: its `credHelpers` / `credsStore` choose a helper, else its `auths`
   * get the entry.
   * @default {$DOCKER_CONFIG/config.json, else ~/.docker/config.json}
   */
  configFile?: string;
  /** Stops a credential helper that is running. */
  signal?: AbortSignal;
}

/** Where {@linkcode saveCredentials} put them. */
export interface SavedCredentials {
  /** The registry, normalized (`docker.io` for Docker Hub). */
  registry: string;
  /** The key they are stored under (`https://index.docker.io/v1/` for Docker Hub, else the host). */
  key: string;
  /** The credential helper that holds them (`docker-credential-<helper>`), or `undefined`. */
  helper: string | undefined;
  /** The docker config file that was read (and written, when no helper holds them). */
  file: string;
}

/**
 * Stores a registry's credentials where docker does: with the credential helper the docker
 * config names for that registry (`credHelpers`, else `credsStore`), else in its `auths` (one
 * entry per registry, other spellings of the same key dropped), the file changed under a lock
 * and re-read inside it (concurrent logins keep each other's entries), written atomically with
 * mode 0600, through a symlink to the file it names (as docker does). Nothing is checked against
 * the registry: {@linkcode login} does that first.
 *
 * @param registry The registry host (`ghcr.io`, `127.0.0.1:5000`, `docker.io`).
 * @param credentials The user name and password (or token).
 * @param options The docker config file, abort signal.
 * @returns Where they went.
 * @throws {SyntaxError} When `registry` is not a registry host, or the config file is not JSON.
 * @throws {CredentialHelperError} When the configured helper is missing or fails.
 * @throws {Error} When there is no config file to use (no `DOCKER_CONFIG` and no `HOME`).
 *
 * @example Store credentials in a docker config of one's own
 * ```ts
 * import { saveCredentials } from "./save_credentials.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const saved = await saveCredentials("127.0.0.1:5000", { username: "u", password: "p" }, {
 *   configFile: `${dir}/config.json`,
 * });
 * assert.equal(saved.helper, undefined);
 * const file = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
 * assert.deepEqual(file.auths["127.0.0.1:5000"], { auth: btoa("u:p") });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveCredentials(
  registry: string,
  credentials: { username: string; password: string },
  options: SaveCredentialsOptions = {},
): Promise<SavedCredentials> {
  const host = registryHost(registry);
  const path = options.configFile ?? dockerConfigPath();
  if (!path) throw new Error("Cannot store credentials: set HOME or DOCKER_CONFIG");
  const key = authKeyFor(host);
  const file = (await readAuthFile(path)) ?? {};
  const helperKey = matchAuthKey(file.credHelpers, host);
  const helper = helperKey !== undefined ? file.credHelpers![helperKey] : file.credsStore;
  if (typeof helper === "string" && helper !== "") {
    await helperStore(helper, key, credentials.username, credentials.password, options.signal);
    return { registry: host, key, helper, file: path };
  }
  options.signal?.throwIfAborted();
  const auth = btoa(
    String.fromCharCode(
      ...new TextEncoder().encode(`${credentials.username}:${credentials.password}`),
    ),
  );
  await updateAuthFile(path, (f) => {
    f.auths ??= {};
    // one entry per registry: drop other spellings of the same key
    for (const k of Object.keys(f.auths)) {
      if (normalizeAuthKey(k) === normalizeAuthKey(key)) delete f.auths[k];
    }
    f.auths[key] = { auth };
  }, options.signal);
  return { registry: host, key, helper: undefined, file: path };
}
