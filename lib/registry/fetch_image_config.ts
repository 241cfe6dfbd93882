/**
 * An image's config, from the registry: resolve the reference (and platform), then fetch and
 * verify the config blob.
 *
 * @module
 */

import { parseReference, type Reference } from "../reference/parse_reference.ts";
import { hostPlatform, normalizePlatform, parsePlatform } from "../oci/choose_platform.ts";
import { checkImagePlatform, configPlatform } from "../oci/check_image_platform.ts";
import { type ImageConfig, parseImageConfig } from "../oci/parse_image_config.ts";
import { ManifestError, type Platform } from "../oci/parse_manifest.ts";
import { clientFor } from "./remote_options.ts";
import { RegistryImageSource } from "./registry_image_source.ts";
import {
  readImageConfig,
  resolveManifest,
  type ResolveManifestOptions,
} from "./resolve_manifest.ts";

export { CONFIG_SIZE_LIMIT } from "../oci/parse_manifest.ts";

/** What {@linkcode fetchImageConfig} returns. */
export interface FetchedImageConfig {
  /** The canonical reference asked for. */
  reference: string;
  /** The digest of the image manifest the config belongs to. */
  manifestDigest: string;
  /** The index the manifest was chosen from, when the reference pointed at one. */
  indexDigest: string | undefined;
  /** The platform: the index entry's, else the config's. */
  platform: Platform | undefined;
  /** The config blob's digest. */
  digest: string;
  /** The config blob's exact bytes, verified. */
  bytes: Uint8Array;
  /** The parsed config. */
  config: ImageConfig;
}

/**
 * Fetches an image's config from the registry. When the reference points at an index, the
 * platform's manifest is used (by default `linux/` + this machine's architecture, as `pull`
 * does). The config blob is read whole (at most its declared size, and 64 MiB) and verified
 * against its digest.
 *
 * @param reference The image, e.g. `alpine:3.20`.
 * @param options The platform, and how to reach the registry.
 * @returns The config, its bytes and digest, and the manifest it came from.
 * @throws {SyntaxError} When the reference or platform is malformed, or the config is not JSON.
 * @throws {RegistryError} When the registry refuses (404: not found).
 * @throws {PlatformNotFoundError} When an index has no manifest for the platform, or an explicit
 * platform is not a single-platform image's.
 * @throws {DigestMismatchError} When a manifest or the config does not match its digest.
 *
 * @example The entrypoint of an image
 * ```ts ignore
 * import { fetchImageConfig } from "./fetch_image_config.ts";
 *
 * const { config } = await fetchImageConfig("alpine:3.20", { platform: "linux/arm64" });
 * console.log(config.config?.Entrypoint, config.config?.Cmd);
 * ```
 */
export async function fetchImageConfig(
  reference: string | Reference,
  options: ResolveManifestOptions = {},
): Promise<FetchedImageConfig> {
  const ref = typeof reference === "string" ? parseReference(reference) : reference;
  const client = await clientFor(ref, options);
  const m = await resolveManifest(ref, {
    ...options,
    client,
    platform: options.platform ?? hostPlatform(),
    checkPlatform: false, // checked below, on the config read anyway
  });
  if (m.kind !== "manifest") throw new ManifestError(`Cannot use ${ref}: not an image`);
  const { digest } = m.manifest.config;
  const source = new RegistryImageSource(client, ref.repository);
  const bytes = await readImageConfig(
    source,
    m.manifest.config,
    ref.toString(),
    options.signal ? { signal: options.signal } : {},
  );
  const config = parseImageConfig(bytes);
  let platform = m.platform;
  if (!platform) {
    platform = configPlatform(config);
    if (options.platform !== undefined) {
      const want = typeof options.platform === "string"
        ? parsePlatform(options.platform)
        : normalizePlatform(options.platform);
      checkImagePlatform(platform, want, ref.toString());
    }
  }
  return {
    reference: ref.toString(),
    manifestDigest: m.digest,
    indexDigest: m.indexDigest,
    platform,
    digest,
    bytes,
    config,
  };
}
