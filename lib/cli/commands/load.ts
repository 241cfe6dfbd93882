// skiff load FILE

import { formatBytes } from "../../progress/format.ts";
import { JSON_OPTION, LOCAL_DEBUG_OPTION, QUIET_OPTION, reword, storeOption } from "../_options.ts";
import { expectPositionals, jsonFlag, printJson, referenceArg, storePath } from "../_shared.ts";
import type { Command } from "../command.ts";

/** `skiff load`. */
export const loadCommand: Command = {
  name: "load",
  args: "FILE",
  summary: "load a docker or OCI archive into the store",
  usage: ["FILE [options]"],
  description: `Loads the images of a tar archive into the store: docker-archives (docker save,
    podman save, skopeo docker-archive:, skiff save; the classic <id>/layer.tar form and the
    OCI-layout form of Docker 25 and later) and oci-archives; the archive may be gzip or zstd
    compressed. FILE - reads stdin.

    The tar is read once: every blob is checked against its digest as it streams into the store;
    the images get their names (RepoTags, io.containerd.image.name,
    org.opencontainers.image.ref.name) only once everything was verified. A bad archive names
    nothing.

    Prints one line per image to stdout: the name (or <none>) and the digest.`,
  options: {
    ...storeOption("to load into"),
    name: {
      type: "string",
      value: "NAME",
      help: "the name for the archive's image (it must hold one image)",
    },
    quiet: reword(QUIET_OPTION.quiet, "print only the result lines"),
    json: reword(JSON_OPTION.json, "print the result as a JSON object instead of the lines"),
    ...LOCAL_DEBUG_OPTION,
  },
  examples: [
    "skiff load images.tar",
    "docker save alpine:3.20 | skiff load -",
    "skiff load --name 127.0.0.1:5000/team/app:1 app.tar",
  ],
  more: [{ title: "Archives: what load reads and refuses", path: "archives.md#load" }],
  async run(ctx) {
    const { flags, io } = ctx;
    expectPositionals(ctx, 1, 1, "FILE (or - for stdin)");
    const file = ctx.positionals[0]!;
    const name = typeof flags.name === "string" ? referenceArg(flags.name, ctx.usage) : undefined;
    const { load } = await import("../../archive/load.ts");
    const start = performance.now();
    const result = await load(file === "-" ? io.stdin : file, {
      store: storePath(ctx),
      signal: ctx.signal,
      ...(file === "-" ? { label: "stdin" } : {}),
      ...(name ? { name } : {}),
    });
    if (jsonFlag(ctx)) {
      printJson(ctx, result);
      return 0;
    }
    if (!flags.quiet) {
      const seconds = ((performance.now() - start) / 1000).toFixed(1);
      io.err(
        `${file === "-" ? "stdin" : file}: ${result.format} archive, ${result.blobs} blobs, ` +
          `${formatBytes(result.bytes)} in ${seconds} s\n`,
      );
    }
    for (const image of result.images) io.out(`${image.name ?? "<none>"} ${image.digest}\n`);
    return 0;
  },
};
