/**
 * `skiff --help` and `skiff CMD --help`, made from the commands' tables (`Command`, `Program`):
 * plain text wrapped to 80 columns, options in two columns.
 *
 * @module
 */

import type { Command } from "./command.ts";
import type { OptionSpec } from "./parse_args.ts";
import type { Program } from "./program.ts";

/** The width help is wrapped to. */
const WIDTH = 80;
/** Where an option's help starts: two spaces, the option padded to 18, one space. */
const OPTION_LABEL = 18;
/** Where a command's summary starts in the command list: two spaces, 15, one space. */
const PROGRAM_LABEL = 15;

/**
 * The help of one command: usage lines, description, sections, options, notes, examples.
 *
 * @param command The command's table.
 * @returns The text, ending with a newline.
 *
 * @example The help of a small command
 * ```ts
 * import { commandHelp } from "./help_text.ts";
 * import assert from "node:assert/strict";
 *
 * const text = commandHelp({
 *   name: "hello",
 *   args: "NAME",
 *   summary: "greet someone",
 *   usage: ["NAME [options]"],
 *   description: "Prints a greeting for NAME.",
 *   options: { loud: { type: "boolean", short: "l", help: "shout it" } },
 *   examples: ["skiff hello world"],
 *   run: () => Promise.resolve(0),
 * });
 * assert.equal(
 *   text,
 *   "Usage: skiff hello NAME [options]\n\nPrints a greeting for NAME.\n\n" +
 *     "Options:\n  -l, --loud         shout it\n\nExamples:\n  skiff hello world\n",
 * );
 * ```
 */
export function commandHelp(command: Command): string {
  const blocks: string[] = [];
  blocks.push(
    command.usage.map((u, i) => `${i === 0 ? "Usage:" : "      "} skiff ${command.name} ${u}`)
      .join("\n"),
  );
  for (const p of paragraphs(command.description)) blocks.push(wrap(p, 0).join("\n"));
  for (const section of command.sections ?? []) {
    blocks.push(`${section.title}:\n${columns(section.rows, 2, OPTION_LABEL).join("\n")}`);
  }
  const options = Object.entries(command.options);
  if (options.length > 0) blocks.push(`Options:\n${optionLines(options, OPTION_LABEL).join("\n")}`);
  for (const p of paragraphs(command.notes ?? "")) blocks.push(wrap(p, 0).join("\n"));
  blocks.push(`Examples:\n${command.examples.flatMap(exampleLines).join("\n")}`);
  return blocks.join("\n\n") + "\n";
}

/**
 * The help of the program: what it is, the command list, the global options, the notes.
 *
 * @param program The program's table (its commands included).
 * @param version The version shown in the first line; empty for none.
 * @returns The text, ending with a newline.
 *
 * @example The first line
 * ```ts
 * import { programHelp } from "./help_text.ts";
 * import { PROGRAM } from "./program.ts";
 * import assert from "node:assert/strict";
 *
 * assert.match(programHelp(PROGRAM, "1.0.0"), /^skiff 1\.0\.0: pull container images/);
 * ```
 */
export function programHelp(program: Program, version: string): string {
  const blocks: string[] = [];
  const about = `${program.name}${version ? ` ${version}` : ""}: ${flat(program.summary)}`;
  blocks.push(wrap(about, 0).join("\n"));
  blocks.push(`Usage: ${program.name} ${program.usage}`);
  const rows: [string, string][] = program.commands.map((c) => [commandLine(c), c.summary]);
  rows.push([`help ${program.help.args}`, program.help.summary]);
  blocks.push(`Commands:\n${columns(rows, 2, PROGRAM_LABEL).join("\n")}`);
  blocks.push(
    `Global options:\n${optionLines(Object.entries(program.options), PROGRAM_LABEL).join("\n")}`,
  );
  for (const p of paragraphs(program.notes)) blocks.push(wrap(p, 0).join("\n"));
  return blocks.join("\n\n") + "\n";
}

