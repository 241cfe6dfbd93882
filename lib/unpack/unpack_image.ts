/**
 * The unpack pipeline: an image's layers, base first, each verified while it streams, into any
 * {@linkcode UnpackSink}. The layers come from the store, or, when the store lacks the image,
 * from a pull running at the same time: a layer is applied while it downloads.
 *
 * @module
 */

import type { ProgressEvent, ProgressListener } from "../progress/progress_event.ts";
import { pull, type PullOptions } from "../pull/pull.ts";
import { DigestMismatchError, SizeMismatchError } from "../reference/digest_mismatch_error.ts";
import type { Reference } from "../reference/parse_reference.ts";
import {
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  PlatformNotFoundError,
} from "../oci/choose_platform.ts";
import { layerCompression } from "../oci/media_types.ts";
import type { ImageConfig } from "../oci/parse_image_config.ts";
import type { ImageManifest, Platform } from "../oci/parse_manifest.ts";
import { Store } from "../store/store.ts";
import {
  ImageId,
  resolveImageId,
  resolveStoredImage,
  storedImageRef,
} from "../store/resolve_stored_image.ts";
import { LayerChangedError } from "./layer_changed_error.ts";
import type { BlobFeed, SinkFactory, UnpackSink } from "./sink.ts";

/** Options for {@linkcode unpackImage}. */
export interface UnpackImageOptions {
  /**
   * The store: a directory or an open {@linkcode Store}.
   * @default {Store.defaultPath()}
   */
  store?: string | Store;
  /**
   * The platform, `os/arch[/variant]` or an object; an image stored for another platform is
   * pulled again for this one.
   * @default {"linux/<host arch>"}
   */
  platform?: string | Platform;
  /**
   * `missing`: use the stored image when it is there complete, else pull it while unpacking;
   * `never`: fail instead of pulling; `always`: pull (a check of the tag when everything is
   * there) while unpacking.
   * @default {"missing"}
   */
  pull?: "missing" | "never" | "always";
  /**
   * Options for that pull: registry transport, credentials, concurrency.
   * @default {{}}
   */
  pullOptions?: Omit<PullOptions, "store" | "platform" | "signal" | "onProgress" | "observer">;
  /**
   * The most tar entries (whiteouts included) of all layers together.
   * @default {1000000}
   */
  maxEntries?: number;
  /**
   * The most uncompressed tar bytes of all layers together.
   * @default {68719476736}
   */
  maxBytes?: number;
  /** Aborts the unpack (and the pull); the sink is aborted. */
  signal?: AbortSignal;
  /** Receives the pull's progress events and one `layer-unpacked` event per layer. */
  onProgress?: ProgressListener;
}

/** What {@linkcode unpackImage} returns. */
export interface UnpackImageResult {
  /** The canonical reference, e.g. `docker.io/library/alpine:3.20`. */
  reference: string;
  /** The registry's digest of the image manifest that was unpacked (what `pull` prints). */
  digest: string;
  /** The digest of that manifest as stored (its OCI conversion, for a Docker schema 2 image). */
  storedDigest: string;
  /** The number of layers applied. */
  layers: number;
  /** Tar entries read, whiteouts included. */
  entries: number;
  /** Whiteouts applied. */
  whiteouts: number;
  /** Bytes of file content written. */
  bytes: number;
  /** Device nodes skipped because the caller may not make them (not root, or `owners: false`). */
  skippedDevices: number;
  /** Whether the image was pulled (while it was unpacked). */
  pulled: boolean;
}

const DEFAULT_MAX_BYTES = 64 * 1024 ** 3;
const READ_SIZE = 1024 * 1024;

