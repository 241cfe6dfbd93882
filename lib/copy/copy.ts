/**
 * `copy()`: an image from one registry to another (or to another repository of the same one),
 * streamed, every platform by default, byte for byte.
 *
 * @module
 */

import { copyImage, type CopyImageResult } from "../image/copy_image.ts";
import type { ProgressListener } from "../progress/progress_event.ts";
import { parseReference, type Reference } from "../reference/parse_reference.ts";
import type { Platform } from "../oci/parse_manifest.ts";
import { RegistryImageDestination } from "../registry/registry_image_destination.ts";
import { RegistryImageSource } from "../registry/registry_image_source.ts";
import { clientFor, type RemoteOptions } from "../registry/remote_options.ts";
import { carryReferrers, referrerProblem } from "./carry_referrers.ts";
import { parsePlatforms } from "./parse_platforms.ts";

export { parsePlatforms };

/** Options for {@linkcode copy}. */
export interface CopyOptions extends Omit<RemoteOptions, "client"> {
  /**
   * Which platforms of an index: `"all"`, one (`"linux/arm64"`: its manifest alone is copied), a
   * comma-separated list or an array (the index is rewritten to list them: a new digest).
   * @default {"all"}
   */
  platforms?: "all" | string | readonly Platform[];
  /**
   * Blobs copied at once.
   * @default {4}
   */
  jobs?: number;
  /**
   * Bytes per upload request (`PATCH`) for large blobs.
   * @default {8 MiB}
   */
  chunkSize?: number;
  /** Progress events, as for `pull()`. */
  onProgress?: ProgressListener;
  /**
   * Carry the referrers (signatures, SBOMs, attestations: the OCI referrers API, its fallback
   * index, cosign-style tags) of every manifest copied, digests kept; on a destination without
   * the referrers API its fallback index is written.
   * @default {true}
   */
  referrers?: boolean;
  /**
   * How deep referrers of referrers are followed (1: only the image's own referrers; 2: also a
   * signature on an SBOM; ...). Each digest is looked up once, so loops end.
   * @default {4}
   */
  referrerDepth?: number;
}

/** What {@linkcode copy} did. */
export interface CopyResult extends CopyImageResult {
  /** The source, canonical. */
  source: string;
  /** The destination, canonical (with the tag written, or `@digest`). */
  destination: string;
  /** Referrers copied with it (those the destination had already are not counted). */
  referrers: number;
  /**
   * Set when some referrers could not be carried (a malformed answer, a cap, a refusal): what
   * went wrong. The image itself was copied and tagged all the same; the referrers that could be
   * carried were.
   */
  referrersError?: string;
}

/**
 * Copies an image between registries without storing it: blobs stream from the source to the
 * destination with their digests checked on the way (mounted instead when both are repositories
 * of one registry), then the manifests, children first, then the tag.
 *
 * @param source The image to copy, `[registry/]repository[:tag][@digest]`.
 * @param destination Where to, `[registry/]repository[:tag]` (the source's tag when none is given;
 *   `@digest` to write no tag, which must then be the digest copied).
 * @param options Platforms, jobs, credentials, progress, abort signal.
 * Referrers are secondary: when some cannot be carried (a malformed referrer at the source, a
 * cap, a destination refusing one), the image's copy stands, and the result says what went wrong
 * in `referrersError`.
 *
 * @returns The destination's digest and what was done.
 * @throws {PlatformNotFoundError} When a wanted platform is not in the index.
 * @throws {DigestMismatchError} When the source serves bytes that do not match their digest.
 * @throws {RegistryError} When a registry refuses (401/403: credentials with push access needed).
 *
 * @example Copy every platform of an image to another registry
 * ```ts ignore
 * import { copy } from "@skiff/skiff";
 *
 * const result = await copy("docker.io/library/alpine:3.20", "127.0.0.1:5000/mirror/alpine:3.20");
 * console.log(result.digest === result.sourceDigest); // true: byte for byte
 * ```
 *
 * @example Copy two platforms (the index is rewritten)
 * ```ts ignore
 * import { copy } from "@skiff/skiff";
 *
 * const r = await copy("ghcr.io/org/app:1", "127.0.0.1:5000/org/app:1", {
 *   platforms: "linux/amd64,linux/arm64",
 * });
 * if (r.root === "rewritten") console.error(`new index digest ${r.digest}`);
 * ```
 */
export async function copy(
  source: string | Reference,
  destination: string | Reference,
  options: CopyOptions = {},
): Promise<CopyResult> {
  const from = typeof source === "string" ? parseReference(source) : source;
  let to = typeof destination === "string" ? parseReference(destination) : destination;
  const explicitTag = typeof destination !== "string" || /:[^/@]+(@|$)/.test(lastPart(destination));
  if (!explicitTag && to.digest === undefined && from.tag !== undefined) {
    to = to.with({ tag: from.tag });
  }
  const { platforms, jobs, chunkSize, onProgress, referrers: carry, referrerDepth, ...remote } =
    options;
  const src = await RegistryImageSource.open(from, remote);
  const dst = new RegistryImageDestination(to, {
    ...remote,
    ...(chunkSize !== undefined ? { chunkSize } : {}),
  });
  const tag = to.digest === undefined ? to.tag : undefined;
  const result = await copyImage(src, from.digest ?? from.tag ?? "latest", dst, {
    platforms: parsePlatforms(platforms ?? "all"),
    ...(tag !== undefined ? { tag } : {}),
    ...(jobs !== undefined ? { jobs } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(onProgress ? { onProgress } : {}),
    ...(options.onDebug ? { onDebug: options.onDebug } : {}),
  });
  if (to.digest !== undefined && to.digest !== result.digest) {
    throw new Error(
      `Cannot copy ${from} to ${to}: the image copied has the digest ${result.digest}`,
    );
  }
  let referrers = 0;
  let referrersError: string | undefined;
  if (carry ?? true) {
    const carried = await carryReferrers({
      sourceRef: from,
      sourceClient: src.client,
      source: src,
      destination: dst,
      // the destination is read as it is: never through the mirrors configured for its registry
      destinationClient: await clientFor(to, { ...remote, config: { registries: {} } }),
      destinationRepository: to.repository,
      ...(referrerDepth !== undefined ? { depth: referrerDepth } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onDebug ? { onDebug: options.onDebug } : {}),
    }, [result.digest, ...result.manifests.map((m) => m.digest)]);
    referrers = carried.copied;
    referrersError = referrerProblem(carried.problems);
  }
  return {
    ...result,
    referrers,
    ...(referrersError !== undefined ? { referrersError } : {}),
    source: from.toString(),
    destination: tag !== undefined ? `${to.name}:${tag}` : `${to.name}@${result.digest}`,
  };
}

function lastPart(ref: string): string {
  return ref.slice(ref.lastIndexOf("/") + 1);
}
