/**
 * The pull: resolve -> choose platform -> manifests and config -> layers in parallel -> name it in
 * `index.json`.
 *
 * @module
 */

import { parseReference, type Reference } from "../reference/parse_reference.ts";
import { parseDigest } from "../reference/parse_digest.ts";
import type { ProgressEvent, ProgressListener } from "../progress/progress_event.ts";
import { checkImagePlatform, configPlatform } from "../oci/_platform_check.ts";
import {
  choosePlatform,
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  PlatformNotFoundError,
} from "../oci/choose_platform.ts";
import { type ImageConfig, parseImageConfig } from "../oci/parse_image_config.ts";
import {
  CONFIG_SIZE_LIMIT,
  type Descriptor,
  type ImageManifest,
  ManifestError,
  type ParsedManifest,
  parseManifest,
  type Platform,
} from "../oci/parse_manifest.ts";
import { clientFor, type RemoteOptions } from "../registry/remote_options.ts";
import { ResponseTimeoutError } from "../transport/with_deadline.ts";
import type { RegistrySource } from "../registry/mirrored_registry.ts";
import { MediaType } from "../oci/media_types.ts";
import { toOciManifest } from "../oci/to_oci_manifest.ts";
import { computeDigest } from "../reference/compute_digest.ts";
import { readCapped } from "../transport/fetcher.ts";
import { INDEX_DIGEST_ANNOTATION, SOURCE_DIGEST_ANNOTATION, Store } from "../store/store.ts";
import { holdPullLock } from "../store/_locks.ts";
import { nameImage } from "../store/name_image.ts";
import { ImageNotFoundError } from "../store/image_not_found_error.ts";
import { pullFromStore } from "./_from_store.ts";
import { cachedBlobEvent, manifestEvent } from "./_events.ts";
import { runBounded } from "../image/run_bounded.ts";
import { platformsOf, pullPlatforms } from "./_pull_platforms.ts";
import type { BlobWrittenListener } from "./download_blob.ts";

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

/**
 * Pulls an image into an OCI image layout.
 *
 * Every manifest, config and layer is verified against its digest and size while it streams,
 * before it is given a name in the store. Partial blobs of an interrupted pull are resumed. A
 * re-pull of a present image by tag costs one `HEAD` request; by digest, none.
 *
 * @param reference The image, e.g. `alpine:3.20` or `127.0.0.1:5000/team/app@sha256:...`.
 * @param options Store, platform, concurrency, progress and transport options.
 * @returns The stored image.
 * @throws {SyntaxError} When the reference or platform is malformed.
 * @throws {RegistryError} When the registry refuses (not found, unauthorized, ...).
 * @throws {PlatformNotFoundError} When the image has no manifest for the platform.
 * @throws {DigestMismatchError} When content does not match its digest.
 * @throws {ImageNotFoundError} With policy `never`, when the image is not complete in the store.
 *
 * @example Pull an image
 * ```ts ignore
 * import { pull } from "./pull.ts";
 *
 * const image = await pull("alpine:3.20", { store: "./images" });
 * console.log(image.reference, image.digest);
 * ```
 *
 * @example Use the stored image when there is one, with no request
 * ```ts ignore
 * import { pull } from "./pull.ts";
 *
 * const image = await pull("alpine:3.20", { store: "./images", policy: "missing" });
 * console.log(image.bytesFetched); // 0 when it was there
 * ```
 */
