// skiff push NAME [DEST]

import { parsePlatforms } from "../../copy/parse_platforms.ts";
import { Reference } from "../../reference/parse_reference.ts";
import type { ProgressEvent } from "../../progress/progress_event.ts";
import { safe } from "../../progress/escape_text.ts";
import {
  CREDENTIAL_OPTIONS,
  DEBUG_OPTION,
  JOBS_OPTION,
  JSON_OPTION,
  PLAIN_HTTP_OPTION,
  QUIET_OPTION,
  reword,
  storeOption,
} from "../_options.ts";
import {
  credentialFlags,
  debugLog,
  expectPositionals,
  jobsFlag,
  jsonFlag,
  printJson,
  referenceArg,
  storedImageArg,
  storePath,
  timeoutOption,
  warningLog,
} from "../_shared.ts";
import { type Command, UsageError } from "../command.ts";

/** `skiff push`. */
export const pushCommand: Command = {
  name: "push",
  args: "NAME [DEST]",
  summary: "push a stored image to a registry",
  usage: ["NAME [DEST] [options]"],
  description: `Pushes the stored image NAME (as pulled: [registry/]repository[:tag], or
    repository@digest, or its ID: sha256:<hex>, as skiff images shows it) to DEST
    ([registry/]repository[:tag]; default: NAME itself, which an ID has not). Blobs the registry
    has are skipped; the others are uploaded, checked against their digests as they are read from
    the store; the manifest goes last, then the tag.

    Prints one line to stdout: the destination and the digest it has.`,
  options: {
    ...storeOption("to read"),
    platform: {
      type: "string",
      value: "P",
      help: "which platforms of a stored multi-platform image:",
      choices: [
        [
          "(default)",
          `what is stored: the index as it is (its digest kept) when the store has all it lists,
            else (pull --platform a,b keeps the whole index) rewritten to list the stored
            platforms (said on stderr)`,
        ],
        [
          "all",
          `the index as it is (all it lists must be stored: else one line naming what is not, and
            what is)`,
        ],
        ["os/arch[/var]", "that platform's manifest alone (the tag names it; said on stderr)"],
        [
          "P1,P2,...",
          `those platforms and the attestations of theirs that are stored, every other field as it
            was: the index is rewritten (a new digest, said on stderr)`,
        ],
      ],
    },
    jobs: reword(JOBS_OPTION.jobs, "blobs to upload at once (default: 4)"),
    ...PLAIN_HTTP_OPTION,
    ...CREDENTIAL_OPTIONS,
    username: reword(
      CREDENTIAL_OPTIONS.username,
      "log in as U (default: the stored credentials, see skiff login)",
    ),
    ...QUIET_OPTION,
    json: reword(
      JSON_OPTION.json,
      `print the result as a JSON object instead of the line: source, destination, digest,
        sourceDigest, mediaType, root, platforms, manifests, blobs, bytesSent`,
    ),
    ...DEBUG_OPTION,
  },
  notes: `stderr says each blob pushed or already present. A platform that is not stored is one
    line naming it and what is, and nothing is sent.`,
  examples: [
    "skiff push alpine:3.20 127.0.0.1:5000/mirror/alpine:3.20",
    "skiff push --store ./images 127.0.0.1:5000/team/app:1  # back to where it came from",
    "skiff push --platform all alpine:3.20 127.0.0.1:5000/mirror/alpine:3.20",
    "skiff push --platform linux/arm64 alpine:3.20 127.0.0.1:5000/mirror/alpine:arm64",
    "skiff push --platform linux/amd64,linux/arm64 alpine:3.20 127.0.0.1:5000/mirror/alpine:3.20",
  ],
  more: [{ title: "Copy, push and mirroring", path: "mirroring.md#push" }],
  async run(ctx) {
    const { flags, io } = ctx;
    expectPositionals(ctx, 1, 2, "NAME [DEST]");
    const name = storedImageArg(ctx.positionals[0], ctx.usage);
    if (ctx.positionals[1] === undefined && !(name instanceof Reference)) {
      throw new UsageError(`an image ID has no name to push to: give DEST\n\n${ctx.usage}`);
    }
    const dest = referenceArg(ctx.positionals[1] ?? ctx.positionals[0], ctx.usage);
    let platforms: ReturnType<typeof parsePlatforms> | undefined;
    if (typeof flags.platform === "string") {
      try {
        platforms = parsePlatforms(flags.platform);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    const jobs = jobsFlag(ctx) ?? 4;
    const credentials = await credentialFlags(ctx);
    let renderer: { handle(e: ProgressEvent): void } | undefined;
    if (!flags.quiet) {
      const { LineRenderer } = await import("../line_renderer.ts");
      renderer = new LineRenderer(io.err, { moved: "pushed" });
    }
    const { push } = await import("../../copy/push.ts");
    const result = await push(name, dest, {
      store: storePath(ctx),
      jobs,
      ...(platforms !== undefined ? { platforms } : {}),
      signal: ctx.signal,
      ...timeoutOption(ctx),
      ...(flags["plain-http"] ? { plainHttp: true } : {}),
      ...(credentials ? { credentials } : {}),
      ...warningLog(ctx),
      ...debugLog(ctx),
      ...(renderer ? { onProgress: (e: ProgressEvent) => renderer!.handle(e) } : {}),
    });
    if (result.root === "rewritten") {
      io.err(
        safe`skiff: note: the index was rewritten to list ${result.platforms.join(", ")}: ` +
          `its digest is ${result.digest}, not the stored index's ${result.sourceDigest}\n`,
      );
    } else if (result.root === "platform") {
      io.err(
        safe`skiff: note: only ${result.platforms.join(", ")} was pushed: the destination names ` +
          `its manifest ${result.digest}, not the stored index ${result.sourceDigest}\n`,
      );
    }
    if (jsonFlag(ctx)) {
      printJson(ctx, {
        source: result.source,
        destination: result.destination,
        digest: result.digest,
        sourceDigest: result.sourceDigest,
        mediaType: result.mediaType,
        root: result.root,
        platforms: result.platforms,
        manifests: result.manifests,
        blobs: result.blobs,
        bytesSent: result.bytesSent,
      });
    } else {
      io.out(safe`${result.destination} ${result.digest}\n`);
    }
    return 0;
  },
};
