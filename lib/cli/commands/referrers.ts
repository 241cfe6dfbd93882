// skiff referrers REF

import {
  CREDENTIAL_OPTIONS,
  jsonFlag,
  oneReference,
  printJson,
  remoteOptions,
  TIMEOUT_USAGE,
} from "../_shared.ts";
import type { Command } from "../command.ts";
import { escapeText } from "../../progress/escape_text.ts";
import { formatBytes } from "../../progress/format.ts";

const USAGE = `Usage: skiff referrers REF [options]

Lists what refers to the image REF: signatures, SBOMs, attestations and other
artifacts whose manifest names it as its subject. Asks the registry's OCI 1.1
referrers API; a registry without it is read the way OCI 1.1 falls back (an
index tagged sha256-<hex>). Cosign-style tags (sha256-<hex>.sig, .att, .sbom)
are listed too.

Options:
  --artifact-type T  only referrers of artifact type T
  --no-cosign        do not look for cosign-style tags
  --json             print an object: reference, subject, api, referrers
  --plain-http       speak plain HTTP to the registry
  -u, --username U   credentials for this request (default: the stored ones)
  --password-stdin   read the password from stdin (with --username)
${TIMEOUT_USAGE}
  --debug            show stack traces and transport details

Examples:
  skiff referrers ghcr.io/org/app:1
  skiff referrers --artifact-type application/spdx+json ghcr.io/org/app:1
`;

/** `skiff referrers`. */
export const referrersCommand: Command = {
  name: "referrers",
  summary: "referrers REF   list signatures, SBOMs and artifacts that refer to an image",
  usage: USAGE,
  options: {
    ...CREDENTIAL_OPTIONS,
    "artifact-type": { type: "string" },
    "no-cosign": { type: "boolean" },
    json: { type: "boolean" },
    "plain-http": { type: "boolean" },
  },
  async run(ctx) {
    const ref = oneReference(ctx, "referrers", USAGE);
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
