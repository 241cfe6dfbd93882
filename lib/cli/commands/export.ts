// skiff export REF [-o FILE]

import { formatBytes } from "../../progress/format.ts";
import { LineRenderer } from "../line_renderer.ts";
import {
  CREDENTIAL_OPTIONS,
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

const USAGE = `Usage: skiff export REF [-o FILE] [options]

Writes REF's root filesystem as one tar, flattened the way a container runtime
builds it (whiteouts applied, as docker export and crane export do), with the
image's owners, modes, times, links, device nodes and xattrs (pax), whoever runs
it. Pulls REF while it is read when the store does not have it (REF may also be
a stored image's ID, sha256:<hex>: from the store only). The same image gives
the same bytes.

Options:
  -o, --output FILE  write the tar to FILE (written beside it and renamed once
                     complete; a device or a FIFO is written into); "-" or no -o:
                     stdout, which must not be a terminal
  --store DIR        the OCI image layout to read (and pull into)
  --platform P       os/arch[/variant] (default: linux/<this machine's architecture>)
  --pull POLICY      missing (default): pull only what the store lacks; never: use
                     the store only; always: check the name with the registry
  --jobs N           blobs to download at once (default: 4)
  --plain-http       speak plain HTTP to the registry when pulling
  -u, --username U   log in as U for the pull
  --password-stdin   read the password from stdin (with --username)
  -q, --quiet        no summary on stderr
  --json             print the result as JSON on stderr (stdout holds the tar)
  --debug            show stack traces and transport details

Examples:
  skiff export alpine:3.20 -o alpine.tar
  skiff export --platform linux/arm64 ghcr.io/org/app:1.2 | tar -t
`;

/** `skiff export`. */
export const exportCommand: Command = {
  name: "export",
  summary: "export REF      write an image's flattened root filesystem as one tar",
  usage: USAGE,
  options: {
    output: { type: "string", short: "o" },
    platform: { type: "string" },
    pull: { type: "string" },
    jobs: { type: "string" },
    "plain-http": { type: "boolean" },
    quiet: { type: "boolean", short: "q" },
    ...CREDENTIAL_OPTIONS,
    json: { type: "boolean" },
  },
  async run(ctx) {
    const { flags, io } = ctx;
    if (ctx.positionals.length > 1) {
      throw new UsageError(`export takes one reference, got ${ctx.positionals.length}`);
    }
    const ref = storedImageArg(ctx.positionals[0], USAGE);
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
