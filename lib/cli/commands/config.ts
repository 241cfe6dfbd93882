// skiff config REF

import {
  CREDENTIAL_OPTIONS,
  exclusive,
  jsonFlag,
  oneReference,
  platformFlag,
  prettyJson,
  printJson,
  printRaw,
  remoteOptions,
  storePath,
  TIMEOUT_USAGE,
} from "../_shared.ts";
import { formatPlatform } from "../../oci/choose_platform.ts";
import type { Command } from "../command.ts";

const USAGE = `Usage: skiff config REF [options]

Prints the image config of REF (environment, entrypoint, command, layers' diff IDs,
history), from the registry, as indented JSON. Manifest and config are verified
against their digests; nothing is written to the store. With --local, from the
store alone (no network).

Options:
  --platform P       the platform to use from a multi-platform image
                     (default: linux/<this machine's architecture>)
  --local            read the image from the store (--store DIR), not the registry;
                     with --platform, choose from a stored index
  --raw              print the config blob's exact bytes (on a terminal, control
                     characters are shown as escapes)
  --json             print an object: reference, digest (the config's),
                     manifestDigest, indexDigest, platform, and the config itself
  --plain-http       speak plain HTTP to the registry
  -u, --username U   credentials for this request (default: the stored ones)
  --password-stdin   read the password from stdin (with --username)
${TIMEOUT_USAGE}
  --debug            show stack traces and transport details

Examples:
  skiff config alpine:3.20
  skiff config --platform linux/arm64 alpine:3.20
  skiff config --local --platform linux/arm64 alpine:3.20
`;

/** `skiff config`. */
export const configCommand: Command = {
  name: "config",
  summary: "config REF      print an image's config",
  usage: USAGE,
  options: {
    ...CREDENTIAL_OPTIONS,
    platform: { type: "string" },
    raw: { type: "boolean" },
    local: { type: "boolean" },
    json: { type: "boolean" },
    "plain-http": { type: "boolean" },
  },
  async run(ctx) {
    const ref = oneReference(ctx, "config", USAGE);
    const platform = platformFlag(ctx);
    exclusive(ctx, "raw", "json");
    let c;
    if (ctx.flags.local) {
      const [{ Store }, { readStoredManifest }, { hostPlatform }] = await Promise.all([
        import("../../store/store.ts"),
        import("../../store/read_stored_manifest.ts"),
        import("../../oci/choose_platform.ts"),
      ]);
      const store = await Store.open(storePath(ctx), { create: false });
      const s = await readStoredManifest(
        store,
        ref,
        platform ? { platform } : { defaultPlatform: hostPlatform() },
      );
      c = {
        reference: ref.toString(),
        digest: s.config!.digest,
        manifestDigest: s.digest,
        indexDigest: s.indexDigest,
        platform: s.platform,
        bytes: s.config!.bytes,
      };
    } else {
      const { fetchImageConfig } = await import("../../registry/fetch_image_config.ts");
      c = await fetchImageConfig(ref, {
        ...await remoteOptions(ctx),
        ...(platform ? { platform } : {}),
      });
    }
    if (ctx.flags.raw) {
      await printRaw(ctx, c.bytes);
    } else if (jsonFlag(ctx)) {
      printJson(ctx, {
        reference: c.reference,
        digest: c.digest,
        manifestDigest: c.manifestDigest,
        indexDigest: c.indexDigest ?? null,
        platform: c.platform ? formatPlatform(c.platform) : null,
        config: JSON.parse(new TextDecoder().decode(c.bytes)),
      });
    } else {
      ctx.io.out(prettyJson(c.bytes, `config ${c.digest}`));
    }
    return 0;
  },
};
