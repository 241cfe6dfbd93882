// skiff blob REPO@DIGEST

import { CREDENTIAL_OPTIONS, referenceArg, remoteOptions, TIMEOUT_USAGE } from "../_shared.ts";
import { type Command, UsageError } from "../command.ts";

const USAGE = `Usage: skiff blob REPO@DIGEST [options]

Writes the blob DIGEST of the repository REPO (a layer, a config) to stdout as it
arrives, hashing it on the way. When the bytes do not match the digest, the command
ends with an error and a non-zero exit after the data: check the exit status before
using the output. Refused when stdout is a terminal.

Options:
  --plain-http       speak plain HTTP to the registry
  -u, --username U   credentials for this request (default: the stored ones)
  --password-stdin   read the password from stdin (with --username)
${TIMEOUT_USAGE}
  --debug            show stack traces and transport details

Examples:
  skiff blob alpine@sha256:<digest> > layer.tar.gz
  skiff blob 127.0.0.1:5000/team/app@sha256:<digest> | tar -tzf -
`;

/** `skiff blob`. */
export const blobCommand: Command = {
  name: "blob",
  summary: "blob REPO@DIGEST  write a blob to stdout, verified",
  usage: USAGE,
  options: {
    ...CREDENTIAL_OPTIONS,
    "plain-http": { type: "boolean" },
  },
  async run(ctx) {
    if (ctx.positionals.length > 1) {
      throw new UsageError(`blob takes one REPO@DIGEST, got ${ctx.positionals.length}`);
    }
    const ref = referenceArg(ctx.positionals[0], USAGE);
    if (ref.digest === undefined) {
      throw new UsageError(`blob needs REPO@DIGEST, not a tag: "${ctx.positionals[0]}"`);
    }
    if (ctx.io.isTerminal.stdout) {
      // a layer's bytes on a terminal are garbage at best, and escape sequences at worst
      throw new Error(
        "Cannot write a blob to a terminal: redirect stdout to a file or a pipe",
      );
    }
    const { fetchBlob } = await import("../../registry/fetch_blob.ts");
    const blob = await fetchBlob(ref, await remoteOptions(ctx));
    const reader = blob.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      try {
        await ctx.io.outBytes(value);
      } catch (e) {
        await reader.cancel().catch(() => {}); // stdout is gone (a closed pipe): stop fetching
        throw e;
      }
    }
    return 0;
  },
};
