// skiff fsck

import { safe } from "../../progress/escape_text.ts";
import { formatBytes } from "../../progress/format.ts";
import { JSON_OPTION, LOCAL_DEBUG_OPTION, reword, storeOption } from "../_options.ts";
import { jsonFlag, printJson, storePath } from "../_shared.ts";
import { type Command, UsageError } from "../command.ts";

/** `skiff fsck`. */
export const fsckCommand: Command = {
  name: "fsck",
  summary: "check every blob and image in the store; --repair",
  usage: ["[options]"],
  description: `Checks the store: re-hashes every blob, follows every name to its manifests, config
    and layers (each must be present, intact, and of the size its descriptor says), and finds
    partial downloads and temporary files no running pull holds. Exits 0 when every image is
    complete and every blob intact, 1 otherwise.

    With --repair, deletes corrupt blobs and stale partial downloads (waiting for running pulls
    first); the images that needed them are then incomplete, and the next 'skiff pull' of each
    fetches what is missing.`,
  options: {
    ...storeOption("to check"),
    repair: { type: "boolean", help: "delete corrupt blobs and stale partial downloads" },
    json: reword(JSON_OPTION.json, "print the report as an object"),
    ...LOCAL_DEBUG_OPTION,
  },
  notes: `Each problem is one line on stdout (corrupt blob ..., missing layer ..., needed by NAME),
    then a summary. Malformed index.json entries and manifests that are not documents are reported
    per image (problem with NAME: ..., problems in --json).`,
  examples: [
    "skiff fsck",
    "skiff fsck --repair && skiff pull alpine:3.20",
  ],
  more: [{
    title: "The store: checking and repairing it",
    path: "store.md#checking-and-repairing",
  }],
  async run(ctx) {
    if (ctx.positionals.length > 0) {
      throw new UsageError(`fsck takes no arguments, got "${ctx.positionals[0]}"`);
    }
    const repair = ctx.flags.repair === true;
    const { verifyStore } = await import("../../store/verify_store.ts");
    const report = await verifyStore(storePath(ctx), {
      repair,
      signal: ctx.signal,
      onWait: () => ctx.io.err("skiff: waiting for running pulls to finish\n"),
    });
    if (jsonFlag(ctx)) {
      printJson(ctx, report);
      return report.ok ? 0 : 1;
    }
    let out = "";
    for (const c of report.corrupt) {
      out += safe`corrupt blob ${c.digest}: its content hashes to ${c.actual}` +
        `${c.removed ? " (deleted)" : ""}\n`;
    }
    for (const m of report.missing) {
      out += safe`missing ${m.role} ${m.digest}, needed by ${m.images.join(", ")}\n`;
    }
    for (const s of report.sizeMismatches) {
      out += `size mismatch ${s.digest}: described as ${s.expected} bytes, ${s.actual} on disk\n`;
    }
    for (const p of report.problems) out += safe`problem with ${p.image}: ${p.problem}\n`;
    for (const f of report.unknownFiles) out += safe`unknown file ${f} (left alone)\n`;
    const stale = repair ? "deleted stale" : "stale";
    for (const p of report.stalePartials) {
      out += `${stale} partial download of ${p.digest} (${formatBytes(p.size)})\n`;
    }
    if (report.staleTemporary.length > 0) {
      out += `${stale} temporary files: ${report.staleTemporary.length}\n`;
    }
    for (const d of report.inUse) out += safe`partial download of ${d} in use by a running pull\n`;
    out += `checked ${report.images} image${report.images === 1 ? "" : "s"}, ` +
      `${report.blobs} blob${report.blobs === 1 ? "" : "s"} (${formatBytes(report.bytes)}): ` +
      (report.ok ? "ok" : `${report.corrupt.length} corrupt, ${report.missing.length} missing, ` +
        `${report.sizeMismatches.length} size mismatches` +
        (report.problems.length > 0 ? `, ${report.problems.length} damaged entries` : "")) +
      "\n";
    ctx.io.out(out);
    if (!report.ok) {
      const names = [
        ...new Set([
          ...report.missing.flatMap((m) => m.images),
          ...report.problems.map((p) => p.image),
        ]),
      ];
      ctx.io.err(
        repair || report.corrupt.length === 0
          ? safe`skiff: the store has incomplete images; pull them again: ${names.join(", ")}\n`
          : "skiff: the store has problems; 'skiff fsck --repair' deletes the damaged blobs\n",
      );
    }
    return report.ok ? 0 : 1;
  },
};
