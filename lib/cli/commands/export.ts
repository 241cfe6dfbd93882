// skiff export REF [-o FILE]

import { formatBytes } from "../../progress/format.ts";
import { LineRenderer } from "../line_renderer.ts";
import { DEBUG_OPTION, JSON_OPTION, PULLING_OPTIONS, QUIET_OPTION, reword } from "../_options.ts";
import {
  jobsFlag,
  jsonFlag,
  platformFlag,
  printJson,
  remoteOptions,
  storedImageArg,
  storePath,
} from "../_shared.ts";
import { type Command, UsageError } from "../command.ts";
import { policyFlag } from "./unpack.ts";

/** `skiff export`. */
export const exportCommand: Command = {
  name: "export",
  args: "REF [-o FILE]",
  summary: "write an image's flattened root filesystem as one tar",
  usage: ["REF [-o FILE] [options]"],
  description: `Writes REF's root filesystem as one tar, flattened the way a container runtime
    builds it (whiteouts applied, as docker export and crane export do), with the image's owners,
    modes, times, links, device nodes and xattrs (pax), whoever runs it. Pulls REF while it is read
    when the store does not have it (REF may also be a stored image's ID, sha256:<hex>: from the
    store only). The same image gives the same bytes.`,
  options: {
    output: {
      type: "string",
      short: "o",
      value: "FILE",
      help: `write the tar to FILE (written beside it and renamed once complete; a device or a FIFO
        is written into); "-" or no -o: stdout, which must not be a terminal`,
    },
    ...PULLING_OPTIONS,
    quiet: reword(QUIET_OPTION.quiet, "no summary on stderr"),
    json: reword(JSON_OPTION.json, "print the result as JSON on stderr (stdout holds the tar)"),
    ...DEBUG_OPTION,
  },
  notes: `On stdout, a failure ends the tar early with exit 1: treat the output as complete only
    when the exit status is 0. stderr says, per layer, its entries and the bytes of its files, then
    what the tar holds.`,
  examples: [
    "skiff export alpine:3.20 -o alpine.tar",
    "skiff export --platform linux/arm64 ghcr.io/org/app:1.2 | tar -t",
  ],
  more: [{ title: "Root filesystems, disk images and export", path: "unpack.md#export" }],
  async run(ctx) {
    const { flags, io } = ctx;
    if (ctx.positionals.length > 1) {
      throw new UsageError(`export takes one reference, got ${ctx.positionals.length}`);
    }
    const ref = storedImageArg(ctx.positionals[0], ctx.usage);
    const platform = platformFlag(ctx);
    const output = typeof flags.output === "string" ? flags.output : "-";
    if (output === "") throw new UsageError("-o needs a file name (or - for stdout)");
    const toStdout = output === "-";
    if (toStdout && io.isTerminal.stdout) {
      throw new UsageError("refusing to write a tar to a terminal: use -o FILE or a pipe");
    }
    const jobs = jobsFlag(ctx);
    const policy = policyFlag(flags);
    const { signal, ...remote } = await remoteOptions(ctx);
    const renderer = flags.quiet || jsonFlag(ctx) ? undefined : new LineRenderer(io.err);
    const start = performance.now();
    if (!toStdout) {
      // a path that cannot take the tar is refused before anything is pulled
      const { OutputFile } = await import("../../store/output_file.ts");
      await OutputFile.check(output, FILE_OUTPUT);
    }
    const { exportRootfs } = await import("../../unpack/export_rootfs.ts");
    const { readable, result } = exportRootfs(ref, {
      store: storePath(ctx),
      signal,
      ...(platform ? { platform } : {}),
      ...(policy ? { pull: policy } : {}),
      pullOptions: { ...remote, ...(jobs ? { jobs } : {}) },
      ...(renderer ? { onProgress: (e) => renderer.handle(e) } : {}),
    });
    if (toStdout) {
      for await (const chunk of readable) await io.outBytes(chunk);
    } else {
      await writeOutput(output, readable, storePath(ctx), signal);
    }
    const r = await result;
    if (jsonFlag(ctx)) {
      // stdout may hold the tar: the result goes to stderr
      const json = {
        reference: r.reference,
        digest: r.digest,
        output: toStdout ? null : output,
        layers: r.layers,
        entries: r.entries,
        whiteouts: r.whiteouts,
        bytes: r.bytes,
        pulled: r.pulled,
      };
      if (toStdout) io.err(JSON.stringify(json, null, 2) + "\n");
      else printJson(ctx, json);
    } else if (!flags.quiet) {
      const seconds = ((performance.now() - start) / 1000).toFixed(1);
      io.err(
        `${toStdout ? "stdout" : output}: ${r.reference} ${r.digest}, ${r.entries} entries ` +
          `from ${r.layers} layer${r.layers === 1 ? "" : "s"}, ${formatBytes(r.bytes)} in ` +
          `${seconds} s\n`,
      );
    }
    return 0;
  },
};

/** How export's file output is named in messages and temporaries. */
const FILE_OUTPUT = { action: "export to", kind: "export" } as const;

/** Writes the stream to the output path ({@linkcode OutputFile}: beside a file, into a FIFO). */
async function writeOutput(
  path: string,
  readable: ReadableStream<Uint8Array>,
  store: string,
  signal: AbortSignal,
): Promise<void> {
  const { OutputFile } = await import("../../store/output_file.ts");
  let out;
  try {
    out = await OutputFile.open(path, { ...FILE_OUTPUT, store: { path: store }, signal });
  } catch (e) {
    await readable.cancel().catch(() => {});
    throw e;
  }
  try {
    for await (const chunk of readable) await out.write(chunk);
    await out.commit();
  } catch (e) {
    await out.abort();
    throw e;
  }
}
