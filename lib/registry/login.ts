/**
 * `login()`: checks credentials against a registry, then stores them where docker does.
 *
 * @module
 */

import { registryHost } from "../transport/auth_file.ts";
import {
  saveCredentials,
  type SaveCredentialsOptions,
  type SavedCredentials,
} from "../transport/save_credentials.ts";
import { RegistryClient } from "./registry_client.ts";
import { loadRegistryConfig, plainHostsOf } from "./registry_config.ts";
import type { RemoteOptions } from "./remote_options.ts";

/** Options for {@linkcode login}. */
export interface LoginOptions
  extends Omit<RemoteOptions, "credentials" | "client">, SaveCredentialsOptions {
  /**
   * Check the credentials with the registry (`GET /v2/`, through the token flow a pull uses)
   * before storing them.
   * @default {true}
   */
  check?: boolean;
}

/** What {@linkcode login} did: where the credentials went. */
export type LoginResult = SavedCredentials;

/**
 * Logs in to a registry as `docker login` does: `GET /v2/` with the credentials (a Bearer token
 * from the registry's realm, or Basic auth; over plain HTTP only where a pull would send them),
 * and when the registry accepts them, stores them: with the credential helper the docker config
 * names for that registry, else in its `auths`, written atomically with mode 0600. Refused
 * credentials are not stored.
 *
 * @param registry The registry host (`ghcr.io`, `127.0.0.1:5000`, `docker.io`).
 * @param credentials The user name and password (or personal access token).
 * @param options Transport options (plain HTTP, timeout, fetch, abort signal), the config file.
 * @returns Where the credentials were stored.
 * @throws {SyntaxError} When `registry` is not a registry host.
 * @throws {RegistryError} When the registry refuses them (401 unauthorized) or fails.
 * @throws {CredentialHelperError} When the configured credential helper is missing or fails.
 *
 * @example Log in, then pull with the stored credentials
 * ```ts ignore
 * import { login, pull } from "@skiff/skiff";
 *
 * const saved = await login("ghcr.io", { username: "octocat", password: Deno.env.get("TOKEN")! });
 * console.error(`stored ${saved.helper ? `by docker-credential-${saved.helper}` : `in ${saved.file}`}`);
 * await pull("ghcr.io/octocat/private:1");
 * ```
 */
export async function login(
  registry: string,
  credentials: { username: string; password: string },
  options: LoginOptions = {},
): Promise<LoginResult> {
  const host = registryHost(registry);
  if (credentials.username === "") throw new TypeError("Cannot log in: the user name is empty");
  if (options.check ?? true) {
    // the same plain-HTTP hosts a pull would use: a realm on one of them may get the password
    const config = options.config ?? await loadRegistryConfig();
    const plainHttp = options.plainHttp === true || config.registries[host]?.plainHttp === true;
    const client = new RegistryClient(host, {
      credentials: { username: credentials.username, password: credentials.password },
      plainHosts: plainHostsOf(config),
      ...(plainHttp ? { plainHttp: true } : {}),
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.onDebug ? { onDebug: options.onDebug } : {}),
    });
    await client.ping(options.signal ? { signal: options.signal } : {});
  }
  return await saveCredentials(host, credentials, {
    ...(options.configFile !== undefined ? { configFile: options.configFile } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}
