/**
 * Credentials the user already stored for docker or podman, found in the order those tools read
 * them.
 *
 * @module
 */

import type { CredentialResolver, Credentials } from "./auth_fetch.ts";
import {
  type AuthFile,
  authKeyFor,
  entryCredentials,
  matchAuthKey,
  readAuthFile,
} from "./auth_file.ts";
import { CredentialHelperError, helperGet } from "./credential_helper.ts";

/** Options for {@linkcode storedCredentials}. */
export interface StoredCredentialsOptions {
  /**
   * Reads an environment variable.
   * @default {Deno.env.get}
   */
  env?: (name: string) => string | undefined;
  /** Told when a file or helper cannot be used (then the next source, or anonymous, is tried). */
  onWarning?: (message: string) => void;
  /** Told where credentials were found (never the credentials). */
  onDebug?: (line: string) => void;
}

function defaultEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no --allow-env
  }
}

/**
 * The docker config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
 *
 * @param env Reads an environment variable.
 * @returns The path, or `undefined` without `DOCKER_CONFIG` or `HOME`.
 */
export function dockerConfigPath(
  env: (name: string) => string | undefined = defaultEnv,
): string | undefined {
  const dir = env("DOCKER_CONFIG");
  if (dir) return `${dir}/config.json`;
  const home = env("HOME");
  return home ? `${home}/.docker/config.json` : undefined;
}

/**
 * The credential files, in the order they are read: `$REGISTRY_AUTH_FILE`,
 * `$XDG_RUNTIME_DIR/containers/auth.json`, then the docker config file.
 *
 * @param env Reads an environment variable.
 * @returns The paths.
 */
export function credentialFiles(
  env: (name: string) => string | undefined = defaultEnv,
): string[] {
  const files: string[] = [];
  const explicit = env("REGISTRY_AUTH_FILE");
  if (explicit) files.push(explicit);
  const runtime = env("XDG_RUNTIME_DIR");
  if (runtime) files.push(`${runtime}/containers/auth.json`);
  const docker = dockerConfigPath(env);
  if (docker) files.push(docker);
  return files;
}

/**
 * Finds stored credentials for an image: in each credential file in turn, the credential helper
 * for the registry (`credHelpers`, else `credsStore`), then the `auths` entry (the most specific
 * `registry/namespace/repository` key first). The first file that has some wins.
 *
 * @param registry The registry, e.g. `docker.io`.
 * @param repository The repository, for per-repository entries.
 * @param options Environment, warnings.
 * @returns The credentials and the file they came from, or `undefined` (anonymous).
 */
export async function findStoredCredentials(
  registry: string,
  repository: string | undefined,
  options: StoredCredentialsOptions = {},
): Promise<{ credentials: Credentials; source: string } | undefined> {
  const env = options.env ?? defaultEnv;
  for (const path of credentialFiles(env)) {
    let file: AuthFile | undefined;
    try {
      file = await readAuthFile(path);
    } catch (e) {
      options.onWarning?.(`ignoring ${path}: ${(e as Error).message}`);
      continue;
    }
    if (!file) continue;
    const helperKey = matchAuthKey(file.credHelpers, registry, repository);
    const helper = helperKey !== undefined ? file.credHelpers![helperKey] : file.credsStore;
    if (typeof helper === "string" && helper !== "") {
      try {
        const credentials = await helperGet(helper, authKeyFor(registry));
        if (credentials) {
          options.onDebug?.(`credentials for ${registry}: docker-credential-${helper} (${path})`);
          return { credentials, source: `docker-credential-${helper}` };
        }
      } catch (e) {
        if (!(e instanceof CredentialHelperError)) throw e;
        options.onWarning?.(`${e.message}; trying without it`);
      }
    }
    const key = matchAuthKey(file.auths, registry, repository);
    if (key !== undefined) {
      try {
        const credentials = entryCredentials(file.auths![key]!);
        if (credentials) {
          options.onDebug?.(`credentials for ${registry}: ${path} ("${key}")`);
          return { credentials, source: path };
        }
      } catch (e) {
        options.onWarning?.(`ignoring the entry for ${key} in ${path}: ${(e as Error).message}`);
      }
    }
  }
  return undefined;
}

/**
 * A {@linkcode CredentialResolver} over the stored credentials: what `pull()` uses when no
 * credentials are given.
 *
 * @param options Environment, warnings.
 * @returns The resolver.
 *
 * @example Use docker's stored credentials explicitly
 * ```ts ignore
 * import { storedCredentials } from "./stored_credentials.ts";
 * import { pull } from "../pull/pull.ts";
 *
 * await pull("ghcr.io/org/private:1", { credentials: storedCredentials() });
 * ```
 */
export function storedCredentials(options: StoredCredentialsOptions = {}): CredentialResolver {
  return async (registry, repository) =>
    (await findStoredCredentials(registry, repository, options))?.credentials;
}
