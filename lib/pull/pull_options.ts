/**
 * What a pull takes and gives: {@linkcode PullOptions}, {@linkcode PullResult} and the types
 * around them (kept apart from `pull.ts` so that the pull's helpers can name them without an
 * import cycle).
 *
 * @module
 */

import type { BlobWrittenListener } from "../image/blob_written.ts";
import type { ProgressListener } from "../progress/progress_event.ts";
import type { ImageConfig } from "../oci/parse_image_config.ts";
import type { Descriptor, ImageManifest, Platform } from "../oci/parse_manifest.ts";
import type { RemoteOptions } from "../registry/remote_options.ts";
import type { Store } from "../store/store.ts";

/**
 * Follows a pull while it runs, for a consumer that uses blobs as they arrive (the streaming
 * unpack). Both callbacks run synchronously inside the pull and must not throw.
 */
export interface PullObserver {
  /** The image manifest (its stored form) and its digest, once chosen, before any blob. */
  manifest?: (manifest: ImageManifest, digest: string) => void;
  /**
   * Bytes of a blob on disk so far, and its commit; blobs the store already had are told
   * committed at once.
   */
  written?: BlobWrittenListener;
  /**
   * The consumer reads the layers in their order as they download: the first layer not yet
   * downloaded then gets the network first, and the next ones read ahead only while it waits on
   * the network (`copyImage`'s `inOrder`).
   * @default {false}
   */
  inOrder?: boolean;
}

/**
 * When {@linkcode pull} asks the registry:
 *
 * - `always`: check that the name still points at what the store has (one `HEAD` request by
 *   tag, none by digest when everything is present), and fetch what is missing.
 * - `missing`: when the name is in the store and complete (manifest, config, every layer), use
 *   it with no request at all; else pull as `always` does.
 * - `never`: use the store alone; fail with {@linkcode ImageNotFoundError} when the name is not
 *   there or not complete.
 */
export type PullPolicy = "always" | "missing" | "never";

/** Options for {@linkcode pull}: how to reach the registry, and what to pull where. */
export interface PullOptions extends RemoteOptions {
  /**
   * When to ask the registry; see {@linkcode PullPolicy}. With `missing` and `never`, an explicit
   * `platform` must also match the stored image's.
   * @default {"always"}
   */
  policy?: PullPolicy;
  /**
   * The store: a directory or an open {@linkcode Store}.
   * @default {Store.defaultPath()}
   */
  store?: string | Store;
  /**
   * The platform to pull from a multi-platform image: `os/arch[/variant]` or an object; or
   * several (a comma-separated list, or an array), or `"all"` (everything the index lists,
   * attestations too). With more than one, the name's entry in the store is the index (its
   * exact bytes) and the result is the index's, with each platform in `platforms`.
   * @default {"linux/<host arch>"}
   */
  platform?: string | Platform | readonly (string | Platform)[];
  /**
   * How many blobs download at once.
   * @default {4}
   */
  jobs?: number;
  /**
   * Milliseconds without a byte after which a blob download is aborted and resumed with Range.
   * @default {30000}
   */
  stallTimeout?: number;
  /** Receives typed progress events. */
  onProgress?: ProgressListener;
  /**
   * Follows the manifest and the blobs' bytes as they land (see {@linkcode PullObserver}).
   * @default {undefined}
   */
  observer?: PullObserver;
}

/** What {@linkcode pull} returns. */
export interface PullResult {
  /** The canonical reference the image is stored under, e.g. `docker.io/library/alpine:3.20`. */
  reference: string;
  /**
   * The registry's digest of the image manifest (the platform's manifest for an index): what
   * `REPO@DIGEST` fetches from any registry that has the image, and what every command takes.
   */
  digest: string;
  /**
   * The digest of the manifest as stored. A single-platform Docker schema 2 image is stored as
   * its OCI conversion, as skopeo does, so that OCI tools (umoci) find it; the registry's
   * original is kept beside it in `blobs/`. Config and layers are the registry's bytes either
   * way. The same as `digest` when nothing was converted.
   */
  storedDigest: string;
  /** The stored manifest's media type. */
  mediaType: string;
  /** The index the reference pointed at, if it was one. */
  indexDigest: string | undefined;
  /** The image's platform, from the index entry or the config. */
  platform: Platform | undefined;
  /** The image manifest. */
  manifest: ImageManifest;
  /** The image config. */
  config: ImageConfig;
  /** The layer descriptors, base first. */
  layers: Descriptor[];
  /** The store's directory. */
  store: string;
  /** Bytes transferred for blobs in this pull (0 when everything was present). */
  bytesFetched: number;
  /**
   * With several platforms asked for: each one pulled, in the order asked (with `"all"`, the
   * index's). Then `digest` is the index's, and `manifest`, `config` and `layers` the first
   * platform's.
   */
  platforms?: PulledPlatform[];
}

/** One platform of a pull of several (see {@linkcode PullResult}). */
export interface PulledPlatform {
  /** Its platform. */
  platform: Platform | undefined;
  /** The registry's digest of its manifest. */
  digest: string;
  /** The digest of its manifest as stored. */
  storedDigest: string;
}
