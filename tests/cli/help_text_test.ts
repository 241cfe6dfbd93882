// `--help` made from the command tables: wrapped to 80 columns, every option shown with its value
// name, choices and sample; the program's help lists every command and global option.

import { assert, assertEquals } from "../_assert.ts";
import { commandHelp, commandLine, optionLabel, programHelp } from "../../lib/cli/help_text.ts";
import { PROGRAM } from "../../lib/cli/program.ts";
import type { Command } from "../../lib/cli/command.ts";

Deno.test("help: terms in two columns, long ones alone on their line, text wrapped under", () => {
  const command: Command = {
    name: "demo",
    summary: "show the layout",
    usage: ["A [options]", "--other B"],
    description: `First paragraph, written over
      two source lines.

      Second paragraph.`,
    sections: [{ title: "Kinds", rows: [["one", "the first"], ["a-very-long-term-here", "x"]] }],
    options: {
      pull: {
        type: "string",
        value: "POLICY",
        help: "when to ask:",
        choices: [["always", "each time"], ["never", "not once"]],
      },
      "referrer-depth": { type: "string", value: "N", help: "eighteen characters wide" },
      "a-very-long-option": { type: "string", value: "X", help: "on the next line" },
      config: { type: "string", value: "FILE", help: "a file", sample: '{"a":\n  1}' },
      quiet: {
        type: "boolean",
        short: "q",
        help: "word ".repeat(30).trim(),
      },
    },
    notes: "A note.",
    examples: ["skiff demo a", `skiff demo ${"b".repeat(60)}  # a comment that does not fit`],
    run: () => Promise.resolve(0),
  };
  assertEquals(
    commandHelp(command),
    `Usage: skiff demo A [options]
       skiff demo --other B

First paragraph, written over two source lines.

Second paragraph.

Kinds:
  one                the first
  a-very-long-term-here
                     x

Options:
  --pull POLICY      when to ask:
                       always   each time
                       never    not once
  --referrer-depth N eighteen characters wide
  --a-very-long-option X
                     on the next line
  --config FILE      a file
                       {"a":
                         1}
  -q, --quiet        word word word word word word word word word word word word
                     word word word word word word word word word word word word
                     word word word word word word

A note.

Examples:
  skiff demo a
  # a comment that does not fit
  skiff demo ${"b".repeat(60)}
`,
  );
});

Deno.test("help: every command's help fits 80 columns and shows all its options", () => {
  for (const command of PROGRAM.commands) {
    const text = commandHelp(command);
    assert(text.startsWith(`Usage: skiff ${command.name} ${command.usage[0]}\n`), command.name);
    const body = text.slice(text.indexOf("\n\n"), text.lastIndexOf("\nExamples:\n"));
    for (const line of body.split("\n")) {
      // only a word that cannot be broken (a long option label) may be wider
      assert(line.length <= 80 || !line.trim().includes(" "), `${command.name}: ${line}`);
    }
    for (const [name, spec] of Object.entries(command.options)) {
      assert(text.includes(`\n  ${optionLabel(name, spec)} `), `${command.name}: --${name}`);
      for (const [value] of spec.choices ?? []) assert(text.includes(`  ${value}  `), value);
      assert(spec.help.trim() !== "", `${command.name}: --${name} has no help`);
    }
    assert(command.examples.length > 0 && text.includes("\nExamples:\n  "), command.name);
  }
});

Deno.test("help: the program's help lists every command and every global option", () => {
  const text = programHelp(PROGRAM, "9.9.9");
  assert(text.startsWith("skiff 9.9.9: pull container images into an OCI image layout"));
  for (const command of PROGRAM.commands) {
    assert(
      text.includes(`\n  ${commandLine(command)} `) ||
        text.includes(`\n  ${commandLine(command)}\n`),
    );
  }
  for (const [name, spec] of Object.entries(PROGRAM.options)) {
    assert(text.includes(`\n  ${optionLabel(name, spec)} `), name);
  }
  for (const line of text.split("\n")) assert(line.length <= 80, line);
});

Deno.test("help: no two commands share a name, and no command reuses a global option's letter", () => {
  const names = PROGRAM.commands.map((c) => c.name);
  assertEquals(new Set(names).size, names.length);
  const globals = new Map(
    Object.entries(PROGRAM.options).filter(([, s]) => s.short).map(([n, s]) => [s.short!, n]),
  );
  for (const command of PROGRAM.commands) {
    const letters = new Set<string>();
    for (const [name, spec] of Object.entries(command.options)) {
      if (!spec.short) continue;
      assert(!letters.has(spec.short), `${command.name}: -${spec.short} twice`);
      letters.add(spec.short);
      const global = globals.get(spec.short);
      assert(global === undefined || global === name, `${command.name}: -${spec.short}`);
    }
  }
});
