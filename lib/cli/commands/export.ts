// skiff export REF [-o FILE]

import { formatBytes } from "../../progress/format.ts";
import { LineRenderer } from "../../progress/line_renderer.ts";
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
                     complete); "-" or no -o: stdout, which must not be a terminal
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
      await writeBeside(output, readable);
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

/** Writes the stream to `.NAME.skiff-export-XXXX` beside `path`, renamed once it is complete. */
async function writeBeside(path: string, readable: ReadableStream<Uint8Array>): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash === -1 ? "." : slash === 0 ? "/" : path.slice(0, slash);
  const base = path.slice(slash + 1);
  let temp: string;
  try {
    temp = await Deno.makeTempFile({ dir, prefix: `.${base}.skiff-export-` });
  } catch (e) {
    throw new Error(`Cannot write ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    // what the file system refuses (a full disk) is said as a failure to write PATH; the
    // export's own errors come through as they are
    const cannot = (e: unknown) =>
      new Error(`Cannot write ${path}: ${(e as Error).message}`, { cause: e });
    const file = await Deno.open(temp, { write: true, truncate: true });
    const writer = file.writable.getWriter(); // closes the file when closed or aborted
    try {
      for await (const chunk of readable) {
        await writer.write(chunk).catch((e) => {
          throw cannot(e);
        });
      }
      await writer.close().catch((e) => {
        throw cannot(e);
      });
    } catch (e) {
      await writer.abort(e).catch(() => {});
      throw e;
    }
    await Deno.chmod(temp, 0o644).catch((e) => {
      throw cannot(e);
    });
    await Deno.rename(temp, path).catch((e) => {
      throw cannot(e);
    });
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw e;
  }
}
