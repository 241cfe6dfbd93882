// skiff tags REPO

import { escapeText, jsonText } from "../../progress/escape_text.ts";
import { parseRepository } from "../../reference/parse_repository.ts";
import { CREDENTIAL_OPTIONS, jsonFlag, remoteOptions, TIMEOUT_USAGE } from "../_shared.ts";
import { type Command, UsageError } from "../command.ts";

const USAGE = `Usage: skiff tags REPO [options]

Lists every tag of the repository REPO ([registry/]repository, no tag), one per
line, following the registry's pagination.

Options:
  --json             print an object: repository and tags
  --plain-http       speak plain HTTP to the registry
  -u, --username U   credentials for this request (default: the stored ones)
  --password-stdin   read the password from stdin (with --username)
${TIMEOUT_USAGE}
  --debug            show stack traces and transport details

Examples:
  skiff tags alpine
  skiff tags 127.0.0.1:5000/team/app
`;

/** `skiff tags`. */
export const tagsCommand: Command = {
  name: "tags",
  summary: "tags REPO       list a repository's tags",
  usage: USAGE,
  options: {
    ...CREDENTIAL_OPTIONS,
    json: { type: "boolean" },
    "plain-http": { type: "boolean" },
  },
  async run(ctx) {
    const input = ctx.positionals[0];
    if (input === undefined) throw new UsageError(`missing repository\n\n${USAGE}`);
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