export async function pull(
  reference: string | Reference,
  options: PullOptions = {},
): Promise<PullResult> {
  const ref = typeof reference === "string" ? parseReference(reference) : reference;
  const name = ref.toString();
  const jobs = options.jobs ?? 4;
  const policy = options.policy ?? "always";
  if (policy !== "always" && policy !== "missing" && policy !== "never") {
    throw new TypeError(`Cannot pull with policy "${policy}": expected always, missing or never`);
  }
  const platforms = platformsOf(options.platform);
  if (platforms === "all" || (platforms !== undefined && platforms.length > 1)) {
    return await pullPlatforms(ref, options, platforms, pull);
  }
  const explicit = options.platform !== undefined;
  if (!Number.isInteger(jobs) || jobs < 1) {
    throw new RangeError(`Cannot pull with ${jobs} jobs: expected a positive integer`);
  }
  const want = platforms === undefined ? hostPlatform() : normalizePlatform(platforms[0]!);
  const store = options.store instanceof Store
    ? options.store
    : await Store.open(options.store ?? Store.defaultPath());
  const emit = (event: ProgressEvent) => {
    try {
      options.onProgress?.(event);
    } catch {
      // a listener's failure must not break the pull
    }
  };
  if (policy !== "always") {
    // read-only: no lock needed (gc never deletes what a named image reaches)
    let local;
    try {
      local = await pullFromStore(ref, store, explicit ? want : undefined, emit);
    } catch (e) {
      // the stored image is for another platform: "never" says so; "missing" asks the registry,
      // which may have the platform (or says the same)
      if (policy === "never" || !(e instanceof PlatformNotFoundError)) throw e;
    }
    if (local) return local;
    if (policy === "never") {
      const known = await store.findImage(name);
      throw new ImageNotFoundError(
        "pull",
        name,
        store.path,
        `${
          known
            ? `it is in the store ${store.path} but not complete${
              explicit ? " or not for " + formatPlatform(want) : ""
            }`
            : `not in the store ${store.path}`
        }, and the pull policy "never" forbids the network`,
      );
    }
  }
  const client = await clientFor(ref, options);
  const signal = options.signal;
  signal?.throwIfAborted();
  // shared with other pulls; a garbage collection waits for it (and this for a running gc)
  using _pulling = await holdPullLock(store, signal);

  // 1. What the reference points at: from the store when we can prove it, else the registry.
  const top = await resolveTop(ref, store, client, signal);
  emit({
    type: "resolved",
    reference: name,
    digest: top.digest,
    mediaType: top.mediaType,
    local: top.local,
  });

  // 2. The platform's image manifest.
  let image: Manifest;
  let platform: Platform | undefined;
  let indexDigest: string | undefined;
  if (top.kind === "index") {
    indexDigest = top.digest;
    const entry = choosePlatform(top.index, want, name);
    platform = entry.platform;
    image = await loadManifest(ref, entry.digest, store, client, signal);
    if (image.kind !== "manifest") {
      throw new ManifestError(
        `Cannot use ${name}: the index entry for ${formatPlatform(want)} is itself an index`,
      );
    }
  } else {
    image = top;
  }
  if (image.kind !== "manifest") throw new ManifestError(`Cannot use ${name}: not an image`);
  const stored = await storedForm(image);
  const manifest = stored.manifest;
  const blobs = [manifest.config, ...manifest.layers];
  emit(manifestEvent(image.digest, platform, manifest));
  options.observer?.manifest?.(manifest, stored.digest);

  // 3. Config and layers, bounded concurrency; the first failure cancels the rest.
  const seen = new Set<string>();
  const unique = blobs.filter((b) => !seen.has(b.digest) && seen.add(b.digest));
  const ctx = {
    client,
    repository: ref.repository,
    store,
    onProgress: emit,
    ...(options.stallTimeout !== undefined ? { stallTimeout: options.stallTimeout } : {}),
    ...(options.onDebug ? { onDebug: options.onDebug } : {}),
    ...(options.observer?.written ? { onWritten: options.observer.written } : {}),
  };
  let bytesFetched = 0;
  const missing: Descriptor[] = [];
  for (const blob of unique) {
    // the config is small and read whole: re-verified, and a damaged copy is fetched again
    const present = blob === manifest.config
      ? await store.blobState(blob.digest, blob.size, CONFIG_SIZE_LIMIT)
      : await store.hasBlob(blob.digest, blob.size)
      ? "intact"
      : "missing";
    const committed = () =>
      options.observer?.written?.({
        digest: blob.digest,
        path: store.blobPath(blob.digest),
        bytes: blob.size,
        committed: true,
      });
    if (present === "intact") {
      emit(cachedBlobEvent(blob, manifest));
      committed();
    } else if (present === "damaged") {
      bytesFetched += await replaceSmallBlob(client, ref.repository, store, blob, signal);
      emit({
        type: "blob-done",
        digest: blob.digest,
        kind: "config",
        size: blob.size,
        fetched: blob.size,
        cached: false,
      });
      committed();
    } else {
      missing.push(blob);
    }
  }
  if (explicit && indexDigest === undefined) {
    // a single-platform image: its config says what it is for; check that before any layer
    const at = missing.indexOf(manifest.config);
    if (at !== -1) {
      const { downloadBlob } = await import("./download_blob.ts");
      const r = await downloadBlob(
        { ...ctx, ...(signal ? { signal } : {}) },
        manifest.config,
        "config",
      );
      bytesFetched += r.fetched;
      missing.splice(at, 1);
    }
    const have = configPlatform(parseImageConfig(await store.readBlob(manifest.config.digest)));
    checkImagePlatform(have, want, name);
  }
  if (missing.length > 0) {
    // loaded only when something is to be fetched: its streaming hash (node:crypto) costs ~17 ms
    // at start-up, a third of a warm re-pull
    const { downloadBlob } = await import("./download_blob.ts");
    await runBounded(missing, jobs, async (blob, taskSignal) => {
      const kind = blob === manifest.config ? "config" as const : "layer" as const;
      const r = await downloadBlob({ ...ctx, signal: taskSignal }, blob, kind);
      bytesFetched += r.fetched;
    }, signal);
  }

  // 4. Manifests into blobs/, then the name into index.json (last: every entry always resolves).
  const config = parseImageConfig(await store.readBlob(manifest.config.digest));
  if (!platform && config.os && config.architecture) {
    platform = { os: config.os, architecture: config.architecture };
    if (config.variant) platform.variant = config.variant;
  }
  if (!top.local) await store.putBlob(top.digest, top.bytes);
  if (image !== top && !image.local) await store.putBlob(image.digest, image.bytes);
  if (stored.digest !== image.digest) await store.putBlob(stored.digest, stored.bytes);

  const annotations: Record<string, string> = {};
  if (indexDigest) annotations[INDEX_DIGEST_ANNOTATION] = indexDigest;
  if (stored.digest !== image.digest) annotations[SOURCE_DIGEST_ANNOTATION] = image.digest;
  const entry: Descriptor = {
    mediaType: stored.mediaType,
    digest: stored.digest,
    size: stored.bytes.byteLength,
    ...(platform ? { platform } : {}),
    annotations,
  };
  // the name last: every entry always resolves (a second platform of an index names the index)
  await nameImage(
    store,
    name,
    entry,
    indexDigest
      ? { index: { mediaType: top.mediaType, digest: top.digest, size: top.bytes.byteLength } }
      : {},
  );
  emit({ type: "done", reference: name, digest: image.digest });

  return {
    reference: name,
    digest: image.digest,
    storedDigest: stored.digest,
    mediaType: stored.mediaType,
    indexDigest,
    platform,
    manifest,
    config,
    layers: manifest.layers,
    store: store.path,
    bytesFetched,
  };
}

