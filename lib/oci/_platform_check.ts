// One rule for "is this single-platform image the platform that was asked for", used by pull
// (from the registry and from the store), unpack, inspect, config and digest: an explicit
// --platform that the image does not have is an error naming both, as docker says it.

import { choosePlatform, formatPlatform, PlatformNotFoundError } from "./choose_platform.ts";
import type { Descriptor, Platform } from "./parse_manifest.ts";
import type { ImageConfig } from "./parse_image_config.ts";

/** The platform an image config declares, when it declares one. */
export function configPlatform(config: ImageConfig): Platform | undefined {
  if (!config.os || !config.architecture) return undefined;
  const p: Platform = { os: config.os, architecture: config.architecture };
  if (config.variant) p.variant = config.variant;
  return p;
}

/** Whether an image of platform `have` is what `want` asks for (by the rules of an index). */
export function platformMatches(have: Platform, want: Platform): boolean {
  const entry: Descriptor = {
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: "sha256:" + "0".repeat(64),
    size: 0,
    platform: have,
  };
  try {
    choosePlatform({ schemaVersion: 2, manifests: [entry] }, want);
    return true;
  } catch (e) {
    if (e instanceof PlatformNotFoundError) return false;
    throw e;
  }
}

/**
 * Throws when a single-platform image's platform is known and is not the one asked for. An image
 * whose config names no platform is taken as it is.
 *
 * @throws {PlatformNotFoundError} Naming the wanted platform and the image's.
 */
export function checkImagePlatform(
  have: Platform | undefined,
  want: Platform,
  image: string,
): void {
  if (have === undefined || platformMatches(have, want)) return;
  throw new PlatformNotFoundError(formatPlatform(want), [formatPlatform(have)], image);
}
