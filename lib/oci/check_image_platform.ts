/**
 * One rule for "is this single-platform image the platform that was asked for", used by pull
 * (from the registry and from the store), unpack, inspect, config, digest, push and save: an
 * explicit `--platform` that the image does not have is an error naming both, as docker says it.
 *
 * @module
 */

import { choosePlatform, formatPlatform, PlatformNotFoundError } from "./choose_platform.ts";
import type { Descriptor, Platform } from "./parse_manifest.ts";
import type { ImageConfig } from "./parse_image_config.ts";

/**
 * The platform an image config declares, when it declares one.
 *
 * @param config The image config.
 * @returns Its `os`, `architecture` and `variant`, or `undefined` when it names no platform.
 *
 * @example
 * ```ts
 * import { configPlatform } from "./check_image_platform.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(configPlatform({ os: "linux", architecture: "arm", variant: "v7" }), {
 *   os: "linux",
 *   architecture: "arm",
 *   variant: "v7",
 * });
 * assert.equal(configPlatform({}), undefined);
 * ```
 */
export function configPlatform(config: ImageConfig): Platform | undefined {
  if (!config.os || !config.architecture) return undefined;
  const p: Platform = { os: config.os, architecture: config.architecture };
  if (config.variant) p.variant = config.variant;
  return p;
}

/**
 * Whether an image of platform `have` is what `want` asks for, by the rules `choosePlatform`
 * applies to an index (normalised names, variants).
 *
 * @param have The image's platform.
 * @param want The platform asked for.
 * @returns `true` when an index listing only `have` would give it for `want`.
 *
 * @example
 * ```ts
 * import { platformMatches } from "./check_image_platform.ts";
 * import assert from "node:assert/strict";
 *
 * const arm64 = { os: "linux", architecture: "arm64", variant: "v8" };
 * assert.ok(platformMatches(arm64, { os: "linux", architecture: "arm64" }));
 * assert.ok(!platformMatches(arm64, { os: "linux", architecture: "amd64" }));
 * ```
 */
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
 * @param have The image's platform, when known.
 * @param want The platform asked for.
 * @param image The image's name, for the message.
 * @throws {PlatformNotFoundError} Naming the wanted platform and the image's.
 *
 * @example
 * ```ts
 * import { checkImagePlatform } from "./check_image_platform.ts";
 * import assert from "node:assert/strict";
 *
 * const amd64 = { os: "linux", architecture: "amd64" };
 * checkImagePlatform(amd64, amd64, "app:1");
 * checkImagePlatform(undefined, amd64, "app:1"); // unknown: taken as it is
 * assert.throws(
 *   () => checkImagePlatform(amd64, { os: "linux", architecture: "arm64" }, "app:1"),
 *   /linux\/arm64/,
 * );
 * ```
 */
export function checkImagePlatform(
  have: Platform | undefined,
  want: Platform,
  image: string,
): void {
  if (have === undefined || platformMatches(have, want)) return;
  throw new PlatformNotFoundError(formatPlatform(want), [formatPlatform(have)], image);
}
