// skiff blob REPO@DIGEST

import { REMOTE_OPTIONS } from "../_options.ts";
import { referenceArg, remoteOptions } from "../_shared.ts";
import { type Command, UsageError } from "../command.ts";

/** `skiff blob`. */
export const blobCommand: Command = {
  name: "blob",
  args: "REPO@DIGEST",
  summary: "write a blob to stdout, verified",
  usage: ["REPO@DIGEST [options]"],
  description: `Writes the blob DIGEST of the repository REPO (a layer, a config) to stdout as it
    arrives, hashing it on the way. When the bytes do not match the digest, the command ends with
    an error and a non-zero exit after the data: check the exit status before using the output.
    Refused when stdout is a terminal.`,
  options: REMOTE_OPTIONS,
  examples: [
    "skiff blob alpine@sha256:<digest> > layer.tar.gz",
    "skiff blob 127.0.0.1:5000/team/app@sha256:<digest> | tar -tzf -",
  ],
  async run(ctx) {
    if (ctx.positionals.length > 1) {
      throw new UsageError(`blob takes one REPO@DIGEST, got ${ctx.positionals.length}`);
    }
    const ref = referenceArg(ctx.positionals[0], ctx.usage);
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
