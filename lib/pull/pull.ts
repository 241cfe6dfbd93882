/**
 * The pull: `copyImage(registry, store)` (one resolve, one verifying blob path, every platform
 * asked for in one run), then the name in `index.json`.
 *
 * @module
 */

import { copyImage, type CopyPlan } from "../image/copy_image.ts";
import { parseReference, type Reference } from "../reference/parse_reference.ts";
import type { ProgressEvent } from "../progress/progress_event.ts";
import { checkImagePlatform, configPlatform } from "../oci/check_image_platform.ts";
import {
  choosePlatform,
  formatPlatform,
  hostPlatform,
  isAttestation,
  normalizePlatform,
  PlatformNotFoundError,
} from "../oci/choose_platform.ts";
import {
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  ManifestError,
  parseManifest,
  type Platform,
} from "../oci/parse_manifest.ts";
import { clientFor } from "../registry/remote_options.ts";
import { RegistryImageSource } from "../registry/registry_image_source.ts";
import { MediaType } from "../oci/media_types.ts";
import { toOciManifest } from "../oci/to_oci_manifest.ts";
import { computeDigest } from "../reference/compute_digest.ts";
import { INDEX_DIGEST_ANNOTATION, SOURCE_DIGEST_ANNOTATION, Store } from "../store/store.ts";
import { LayoutImageDestination } from "../store/layout_image_destination.ts";
import { nameImage } from "../store/name_image.ts";
import { ImageNotFoundError } from "../store/image_not_found_error.ts";
import { pullFromStore } from "./_from_store.ts";
import { platformsOf, pullPlatformsFromStore } from "./_pull_platforms.ts";
import { StoreCachedSource } from "./_store_cached_source.ts";
import type { PulledPlatform, PullOptions, PullResult } from "./pull_options.ts";

export type {
  PulledPlatform,
  PullObserver,
  PullOptions,
  PullPolicy,
  PullResult,
} from "./pull_options.ts";

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
  const multi = platforms === "all" || (platforms !== undefined && platforms.length > 1);
  const explicit = options.platform !== undefined;
  if (!Number.isInteger(jobs) || jobs < 1) {
    throw new RangeError(`Cannot pull with ${jobs} jobs: expected a positive integer`);
  }
  const want = platforms === undefined
    ? hostPlatform()
    : platforms === "all"
    ? undefined
    : normalizePlatform(platforms[0]!);
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
    if (multi) {
      const local = await pullPlatformsFromStore(ref, store, platforms, policy, emit);
      if (local) return local;
    } else {
      let local;
      try {
        local = await pullFromStore(ref, store, explicit ? want : undefined, emit);
      } catch (e) {
        // the stored image is for another platform: "never" says so; "missing" asks the
        // registry, which may have the platform (or says the same)
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
                explicit ? " or not for " + formatPlatform(want!) : ""
              }`
              : `not in the store ${store.path}`
          }, and the pull policy "never" forbids the network`,
        );
      }
    }
  }
  const client = await clientFor(ref, options);
  const signal = options.signal;
  signal?.throwIfAborted();
  // shared with other pulls; a garbage collection waits for it (and this for a running gc)
  using destination = await LayoutImageDestination.open(store, signal);
  const source = new StoreCachedSource(
    new RegistryImageSource(client, ref.repository),
    store,
    name,
    (await store.findImage(name)) !== undefined,
  );

  // the plan, as the engine read it (before any blob)
  let plan: CopyPlan | undefined;
  /** The image manifests to name, in the order asked, with their stored forms. */
  let images: PlannedImage[] = [];
  let attestations = new Set<string>();
  const onPlanned = async (p: CopyPlan) => {
    plan = p;
    images = await plannedImages(p, platforms, want, name);
    attestations = new Set(
      p.manifests.filter((m) => isAttestation(m.descriptor)).map((m) => m.descriptor.digest),
    );
    const first = images[0];
    if (first && !multi) options.observer?.manifest?.(first.stored.manifest, first.stored.digest);
  };
  // one platform asked of a single-platform image: its config says what it is for; checked
  // before any layer
  const beforeLayers = explicit && platforms !== "all"
    ? async () => {
      if (!plan || plan.relation !== "same" || images[0]?.fromIndex !== false) return;
      const config = await store.readConfig(images[0].stored.manifest.config);
      for (const p of platforms!) checkImagePlatform(configPlatform(config), p, name);
    }
    : undefined;

  const copied = await copyImage(source, ref.identifier, destination, {
    platforms: multi ? platforms : [want!],
    subset: "keep",
    foreignLayers: "copy",
    jobs,
    onPlanned,
    ...(beforeLayers ? { beforeLayers } : {}),
    ...(signal ? { signal } : {}),
    ...(options.stallTimeout !== undefined ? { stallTimeout: options.stallTimeout } : {}),
    ...(options.onDebug ? { onDebug: options.onDebug } : {}),
    ...(options.observer?.written ? { onWritten: options.observer.written } : {}),
    ...(options.observer?.inOrder ? { inOrder: true } : {}),
    onProgress: (event) => {
      if (event.type === "resolved") emit({ ...event, reference: name });
      else if (event.type === "manifest") {
        if (!attestations.has(event.digest)) emit(event);
      } else if (event.type !== "done") emit(event);
    },
  });
  const root = source.resolved!;

  // the stored forms (a Docker schema 2 manifest's OCI conversion), then the names: last, so
  // every entry always resolves (a second platform of an index names the index)
  const index = parseManifest(root.bytes, root.descriptor.mediaType).kind === "index"
    ? {
      mediaType: root.descriptor.mediaType,
      digest: root.descriptor.digest,
      size: root.bytes.byteLength,
    }
    : undefined;
  if (index && !root.local) await store.putBlob(index.digest, root.bytes);
  const results: PullResult[] = [];
  for (const image of images) {
    const { stored } = image;
    if (stored.digest !== image.descriptor.digest) await store.putBlob(stored.digest, stored.bytes);
    const config = await store.readConfig(stored.manifest.config);
    let platform = image.descriptor.platform;
    if (!platform && config.os && config.architecture) {
      platform = { os: config.os, architecture: config.architecture };
      if (config.variant) platform.variant = config.variant;
    }
    const annotations: Record<string, string> = {};
    if (index) annotations[INDEX_DIGEST_ANNOTATION] = index.digest;
    if (stored.digest !== image.descriptor.digest) {
      annotations[SOURCE_DIGEST_ANNOTATION] = image.descriptor.digest;
    }
    await nameImage(store, name, {
      mediaType: stored.mediaType,
      digest: stored.digest,
      size: stored.bytes.byteLength,
      ...(platform ? { platform } : {}),
      annotations,
    }, index ? { index } : {});
    results.push({
      reference: name,
      digest: image.descriptor.digest,
      storedDigest: stored.digest,
      mediaType: stored.mediaType,
      indexDigest: index?.digest,
      platform,
      manifest: stored.manifest,
      config,
      layers: stored.manifest.layers,
      store: store.path,
      bytesFetched: copied.bytesSent,
    });
  }
  if (multi && index && platforms === "all") await nameImage(store, name, index);
  const first = results[0]!;
  if (!multi) {
    emit({ type: "done", reference: name, digest: first.digest });
    return first;
  }
  const pulled: PulledPlatform[] = results.map((r) => ({
    platform: r.platform,
    digest: r.digest,
    storedDigest: r.storedDigest,
  }));
  if (!index) {
    // "all" of a single-platform image: all it has is itself
    emit({ type: "done", reference: name, digest: first.digest });
    return { ...first, platforms: pulled };
  }
  emit({ type: "done", reference: name, digest: index.digest });
  const named = await store.findImage(name);
  return {
    ...first,
    digest: index.digest,
    storedDigest: named?.digest ?? index.digest,
    mediaType: index.mediaType,
    indexDigest: index.digest,
    platform: undefined,
    platforms: pulled,
  };
}

