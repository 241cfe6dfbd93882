/**
 * What a CLI command is, and what it gets to run: parsed flags, the terminal, a cancel signal.
 * Commands never touch `Deno.args`, `Deno.exit` or the console; `cli.ts` does.
 *
 * @module
 */

import type { OptionSpec } from "./parse_args.ts";

/** The terminal, as the commands see it. */
export interface CliIo {
  /** Writes data to stdout. */
  out(text: string): void;
  /** Writes progress, logs and errors to stderr. */
  err(text: string): void;
  /** Writes bytes to stdout (e.g. a blob), waiting for the pipe. */
  outBytes(chunk: Uint8Array): Promise<void>;
  /** Whether stdin / stdout / stderr are terminals. */
  isTerminal: { stdin: boolean; stdout: boolean; stderr: boolean };
  /** Standard input. */
  stdin: ReadableStream<Uint8Array>;
  /**
   * Asks a question on the terminal and reads one line; with `secret`, what is typed is not
   * shown. Only when stdin is a terminal.
   */
  prompt(question: string, options?: { secret?: boolean }): Promise<string>;
  /** An environment variable, or `undefined`. */
  env(name: string): string | undefined;
  /** The terminal's size, when there is a terminal. */
  size?(): { columns: number; rows: number } | undefined;
}

/** A mistake in the command line: one line on stderr, exit code 2. */
export class UsageError extends Error {
  /**
   * Makes the error.
   *
   * @param message What is wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * Standard output was closed by its reader (`skiff blob ... | head`): the command stops, and the
 * CLI exits quietly with 141 (128 + SIGPIPE, what a shell shows for `yes | head`).
 */
export class OutputClosedError extends Error {
  /**
   * Makes the error.
   *
   * @param options The write error it stands for.
   */
  constructor(options?: ErrorOptions) {
    super("Cannot write to stdout: the reader closed it", options);
    this.name = "OutputClosedError";
  }
}

/** Parsed option values. */
export type Flags = Record<string, string | boolean | string[] | undefined>;

/** What a command's `run` gets. */
export interface CommandContext {
  /** Option values by long name. */
  flags: Flags;
  /** Arguments after the command name that are not options. */
  positionals: string[];
  /** The terminal. */
  io: CliIo;
  /** Aborted on SIGINT / SIGTERM. */
  signal: AbortSignal;
  /** `--debug` was given. */
  debug: boolean;
  /**
   * Set by a command once a blob download has begun: an interrupt then says that partial
   * downloads are kept (and not otherwise).
   */
  partialDownloads?: boolean;
}

/** One `skiff` command. */
export interface Command {
  /** The name typed after `skiff`. */
  name: string;
  /** One line for `skiff --help`, e.g. `pull REF      pull an image into the store`. */
  summary: string;
  /** The full text for `skiff <name> --help`. */
  usage: string;
  /** The options it takes, besides `--store`, `--debug` and `--help`. */
  options: Record<string, OptionSpec>;
  /** Runs it; resolves to the exit code. */
  run(ctx: CommandContext): Promise<number>;
}
