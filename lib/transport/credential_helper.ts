/**
 * Docker credential helpers (`docker-credential-<name>`): the protocol docker, podman and every
 * registry tool speak: `get` / `store` / `erase`, the server URL or a JSON document on stdin.
 *
 * @module
 */

import type { Credentials } from "./auth_fetch.ts";

/** A credential helper is missing, or failed in a way other than "not found". */
export class CredentialHelperError extends Error {
  /**
   * Makes the error.
   *
   * @param message What went wrong (never a secret).
   */
  constructor(message: string) {
    super(message);
    this.name = "CredentialHelperError";
  }
}

async function runHelper(
  name: string,
  verb: string,
  input: string,
  signal?: AbortSignal,
): Promise<string> {
  signal?.throwIfAborted();
  if (!/^[A-Za-z0-9._-]+$/.test(name)) {
    throw new CredentialHelperError(`Cannot use credential helper "${name}": invalid name`);
  }
  const program = `docker-credential-${name}`;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
      args: [verb],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      ...(signal ? { signal } : {}),
    }).spawn();
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "not found on PATH" : (e as Error).message;
    throw new CredentialHelperError(`Cannot run ${program}: ${why}`);
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input)).catch(() => {});
  await writer.close().catch(() => {});
  const out = await child.output();
  signal?.throwIfAborted(); // killed by the signal: that is the answer, not the helper's failure
  const stdout = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    // helpers report "credentials not found" on stdout, other failures on either stream
    const said = (stdout || new TextDecoder().decode(out.stderr)).trim().split("\n")[0] ?? "";
    throw new CredentialHelperError(`${program} ${verb} failed: ${said.slice(0, 200)}`);
  }
  return stdout;
}

const NOT_FOUND = /credentials not found/i;

/**
 * Asks a helper for a registry's credentials.
 *
 * @param name The helper's name (`desktop`, `pass`, `ecr-login`, ...).
 * @param serverUrl The key the credentials are stored under (see `authKeyFor`).
 * @returns The credentials, or `undefined` when the helper has none for this server.
 * @throws {CredentialHelperError} When the helper is missing or fails otherwise.
 */
export async function helperGet(name: string, serverUrl: string): Promise<Credentials | undefined> {
  let stdout: string;
  try {
    stdout = await runHelper(name, "get", serverUrl);
  } catch (e) {
    if (e instanceof CredentialHelperError && NOT_FOUND.test(e.message)) return undefined;
    throw e;
  }
  let doc: { Username?: unknown; Secret?: unknown };
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw new CredentialHelperError(`docker-credential-${name} get printed something not JSON`);
  }
  if (typeof doc.Secret !== "string" || doc.Secret === "") return undefined;
  const username = typeof doc.Username === "string" ? doc.Username : "";
  // docker's convention: the user name "<token>" means the secret is an identity token
  if (username === "<token>") return { identityToken: doc.Secret };
  return { username, password: doc.Secret };
}

/**
 * Stores credentials with a helper.
 *
 * @param name The helper's name.
 * @param serverUrl The key to store them under.
 * @param username The user name (`<token>` for an identity token).
 * @param secret The password or token.
 * @param signal Stops the helper.
 * @throws {CredentialHelperError} When the helper is missing or fails.
 */
export async function helperStore(
  name: string,
  serverUrl: string,
  username: string,
  secret: string,
  signal?: AbortSignal,
): Promise<void> {
  await runHelper(
    name,
    "store",
    JSON.stringify({ ServerURL: serverUrl, Username: username, Secret: secret }),
    signal,
  );
}

/**
 * Erases a server's credentials from a helper.
 *
 * @param name The helper's name.
 * @param serverUrl The key they are stored under.
 * @param signal Stops the helper.
 * @returns `false` when the helper had none.
 * @throws {CredentialHelperError} When the helper is missing or fails otherwise.
 */
export async function helperErase(
  name: string,
  serverUrl: string,
  signal?: AbortSignal,
): Promise<boolean> {
  try {
    await runHelper(name, "erase", serverUrl, signal);
    return true;
  } catch (e) {
    if (e instanceof CredentialHelperError && NOT_FOUND.test(e.message)) return false;
    throw e;
  }
}
