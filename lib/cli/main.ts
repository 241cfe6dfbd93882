/**
 * The command line's logic: global options, dispatch to a command, errors to exit codes.
 * `cli.ts` wires it to the real process.
 *
 * @module
 */

import { escapeText } from "../progress/escape_text.ts";
import { VERSION } from "../version.ts";
import { type CliIo, type CommandContext, OutputClosedError, UsageError } from "./command.ts";
import { commandHelp, programHelp } from "./help_text.ts";
import { parseArgs } from "./parse_args.ts";
import { PROGRAM } from "./program.ts";

/** The global options parsed with a command's: all but `--version`, taken only before it. */
const GLOBAL_OPTIONS = Object.fromEntries(
  Object.entries(PROGRAM.options).filter(([name]) => name !== "version"),
);

function usage(): string {
  return programHelp(PROGRAM, VERSION);
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
    const command = PROGRAM.commands.find((c) => c.name === name);
    if (!command) throw new UsageError(`unknown command "${name}" (see skiff --help)`);
    let parsed;
    try {
      parsed = parseArgs([...leading, ...args.slice(first + 1)], {
        ...GLOBAL_OPTIONS,
        ...command.options,
      });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (parsed.values.help) {
      io.out(commandHelp(command));
      return 0;
    }
    context = {
      flags: parsed.values,
      positionals: parsed.positionals,
      io,
      signal,
      debug,
      get usage() {
        return commandHelp(command);
      },
    };
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
  const command = PROGRAM.commands.find((c) => c.name === topics[0]);
  if (!command) throw new UsageError(`unknown command "${topics[0]}" (see skiff help)`);
  io.out(commandHelp(command));
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
