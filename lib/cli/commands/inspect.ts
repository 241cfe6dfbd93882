// skiff inspect REF

import { JSON_OPTION, LOCAL_OPTION, REMOTE_OPTIONS, reword } from "../_options.ts";
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
import { parseManifest } from "../../oci/parse_manifest.ts";
import { formatPlatform } from "../../oci/choose_platform.ts";
import type { Command } from "../command.ts";

/** `skiff inspect`. */
export const inspectCommand: Command = {
  name: "inspect",
  args: "REF",
  summary: "print an image's manifest or index",
  usage: ["REF [options]"],
  description: `Prints the manifest or index REF points at, from the registry, as indented JSON.
    Its digest is verified; nothing is written to the store. With --local, from the store alone (no
    network): the registry's bytes, which skiff keeps beside the OCI conversion of a Docker image.`,
  options: {
    platform: {
      type: "string",
      value: "P",
      help: `from a multi-platform image, print the manifest for P (os/arch[/variant]) instead of
        the index; a single-platform image is printed as it is`,
    },
    ...LOCAL_OPTION,
    raw: {
      type: "boolean",
      help: `print the exact bytes the registry sent (what the digest is of; on a terminal, control
        characters are shown as escapes)`,
    },
    json: reword(
      JSON_OPTION.json,
      `print an object: reference, digest, mediaType, size, indexDigest, platform, and the manifest
        itself (with --local, storedDigest too: the OCI conversion's, for a Docker image)`,
    ),
    ...REMOTE_OPTIONS,
  },
  examples: [
    "skiff inspect alpine:3.20",
    "skiff inspect --platform linux/arm64 alpine:3.20",
    "skiff inspect --local --platform linux/arm64 alpine:3.20",
    "skiff inspect --raw 127.0.0.1:5000/team/app:1.2 | sha256sum  # the digest",
    "skiff inspect --json alpine:3.20 | jq .digest",
  ],
  async run(ctx) {
    const ref = oneReference(ctx, "inspect", ctx.usage);
    const platform = platformFlag(ctx);
    exclusive(ctx, "raw", "json");
    let m;
    if (ctx.flags.local) {
      const [{ Store }, { readStoredManifest }] = await Promise.all([
        import("../../store/store.ts"),
        import("../../store/read_stored_manifest.ts"),
      ]);
      const store = await Store.open(storePath(ctx), { create: false });
      const s = await readStoredManifest(store, ref, platform ? { platform } : {});
      m = {
        reference: ref.toString(),
        digest: s.digest,
        storedDigest: s.storedDigest,
        mediaType: parseManifest(s.bytes).mediaType,
        bytes: s.bytes,
        indexDigest: s.indexDigest,
        platform: s.platform,
      };
    } else {
      const { resolveManifest } = await import("../../registry/resolve_manifest.ts");
      m = await resolveManifest(ref, {
        ...await remoteOptions(ctx),
        ...(platform ? { platform } : {}),
      });
    }
    if (ctx.flags.raw) {
      await printRaw(ctx, m.bytes);
    } else if (jsonFlag(ctx)) {
      printJson(ctx, {
        reference: m.reference,
        digest: m.digest,
        mediaType: m.mediaType,
        size: m.bytes.byteLength,
        ...("storedDigest" in m ? { storedDigest: m.storedDigest } : {}),
        indexDigest: m.indexDigest ?? null,
        platform: m.platform ? formatPlatform(m.platform) : null,
        manifest: JSON.parse(new TextDecoder().decode(m.bytes)),
      });
    } else {
      ctx.io.out(prettyJson(m.bytes, `manifest ${m.digest}`));
    }
    return 0;
  },
};