/**
 * Unpacks an image's layers into a sink, base first, each read once as a stream: the blob
 * checked against its digest and size, decompressed (gzip, zstd or plain tar), checked against
 * the config's `rootfs.diff_ids`, and handed to the sink.
 *
 * When the store does not have the image complete, it is pulled, and unpacked at the same time:
 * the layers download concurrently, and each is applied while its bytes land in the store's
 * ingest file, first what the file holds, then following the download (which resumes broken
 * transfers underneath). Any failure (a digest or diff_id mismatch, a hostile layer, the pull's
 * own) aborts the pull and the sink; the blobs that were verified stay in the store.
 *
 * @param reference The image, e.g. `alpine:3.20` or `127.0.0.1:5000/team/app@sha256:...`, or a
 *   stored image's ID (`sha256:<hex>`, a unique prefix of its digest: the store only, never
 *   pulled).
 * @param makeSink Makes the sink once the image's manifest and config are known.
 * @param options Store, platform, pull policy and options, limits, progress and signal.
 * @returns What was unpacked.
 * @throws {SyntaxError} When the reference or platform is malformed.
 * @throws {ImageNotFoundError} When an image ID names no complete image of the store.
 * @throws {DigestMismatchError} When a layer or its tar does not match its digest.
 * @throws {Error} When a layer is malformed or hostile, a limit is passed, or the sink fails.
 *
 * @example Count an image's bytes with a sink of one's own
 * ```ts ignore
 * import { unpackImage } from "./unpack_image.ts";
 *
 * let bytes = 0;
 * await unpackImage("alpine:3.20", () => ({
 *   entries: 0,
 *   whiteouts: 0,
 *   bytes: 0,
 *   skippedDevices: 0,
 *   async applyLayer(tar) {
 *     for await (const chunk of tar) bytes += chunk.byteLength;
 *   },
 *   finish() {},
 * }), { store: "./images" });
 * console.log(bytes);
 * ```
 */
export async function unpackImage(
  reference: string | Reference | ImageId,
  makeSink: SinkFactory,
  options: UnpackImageOptions = {},
): Promise<UnpackImageResult> {
  const ref = storedImageRef(reference);
  const name = ref.toString();
  const maxEntries = options.maxEntries ?? 1_000_000;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  for (const [what, n] of [["maxEntries", maxEntries], ["maxBytes", maxBytes]] as const) {
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new RangeError(`Cannot unpack with ${what} ${n}: expected a positive integer`);
    }
  }
  const policy = options.pull ?? "missing";
  if (policy !== "missing" && policy !== "never" && policy !== "always") {
    throw new TypeError(`Cannot unpack with pull "${policy}": expected missing, never or always`);
  }
  const want = options.platform === undefined
    ? hostPlatform()
    : typeof options.platform === "string"
    ? parsePlatform(options.platform)
    : normalizePlatform(options.platform);
  const signal = options.signal;
  signal?.throwIfAborted();
  const store = options.store instanceof Store
    ? options.store
    : await Store.open(options.store ?? Store.defaultPath());
  const explicit = options.platform !== undefined;
  // an ID names the store's image, whatever the policy: no registry has it
  let image = ref instanceof ImageId
    ? await resolveImageId(store, ref, explicit ? { platform: want } : { defaultPlatform: want })
    : policy === "always"
    ? undefined
    : await findStored(store, ref, want, explicit);
  if (!image && policy === "never") {
    // the store alone answers, as `pull --pull never` does: not there, or stored for another
    // platform (a PlatformNotFoundError naming both)
    const stored = await pull(ref as Reference, {
      ...options.pullOptions,
      store,
      platform: want,
      policy: "never",
      ...(signal ? { signal } : {}),
    });
    image = {
      digest: stored.digest,
      storedDigest: stored.storedDigest,
      manifest: stored.manifest,
      config: stored.config,
    };
  }
  // loaded only now: node:zlib and node:crypto cost start-up time to every other command
  const layers = await import("./read_layer.ts");
  const run = new Run(name, store, makeSink, layers, maxEntries, maxBytes, options);
  return image ? await run.fromStore(image) : await run.streaming(ref as Reference, want);
}

interface StoredImage {
  /** The registry's digest. */
  digest: string;
  /** The stored manifest's (what the sink is told: the same on every path). */
  storedDigest: string;
  manifest: ImageManifest;
  config: ImageConfig;
}

type LayerReading = typeof import("./read_layer.ts");
type ReadLayer = LayerReading["readLayer"];

/** One unpack: the image's layers into the sink, from the store or from a running pull. */
class Run {
  #name: string;
  #store: Store;
  #makeSink: SinkFactory;
  #readLayer: ReadLayer;
  #checkStoredLayer: LayerReading["checkStoredLayer"];
  #maxEntries: number;
  #budget: { bytes: number; max: number };
  #options: UnpackImageOptions;
  #signal: AbortSignal | undefined;

  constructor(
    name: string,
    store: Store,
    makeSink: SinkFactory,
    layers: LayerReading,
    maxEntries: number,
    maxBytes: number,
    options: UnpackImageOptions,
  ) {
    this.#name = name;
    this.#store = store;
    this.#makeSink = makeSink;
    this.#readLayer = layers.readLayer;
    this.#checkStoredLayer = layers.checkStoredLayer;
    this.#maxEntries = maxEntries;
    this.#budget = { bytes: 0, max: maxBytes };
    this.#options = options;
    this.#signal = options.signal;
  }

