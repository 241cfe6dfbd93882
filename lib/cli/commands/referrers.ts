// skiff referrers REF

import { JSON_OPTION, REMOTE_OPTIONS, reword } from "../_options.ts";
import { jsonFlag, oneReference, printJson, remoteOptions } from "../_shared.ts";
import type { Command } from "../command.ts";
import { escapeText } from "../../progress/escape_text.ts";
import { formatBytes } from "../../progress/format.ts";

/** `skiff referrers`. */
export const referrersCommand: Command = {
  name: "referrers",
  args: "REF",
  summary: "list signatures, SBOMs and artifacts that refer to an image",
  usage: ["REF [options]"],
  description: `Lists what refers to the image REF: signatures, SBOMs, attestations and other
    artifacts whose manifest names it as its subject. Asks the registry's OCI 1.1 referrers API; a
    registry without it is read the way OCI 1.1 falls back (an index tagged sha256-<hex>).
    Cosign-style tags (sha256-<hex>.sig, .att, .sbom) are listed too.`,
  options: {
    "artifact-type": {
      type: "string",
      value: "T",
      help: "only referrers of artifact type T",
    },
    "no-cosign": { type: "boolean", help: "do not look for cosign-style tags" },
    json: reword(JSON_OPTION.json, "print an object: reference, subject, api, referrers"),
    ...REMOTE_OPTIONS,
  },
  notes: `Columns: digest, artifact type (a cosign tag's is its config media type), size, and how
    it was found (api, index, or tag NAME).

    The API is GET /v2/<name>/referrers/<digest>: its pages are followed, and --artifact-type is
    passed on and applied again when the registry did not filter. A registry that answers 404 there
    (as Distribution 2.8 does) is read through the fallback index. Cosign-style tags are looked up
    with HEAD either way. Every descriptor from the registry is validated: a malformed one fails
    the command, and at most 100 pages or 10,000 referrers are read.`,
  examples: [
    "skiff referrers ghcr.io/org/app:1",
    "skiff referrers --artifact-type application/spdx+json ghcr.io/org/app:1",
    "skiff referrers --json 127.0.0.1:5000/team/app:1 | jq '.referrers[].digest'",
  ],
  more: [{ title: "Referrers, and how they travel", path: "mirroring.md#referrers" }],
  async run(ctx) {
    const ref = oneReference(ctx, "referrers", ctx.usage);
    const artifactType = ctx.flags["artifact-type"];
    const { listReferrers } = await import("../../registry/list_referrers.ts");
    const result = await listReferrers(ref, {
      ...await remoteOptions(ctx),
      ...(typeof artifactType === "string" ? { artifactType } : {}),
      ...(ctx.flags["no-cosign"] === true ? { cosignTags: false } : {}),
    });
    if (jsonFlag(ctx)) {
      printJson(ctx, result);
      return 0;
    }
    const rows = result.referrers.map((r) =>
      [
        r.digest,
        r.artifactType ?? "-",
        formatBytes(r.size),
        r.source === "cosign-tag" ? `tag ${r.tag}` : r.source === "referrers-api" ? "api" : "index",
      ].map((cell) => escapeText(cell))
    ); // artifact types come from the registry
    if (rows.length === 0) {
      ctx.io.err(`skiff: nothing refers to ${result.reference} (${result.subject})\n`);
      return 0;
    }
    const header = ["DIGEST", "ARTIFACT TYPE", "SIZE", "FOUND BY"];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) =>
      cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join("  ") + "\n";
    ctx.io.out(line(header) + rows.map(line).join(""));
    return 0;
  },
};
