// skiff push NAME [DEST]

import type { ProgressEvent } from "../../progress/progress_event.ts";
import { safe } from "../../progress/escape_text.ts";
import {
  CREDENTIAL_OPTIONS,
  credentialFlags,
  debugLog,
  expectPositionals,
  jobsFlag,
  jsonFlag,
  printJson,
  referenceArg,
  storePath,
  TIMEOUT_USAGE,
  timeoutOption,
  warningLog,
} from "../_shared.ts";
import type { Command } from "../command.ts";

const USAGE = `Usage: skiff push NAME [DEST] [options]

Pushes the stored image NAME (as pulled: [registry/]repository[:tag], or
repository@digest) to DEST ([registry/]repository[:tag]; default: NAME itself).
Blobs the registry has are skipped; the others are uploaded, checked against
their digests as they are read from the store; the manifest goes last, then the tag.
Prints one line to stdout: the destination and the digest it has.

Options:
  --store DIR        the OCI image layout to read
  --jobs N           blobs to upload at once (default: 4)
  --plain-http       speak plain HTTP to the registry
  -u, --username U   log in as U (default: the stored credentials, see skiff login)
  --password-stdin   read the password from stdin (with --username)
${TIMEOUT_USAGE}
  -q, --quiet        print only the result line
  --json             print the result as a JSON object instead of the line
  --debug            show stack traces and transport details

Examples:
  skiff push alpine:3.20 127.0.0.1:5000/mirror/alpine:3.20
`;

/** `skiff push`. */
export const pushCommand: Command = {
  name: "push",
  summary: "push NAME [DEST] push a stored image to a registry",
  usage: USAGE,
  options: {
    jobs: { type: "string" },
    "plain-http": { type: "boolean" },
    quiet: { type: "boolean", short: "q" },
    ...CREDENTIAL_OPTIONS,
    json: { type: "boolean" },
  },
  async run(ctx) {
    const { flags, io } = ctx;
    expectPositionals(ctx, 1, 2, "NAME [DEST]");
    const name = referenceArg(ctx.positionals[0], USAGE);
    const dest = referenceArg(ctx.positionals[1] ?? ctx.positionals[0], USAGE);
    const jobs = jobsFlag(ctx) ?? 4;
    const credentials = await credentialFlags(ctx);
    let renderer: { handle(e: ProgressEvent): void } | undefined;
    if (!flags.quiet) {
      const { LineRenderer } = await import("../../progress/line_renderer.ts");
      renderer = new LineRenderer(io.err);
    }
    const { push } = await import("../../copy/push.ts");
    const result = await push(name, dest, {
      store: storePath(ctx),
      jobs,
      signal: ctx.signal,
      ...timeoutOption(ctx),
      ...(flags["plain-http"] ? { plainHttp: true } : {}),
      ...(credentials ? { credentials } : {}),
      ...warningLog(ctx),
      ...debugLog(ctx),
      ...(renderer ? { onProgress: (e: ProgressEvent) => renderer!.handle(e) } : {}),
    });
    if (jsonFlag(ctx)) {
      printJson(ctx, {
        source: result.source,
        destination: result.destination,
        digest: result.digest,
        mediaType: result.mediaType,
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
