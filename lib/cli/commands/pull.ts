// skiff pull REF

import { safe } from "../../progress/escape_text.ts";
import { formatPlatform, parsePlatformList } from "../../oci/choose_platform.ts";
import type { PullPolicy } from "../../pull/pull.ts";
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
  jobsFlag,
  jsonFlag,
  oneReference,
  printJson,
  storePath,
  timeoutFlag,
  warningLog,
} from "../_shared.ts";
import { type Command, UsageError } from "../command.ts";
import { progressRenderer } from "../_renderer.ts";

const POLICIES: readonly PullPolicy[] = ["always", "missing", "never"];

/** `skiff pull`. */
export const pullCommand: Command = {
  name: "pull",
  args: "REF",
  summary: "pull an image into the store",
  usage: ["REF [options]"],
  description: `Pulls REF ([registry/]repository[:tag][@digest]) into the store, verifying every
    byte. Prints one line to stdout: the canonical name and the registry's digest of the image
    manifest (what REPO@DIGEST fetches anywhere; of the index, with several platforms).`,
  options: {
    ...storeOption("to pull into"),
    platform: {
      type: "string",
      value: "P",
      help: `os/arch[/variant] to pull from a multi-platform image (default: linux/<this machine's
        architecture>); several, comma-separated (linux/amd64,linux/arm64), or "all" (every
        platform and attestation): the store then keeps the index as the name, and pulling another
        platform later adds to it`,
    },
    pull: {
      type: "string",
      value: "POLICY",
      help: "when to ask the registry (default: always):",
      choices: [
        [
          "always",
          "check the name with the registry (one HEAD request when the image is already here)",
        ],
        ["missing", "no request at all when the name is already in the store and complete"],
        ["never", "use the store only; fail when the image is not there"],
      ],
    },
    ...JOBS_OPTION,
    "plain-http": reword(
      PLAIN_HTTP_OPTION["plain-http"],
      `speak plain HTTP to the registry (loopback registries fall back to it on their own when TLS
        fails)`,
    ),
    ...CREDENTIAL_OPTIONS,
    username: reword(
      CREDENTIAL_OPTIONS.username,
      `log in as U for this pull (default: the credentials docker and podman stored, see skiff
        login)`,
    ),
    ...QUIET_OPTION,
    json: reword(
      JSON_OPTION.json,
      `print the result as a JSON object instead of the line: reference, digest, storedDigest,
        mediaType, indexDigest, platform, config, layers, size, bytesFetched, store; platforms with
        several`,
    ),
    ...DEBUG_OPTION,
  },
  notes: `Progress goes to stderr. On a terminal: live bars, one line per blob (short digest, bar,
    bytes of total, speed) and a total line with speed and ETA, redrawn in place at most ten times
    a second (no colors when NO_COLOR is set); when the pull ends, fails or is interrupted, the
    last frame stays as a summary (done, already present, stopped at ...) with the cursor below
    it. Elsewhere (a pipe, a log, TERM=dumb): one line per blob.`,
  examples: [
    "skiff pull alpine:3.20",
    "skiff pull --platform linux/arm64 ghcr.io/org/app@sha256:<digest>",
    "skiff pull --platform linux/amd64,linux/arm64 alpine:3.20  # two platforms, one name",
    "skiff pull --platform all alpine:3.20  # every platform and attestation of the index",
    "skiff pull --store ./images 127.0.0.1:5000/team/app:1.2",
    "skiff pull --pull missing alpine:3.20  # no request at all when it is already here",
    "skiff pull --pull never alpine:3.20  # offline: the store or a clear error",
    "skiff pull --json -q alpine:3.20  # the result as JSON, no progress",
  ],
  more: [
    { title: "The store: what a pull writes, and names", path: "store.md" },
    { title: "Registries: credentials, mirrors, limits", path: "registries.md" },
  ],
  async run(ctx) {
    const { flags, io } = ctx;
    const ref = oneReference(ctx, "pull", ctx.usage);
    // one platform, a comma-separated list, or "all"
    let platform: string | undefined;
    if (typeof flags.platform === "string") {
      try {
        parsePlatformList(flags.platform);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      platform = flags.platform;
    }
    const jobs = jobsFlag(ctx) ?? 4;
    let policy: PullPolicy = "always";
    if (typeof flags.pull === "string") {
      if (!POLICIES.includes(flags.pull as PullPolicy)) {
        throw new UsageError(`--pull must be always, missing or never, got "${flags.pull}"`);
      }
      policy = flags.pull as PullPolicy;
    }
    const credentials = await credentialFlags(ctx);
    const timeout = timeoutFlag(ctx);
    const renderer = flags.quiet ? undefined : await progressRenderer(ctx);
    let result;
    try {
      const { pull } = await import("../../pull/pull.ts");
      result = await pull(ref, {
        store: storePath(ctx),
        jobs,
        policy,
        signal: ctx.signal,
        ...(platform ? { platform } : {}),
        ...(flags["plain-http"] ? { plainHttp: true } : {}),
        ...(credentials ? { credentials } : {}),
        ...(timeout !== undefined ? { timeout } : {}),
        ...warningLog(ctx),
        onProgress: (e) => {
          if (e.type === "blob-start") ctx.partialDownloads = true;
          renderer?.handle(e);
        },
        ...(renderer?.log
          ? { onDebug: (line) => renderer.log!(safe`debug: ${line}\n`) }
          : debugLog(ctx)),
      });
    } catch (e) {
      renderer?.finish?.(ctx.signal.aborted ? "interrupted" : "failed");
      throw e;
    }
    renderer?.finish?.("done");
    if (jsonFlag(ctx)) {
      printJson(ctx, {
        reference: result.reference,
        digest: result.digest,
        storedDigest: result.storedDigest,
        mediaType: result.mediaType,
        indexDigest: result.indexDigest ?? null,
        platform: result.platform ? formatPlatform(result.platform) : null,
        config: result.manifest.config,
        layers: result.layers,
        size: [result.manifest.config, ...result.layers].reduce((n, b) => n + b.size, 0),
        bytesFetched: result.bytesFetched,
        store: result.store,
        ...(result.platforms
          ? {
            platforms: result.platforms.map((p) => ({
              platform: p.platform ? formatPlatform(p.platform) : null,
              digest: p.digest,
              storedDigest: p.storedDigest,
            })),
          }
          : {}),
      });
    } else {
      io.out(safe`${result.reference} ${result.digest}\n`);
    }
    return 0;
  },
};
