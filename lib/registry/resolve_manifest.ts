/**
 * What a reference points at, from the registry: the manifest or index, verified, and with a
 * platform, the platform's image manifest.
 *
 * @module
 */

import { parseReference, type Reference } from "../reference/parse_reference.ts";
import { normalizePlatform, parsePlatform } from "../oci/choose_platform.ts";
import { checkImagePlatform, configPlatform } from "../oci/check_image_platform.ts";
import { parseImageConfig } from "../oci/parse_image_config.ts";
import { CONFIG_SIZE_LIMIT, type Platform } from "../oci/parse_manifest.ts";
import { readBlobBytes } from "../image/read_blob_bytes.ts";
import { resolveImage } from "../image/resolve_image.ts";
import type { FetchedManifest } from "./registry_client.ts";
import { RegistryImageSource } from "./registry_image_source.ts";
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
  const name = ref.toString();
  const want = options.platform === undefined
    ? undefined
    : typeof options.platform === "string"
    ? parsePlatform(options.platform)
    : normalizePlatform(options.platform);
  // the engine's source and resolution: what inspect shows is what pull and copy would take
  const source = new RegistryImageSource(await clientFor(ref, options), ref.repository);
  const request = options.signal ? { signal: options.signal } : {};
  const found = await resolveImage(source, ref.identifier, want, name, request);
  const { chosen } = found;
  let platform = found.platform;
  if (
    want !== undefined && found.root === chosen && chosen.parsed.kind === "manifest" &&
    options.checkPlatform !== false
  ) {
    const config = await readImageConfig(source, chosen.parsed.manifest.config, name, request);
    platform = configPlatform(parseImageConfig(config));
    checkImagePlatform(platform, want, name);
  }
  return {
    ...chosen.parsed,
    digest: chosen.descriptor.digest,
    bytes: chosen.bytes,
    reference: name,
    indexDigest: found.root === chosen ? undefined : found.root.descriptor.digest,
    platform,
  };
}

/**
 * An image's config blob whole: at most its declared size (and 64 MiB), verified.
 *
 * @param source The registry repository.
 * @param config The config's descriptor.
 * @param name The image, for messages.
 * @param options Abort signal.
 * @returns Its exact bytes.
 */
export function readImageConfig(
  source: RegistryImageSource,
  config: { mediaType: string; digest: string; size: number },
  name: string,
  options: { signal?: AbortSignal } = {},
): Promise<Uint8Array> {
  return readBlobBytes(source, config, {
    limit: CONFIG_SIZE_LIMIT,
    what: `config ${config.digest} of ${name}`,
    signal: options.signal,
  });
}
