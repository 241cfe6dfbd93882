// Helpers the commands share: argument checks that become usage errors, the store path, logs.

import { parseReference, type Reference } from "../reference/parse_reference.ts";
import { parsePlatform } from "../oci/choose_platform.ts";
import type { Platform } from "../oci/parse_manifest.ts";
import { escapeText, jsonText } from "../progress/escape_text.ts";
import { type ImageId, storedImageRef } from "../store/resolve_stored_image.ts";
import { Store } from "../store/store.ts";
import type { Credentials } from "../transport/auth_fetch.ts";
import { type CommandContext, UsageError } from "./command.ts";

/** The reference argument, or a usage error saying what is wrong with it. */
export function referenceArg(input: string | undefined, usage: string): Reference {
  if (input === undefined) throw new UsageError(`missing image reference\n\n${usage}`);
  try {
    return parseReference(input);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** The one reference a command takes (the first positional), or a usage error. */
export function oneReference(ctx: CommandContext, command: string, usage: string): Reference {
  if (ctx.positionals.length > 1) {
    throw new UsageError(`${command} takes one reference, got ${ctx.positionals.length}`);
  }
  return referenceArg(ctx.positionals[0], usage);
}

/** A stored image's argument: a reference, or an image ID (`sha256:<hex>`, what `skiff images`
 * shows for an image without a name); else a usage error. */
export function storedImageArg(input: string | undefined, usage: string): Reference | ImageId {
  if (input === undefined) throw new UsageError(`missing image reference\n\n${usage}`);
  try {
    return storedImageRef(input);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** `--platform`, parsed, or `undefined` when absent. */
export function platformFlag(ctx: CommandContext): Platform | undefined {
  const value = ctx.flags.platform;
  if (typeof value !== "string") return undefined;
  try {
    return parsePlatform(value);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** `--store`, else the default store directory. */
export function storePath(ctx: CommandContext): string {
  return typeof ctx.flags.store === "string" ? ctx.flags.store : Store.defaultPath();
}

/** A debug line writer when `--debug` is on. */
export function debugLog(ctx: CommandContext): { onDebug?: (line: string) => void } {
  return ctx.debug ? { onDebug: (line: string) => ctx.io.err(`debug: ${escapeText(line)}\n`) } : {};
}

/** Checks the number of positionals. */
export function expectPositionals(
  ctx: CommandContext,
  min: number,
  max: number,
  what: string,
): void {
  const n = ctx.positionals.length;
  if (n < min) throw new UsageError(`missing ${what}`);
  if (n > max) throw new UsageError(`too many arguments: expected ${what}`);
}

/**
 * `--timeout`, in milliseconds, or `undefined` when absent: a number with `ms`, `s` or `m` (a bare
 * number is seconds).
 */
export function timeoutFlag(ctx: CommandContext): number | undefined {
  const value = ctx.flags.timeout;
  if (typeof value !== "string") return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  const ms = m ? Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "m" ? 60_000 : 1000) : NaN;
  if (!(ms >= 1) || ms > 3_600_000) {
    throw new UsageError(`--timeout must be a duration from 1ms to 60m (e.g. 30s), got "${value}"`);
  }
  return Math.round(ms);
}

/**
 * Credentials from `--username` and `--password-stdin` (or a prompt on a terminal), or
 * `undefined` to use the stored ones.
 */
export async function credentialFlags(ctx: CommandContext): Promise<Credentials | undefined> {
  const username = ctx.flags.username;
  const fromStdin = ctx.flags["password-stdin"] === true;
  if (typeof username !== "string") {
    if (fromStdin) throw new UsageError("--password-stdin needs --username");
    return undefined;
  }
  return { username, password: await readPassword(ctx, fromStdin) };
}

/** The password: all of stdin (one trailing newline dropped), or typed at a prompt. */
export async function readPassword(ctx: CommandContext, fromStdin: boolean): Promise<string> {
  let password: string;
  if (fromStdin) {
    password = (await new Response(ctx.io.stdin).text()).replace(/\r?\n$/, "");
  } else if (ctx.io.isTerminal.stdin) {
    password = await ctx.io.prompt("Password: ", { secret: true });
  } else {
    throw new UsageError("give the password with --password-stdin (stdin is not a terminal)");
  }
  if (password === "") throw new UsageError("the password is empty");
  return password;
}

/** Warnings go to stderr as `skiff: warning: ...`. */
export function warningLog(ctx: CommandContext): { onWarning: (message: string) => void } {
  return {
    onWarning: (message: string) =>
      ctx.io.err(`skiff: warning: ${escapeText(message, { clip: true })}\n`),
  };
}

/** `--json` was given. */
export function jsonFlag(ctx: CommandContext): boolean {
  return ctx.flags.json === true;
}

/** Writes a value to stdout as indented JSON (no raw control character), with a newline. */
export function printJson(ctx: CommandContext, value: unknown): void {
  ctx.io.out(jsonText(value, 2) + "\n");
}

/** `--jobs N` (1 to 64), or `undefined` when absent: the same rule for every command. */
export function jobsFlag(ctx: CommandContext): number | undefined {
  const value = ctx.flags.jobs;
  if (typeof value !== "string") return undefined;
  const jobs = Number(value);
  if (!/^\d+$/.test(value) || jobs < 1 || jobs > 64) {
    throw new UsageError(`--jobs must be a whole number from 1 to 64, got "${value}"`);
  }
  return jobs;
}

/** `{ timeout }` from `--timeout`, or nothing when it is absent. */
export function timeoutOption(ctx: CommandContext): { timeout?: number } {
  const timeout = timeoutFlag(ctx);
  return timeout !== undefined ? { timeout } : {};
}

/**
 * What every command that talks to a registry passes on: scheme, credentials (`--username` and
 * `--password-stdin`, else the stored ones), signal, logs and warnings.
 */
export async function remoteOptions(ctx: CommandContext): Promise<{
  plainHttp?: boolean;
  credentials?: Credentials;
  timeout?: number;
  signal: AbortSignal;
  onDebug?: (line: string) => void;
  onWarning: (message: string) => void;
}> {
  const credentials = await credentialFlags(ctx);
  const timeout = timeoutFlag(ctx);
  return {
    ...(ctx.flags["plain-http"] ? { plainHttp: true } : {}),
    ...(timeout !== undefined ? { timeout } : {}),
    ...(credentials ? { credentials } : {}),
    signal: ctx.signal,
    ...debugLog(ctx),
    ...warningLog(ctx),
  };
}

/** Refuses two options given together. */
export function exclusive(ctx: CommandContext, a: string, b: string): void {
  if (ctx.flags[a] !== undefined && ctx.flags[b] !== undefined) {
    throw new UsageError(`--${a} and --${b} cannot be used together`);
  }
}

/**
 * Writes a document's exact bytes (`--raw`): as they are to a file or a pipe; on a terminal, with
 * control characters shown as escapes (line breaks kept), since the bytes came from a registry.
 */
export async function printRaw(ctx: CommandContext, bytes: Uint8Array): Promise<void> {
  if (!ctx.io.isTerminal.stdout) return await ctx.io.outBytes(bytes);
  ctx.io.out(escapeText(new TextDecoder().decode(bytes), { keepNewlines: true }));
}

/** Indents the lines of a JSON document parsed from bytes (kept as sent: nothing dropped). */
export function prettyJson(bytes: Uint8Array, what: string): string {
  const text = new TextDecoder().decode(bytes);
  try {
    return jsonText(JSON.parse(text), 2) + "\n";
  } catch {
    throw new Error(`Cannot print ${what}: not valid JSON`);
  }
}
