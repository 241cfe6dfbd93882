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