/** An image manifest a pull names: its registry descriptor and its stored form. */
interface PlannedImage {
  descriptor: Descriptor;
  stored: StoredForm;
  /** `false` for the root itself (a single-platform image). */
  fromIndex: boolean;
}

/** The platforms' manifests in the plan, in the order asked (with `"all"`, the index's). */
async function plannedImages(
  plan: CopyPlan,
  platforms: "all" | Platform[] | undefined,
  want: Platform | undefined,
  name: string,
): Promise<PlannedImage[]> {
  const byDigest = new Map(plan.manifests.map((m) => [m.descriptor.digest, m]));
  const rootParsed = parseManifest(plan.root.bytes, plan.root.descriptor.mediaType);
  if (rootParsed.kind === "manifest") {
    return [{
      descriptor: plan.root.descriptor,
      stored: await storedForm(plan.root.descriptor, plan.root.bytes),
      fromIndex: plan.relation === "platform",
    }];
  }
  if (plan.relation === "platform") {
    throw new ManifestError(
      `Cannot use ${name}: the index entry for ${formatPlatform(want!)} is itself an index`,
    );
  }
  const index: ImageIndex = rootParsed.index;
  const entries = platforms === "all" || platforms === undefined
    ? index.manifests.filter((m) => m.platform && !isAttestation(m))
    : [...new Set(platforms.map((p) => choosePlatform(index, p, name)))];
  const out: PlannedImage[] = [];
  for (const entry of entries) {
    const m = byDigest.get(entry.digest);
    if (!m) continue;
    const parsed = parseManifest(m.bytes, entry.mediaType);
    if (parsed.kind !== "manifest") continue; // a nested index: copied, not named
    out.push({ descriptor: entry, stored: await storedForm(entry, m.bytes), fromIndex: true });
  }
  return out;
}

interface StoredForm {
  digest: string;
  bytes: Uint8Array;
  mediaType: string;
  manifest: ImageManifest;
}

/** The manifest as it goes into the layout: OCI as is, Docker schema 2 converted. */
async function storedForm(descriptor: Descriptor, bytes: Uint8Array): Promise<StoredForm> {
  const parsed = parseManifest(bytes, descriptor.mediaType);
  if (parsed.kind !== "manifest") throw new ManifestError("Cannot use an index as an image");
  const converted = toOciManifest(parsed.manifest, parsed.mediaType);
  if (!converted) {
    return {
      digest: descriptor.digest,
      bytes,
      mediaType: parsed.mediaType,
      manifest: parsed.manifest,
    };
  }
  const oci = parseManifest(converted, MediaType.OciManifest);
  if (oci.kind !== "manifest") throw new ManifestError("Cannot convert manifest to OCI");
  return {
    digest: await computeDigest(converted),
    bytes: converted,
    mediaType: MediaType.OciManifest,
    manifest: oci.manifest,
  };
}
