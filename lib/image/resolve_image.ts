/**
 * What a name points at in any image source, and with a platform, the platform's image manifest:
 * the one resolution the read-only queries share (`resolveManifest`, `fetchImageConfig`, and
 * with them `skiff inspect` and `skiff config`).
 *
 * @module
 */

import { choosePlatform } from "../oci/choose_platform.ts";
import {
  type Descriptor,
  ManifestError,
  type ParsedManifest,
  parseManifest,
  type Platform,
} from "../oci/parse_manifest.ts";
import type { ImageSource, SourceRequestOptions } from "./image_source.ts";

/** A manifest or index as a source served it. */
export interface SourcedManifest {
  /** Its descriptor (with the index entry's platform, for a chosen one). */
  descriptor: Descriptor;
  /** Its exact bytes, verified against the digest. */
  bytes: Uint8Array;
  /** The parsed document. */
  parsed: ParsedManifest;
}

/** What {@linkcode resolveImage} found. */
export interface ResolvedImage {
  /** What the name points at. */
  root: SourcedManifest;
  /** With a platform and an index at the root: that platform's image manifest; else the root. */
  chosen: SourcedManifest;
  /** The chosen index entry's platform, when one was chosen. */
  platform: Platform | undefined;
}

/**
 * Resolves `ref` at `source`; with `platform`, an index is resolved to that platform's image
 * manifest (by the same rules as `pull` and `copy`: `choosePlatform`).
 *
 * @param source Where the image is.
 * @param ref Its name there (a tag or a digest).
 * @param platform The platform wanted, if any.
 * @param name The image's name, for messages.
 * @param options Abort signal.
 * @returns The root, the chosen manifest, and its platform.
 * @throws {PlatformNotFoundError} When the index has no manifest for the platform.
 * @throws {ManifestError} When the chosen entry is itself an index.
 *
 * @example The host's image of a multi-platform name
 * ```ts ignore
 * import { resolveImage } from "./resolve_image.ts";
 * import { RegistryImageSource } from "../registry/registry_image_source.ts";
 * import { parseReference } from "../reference/parse_reference.ts";
 * import { hostPlatform } from "../oci/choose_platform.ts";
 *
 * const ref = parseReference("alpine:3.20");
 * const source = await RegistryImageSource.open(ref);
 * const found = await resolveImage(source, ref.identifier, hostPlatform(), ref.toString());
 * console.log(found.chosen.descriptor.digest, found.platform);
 * ```
 */
export async function resolveImage(
  source: ImageSource,
  ref: string,
  platform: Platform | undefined,
  name: string,
  options: SourceRequestOptions = {},
): Promise<ResolvedImage> {
  const resolved = await source.resolve(ref, options);
  const rootParsed = parseManifest(resolved.bytes, resolved.descriptor.mediaType);
  const root: SourcedManifest = {
    descriptor: { ...resolved.descriptor, mediaType: rootParsed.mediaType },
    bytes: resolved.bytes,
    parsed: rootParsed,
  };
  if (platform === undefined || rootParsed.kind !== "index") {
    return { root, chosen: root, platform: undefined };
  }
  const entry = choosePlatform(rootParsed.index, platform, name);
  const bytes = await source.manifest(entry, options);
  const parsed = parseManifest(bytes, entry.mediaType);
  if (parsed.kind !== "manifest") {
    throw new ManifestError(
      `Cannot use ${name}: the index entry for ${entry.platform?.os}/` +
        `${entry.platform?.architecture} is itself an index`,
    );
  }
  return { root, chosen: { descriptor: entry, bytes, parsed }, platform: entry.platform };
}