/** The largest config read whole. */

/**
 * Fetches a small blob whose stored copy is damaged and puts it in place of that copy (verified,
 * written beside it and renamed over it: there is never a moment without a file).
 */
async function replaceSmallBlob(
  client: RegistrySource,
  repository: string,
  store: Store,
  blob: Descriptor,
  signal: AbortSignal | undefined,
): Promise<number> {
  const res = await client.getBlob(repository, blob.digest, signal ? { signal } : {});
  const bytes = await readCapped(res, blob.size, `blob ${blob.digest}`);
  await store.putBlob(blob.digest, bytes); // checks the digest, replaces the damaged copy
  return bytes.byteLength;
}

type Manifest = ParsedManifest & { digest: string; bytes: Uint8Array; local: boolean };

/** The manifest as it goes into the layout: OCI as is, Docker schema 2 converted. */
async function storedForm(image: Manifest & { kind: "manifest" }) {
  const converted = toOciManifest(image.manifest, image.mediaType);
  if (!converted) {
    return {
      digest: image.digest,
      bytes: image.bytes,
      mediaType: image.mediaType,
      manifest: image.manifest,
    };
  }
  const parsed = parseManifest(converted, MediaType.OciManifest);
  if (parsed.kind !== "manifest") throw new ManifestError("Cannot convert manifest to OCI");
  return {
    digest: await computeDigest(converted),
    bytes: converted,
    mediaType: MediaType.OciManifest,
    manifest: parsed.manifest,
  };
}

async function resolveTop(
  ref: Reference,
  store: Store,
  client: RegistrySource,
  signal: AbortSignal | undefined,
): Promise<Manifest> {
  if (ref.digest !== undefined) {
    return await loadManifest(ref, ref.digest, store, client, signal);
  }
  const opts = signal ? { signal } : {};
  // A name pulled before: one HEAD tells whether the tag still points at what we have.
  const known = await store.findImage(ref.toString());
  if (known) {
    // a HEAD the registry refuses is no answer (the GET below tells); one it never answers is
    // the answer for the GET too: no second wait
    const head = await client.headManifest(ref.repository, ref.identifier, opts).catch((e) => {
      if (e instanceof ResponseTimeoutError || e?.cause instanceof ResponseTimeoutError) throw e;
      return undefined;
    });
    if (head?.digest && await store.hasBlob(head.digest)) {
      const local = await readLocal(store, head.digest);
      if (local) return local;
    }
  }
  const fetched = await client.getManifest(ref.repository, ref.identifier, opts);
  return { ...fetched, local: false };
}

async function loadManifest(
  ref: Reference,
  digest: string,
  store: Store,
  client: RegistrySource,
  signal: AbortSignal | undefined,
): Promise<Manifest> {
  parseDigest(digest);
  if (await store.hasBlob(digest)) {
    const local = await readLocal(store, digest);
    if (local) return local;
  }
  const fetched = await client.getManifest(ref.repository, digest, signal ? { signal } : {});
  return { ...fetched, local: false };
}

/** A manifest from the store, or `undefined` when it is damaged or not a manifest. */
async function readLocal(store: Store, digest: string): Promise<Manifest | undefined> {
  try {
    const bytes = await store.readBlob(digest, 4 * 1024 * 1024);
    return { ...parseManifest(bytes), digest, bytes, local: true };
  } catch {
    return undefined;
  }
}
