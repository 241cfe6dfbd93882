// skiff digest REF

import {
  CREDENTIAL_OPTIONS,
  jsonFlag,
  oneReference,
  platformFlag,
  printJson,
  remoteOptions,
  TIMEOUT_USAGE,
} from "../_shared.ts";
import type { Command } from "../command.ts";
import { safe } from "../../progress/escape_text.ts";

const USAGE = `Usage: skiff digest REF [options]

Prints the digest of the manifest or index REF points at. Asks with a HEAD request
(which Docker Hub does not count against its pull rate limit), and falls back to
fetching the manifest when HEAD does not tell.

Options:
  --platform P       the digest of P's manifest in a multi-platform image
                     (fetches the index and that manifest)
  --json             print an object: reference, digest, mediaType, size, method
  --plain-http       speak plain HTTP to the registry
  -u, --username U   credentials for this request (default: the stored ones)
  --password-stdin   read the password from stdin (with --username)
${TIMEOUT_USAGE}
  --debug            show stack traces and transport details

Examples:
  skiff digest alpine:3.20
  skiff pull "alpine@$(skiff digest alpine:3.20)"
`;

/** `skiff digest`. */
export const digestCommand: Command = {
  name: "digest",
  summary: "digest REF      print the digest a reference points at",
  usage: USAGE,
  options: {
    ...CREDENTIAL_OPTIONS,
    platform: { type: "string" },
    json: { type: "boolean" },
    "plain-http": { type: "boolean" },
  },
  async run(ctx) {
    const ref = oneReference(ctx, "digest", USAGE);
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
