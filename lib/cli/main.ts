/**
 * The command line's logic: global options, dispatch to a command, errors to exit codes.
 * `cli.ts` wires it to the real process.
 *
 * @module
 */

import { escapeText } from "../progress/escape_text.ts";
import { VERSION } from "../version.ts";
import {
  type CliIo,
  type Command,
  type CommandContext,
  OutputClosedError,
  UsageError,
} from "./command.ts";
import { blobCommand } from "./commands/blob.ts";
import { configCommand } from "./commands/config.ts";
import { copyCommand } from "./commands/copy.ts";
import { digestCommand } from "./commands/digest.ts";
import { exportCommand } from "./commands/export.ts";
import { fsckCommand } from "./commands/fsck.ts";
import { gcCommand } from "./commands/gc.ts";
import { imagesCommand } from "./commands/images.ts";
import { inspectCommand } from "./commands/inspect.ts";
import { loginCommand, logoutCommand } from "./commands/login.ts";
import { pullCommand } from "./commands/pull.ts";
import { pushCommand } from "./commands/push.ts";
import { referrersCommand } from "./commands/referrers.ts";
import { rmCommand } from "./commands/rm.ts";
import { syncCommand } from "./commands/sync.ts";
import { saveCommand } from "./commands/save.ts";
import { serveCommand } from "./commands/serve.ts";
import { loadCommand } from "./commands/load.ts";
import { tagsCommand } from "./commands/tags.ts";
import { unpackCommand } from "./commands/unpack.ts";
import { parseArgs } from "./parse_args.ts";

/** Every command, in the order `skiff --help` lists them. */
export const COMMANDS: readonly Command[] = [
  pullCommand,
  copyCommand,
  syncCommand,
  pushCommand,
  unpackCommand,
  saveCommand,
  loadCommand,
  exportCommand,
  inspectCommand,
  configCommand,
  digestCommand,
  tagsCommand,
  referrersCommand,
  blobCommand,
  imagesCommand,
  rmCommand,
  gcCommand,
  fsckCommand,
  serveCommand,
  loginCommand,
  logoutCommand,
];

function usage(): string {
  return `skiff ${VERSION}: pull container images into an OCI image layout, without a daemon,
and unpack them into root filesystems

Usage: skiff <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.summary}`).join("\n")}
  help [COMMAND]  show this help, or a command's (the same as skiff COMMAND --help)

Global options:
  --store DIR     the OCI image layout to use (default: $SKIFF_STORE, else
                  $XDG_DATA_HOME/skiff, else ~/.local/share/skiff)
  --debug         show stack traces and transport details
  -h, --help      show help (also: skiff <command> --help)
  -V, --version   show the version

Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted, 143 terminated.
`;
}

/** Why a run was stopped by a signal; its exit code is 128 + the signal number. */
export class Interrupted extends Error {
  /** The exit code: 130 for SIGINT, 143 for SIGTERM. */
  readonly code: number;

  /**
   * Makes the error.
   *
   * @param signal The signal's name.
   * @param code The exit code.
   */
  constructor(signal: string, code: number) {
    super(`interrupted by ${signal}`);
    this.name = "Interrupted";
    this.code = code;
  }
}

/**
 * Runs the command line.
 *
 * @param args The arguments, without the program name.
 * @param io The terminal.
 * @param signal Aborted (with an {@linkcode Interrupted} reason) on SIGINT / SIGTERM.
 * @returns The exit code.
 */
export async function main(args: string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const debug = args.includes("--debug");
  let context: CommandContext | undefined;
  try {
    const first = args.findIndex((a) => !a.startsWith("-"));
    const leading = first === -1 ? args : args.slice(0, first);
    const asked = (...names: string[]) => leading.some((a) => names.includes(a));
    if (asked("-V", "--version")) {
      io.out(`skiff ${VERSION}\n`);
      return 0;
    }
    if (first === -1 || asked("-h", "--help")) {
      if (asked("-h", "--help")) {
        io.out(usage());
        return 0;
      }
      io.err(usage());
      return 2;
    }
    const name = args[first]!;
    if (name === "help") return help(args.slice(first + 1).filter((a) => !a.startsWith("-")), io);
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) throw new UsageError(`unknown command "${name}" (see skiff --help)`);
    let parsed;
    try {
      parsed = parseArgs([...leading, ...args.slice(first + 1)], {
        store: { type: "string" },
        debug: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        ...command.options,
      });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (parsed.values.help) {
      io.out(command.usage);
      return 0;
    }
    context = { flags: parsed.values, positionals: parsed.positionals, io, signal, debug };
    return await command.run(context);
  } catch (e) {
    const error = signal.aborted ? signal.reason : e;
    if (error instanceof OutputClosedError) return 141; // the reader has all it wanted: quietly
    if (error instanceof Interrupted) {
      io.err(
        `skiff: ${error.message}` +
          (context?.partialDownloads
            ? "; partial downloads are kept and resume on the next pull"
            : "") +
          "\n",
      );
      return error.code;
    }
    if (error instanceof UsageError) {
      io.err(`skiff: ${escapeText(error.message, { keepNewlines: true })}\n`);
      return 2;
    }
    io.err(`skiff: ${oneLine(error)}\n`);
    if (debug && error instanceof Error) {
      io.err(`${escapeText(describe(error), { keepNewlines: true })}\n`);
    }
    return error instanceof Interrupted ? error.code : 1;
  }
}

/** `skiff help [COMMAND]`: the usage on stdout, exit 0; an unknown command is a usage error. */
function help(topics: string[], io: CliIo): number {
  if (topics.length === 0) {
    io.out(usage());
    return 0;
  }
  if (topics.length > 1) throw new UsageError(`help takes one command, got ${topics.length}`);
  const command = COMMANDS.find((c) => c.name === topics[0]);
  if (!command) throw new UsageError(`unknown command "${topics[0]}" (see skiff help)`);
  io.out(command.usage);
  return 0;
}

/**
 * The error as one line: its message (our text with the server's or the image's strings in it)
 * with every control character, newlines included, shown as a visible escape, and long strings
 * (a deep path from an image) shortened.
 */
function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return escapeText(message.trim(), { clip: true }) || "unknown error";
}

function describe(error: Error): string {
  let text = error.stack ?? error.message;
  let cause = error.cause;
  for (let depth = 0; cause !== undefined && depth < 5; depth++) {
    text += `\ncaused by: ${cause instanceof Error ? cause.stack ?? cause.message : String(cause)}`;
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return text;
}