  #emit(event: ProgressEvent): void {
    try {
      this.#options.onProgress?.(event);
    } catch {
      // a listener's failure must not break the unpack
    }
  }

  /** Every layer from the store's blobs. */
  async fromStore(image: StoredImage): Promise<UnpackImageResult> {
    this.#check(image.manifest, image.config);
    const sink = await this.#sink(image);
    try {
      // a layer that broke: a damaged blob in the store is the cause to report, with its mend
      await this.#applyAll(
        sink,
        image,
        () => undefined,
        (digest) => this.#checkStoredLayer(this.#store, digest, this.#signal),
        undefined,
      );
      await sink.finish();
      this.#signal?.throwIfAborted();
    } catch (e) {
      await sink.abort?.();
      throw e;
    }
    return this.#result(sink, image, false);
  }

  /** A pull and the unpack at once: each layer follows its download. */
  async streaming(ref: Reference, want: Platform): Promise<UnpackImageResult> {
    const { BlobFollower } = await import("./_blob_follower.ts");
    const follower = new BlobFollower(this.#store);
    const stop = new AbortController();
    const pullSignal = this.#signal ? AbortSignal.any([this.#signal, stop.signal]) : stop.signal;
    const pulling = pull(ref, {
      ...this.#options.pullOptions,
      policy: "always", // the store was found lacking: the registry is asked in every case
      store: this.#store,
      platform: want,
      signal: pullSignal,
      ...(this.#options.onProgress ? { onProgress: this.#options.onProgress } : {}),
      observer: {
        manifest: (manifest, digest) => follower.manifest(manifest, digest),
        written: (event) => follower.written(event),
        inOrder: true, // layers are applied one after another
      },
    });
    // the pull's own failure (before this unpack stopped it) is the cause to report: a platform
    // that is not there, a digest mismatch, a refusal; what the applying side saw is its effect
    let pullFailed: { error: unknown } | undefined;
    pulling.then(() => follower.ended(), (error) => {
      if (!stop.signal.aborted) pullFailed = { error };
      follower.ended({ error });
    });
    let sink: UnpackSink | undefined;
    try {
      const { manifest, digest } = await follower.image();
      if (!(await follower.settled(manifest.config.digest, this.#signal))) {
        throw follower.failure?.error ?? new Error(`Cannot unpack ${this.#name}: no config`);
      }
      const config = await this.#store.readConfig(manifest.config);
      // the observer tells the stored digest; the registry's is the pull's result
      const image = { digest, storedDigest: digest, manifest, config };
      this.#check(manifest, config);
      sink = await this.#sink(image);
      try {
        await this.#applyAll(
          sink,
          image,
          (digest) => follower.read(digest, READ_SIZE, this.#signal),
          async (digest) => {
            // a layer that broke while it streamed: the download's verdict on the same bytes (a
            // digest mismatch after its retry, say) is the cause to report, when there is one
            const committed = await follower.settled(digest, this.#signal);
            if (!committed && follower.failure) throw follower.failure.error;
          },
          follower,
        );
      } catch (e) {
        if (!(e instanceof LayerChangedError)) throw e;
        // a download started over under a layer applied without a hash of its own: what was
        // applied is not known to be the verified bytes. Start over, from the store, once the
        // pull verified every blob (a rare path: a server that ignores Range, a bad first copy)
        const discarded = sink;
        sink = undefined;
        await discarded.abort?.();
        image.digest = (await pulling).digest;
        this.#budget.bytes = 0;
        return { ...(await this.fromStore(image)), pulled: true };
      }
      // every blob verified and the name in index.json before the result appears
      image.digest = (await pulling).digest;
      await sink.finish();
      this.#signal?.throwIfAborted();
      return this.#result(sink, image, true);
    } catch (e) {
      stop.abort(e);
      await pulling.catch(() => {});
      await sink?.abort?.();
      if (pullFailed && !this.#signal?.aborted) throw pullFailed.error;
      throw e;
    }
  }

  async #sink(image: StoredImage): Promise<UnpackSink> {
    return await this.#makeSink({
      reference: this.#name,
      digest: image.storedDigest,
      manifest: image.manifest,
      config: image.config,
      maxEntries: this.#maxEntries,
      rereadLayer: (index, signal) => {
        const layer = image.manifest.layers[index];
        const diffId = image.config.rootfs?.diff_ids?.[index];
        if (!layer || !diffId) throw new RangeError(`Cannot read layer ${index}: no such layer`);
        return this.#readLayer(this.#store, layer, diffId, signal ? { signal } : {});
      },
    });
  }

  /** diff_ids for every layer, and layer types the pipeline reads, before anything is made. */
  #check(manifest: ImageManifest, config: ImageConfig): void {
    const layers = manifest.layers;
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== layers.length) {
      throw new Error(
        `Cannot unpack ${this.#name}: the config lists ${diffIds.length} diff_ids for ` +
          `${layers.length} layers`,
      );
    }
    for (const layer of layers) {
      if (layerCompression(layer.mediaType) === undefined) {
        throw new Error(
          `Cannot unpack ${this.#name}: layer ${layer.digest} has media type ` +
            `"${layer.mediaType}", not a tar, tar+gzip or tar+zstd layer`,
        );
      }
    }
  }

  async #applyAll(
    sink: UnpackSink,
    image: StoredImage,
    source: (digest: string) => AsyncIterable<Uint8Array> | undefined,
    explain: (digest: string) => Promise<void>,
    feed: BlobFeed | undefined,
  ): Promise<void> {
    const signal = this.#signal;
    const layers = image.manifest.layers;
    const diffIds = image.config.rootfs!.diff_ids!;
    for (const [i, layer] of layers.entries()) {
      const before = { entries: sink.entries, bytes: sink.bytes };
      try {
        const tar = (budget: { bytes: number; max: number }) => {
          const from = source(layer.digest);
          return counted(
            this.#readLayer(this.#store, layer, diffIds[i]!, {
              ...(signal ? { signal } : {}),
              ...(from ? { source: from } : {}),
            }),
            budget,
          );
        };
        if (feed && sink.applyBlob) {
          // the sink reads the blob itself (DirectorySink: in a worker, off this thread, which
          // keeps the pull's hashing and writes)
          const before = this.#budget.bytes;
          const n = await sink.applyBlob({
            index: i,
            layer,
            diffId: diffIds[i]!,
            path: this.#store.blobPath(layer.digest),
            feed,
            bytesBefore: before,
            maxBytes: this.#budget.max,
            tar: () => tar({ bytes: before, max: this.#budget.max }),
          }, signal ? { signal } : {});
          this.#budget.bytes = before + n;
        } else await sink.applyLayer(tar(this.#budget), signal ? { signal } : {});
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        await explain(layer.digest);
        if (
          e instanceof DigestMismatchError || e instanceof SizeMismatchError ||
          e instanceof LayerChangedError
        ) throw e;
        const message = (e as Error).message.replace(/^Cannot /, "cannot ");
        throw new Error(
          `Cannot unpack ${this.#name}: layer ${i + 1} of ${layers.length} (${layer.digest}): ` +
            message,
          { cause: e },
        );
      }
      this.#emit({
        type: "layer-unpacked",
        digest: layer.digest,
        index: i,
        layers: layers.length,
        entries: sink.entries - before.entries,
        bytes: sink.bytes - before.bytes,
      });
    }
  }

  #result(sink: UnpackSink, image: StoredImage, pulled: boolean): UnpackImageResult {
    return {
      reference: this.#name,
      digest: image.digest,
      storedDigest: image.storedDigest,
      layers: image.manifest.layers.length,
      entries: sink.entries,
      whiteouts: sink.whiteouts,
      bytes: sink.bytes,
      skippedDevices: sink.skippedDevices,
      pulled,
    };
  }
}

