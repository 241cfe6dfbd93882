// Helpers the commands share: argument checks that become usage errors, the store path, logs.

import { parseReference, type Reference } from "../reference/parse_reference.ts";
import { parsePlatform } from "../registry/choose_platform.ts";
import type { Platform } from "../registry/parse_manifest.ts";
import { Store } from "../store/store.ts";
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
  return ctx.debug ? { onDebug: (line: string) => ctx.io.err(`debug: ${line}\n`) } : {};
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

/** `--json` was given. */
export function jsonFlag(ctx: CommandContext): boolean {
  return ctx.flags.json === true;
}

/** Writes a value to stdout as indented JSON, with a newline. */
export function printJson(ctx: CommandContext, value: unknown): void {
  ctx.io.out(JSON.stringify(value, null, 2) + "\n");
}

/** The options every command that reads from a registry passes on: scheme, signal, logs. */
export function remoteOptions(
  ctx: CommandContext,
): { plainHttp?: boolean; signal: AbortSignal; onDebug?: (line: string) => void } {
  return {
    ...(ctx.flags["plain-http"] ? { plainHttp: true } : {}),
    signal: ctx.signal,
    ...debugLog(ctx),
  };
}

/** Refuses two options given together. */
export function exclusive(ctx: CommandContext, a: string, b: string): void {
  if (ctx.flags[a] !== undefined && ctx.flags[b] !== undefined) {
    throw new UsageError(`--${a} and --${b} cannot be used together`);
  }
}

/** Indents the lines of a JSON document parsed from bytes (kept as sent: nothing dropped). */
export function prettyJson(bytes: Uint8Array, what: string): string {
  const text = new TextDecoder().decode(bytes);
  try {
    return JSON.stringify(JSON.parse(text), null, 2) + "\n";
  } catch {
    throw new Error(`Cannot print ${what}: not valid JSON`);
  }
}