/**
 * A command with its arguments, as the command list shows it: `pull REF`, `gc`.
 *
 * @param command The command.
 * @returns Its name and arguments.
 *
 * @example A command with arguments
 * ```ts
 * import { commandLine } from "./help_text.ts";
 * import { PROGRAM } from "./program.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(commandLine(PROGRAM.commands.find((c) => c.name === "copy")!), "copy SRC DEST");
 * ```
 */
export function commandLine(command: Command): string {
  return command.args ? `${command.name} ${command.args}` : command.name;
}

/**
 * How an option is written: `-u, --username U`, `--json`.
 *
 * @param name The long name.
 * @param spec The option.
 * @returns The label.
 *
 * @example Labels
 * ```ts
 * import { optionLabel } from "./help_text.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(optionLabel("store", { type: "string", value: "DIR", help: "" }), "--store DIR");
 * assert.equal(optionLabel("quiet", { type: "boolean", short: "q", help: "" }), "-q, --quiet");
 * ```
 */
export function optionLabel(name: string, spec: OptionSpec): string {
  return `${spec.short ? `-${spec.short}, ` : ""}--${name}` +
    (spec.type === "string" ? ` ${spec.value}` : "");
}

/**
 * A table text's paragraphs: split at blank lines, each with its line breaks and runs of spaces
 * made one space.
 *
 * @param text The text.
 * @returns The paragraphs, none empty.
 *
 * @example Two paragraphs written over three lines
 * ```ts
 * import { paragraphs } from "./help_text.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(paragraphs("One\n  line.\n\nTwo."), ["One line.", "Two."]);
 * ```
 */
export function paragraphs(text: string): string[] {
  return text.split(/\n[ \t]*\n/).map(flat).filter((p) => p !== "");
}

/** An example, indented; its `# comment` on the line above when both do not fit on one. */
function exampleLines(example: string): string[] {
  const line = `  ${example}`;
  const at = example.indexOf("  # ");
  if (line.length <= WIDTH || at === -1) return [line];
  return [`  ${example.slice(at + 2)}`, `  ${example.slice(0, at)}`];
}

/** Line breaks and runs of spaces as one space. */
function flat(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

/** The options as two columns, each option's choices and sample under its help. */
function optionLines(options: [string, OptionSpec][], label: number): string[] {
  const lines: string[] = [];
  const at = 2 + label + 1;
  for (const [name, spec] of options) {
    lines.push(...columns([[optionLabel(name, spec), spec.help]], 2, label));
    if (spec.choices) {
      const width = Math.max(...spec.choices.map(([v]) => v.length)) + 2;
      lines.push(...columns(spec.choices, at + 2, width));
    }
    if (spec.sample) {
      for (const line of spec.sample.replace(/^\n+|\s+$/g, "").split("\n")) {
        lines.push(`${" ".repeat(at + 2)}${line}`.trimEnd());
      }
    }
  }
  return lines;
}

/**
 * Terms and their meanings: the term indented, padded to `label`, one space, then the meaning
 * wrapped under itself; a longer term puts its meaning on the next line.
 */
function columns(
  rows: readonly (readonly [string, string])[],
  indent: number,
  label: number,
): string[] {
  const at = indent + label + 1;
  const lines: string[] = [];
  for (const [term, meaning] of rows) {
    const head = " ".repeat(indent) + term;
    const text = wrap(flat(meaning), at);
    if (term.length <= label) {
      lines.push(head.padEnd(at) + (text[0] ?? "").trimStart(), ...text.slice(1));
    } else {
      lines.push(head, ...text);
    }
  }
  return lines.map((l) => l.trimEnd());
}

/** Words to lines of at most {@linkcode WIDTH} columns, each indented by `indent`. */
function wrap(text: string, indent: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (word === "") continue;
    if (line !== "" && indent + line.length + 1 + word.length > WIDTH) {
      lines.push(" ".repeat(indent) + line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(" ".repeat(indent) + line);
  return lines;
}
