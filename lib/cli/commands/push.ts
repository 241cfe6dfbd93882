// skiff push NAME [DEST]

import { parsePlatforms } from "../../copy/parse_platforms.ts";
import { Reference } from "../../reference/parse_reference.ts";
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
  storedImageArg,
  storePath,
  TIMEOUT_USAGE,
  timeoutOption,
  warningLog,
} from "../_shared.ts";
import { type Command, UsageError } from "../command.ts";

const USAGE = `Usage: skiff push NAME [DEST] [options]

Pushes the stored image NAME (as pulled: [registry/]repository[:tag], or
repository@digest, or its ID: sha256:<hex>, as skiff images shows it) to DEST
([registry/]repository[:tag]; default: NAME itself, which an ID has not).
Blobs the registry has are skipped; the others are uploaded, checked against
their digests as they are read from the store; the manifest goes last, then the tag.
Prints one line to stdout: the destination and the digest it has.

Options:
  --store DIR        the OCI image layout to read
  --platform P       which platforms of a stored multi-platform image:
                       (default)        what is stored: the index as it is when the
                                        store has all it lists, else rewritten to
                                        list the stored platforms (said on stderr)
                       all              the index as it is (all it lists must be stored)
                       os/arch[/var]    that platform's manifest alone
                       P1,P2,...        those platforms: the index is rewritten
                                        (a new digest, said on stderr)
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
  skiff push --platform linux/amd64,linux/arm64 alpine:3.20 127.0.0.1:5000/mirror/alpine:3.20
`;

/** `skiff push`. */
export const pushCommand: Command = {
  name: "push",
  summary: "push NAME [DEST] push a stored image to a registry",
  usage: USAGE,
  options: {
    platform: { type: "string" },
    jobs: { type: "string" },
    "plain-http": { type: "boolean" },
    quiet: { type: "boolean", short: "q" },
    ...CREDENTIAL_OPTIONS,
    json: { type: "boolean" },
  },
  async run(ctx) {
    const { flags, io } = ctx;
    expectPositionals(ctx, 1, 2, "NAME [DEST]");
    const name = storedImageArg(ctx.positionals[0], USAGE);
    if (ctx.positionals[1] === undefined && !(name instanceof Reference)) {
      throw new UsageError(`an image ID has no name to push to: give DEST\n\n${USAGE}`);
    }
    const dest = referenceArg(ctx.positionals[1] ?? ctx.positionals[0], USAGE);
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
