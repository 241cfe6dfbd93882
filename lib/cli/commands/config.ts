// skiff config REF

import { JSON_OPTION, LOCAL_OPTION, PLATFORM_OPTION, REMOTE_OPTIONS, reword } from "../_options.ts";
import {
  exclusive,
  jsonFlag,
  oneReference,
  platformFlag,
  prettyJson,
  printJson,
  printRaw,
  remoteOptions,
  storePath,
} from "../_shared.ts";
import { formatPlatform } from "../../oci/choose_platform.ts";
import type { Command } from "../command.ts";

/** `skiff config`. */
export const configCommand: Command = {
  name: "config",
  args: "REF",
  summary: "print an image's config",
  usage: ["REF [options]"],
  description: `Prints the image config of REF (environment, entrypoint, command, layers' diff IDs,
    history), from the registry, as indented JSON. Manifest and config are verified against their
    digests; nothing is written to the store. With --local, from the store alone (no network).`,
  options: {
    platform: reword(
      PLATFORM_OPTION.platform,
      `the platform to use from a multi-platform image (default: linux/<this machine's
        architecture>)`,
    ),
    ...LOCAL_OPTION,
    raw: {
      type: "boolean",
      help: `print the config blob's exact bytes (on a terminal, control characters are shown as
        escapes)`,
    },
    json: reword(
      JSON_OPTION.json,
      `print an object: reference, digest (the config's), manifestDigest, indexDigest, platform,
        and the config itself`,
    ),
    ...REMOTE_OPTIONS,
  },
  examples: [
    "skiff config alpine:3.20",
    "skiff config alpine:3.20 | jq .config.Cmd",
    "skiff config --platform linux/arm64 alpine:3.20",
    "skiff config --local --platform linux/arm64 alpine:3.20",
  ],
  async run(ctx) {
    const ref = oneReference(ctx, "config", ctx.usage);
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
