// skiff rm NAME...

import { escapeText, safe } from "../../progress/escape_text.ts";
import { JSON_OPTION, LOCAL_DEBUG_OPTION, reword, storeOption } from "../_options.ts";
import { jsonFlag, printJson, storePath } from "../_shared.ts";
import { type Command, UsageError } from "../command.ts";

/** `skiff rm`. */
export const rmCommand: Command = {
  name: "rm",
  args: "NAME...",
  summary: "remove images from the store (then: skiff gc)",
  usage: ["NAME... [options]"],
  description: `Removes images from the store's index by name (as pulled, or as "skiff images"
    lists them: alpine:3.20 and docker.io/library/alpine:3.20 are the same name) or by manifest
    digest (which removes every name pointing at it: the registry's digest pull printed, of the
    manifest or of the index it came from, or the stored one). The blobs stay until "skiff gc"
    deletes the ones no image needs. When a name is not in the store, nothing is removed (exit 1).

    With --platform P, removes one platform of a name stored with several (pull --platform a,b or
    all): the rest stays under the name (two or more: an index listing them, a new digest, said on
    stderr; one: that platform's manifest; none: the name is removed). Prints the name and the
    platform removed.`,
  options: {
    ...storeOption("to change"),
    platform: {
      type: "string",
      value: "P",
      help: "remove only platform P (os/arch[/variant]) of one NAME",
    },
    force: { type: "boolean", short: "f", help: "ignore names that are not in the store" },
    json: reword(
      JSON_OPTION.json,
      `print an array of objects: query, name, digest (with --platform: one object: name,
        platform, digest, remaining, entry: index/manifest/removed, entryDigest, indexDigest)`,
    ),
    ...LOCAL_DEBUG_OPTION,
  },
  examples: [
    "skiff rm alpine:3.20",
    "skiff rm alpine:3.20 127.0.0.1:5000/team/app:1.2 && skiff gc",
    "skiff rm --platform linux/arm64 alpine:3.20",
  ],
  more: [{ title: "The store: removing images and platforms", path: "store.md#removing-images" }],
  async run(ctx) {
    if (ctx.positionals.length === 0) throw new UsageError(`missing image name\n\n${ctx.usage}`);
    if (typeof ctx.flags.platform === "string") return await removeOnePlatform(ctx);
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

/** `skiff rm --platform P NAME`. */
async function removeOnePlatform(ctx: Parameters<Command["run"]>[0]): Promise<number> {
  if (ctx.positionals.length !== 1) {
    throw new UsageError(
      `--platform removes a platform of one NAME, got ${ctx.positionals.length}`,
    );
  }
  const { parsePlatform } = await import("../../oci/choose_platform.ts");
  let platform;
  try {
    platform = parsePlatform(ctx.flags.platform as string);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { removePlatform } = await import("../../store/remove_platform.ts");
  const { ImageNotFoundError } = await import("../../store/image_not_found_error.ts");
  let r;
  try {
    r = await removePlatform(storePath(ctx), ctx.positionals[0]!, platform, {
      signal: ctx.signal,
    });
  } catch (e) {
    if (ctx.flags.force === true && e instanceof ImageNotFoundError) {
      if (jsonFlag(ctx)) printJson(ctx, null);
      return 0;
    }
    throw e;
  }
  if (jsonFlag(ctx)) {
    printJson(ctx, {
      name: r.name,
      platform: r.platform,
      digest: r.digest,
      remaining: r.remaining,
      entry: r.entry,
      entryDigest: r.entryDigest ?? null,
      indexDigest: r.indexDigest,
    });
  } else {
    ctx.io.out(safe`${r.name} ${r.platform}\n`);
  }
  if (r.entry === "index") {
    ctx.io.err(
      safe`skiff: note: ${r.name} is now an index of ${r.remaining.join(", ")}: its digest is ` +
        `${r.entryDigest}, skiff's own, not the registry's ${r.indexDigest}\n`,
    );
  } else if (r.entry === "removed") {
    ctx.io.err(safe`skiff: note: that was its last platform: ${r.name} is removed\n`);
  }
  ctx.io.err(`skiff gc deletes the blobs no image needs any more\n`);
  return 0;
}
