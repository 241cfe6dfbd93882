// `deno task docs`: writes the command reference, docs/cli/, from the command tables in lib/cli/
// (the tables the parser and `--help` read), each page run through `deno fmt`. Every file in
// docs/cli/ is generated: a page whose command is gone is removed.
//
//   deno task docs            write docs/cli/
//   deno task docs --check    write nothing; list what differs, exit 1 if anything does
//
// tests/cli/cli_reference_test.ts runs the check, so committed pages that drift from the tables
// fail the suite.

import { cliReference } from "../lib/cli/cli_reference.ts";
import { PROGRAM } from "../lib/cli/program.ts";

/** Where the reference lives, from the project's root. */
export const REFERENCE_DIR = "docs/cli";

const root = new URL("../", import.meta.url);

/**
 * The reference's files as `deno task docs` writes them: path (from the project's root) to text,
 * formatted by `deno fmt` with the project's settings.
 */
export async function generatedReference(): Promise<Map<string, string>> {
  const pages = cliReference(PROGRAM);
  const texts = await Promise.all(pages.map((p) => formatMarkdown(p.markdown)));
  return new Map(pages.map((p, i) => [`${REFERENCE_DIR}/${p.file}`, texts[i]!]));
}

/**
 * What differs between the committed reference and the tables: a line per file that is missing,
 * changed, or left over from a command that is gone. Empty when they agree.
 */
export async function referenceDrift(): Promise<string[]> {
  const want = await generatedReference();
  const problems: string[] = [];
  for (const [path, text] of want) {
    const have = await Deno.readTextFile(new URL(path, root)).catch(() => undefined);
    if (have === undefined) problems.push(`${path} is missing`);
    else if (have !== text) problems.push(`${path} differs from what the tables generate`);
  }
  for (const path of await committedPages()) {
    if (!want.has(path)) problems.push(`${path} is no command's page`);
  }
  return problems;
}

/** The files in docs/cli/ now. */
async function committedPages(): Promise<string[]> {
  const paths: string[] = [];
  try {
    for await (const e of Deno.readDir(new URL(`${REFERENCE_DIR}/`, root))) {
      paths.push(`${REFERENCE_DIR}/${e.name}`);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return paths.sort();
}

/** Markdown through `deno fmt`, from the project's root so that deno.json's settings apply. */
async function formatMarkdown(markdown: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext", "md", "-"],
    cwd: root,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(markdown));
  await writer.close();
  const out = await child.output();
  if (!out.success) {
    throw new Error(
      `Cannot format the reference: deno fmt: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

if (import.meta.main) {
  if (Deno.args.includes("--check")) {
    const problems = await referenceDrift();
    for (const p of problems) console.error(p);
    if (problems.length > 0) {
      console.error("the command reference is out of date: run `deno task docs`");
      Deno.exit(1);
    }
  } else {
    const want = await generatedReference();
    await Deno.mkdir(new URL(`${REFERENCE_DIR}/`, root), { recursive: true });
    for (const path of await committedPages()) {
      if (!want.has(path)) await Deno.remove(new URL(path, root));
    }
    let changed = 0;
    for (const [path, text] of want) {
      const have = await Deno.readTextFile(new URL(path, root)).catch(() => undefined);
      if (have === text) continue;
      await Deno.writeTextFile(new URL(path, root), text);
      changed++;
    }
    console.error(`${REFERENCE_DIR}: ${want.size} pages, ${changed} written`);
  }
}
