// skiff digest REF

import { JSON_OPTION, REMOTE_OPTIONS, reword } from "../_options.ts";
import { jsonFlag, oneReference, platformFlag, printJson, remoteOptions } from "../_shared.ts";
import type { Command } from "../command.ts";
import { safe } from "../../progress/escape_text.ts";

/** `skiff digest`. */
export const digestCommand: Command = {
  name: "digest",
  args: "REF",
  summary: "print the digest a reference points at",
  usage: ["REF [options]"],
  description: `Prints the digest of the manifest or index REF points at. Asks with a HEAD request
    (which Docker Hub does not count against its pull rate limit), and falls back to fetching the
    manifest (and hashing it) when HEAD does not tell.`,
  options: {
    platform: {
      type: "string",
      value: "P",
      help: `the digest of P's manifest in a multi-platform image (fetches the index and that
        manifest)`,
    },
    json: reword(JSON_OPTION.json, "print an object: reference, digest, mediaType, size, method"),
    ...REMOTE_OPTIONS,
  },
  examples: [
    "skiff digest alpine:3.20",
    `skiff pull "alpine@$(skiff digest alpine:3.20)"`,
  ],
  async run(ctx) {
    const ref = oneReference(ctx, "digest", ctx.usage);
    const platform = platformFlag(ctx);
    const { resolveDigest } = await import("../../registry/resolve_digest.ts");
    const d = await resolveDigest(ref, {
      ...await remoteOptions(ctx),
      ...(platform ? { platform } : {}),
    });
    if (jsonFlag(ctx)) {
      printJson(ctx, {
        reference: d.reference,
        digest: d.digest,
        mediaType: d.mediaType ?? null,
        size: d.size ?? null,
        method: d.method,
      });
    } else {
      ctx.io.out(safe`${d.digest}\n`);
    }
    return 0;
  },
};
