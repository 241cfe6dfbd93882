// skiff rm NAME...

import { escapeText } from "../../progress/escape_text.ts";
import { jsonFlag, printJson, storePath } from "../_shared.ts";
import { type Command, UsageError } from "../command.ts";

const USAGE = `Usage: skiff rm NAME... [options]

Removes images from the store's index by name (as pulled, or as "skiff images" lists
them: alpine:3.20 and docker.io/library/alpine:3.20 are the same name) or by
manifest digest. The blobs stay until "skiff gc" deletes the ones no image needs.
When a name is not in the store, nothing is removed.

Options:
  --store DIR        the OCI image layout to change
  -f, --force        ignore names that are not in the store
  --json             print an array of objects: query, name, digest
  --debug            show stack traces

Examples:
  skiff rm alpine:3.20
  skiff rm alpine:3.20 127.0.0.1:5000/team/app:1.2 && skiff gc
`;

/** `skiff rm`. */
export const rmCommand: Command = {
  name: "rm",
  summary: "rm NAME...      remove images from the store (then: skiff gc)",
  usage: USAGE,
  options: {
    force: { type: "boolean", short: "f" },
    json: { type: "boolean" },
  },
  async run(ctx) {
    if (ctx.positionals.length === 0) throw new UsageError(`missing image name\n\n${USAGE}`);
    const { removeImages } = await import("../../store/remove_images.ts");
    const removed = await removeImages(storePath(ctx), ctx.positionals, {
      ignoreMissing: ctx.flags.force === true,
    });
    if (jsonFlag(ctx)) {
      printJson(
        ctx,
        removed.map((r) => ({ query: r.query, name: r.name ?? null, digest: r.digest })),
      );
    } else {
      ctx.io.out(removed.map((r) => `${escapeText(r.name ?? r.digest)}\n`).join(""));
    }
    if (removed.length > 0) ctx.io.err(`skiff gc deletes the blobs no image needs any more\n`);
    return 0;
  },
};
