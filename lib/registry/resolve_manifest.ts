/**
 * What a reference points at, from the registry: the manifest or index, verified, and with a
 * platform, the platform's image manifest.
 *
 * @module
 */

import { parseReference, type Reference } from "../reference/parse_reference.ts";
import { choosePlatform, normalizePlatform, parsePlatform } from "../oci/choose_platform.ts";
import { checkImagePlatform, configPlatform } from "../oci/_platform_check.ts";
import { parseImageConfig } from "../oci/parse_image_config.ts";
import { readConfig } from "./_read_config.ts";
import { ManifestError, type Platform } from "../oci/parse_manifest.ts";
import type { FetchedManifest } from "./registry_client.ts";
import { clientFor, type RemoteOptions } from "./remote_options.ts";

/** Options for {@linkcode resolveManifest}. */
export interface ResolveManifestOptions extends RemoteOptions {
  /**
   * When the reference points at an index, return the image manifest for this platform
   * (`os/arch[/variant]` or an object) instead of the index. A single-platform image is checked
   * against it (its config is fetched): another platform is a `PlatformNotFoundError` naming
   * both.
   * @default {the index itself}
   */
  platform?: string | Platform;
  /**
   * With `platform`, check a single-platform image's config against it.
   * @default {true}
   */
  checkPlatform?: boolean;
}

/** What {@linkcode resolveManifest} returns: a verified manifest and where it came from. */
export type ResolvedManifest = FetchedManifest & {
  /** The canonical reference asked for, e.g. `docker.io/library/alpine:3.20`. */
  reference: string;
  /** The index the platform's manifest was chosen from, when one was. */
  indexDigest: string | undefined;
  /**
   * The platform of the chosen index entry, when one was chosen; with `platform` and a
   * single-platform image, its config's.
   */
  platform: Platform | undefined;
};

/**
 * Fetches what a reference points at: its manifest or index, read with a 4 MiB cap and verified
 * against its digest. With `platform`, an index is resolved to that platform's image manifest
 * (fetched by digest and verified too). Nothing is written anywhere.
 *
 * @param reference The image, e.g. `alpine:3.20` or `ghcr.io/org/app@sha256:...`.
 * @param options The platform, and how to reach the registry.
 * @returns The manifest, its exact bytes, digest and parsed document.
 * @throws {SyntaxError} When the reference or platform is malformed.
 * @throws {RegistryError} When the registry refuses (404: not found).
 * @throws {PlatformNotFoundError} When the index has no manifest for the platform, or a
 * single-platform image is for another one.
 * @throws {DigestMismatchError} When the bytes do not match the digest.
 *
 * @example The arm64 manifest of a multi-platform image
 * ```ts ignore
 * import { resolveManifest } from "./resolve_manifest.ts";
 *
 * const m = await resolveManifest("alpine:3.20", { platform: "linux/arm64" });
 * if (m.kind === "manifest") console.log(m.digest, m.indexDigest, m.manifest.layers.length);
 * ```
 */
export async function resolveManifest(
  reference: string | Reference,
  options: ResolveManifestOptions = {},
): Promise<ResolvedManifest> {
  const ref = typeof reference === "string" ? parseReference(reference) : reference;
  const want = options.platform === undefined
    ? undefined
    : typeof options.platform === "string"
    ? parsePlatform(options.platform)
    : normalizePlatform(options.platform);
  const client = await clientFor(ref, options);
  const request = options.signal ? { signal: options.signal } : {};
  const top = await client.getManifest(ref.repository, ref.identifier, request);
  if (want === undefined || top.kind !== "index") {
    let platform: Platform | undefined;
    if (want !== undefined && top.kind === "manifest" && options.checkPlatform !== false) {
      const config = await readConfig(client, ref, top.manifest.config, options.signal);
      platform = configPlatform(parseImageConfig(config));
      checkImagePlatform(platform, want, ref.toString());
    }
    return { ...top, reference: ref.toString(), indexDigest: undefined, platform };
  }
  const entry = choosePlatform(top.index, want, ref.toString());
  const image = await client.getManifest(ref.repository, entry.digest, request);
  if (image.kind !== "manifest") {
    throw new ManifestError(
      `Cannot use ${ref}: the index entry for ${entry.platform?.os}/` +
        `${entry.platform?.architecture} is itself an index`,
    );
  }
  return { ...image, reference: ref.toString(), indexDigest: top.digest, platform: entry.platform };
}
