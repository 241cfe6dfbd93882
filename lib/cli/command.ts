/**
 * What a CLI command is, and what it gets to run: parsed flags, the terminal, a cancel signal.
 * Commands never touch `Deno.args`, `Deno.exit` or the console; `cli.ts` does.
 *
 * A command is one table: its options drive the parser, and the same table, with its usage lines,
 * description, notes and examples, is `skiff CMD --help` (`help_text.ts`) and `docs/cli/CMD.md`
 * (`cli_reference.ts`, written by `deno task docs`).
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
  /** The command's help text (`skiff CMD --help`), for a usage error that shows it. */
  readonly usage: string;
  /**
   * Set by a command once a blob download has begun: an interrupt then says that partial
   * downloads are kept (and not otherwise).
   */
  partialDownloads?: boolean;
}

/** A titled list of terms and their meanings in a command's help, e.g. `save`'s formats. */
export interface HelpSection {
  /** The title, e.g. `Formats`. */
  title: string;
  /** The terms and what each means (plain text, re-flowed as {@linkcode OptionSpec.help} is). */
  rows: readonly (readonly [term: string, meaning: string])[];
}

/** A page of `docs/` that says more about a command than its help does. */
export interface DocsLink {
  /** The link's text, e.g. `Root filesystems and disk images`. */
  title: string;
  /** The page, relative to `docs/`, with an optional `#anchor`: `unpack.md#ext4`. */
  path: string;
}

/**
 * One `skiff` command: the table its parser, its `--help` and its page in `docs/cli/` are made
 * from, and what it runs. Text fields are plain text (the docs escape them for markdown); a blank
 * line separates paragraphs, and other line breaks and runs of spaces are one space.
 */
export interface Command {
  /** The name typed after `skiff`. */
  name: string;
  /**
   * Its arguments, as the command list of `skiff --help` and the title of its docs page show
   * them: `REF`, `SRC DEST`, `REF... -o FILE`; none for a command that takes none.
   */
  args?: string;
  /** What it does, in a few words, lower case, no full stop: `pull an image into the store`. */
  summary: string;
  /**
   * The usage lines, each what follows `skiff NAME`: `["REF [options]"]`, one line per form
   * (`unpack` has four).
   */
  usage: readonly string[];
  /** What it does, in full: paragraphs. */
  description: string;
  /** Titled lists shown between the description and the options. */
  sections?: readonly HelpSection[];
  /**
   * The options it takes, by long name, in the order help lists them. The global `--store`,
   * `--debug` and `--help` are parsed for every command; list `--store` and `--debug` here too
   * where the help should show them (with this command's wording).
   */
  options: Readonly<Record<string, OptionSpec>>;
  /** Paragraphs shown after the options (how progress is shown, what not being root changes). */
  notes?: string;
  /** Command lines, each with an optional `  # comment`; at least one. */
  examples: readonly string[];
  /** Pages of `docs/` that say more, linked from its docs page (not shown by `--help`). */
  more?: readonly DocsLink[];
  /** Runs it; resolves to the exit code. */
  run(ctx: CommandContext): Promise<number>;
}
