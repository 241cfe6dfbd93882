// skiff gc

import { safe } from "../../progress/escape_text.ts";
import { formatBytes } from "../../progress/format.ts";
import { JSON_OPTION, LOCAL_DEBUG_OPTION, reword, storeOption } from "../_options.ts";
import { jsonFlag, printJson, storePath } from "../_shared.ts";
import { type Command, UsageError } from "../command.ts";

/** `skiff gc`. */
export const gcCommand: Command = {
  name: "gc",
  summary: "delete blobs no image needs, and stale partial downloads",
  usage: ["[options]"],
  description: `Deletes from the store every blob no image reaches (through its index, manifest,
    config and layers, and the index and original manifest that pull keeps), and the partial
    downloads no running pull holds, and the hidden temporaries that killed commands from this
    store left behind (an unpack's directory, a disk or layer image, a save or export file:
    .NAME.skiff-*), never one a running command holds. Prints what was freed. Waits for running
    pulls to finish first, so it never breaks one.`,
  options: {
    ...storeOption("to clean"),
    "dry-run": { type: "boolean", short: "n", help: "only print what would be deleted" },
    json: reword(
      JSON_OPTION.json,
      `print an object: blobs, partials, temporary, inUse, kept, unpacks, problems, bytes, dryRun`,
    ),
    ...LOCAL_DEBUG_OPTION,
  },
  notes: `A damaged manifest is reported as that image's problem (a warning on stderr, problems in
    --json); it is kept, and so is everything it still names, and the rest of the store is
    collected.`,
  examples: [
    "skiff rm alpine:3.20 && skiff gc",
    "skiff gc --dry-run",
  ],
  more: [{ title: "The store: what gc keeps and deletes", path: "store.md#garbage-collection" }],
  async run(ctx) {
    if (ctx.positionals.length > 0) {
      throw new UsageError(`gc takes no arguments, got "${ctx.positionals[0]}"`);
    }
    const dryRun = ctx.flags["dry-run"] === true;
    const { collectGarbage } = await import("../../store/collect_garbage.ts");
    const report = await collectGarbage(storePath(ctx), {
      dryRun,
      signal: ctx.signal,
      onWait: () => ctx.io.err("skiff: waiting for running pulls to finish\n"),
    });
    if (jsonFlag(ctx)) {
      printJson(ctx, report);
      return 0;
    }
    const verb = dryRun ? "would delete" : "deleted";
    let out = "";
    for (const b of report.blobs) out += `${verb} blob ${b.digest} (${formatBytes(b.size)})\n`;
    for (const p of report.partials) {
      out += `${verb} partial download of ${p.digest} (${formatBytes(p.size)})\n`;
    }
    for (const u of report.unpacks) out += safe`${verb} unfinished output ${u}\n`;
    if (report.temporary.length > 0) {
      out += `${verb} ${plural(report.temporary.length, "temporary file")}\n`;
    }
    out += `${dryRun ? "would free" : "freed"} ${formatBytes(report.bytes)}: ` +
      `${plural(report.blobs.length, "blob")}, ` +
      `${plural(report.partials.length, "partial download")}; ` +
      `${plural(report.kept, "blob")} in use kept\n`;
    ctx.io.out(out);
    for (const p of report.problems) {
      ctx.io.err(safe`skiff: warning: ${p.image}: ${p.problem} (kept what it names)\n`);
    }
    if (report.inUse.length > 0) {
      ctx.io.err(
        `skiff: kept ${plural(report.inUse.length, "partial download")} a running pull holds\n`,
      );
    }
    return 0;
  },
};

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
