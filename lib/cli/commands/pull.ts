// skiff pull REF

import { safe } from "../../progress/escape_text.ts";
import { formatPlatform, parsePlatformList } from "../../oci/choose_platform.ts";
import type { PullPolicy } from "../../pull/pull.ts";
import {
  CREDENTIAL_OPTIONS,
  credentialFlags,
  debugLog,
  jobsFlag,
  jsonFlag,
  oneReference,
  printJson,
  storePath,
  TIMEOUT_USAGE,
  timeoutFlag,
  warningLog,
} from "../_shared.ts";
import { type Command, UsageError } from "../command.ts";
import { progressRenderer } from "../_renderer.ts";

const USAGE = `Usage: skiff pull REF [options]

Pulls REF ([registry/]repository[:tag][@digest]) into the store, verifying every byte.
Prints one line to stdout: the canonical name and the registry's digest of the image
manifest (what REPO@DIGEST fetches anywhere; of the index, with several platforms).

Options:
  --store DIR        the OCI image layout to pull into
  --platform P       os/arch[/variant] to pull from a multi-platform image
                     (default: linux/<this machine's architecture>); several,
                     comma-separated (linux/amd64,linux/arm64), or "all" (every
                     platform and attestation): the store then keeps the index
                     as the name, and pulling another platform later adds to it
  --pull POLICY      when to ask the registry (default: always):
                       always   check the name with the registry (one HEAD
                                request when the image is already here)
                       missing  no request at all when the name is already in
                                the store and complete
                       never    use the store only; fail when the image is not there
  --jobs N           blobs to download at once (default: 4)
  --plain-http       speak plain HTTP to the registry (loopback registries fall
                     back to it on their own when TLS fails)
  -u, --username U   log in as U for this pull (default: the credentials docker
                     and podman stored, see skiff login)
  --password-stdin   read the password from stdin (with --username)
${TIMEOUT_USAGE}
  -q, --quiet        print only the result line
  --json             print the result as a JSON object instead of the line
  --debug            show stack traces and transport details

Progress goes to stderr: live bars on a terminal (no colors when NO_COLOR is set),
one line per blob otherwise.

Examples:
  skiff pull alpine:3.20
  skiff pull --platform linux/arm64 ghcr.io/org/app@sha256:<digest>
  skiff pull --platform linux/amd64,linux/arm64 alpine:3.20
  skiff pull --platform all alpine:3.20
  skiff pull --store ./images 127.0.0.1:5000/team/app:1.2
  skiff pull --pull missing alpine:3.20
`;

const POLICIES: readonly PullPolicy[] = ["always", "missing", "never"];

/** `skiff pull`. */
export const pullCommand: Command = {
  name: "pull",
  summary: "pull REF        pull an image into the store",
  usage: USAGE,
  options: {
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
    const ref = oneReference(ctx, "pull", USAGE);
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
