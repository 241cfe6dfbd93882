// skiff tags REPO

import { escapeText, jsonText } from "../../progress/escape_text.ts";
import { parseRepository } from "../../reference/parse_repository.ts";
import { JSON_OPTION, REMOTE_OPTIONS, reword } from "../_options.ts";
import { jsonFlag, remoteOptions } from "../_shared.ts";
import { type Command, UsageError } from "../command.ts";

/** `skiff tags`. */
export const tagsCommand: Command = {
  name: "tags",
  args: "REPO",
  summary: "list a repository's tags",
  usage: ["REPO [options]"],
  description: `Lists every tag of the repository REPO ([registry/]repository, no tag), one per
    line, following the registry's pagination. Each page is printed as it arrives (also with
    --json), so a long list takes no memory; a list of more than 10 000 pages or 1 000 000 tags,
    or a page over 16 MiB, ends in an error after what came before.`,
  options: {
    json: reword(JSON_OPTION.json, "print an object: repository and tags"),
    ...REMOTE_OPTIONS,
  },
  examples: [
    "skiff tags alpine",
    "skiff tags 127.0.0.1:5000/team/app",
    "skiff tags --json 127.0.0.1:5000/team/app",
  ],
  async run(ctx) {
    const input = ctx.positionals[0];
    if (input === undefined) throw new UsageError(`missing repository\n\n${ctx.usage}`);
    if (ctx.positionals.length > 1) {
      throw new UsageError(`tags takes one repository, got ${ctx.positionals.length}`);
    }
    let repo;
    try {
      repo = parseRepository(input);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const { streamTags } = await import("../../registry/stream_tags.ts");
    const pages = streamTags(repo, await remoteOptions(ctx));
    // printed page by page as the registry sends them: a long list never sits in memory
    if (jsonFlag(ctx)) {
      // the same document JSON.stringify(value, null, 2) gives, written as it comes
      let first = true;
      for await (const page of pages) {
        for (const t of page) {
          ctx.io.out(
            `${
              first ? `{\n  "repository": ${jsonText(repo.toString())},\n  "tags": [\n` : ",\n"
            }    ${jsonText(t)}`,
          );
          first = false;
        }
      }
      ctx.io.out(
        first
          ? `{\n  "repository": ${jsonText(repo.toString())},\n  "tags": []\n}\n`
          : "\n  ]\n}\n",
      );
    } else {
      for await (const page of pages) {
        if (page.length > 0) ctx.io.out(page.map((t) => `${escapeText(t)}\n`).join(""));
      }
    }
    return 0;
  },
};
