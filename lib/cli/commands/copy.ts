// skiff copy SRC DEST

import { parsePlatforms } from "../../copy/parse_platforms.ts";
import type { ProgressEvent } from "../../progress/progress_event.ts";
import { safe } from "../../progress/escape_text.ts";
import {
  CREDENTIAL_OPTIONS,
  DEBUG_OPTION,
  JOBS_OPTION,
  JSON_OPTION,
  PLAIN_HTTP_OPTION,
  PLATFORMS_OPTION,
  QUIET_OPTION,
  reword,
} from "../_options.ts";
import {
  credentialFlags,
  debugLog,
  expectPositionals,
  jobsFlag,
  jsonFlag,
  printJson,
  referenceArg,
  timeoutOption,
  warningLog,
} from "../_shared.ts";
import { type Command, UsageError } from "../command.ts";
import { progressRenderer } from "../_renderer.ts";

/** `skiff copy`. */
export const copyCommand: Command = {
  name: "copy",
  args: "SRC DEST",
  summary: "copy an image between registries",
  usage: ["SRC DEST [options]"],
  description: `Copies the image SRC ([registry/]repository[:tag][@digest]) to DEST
    ([registry/]repository[:tag]) registry to registry, streaming: nothing is stored, no blob is
    held whole in memory, every byte is checked against its digest on the way, and the destination
    gets the same manifest digests as the source. Blobs the destination has are skipped; blobs of
    another repository of the same registry are mounted. DEST without a tag gets SRC's tag.

    Prints one line to stdout: the destination and the digest it has.`,
  options: {
    ...PLATFORMS_OPTION,
    jobs: reword(JOBS_OPTION.jobs, "blobs to copy at once (default: 4)"),
    "no-referrers": {
      type: "boolean",
      help: `do not carry referrers (signatures, SBOMs, attestations and cosign-style tags); they
        are carried by default, and one that cannot be (malformed at SRC, a cap) is a warning, not
        a failure: the image is copied all the same`,
    },
    "plain-http": reword(PLAIN_HTTP_OPTION["plain-http"], "speak plain HTTP to both registries"),
    ...CREDENTIAL_OPTIONS,
    username: reword(
      CREDENTIAL_OPTIONS.username,
      "log in as U to both registries (default: the stored credentials, see skiff login)",
    ),
    ...QUIET_OPTION,
    json: reword(
      JSON_OPTION.json,
      `print the result as a JSON object instead of the line: source, destination, digest,
        sourceDigest, mediaType, root (same, platform or rewritten), platforms, manifests, blobs
        (copied, existing, mounted), bytesSent, bytesResent, referrers; referrersError when some
        could not be carried`,
    ),
    debug: reword(DEBUG_OPTION.debug, "show stack traces and transport details (resumes, mounts)"),
  },
  notes: `Progress goes to stderr as for pull, each blob said copied, mounted (from the source's
    repository of the same registry) or already present.`,
  examples: [
    "skiff copy alpine:3.20 127.0.0.1:5000/mirror/alpine:3.20  # every platform, byte for byte",
    "skiff copy 127.0.0.1:5000/team/app:1 127.0.0.1:5000/release/app  # blobs mounted",
    "skiff copy --platform linux/arm64 ghcr.io/org/app:1 registry.local/app:1",
    "skiff copy --platform linux/amd64,linux/arm64 ghcr.io/org/app:1 registry.local/app:1",
    "skiff copy --json -q ghcr.io/org/app:1 registry.local/app:1",
  ],
  more: [{ title: "Copy, push and mirroring: how images move", path: "mirroring.md#copy" }],
  async run(ctx) {
    const { flags, io } = ctx;
    expectPositionals(ctx, 2, 2, "SRC and DEST");
    const source = referenceArg(ctx.positionals[0], ctx.usage);
    referenceArg(ctx.positionals[1], ctx.usage);
    let platforms: ReturnType<typeof parsePlatforms> = "all";
    if (typeof flags.platform === "string") {
      try {
        platforms = parsePlatforms(flags.platform);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    const jobs = jobsFlag(ctx) ?? 4;
    const credentials = await credentialFlags(ctx);
    const renderer = flags.quiet ? undefined : await progressRenderer(ctx, "copied");
    let result;
    try {
      const { copy } = await import("../../copy/copy.ts");
      result = await copy(source, ctx.positionals[1]!, {
        platforms,
        jobs,
        ...(flags["no-referrers"] ? { referrers: false } : {}),
        signal: ctx.signal,
        ...timeoutOption(ctx),
        ...(flags["plain-http"] ? { plainHttp: true } : {}),
        ...(credentials ? { credentials } : {}),
        ...warningLog(ctx),
        ...(renderer ? { onProgress: (e: ProgressEvent) => renderer.handle(e) } : {}),
        ...(renderer?.log
          ? { onDebug: (line: string) => renderer.log!(`debug: ${line}\n`) }
          : debugLog(ctx)),
      });
    } catch (e) {
      renderer?.finish?.(ctx.signal.aborted ? "interrupted" : "failed");
      throw e;
    }
    renderer?.finish?.("done");
    if (result.root === "rewritten") {
      io.err(
        safe`skiff: note: the index was rewritten to list ${result.platforms.join(", ")}: ` +
          `its digest is ${result.digest}, not the source's ${result.sourceDigest}\n`,
      );
    } else if (result.root === "platform") {
      io.err(
        safe`skiff: note: only ${result.platforms.join(", ")} was copied: the destination names ` +
          `its manifest ${result.digest}, not the source's index ${result.sourceDigest}\n`,
      );
    }
    if (result.referrersError !== undefined) {
      // secondary: the image was copied and tagged, exit 0
      io.err(
        safe`skiff: warning: ${result.destination} was copied, but not all its referrers: ` +
          safe`${result.referrersError} (--no-referrers copies without them)\n`,
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
        bytesResent: result.bytesResent,
        referrers: result.referrers,
        ...(result.referrersError !== undefined ? { referrersError: result.referrersError } : {}),
      });
    } else {
      io.out(safe`${result.destination} ${result.digest}\n`);
    }
    return 0;
  },
};
