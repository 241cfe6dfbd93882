/**
 * Command-line argument parsing for the CLI.
 *
 * `node:util`'s `parseArgs` would do, but importing any `node:` module starts Deno's Node
 * compatibility layer, measured at 7 ms of a 39 ms warm re-pull; this is the small part of it the
 * CLI needs.
 *
 * @module
 */

/**
 * One option of a command: how it is spelled (what {@linkcode parseArgs} reads) and what it means
 * (what `skiff CMD --help` and `docs/cli/` say of it). The one place an option is written.
 */
export type OptionSpec = FlagSpec | ValueSpec;

/** What every option has, flag or value. */
export interface OptionText {
  /** A one-letter alias, used as `-q`. */
  short?: string;
  /**
   * What it does, in plain text (no markdown: the docs escape it); line breaks and runs of
   * spaces are one space, so a long text may be written over several source lines.
   */
  help: string;
  /**
   * The values it takes and what each means, listed under the help, e.g. `--pull`'s
   * `always`, `missing`, `never`.
   */
  choices?: readonly (readonly [value: string, meaning: string])[];
  /** Lines shown as they are under the help (a sample of a file it reads). */
  sample?: string;
}

/** An option that takes no value (`--quiet`). */
export interface FlagSpec extends OptionText {
  /** Takes no value. */
  type: "boolean";
}

/** An option that takes a value (`--store DIR` or `--store=DIR`). */
export interface ValueSpec extends OptionText {
  /** Takes a value. */
  type: "string";
  /** The value's name in help and docs, e.g. `DIR`. */
  value: string;
  /** Collect every occurrence into an array instead of keeping the last. */
  multiple?: boolean;
}

/** What {@linkcode parseArgs} reads of an option: its kind, its letter, whether it repeats. */
export interface ArgSpec {
  /** `string` takes a value (`--store DIR` or `--store=DIR`); `boolean` takes none. */
  type: "string" | "boolean";
  /** A one-letter alias, used as `-q`. */
  short?: string;
  /** Collect every occurrence into an array instead of keeping the last. */
  multiple?: boolean;
}

/** What {@linkcode parseArgs} returns. */
export interface ParsedArgs {
  /** Option values by long name. */
  values: Record<string, string | boolean | string[] | undefined>;
  /** The arguments that are not options, in order. */
  positionals: string[];
}

/**
 * Parses arguments against a table of options. `--` ends the options; `-` alone is a positional.
 *
 * @param args The arguments.
 * @param options The options allowed, by long name.
 * @returns The values and positionals.
 * @throws {SyntaxError} For an unknown option, a missing value, or a value given to a flag.
 *
 * @example Parse a pull command line
 * ```ts
 * import { parseArgs } from "./parse_args.ts";
 * import assert from "node:assert/strict";
 *
 * const { values, positionals } = parseArgs(["-q", "--store=/s", "alpine"], {
 *   quiet: { type: "boolean", short: "q" },
 *   store: { type: "string" },
 * });
 * assert.deepEqual(values, { quiet: true, store: "/s" });
 * assert.deepEqual(positionals, ["alpine"]);
 * ```
 */
export function parseArgs(
  args: string[],
  options: Readonly<Record<string, ArgSpec>>,
): ParsedArgs {
  const values: ParsedArgs["values"] = {};
  const positionals: string[] = [];
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(options)) if (spec.short) byShort.set(spec.short, name);

  const set = (name: string, value: string | boolean) => {
    const spec = options[name]!;
    if (spec.multiple) {
      const list = (values[name] as string[] | undefined) ?? [];
      list.push(String(value));
      values[name] = list;
    } else {
      values[name] = value;
    }
  };

  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const spec = options[name];
      if (!spec) throw new SyntaxError(`unknown option --${name}`);
      if (spec.type === "boolean") {
        if (eq !== -1) throw new SyntaxError(`option --${name} takes no value`);
        set(name, true);
      } else if (eq !== -1) {
        set(name, arg.slice(eq + 1));
      } else {
        const value = args[++i];
        if (value === undefined) throw new SyntaxError(`option --${name} needs a value`);
        set(name, value);
      }
      continue;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      // -q, -qV (flags together), -p VALUE
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j]!;
        const name = byShort.get(letter);
        if (!name) throw new SyntaxError(`unknown option -${letter}`);
        const spec = options[name]!;
        if (spec.type === "boolean") {
          set(name, true);
          continue;
        }
        const rest = arg.slice(j + 1);
        const value = rest !== "" ? rest : args[++i];
        if (value === undefined) throw new SyntaxError(`option -${letter} needs a value`);
        set(name, value);
        break;
      }
      continue;
    }
    positionals.push(arg);
  }
  return { values, positionals };
}
