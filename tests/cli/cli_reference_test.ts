// The command reference (docs/cli/) is what the command tables generate, and every relative link of
// the docs (README.md, docs/**/*.md) leads to a file and a heading that exist.

import { assert, assertEquals } from "../_assert.ts";
import { cliReference } from "../../lib/cli/cli_reference.ts";
import { optionLabel } from "../../lib/cli/help_text.ts";
import { PROGRAM } from "../../lib/cli/program.ts";
import { referenceDrift } from "../../tests/_docs.ts";

const root = new URL("../../", import.meta.url);

Deno.test("cli reference: docs/cli/ is what the command tables generate", async () => {
  const drift = await referenceDrift();
  assert(
    drift.length === 0,
    `the command reference in docs/cli/ is out of date: run \`deno task docs\`\n  ${
      drift.join("\n  ")
    }`,
  );
});

Deno.test("cli reference: each command's page has its usage, every option, and its examples", () => {
  const pages = new Map(cliReference(PROGRAM).map((p) => [p.file, p.markdown]));
  for (const command of PROGRAM.commands) {
    const page = pages.get(`${command.name}.md`);
    assert(page !== undefined, command.name);
    for (const usage of command.usage) assert(page.includes(`skiff ${command.name} ${usage}`));
    for (const [name, spec] of Object.entries(command.options)) {
      assert(page.includes(`- \`${optionLabel(name, spec)}\`: `), `${command.name} --${name}`);
      for (const [value] of spec.choices ?? []) assert(page.includes(`  - \`${value}\`: `));
    }
    for (const example of command.examples) assert(page.includes(example), example);
    assert(pages.get("README.md")!.includes(`](${command.name}.md): `), command.name);
  }
});

Deno.test("cli reference: plain text is escaped for markdown, options are code", () => {
  const [page] = cliReference({
    ...PROGRAM,
    summary: "a <b> c_ d [e] *f* #g ~h 1. -- - --store x--y -u",
  });
  assert(page!.markdown.includes(
    "A \\<b\\> c\\_ d \\[e\\] \\*f\\* \\#g \\~h 1\\. -- `-` `--store` x--y `-u`.",
  ));
});

/** The slugs GitHub gives a page's headings (lower case, punctuation dropped, spaces as `-`). */
function headingSlugs(markdown: string): Set<string> {
  const slugs = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const m = !fenced && /^#{1,6} (.*)$/.exec(line);
    if (!m) continue;
    const base = m[1]!.replace(/`|\[|\]\([^)]*\)/g, "").toLowerCase().trim()
      .replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    slugs.add(n === 0 ? base : `${base}-${n}`);
  }
  return slugs;
}

/** README.md and every markdown file under docs/, as paths from the project's root. */
async function markdownFiles(): Promise<string[]> {
  const files = ["README.md"];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(new URL(dir, root))) {
      if (e.isDirectory) await walk(`${dir}${e.name}/`);
      else if (e.name.endsWith(".md")) files.push(`${dir}${e.name}`);
    }
  };
  await walk("docs/");
  return files.sort();
}

Deno.test("docs: every relative link leads to a file, and its #anchor to a heading there", async () => {
  const broken: string[] = [];
  const files = await markdownFiles();
  assert(files.includes("docs/cli/README.md") && files.includes("docs/DESIGN.md"));
  for (const file of files) {
    const text = await Deno.readTextFile(new URL(file, root));
    const prose = text.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, "").replace(/`[^`\n]*`/g, "");
    for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
      const [path, anchor] = target.split("#") as [string, string | undefined];
      const url = path === "" ? new URL(file, root) : new URL(path, new URL(file, root));
      const stat = await Deno.stat(url).catch(() => undefined);
      if (!stat) {
        broken.push(`${file}: ${target}: no such file`);
        continue;
      }
      if (anchor === undefined) continue;
      if (!stat.isFile || !url.pathname.endsWith(".md")) {
        broken.push(`${file}: ${target}: an anchor in something that is not a page`);
      } else if (!headingSlugs(await Deno.readTextFile(url)).has(anchor)) {
        broken.push(`${file}: ${target}: no heading #${anchor} there`);
      }
    }
  }
  assertEquals(broken, []);
});

Deno.test("docs: the heading slugs are GitHub's", () => {
  assertEquals(
    [...headingSlugs("# The store\n## `skiff gc`: what it keeps\n```\n# not\n```\n## The store")],
    ["the-store", "skiff-gc-what-it-keeps", "the-store-1"],
  );
});