/** Passes chunks on, counting them against the budget shared by all layers. */
async function* counted(
  chunks: AsyncIterable<Uint8Array>,
  budget: { bytes: number; max: number },
): AsyncGenerator<Uint8Array> {
  for await (const chunk of chunks) {
    budget.bytes += chunk.byteLength;
    if (budget.bytes > budget.max) {
      throw new Error(`more than ${budget.max} uncompressed bytes (the maxBytes limit)`);
    }
    yield chunk;
  }
}

/**
 * The image `ref` names in the store, when it is there complete and for the platform (an explicit
 * one is checked against a single-platform image; from a stored index, it is chosen).
 */
async function findStored(
  store: Store,
  ref: Reference,
  want: Platform,
  explicit: boolean,
): Promise<StoredImage | undefined> {
  // a digest names one image (or an index to choose from): the host platform is only a default
  if (!explicit && ref.digest !== undefined) {
    return await resolveStoredImage(store, ref, { defaultPlatform: want }).catch((e) => {
      if (e instanceof PlatformNotFoundError) return undefined;
      throw e;
    });
  }
  try {
    return await resolveStoredImage(store, ref, { platform: want });
  } catch (e) {
    if (!(e instanceof PlatformNotFoundError)) throw e;
    // a single-platform image for another platform: used as it is unless one was asked for
    return explicit ? undefined : await resolveStoredImage(store, ref);
  }
}
