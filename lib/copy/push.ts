/**
 * `push()`: an image from the store to a registry.
 *
 * @module
 */

import { copyImage } from "../image/copy_image.ts";
import type { ProgressListener } from "../progress/progress_event.ts";
import { parseReference, type Reference } from "../reference/parse_reference.ts";
import { RegistryImageDestination } from "../registry/registry_image_destination.ts";
import type { RemoteOptions } from "../registry/remote_options.ts";
import { LayoutImageSource } from "../store/layout_image_source.ts";
import { findImageId, ImageId, storedImageRef } from "../store/resolve_stored_image.ts";
import { Store } from "../store/store.ts";
import { type CopyResult, parsePlatforms } from "./copy.ts";
import type { Platform } from "../oci/parse_manifest.ts";
import { planStoredPlatforms } from "../store/plan_stored_platforms.ts";

/** Options for {@linkcode push}. */
export interface PushOptions extends Omit<RemoteOptions, "client" | "config"> {
  /**
   * Which platforms of a stored index: `"all"` (the index byte for byte: every entry it lists must
   * be in the store), one (`"linux/arm64"`: its manifest alone), a comma-separated list or an
   * array (the index is rewritten to list them: a new digest, `root: "rewritten"`). Each platform
   * asked for must be stored. By default, what is stored: the index byte for byte when the store
   * holds everything it lists, else the stored platforms (the index rewritten to list them).
   * @default {the stored platforms}
   */
  platforms?: "all" | string | readonly Platform[];
  /**
   * The store to read from.
   * @default {Store.defaultPath()}
   */
  store?: string;
  /**
   * Blobs uploaded at once.
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
}

/**
 * Pushes a stored image to a registry: blobs the registry lacks are uploaded (verified as they
 * are read from the store, so a damaged store pushes nothing), then the manifest, then the tag.
 *
 * @param name The image as stored (`docker.io/library/alpine:3.20`, or `REPO@DIGEST`), or its ID
 *   (`sha256:<hex>`, a unique prefix of its digest: an image loaded without a name).
 * @param destination Where to, `[registry/]repository[:tag]`.
 * @param options The store, jobs, credentials, progress, abort signal.
 * @returns The destination's digest and what was done.
 * @throws {ImageNotFoundError} When the store has no such image, or not a platform asked for.
 * @throws {RegistryError} When the registry refuses (401/403: credentials with push access).
 *
 * @example Push a pulled image to a local registry
 * ```ts ignore
 * import { pull, push } from "@skiff/skiff";
 *
 * await pull("alpine:3.20", { store: "./images" });
 * const r = await push("alpine:3.20", "127.0.0.1:5000/mirror/alpine:3.20", { store: "./images" });
 * console.log(r.destination, r.digest);
 * ```
 *
 * @example Push two platforms of a stored index (the index is rewritten to list them)
 * ```ts ignore
 * import { push } from "@skiff/skiff";
 *
 * const r = await push("alpine:3.20", "127.0.0.1:5000/mirror/alpine:3.20", {
 *   platforms: "linux/amd64,linux/arm64",
 * });
 * if (r.root === "rewritten") console.error(`new index digest ${r.digest}`);
 * ```
 */
export async function push(
  name: string | Reference | ImageId,
  destination: string | Reference,
  options: PushOptions = {},
): Promise<CopyResult> {
  const from = storedImageRef(name);
  const to = typeof destination === "string" ? parseReference(destination) : destination;
  const { store: path, jobs, chunkSize, onProgress, platforms, ...remote } = options;
  const wanted = platforms === undefined ? undefined : parsePlatforms(platforms);
  const store = await Store.open(path ?? Store.defaultPath(), { create: false });
  const source = new LayoutImageSource(store);
  // an ID is the stored image's digest (the one image it begins): the source resolves digests
  const ref = from instanceof ImageId
    ? (await findImageId(store, from, "push")).digest
    : from.digest ?? from.toString();
  const plan = await planStoredPlatforms(
    store,
    await source.resolve(ref),
    wanted,
    from.toString(),
    "push",
  );
  const dst = new RegistryImageDestination(to, {
    ...remote,
    ...(chunkSize !== undefined ? { chunkSize } : {}),
  });
  const tag = to.digest === undefined ? to.tag : undefined;
  const result = await copyImage(source, ref, dst, {
    platforms: plan.platforms,
    absent: plan.absent,
    ...(tag !== undefined ? { tag } : {}),
    ...(jobs !== undefined ? { jobs } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(onProgress ? { onProgress } : {}),
    ...(options.onDebug ? { onDebug: options.onDebug } : {}),
  });
  return {
    ...result,
    referrers: 0, // the store keeps no referrers
    source: from.toString(),
    destination: tag !== undefined ? `${to.name}:${tag}` : `${to.name}@${result.digest}`,
  };
}
