// skiff pull REF

import { LineRenderer } from "../../progress/line_renderer.ts";
import { pull } from "../../pull/pull.ts";
import {
  CREDENTIAL_OPTIONS,
  credentialFlags,
  debugLog,
  platformFlag,
  referenceArg,
  storePath,
  warningLog,
} from "../_shared.ts";
import { type Command, UsageError } from "../command.ts";

const USAGE = `Usage: skiff pull REF [options]

Pulls REF ([registry/]repository[:tag][@digest]) into the store, verifying every byte.
Prints one line to stdout: the canonical name and the digest of the stored manifest.

Options:
  --store DIR        the OCI image layout to pull into
  --platform P       os/arch[/variant] to pull from a multi-platform image
                     (default: linux/<this machine's architecture>)
  --jobs N           blobs to download at once (default: 4)
  --plain-http       speak plain HTTP to the registry (loopback registries fall
                     back to it on their own when TLS fails)
  -u, --username U   log in as U for this pull (default: the credentials docker
                     and podman stored, see skiff login)
  --password-stdin   read the password from stdin (with --username)
  -q, --quiet        print only the result line
  --debug            show stack traces and transport details

Examples:
  skiff pull alpine:3.20
  skiff pull --platform linux/arm64 ghcr.io/org/app@sha256:<digest>
  skiff pull --store ./images 127.0.0.1:5000/team/app:1.2
`;

/** `skiff pull`. */
export const pullCommand: Command = {
  name: "pull",
  summary: "pull REF        pull an image into the store",
  usage: USAGE,
  options: {
    platform: { type: "string" },
    jobs: { type: "string" },
    "plain-http": { type: "boolean" },
    quiet: { type: "boolean", short: "q" },
    ...CREDENTIAL_OPTIONS,
  },
  async run(ctx) {
    const { flags, positionals, io } = ctx;
    if (positionals.length > 1) {
      throw new UsageError(`pull takes one reference, got ${positionals.length}`);
    }
    const ref = referenceArg(positionals[0], USAGE);
    const platform = platformFlag(ctx);
    let jobs = 4;
    if (typeof flags.jobs === "string") {
      jobs = Number(flags.jobs);
      if (!/^\d+$/.test(flags.jobs) || jobs < 1 || jobs > 64) {
        throw new UsageError(`--jobs must be a whole number from 1 to 64, got "${flags.jobs}"`);
      }
    }
    const credentials = await credentialFlags(ctx);
    const renderer = flags.quiet ? undefined : new LineRenderer(io.err);
    const result = await pull(ref, {
      store: storePath(ctx),
      jobs,
      signal: ctx.signal,
      ...(platform ? { platform } : {}),
      ...(flags["plain-http"] ? { plainHttp: true } : {}),
      ...(credentials ? { credentials } : {}),
      ...warningLog(ctx),
      ...(renderer ? { onProgress: (e) => renderer.handle(e) } : {}),
      ...debugLog(ctx),
    });
    io.out(`${result.reference} ${result.digest}\n`);
    return 0;
  },
};
