/**
 * An image's config, from the registry: resolve the reference (and platform), then fetch and
 * verify the config blob.
 *
 * @module
 */

import { computeDigest } from "../reference/compute_digest.ts";
import { DigestMismatchError, SizeMismatchError } from "../reference/digest_mismatch_error.ts";
import { parseDigest } from "../reference/parse_digest.ts";
import { parseReference, type Reference } from "../reference/parse_reference.ts";
import { readCapped } from "../transport/fetcher.ts";
import { hostPlatform } from "./choose_platform.ts";
import { type ImageConfig, parseImageConfig } from "./parse_image_config.ts";
import { CONFIG_SIZE_LIMIT, ManifestError, type Platform } from "./parse_manifest.ts";
import type { RegistrySource } from "./mirrored_registry.ts";
import { clientFor } from "./remote_options.ts";
import { resolveManifest, type ResolveManifestOptions } from "./resolve_manifest.ts";

export { CONFIG_SIZE_LIMIT } from "./parse_manifest.ts";

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
 * @throws {PlatformNotFoundError} When an index has no manifest for the platform.
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
  });
  if (m.kind !== "manifest") throw new ManifestError(`Cannot use ${ref}: not an image`);
  const { digest, size } = m.manifest.config;
  const what = `config ${digest} of ${ref}`;
  if (size > CONFIG_SIZE_LIMIT) {
    throw new RangeError(`Cannot read ${what}: ${size} bytes is more than ${CONFIG_SIZE_LIMIT}`);
  }
  let bytes: Uint8Array;
  for (;;) {
    try {
      bytes = await readConfig(client, ref.repository, digest, size, what, options.signal);
      break;
    } catch (e) {
      // a mirror that failed in any way is not asked again: the next source serves it
      if (options.signal?.aborted || !client.distrust?.(digest)) throw e;
    }
  }
  const config = parseImageConfig(bytes);
  let platform = m.platform;
  if (!platform && config.os && config.architecture) {
    platform = { os: config.os, architecture: config.architecture };
    if (config.variant) platform.variant = config.variant;
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

async function readConfig(
  client: RegistrySource,
  repository: string,
  digest: string,
  size: number,
  what: string,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  const res = await client.getBlob(repository, digest, signal ? { signal } : {});
  let bytes: Uint8Array;
  try {
    bytes = await readCapped(res, size, what);
  } catch (e) {
    if (e instanceof RangeError) {
      throw new SizeMismatchError(what, size, size + 1, "the server sent too many bytes");
    }
    throw e;
  }
  if (bytes.byteLength !== size) throw new SizeMismatchError(what, size, bytes.byteLength);
  const actual = await computeDigest(bytes, parseDigest(digest).algorithm);
  if (actual !== digest) throw new DigestMismatchError(what, digest, actual);
  return bytes;
}
