// skiff save REF... -o FILE

import type { ProgressEvent } from "../../progress/progress_event.ts";
import {
  CREDENTIAL_OPTIONS,
  DEBUG_OPTION,
  JSON_OPTION,
  PLAIN_HTTP_OPTION,
  PLATFORM_OPTION,
  QUIET_OPTION,
  reword,
  storeOption,
} from "../_options.ts";
import {
  credentialFlags,
  debugLog,
  jsonFlag,
  platformFlag,
  storedImageArg,
  storePath,
  timeoutOption,
  warningLog,
} from "../_shared.ts";
import { type Command, UsageError } from "../command.ts";
import { safe } from "../../progress/escape_text.ts";

/** `skiff save`. */
export const saveCommand: Command = {
  name: "save",
  args: "REF... -o FILE",
  summary: "write stored images into a docker or OCI archive",
  usage: ["REF... -o FILE [options]"],
  description: `Writes the stored images REF... (pulled first when the store does not have them)
    into one tar archive: FILE appears only once the archive is complete (a symlink is followed; a
    device or a FIFO is written into, as tar -cf does). With -o -, the archive goes to stdout (not
    to a terminal). Each blob is read from the store, checked against its digest, and streamed
    into the archive; nothing is held whole in memory, no temporary tree is made.

    Prints one line per image to stderr: the name and the digest saved. A REF may be a stored
    image's ID (sha256:<hex>, as skiff images shows it, or all 64 digits): taken from the store,
    saved without a name.`,
  sections: [{
    title: "Formats",
    rows: [
      [
        "docker (default)",
        `a docker-archive (manifest.json: Config, RepoTags, Layers), what docker load, podman load
          and skopeo docker-archive: read; one platform per image: a stored index gives the
          platform's manifest (--platform, default this machine's)`,
      ],
      [
        "oci",
        `an oci-archive (an OCI layout in a tar), what skopeo oci-archive: reads; digests kept, an
          index stays an index; of an index the store holds only some platforms of (pull
          --platform a,b), an index rewritten to list those (a new digest, said on stderr);
          nothing missing is fetched`,
      ],
    ],
  }],
  options: {
    output: {
      type: "string",
      short: "o",
      value: "FILE",
      help: "the archive to write, or - for stdout (required)",
    },
    format: { type: "string", value: "F", help: "docker or oci (default: docker)" },
    ...storeOption("to read (and pull into)"),
    platform: reword(
      PLATFORM_OPTION.platform,
      `the platform taken from a stored index for a docker archive, and pulled when missing:
        os/arch[/variant] (default: linux/<this machine's architecture>)`,
    ),
    pull: {
      type: "string",
      value: "never",
      help: "fail instead of pulling an image the store does not have",
    },
    "plain-http": reword(
      PLAIN_HTTP_OPTION["plain-http"],
      "speak plain HTTP to the registry when pulling",
    ),
    ...CREDENTIAL_OPTIONS,
    username: reword(CREDENTIAL_OPTIONS.username, "log in as U when pulling"),
    quiet: reword(QUIET_OPTION.quiet, "print nothing but errors"),
    json: reword(
      JSON_OPTION.json,
      "print the result as a JSON object on stderr (stdout may be the archive)",
    ),
    ...DEBUG_OPTION,
  },
  examples: [
    "skiff save alpine:3.20 busybox:1.36 -o images.tar  # docker load / podman load it",
    "skiff save --format oci ghcr.io/org/app:1.2 -o app-oci.tar  # an oci-archive, index and all",
    "skiff save --format oci ghcr.io/org/app:1.2 -o - | ssh host skiff load -",
  ],
  more: [{ title: "Archives: what save writes", path: "archives.md#save" }],
  async run(ctx) {
    const { flags, io } = ctx;
    if (ctx.positionals.length === 0) {
      throw new UsageError(`missing image reference\n\n${ctx.usage}`);
    }
    const refs = ctx.positionals.map((p) => storedImageArg(p, ctx.usage));
    const output = flags.output;
    if (typeof output !== "string" || output === "") {
      throw new UsageError("missing -o FILE (or -o - for stdout)");
    }
    const format = flags.format ?? "docker";
    if (format !== "docker" && format !== "oci") {
      throw new UsageError(`--format must be docker or oci, got "${format}"`);
    }
    if (flags.pull !== undefined && flags.pull !== "never" && flags.pull !== "missing") {
      throw new UsageError(`--pull must be missing or never, got "${flags.pull}"`);
    }
    if (output === "-" && io.isTerminal.stdout) {
      throw new UsageError(
        "refusing to write a tar archive to a terminal: redirect stdout or give -o FILE",
      );
    }
    const platform = platformFlag(ctx);
    const credentials = await credentialFlags(ctx);
    let renderer: { handle(e: ProgressEvent): void } | undefined;
    if (!flags.quiet && !jsonFlag(ctx)) {
      // the pulls' progress (saving itself prints one line per image)
      const { LineRenderer } = await import("../line_renderer.ts");
      renderer = new LineRenderer(io.err);
    }
    const { save } = await import("../../archive/save.ts");
    const stdout = new WritableStream<Uint8Array>({ write: (chunk) => io.outBytes(chunk) });
    const result = await save(refs, output === "-" ? stdout : output, {
      store: storePath(ctx),
      format,
      signal: ctx.signal,
      ...(platform ? { platform } : {}),
      ...(flags.pull === "never" ? { pull: "never" as const } : {}),
      pullOptions: {
        ...(flags["plain-http"] ? { plainHttp: true } : {}),
        ...timeoutOption(ctx),
        ...(credentials ? { credentials } : {}),
        ...warningLog(ctx),
        ...debugLog(ctx),
      },
      ...(renderer ? { onProgress: (e: ProgressEvent) => renderer!.handle(e) } : {}),
    });
    if (jsonFlag(ctx)) {
      io.err(JSON.stringify(result, null, 2) + "\n");
    } else if (!flags.quiet) {
      for (const image of result.images) {
        if (image.root === "rewritten") {
          io.err(
            safe`skiff: note: the index of ${image.name} was rewritten to list what the store ` +
              safe`holds, ${image.platforms.join(", ")}: its digest is ${image.digest}, not the ` +
              safe`stored index's ${image.storedDigest}\n`,
          );
        }
        io.err(safe`saved ${image.name} ${image.digest}\n`);
      }
    }
    return 0;
  },
};
