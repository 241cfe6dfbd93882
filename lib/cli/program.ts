/**
 * The `skiff` program's table: what it is, its global options, and the one list of its commands.
 * `skiff --help` and `docs/cli/README.md` are made from it; adding a command is a file in
 * `commands/` with its table, one line in {@linkcode PROGRAM}'s `commands`, and `deno task docs`.
 *
 * @module
 */

import { DEBUG_OPTION, storeOption } from "./_options.ts";
import type { Command, DocsLink } from "./command.ts";
import type { OptionSpec } from "./parse_args.ts";
import { blobCommand } from "./commands/blob.ts";
import { configCommand } from "./commands/config.ts";
import { copyCommand } from "./commands/copy.ts";
import { digestCommand } from "./commands/digest.ts";
import { exportCommand } from "./commands/export.ts";
import { fsckCommand } from "./commands/fsck.ts";
import { gcCommand } from "./commands/gc.ts";
import { imagesCommand } from "./commands/images.ts";
import { inspectCommand } from "./commands/inspect.ts";
import { loadCommand } from "./commands/load.ts";
import { loginCommand, logoutCommand } from "./commands/login.ts";
import { pullCommand } from "./commands/pull.ts";
import { pushCommand } from "./commands/push.ts";
import { referrersCommand } from "./commands/referrers.ts";
import { rmCommand } from "./commands/rm.ts";
import { saveCommand } from "./commands/save.ts";
import { serveCommand } from "./commands/serve.ts";
import { syncCommand } from "./commands/sync.ts";
import { tagsCommand } from "./commands/tags.ts";
import { unpackCommand } from "./commands/unpack.ts";

/** The program's table. */
export interface Program {
  /** The program's name. */
  name: string;
  /** What it is, after `skiff VERSION: `. */
  summary: string;
  /** What follows the name in its usage line. */
  usage: string;
  /** Its commands, in the order the command list shows them. */
  commands: readonly Command[];
  /** The `help` command, which dispatch answers itself: its arguments and summary. */
  help: { args: string; summary: string };
  /**
   * The global options: parsed before and after any command's name, except `--version`, which
   * is taken only before it.
   */
  options: Readonly<Record<string, OptionSpec>>;
  /** Paragraphs after the global options. */
  notes: string;
  /** Pages of `docs/` that say more, linked from the reference's index (not shown by help). */
  more?: readonly DocsLink[];
}

/** `skiff`. */
export const PROGRAM: Program = {
  name: "skiff",
  summary: `pull container images into an OCI image layout, without a daemon, and unpack them into
    root filesystems`,
  usage: "<command> [options]",
  commands: [
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
  ],
  help: {
    args: "[COMMAND]",
    summary: "show this help, or a command's (the same as skiff COMMAND --help)",
  },
  options: {
    ...storeOption(
      "to use (default: $SKIFF_STORE, else $XDG_DATA_HOME/skiff, else ~/.local/share/skiff)",
    ),
    ...DEBUG_OPTION,
    help: { type: "boolean", short: "h", help: "show help (also: skiff <command> --help)" },
    version: { type: "boolean", short: "V", help: "show the version" },
  },
  more: [
    { title: "What every command shares: output, errors, names, timeouts", path: "conventions.md" },
    { title: "The store", path: "store.md" },
    { title: "Registries: credentials, mirrors, limits", path: "registries.md" },
  ],
  notes: `Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted, 141 stdout closed by
    its reader, 143 terminated.`,
};
