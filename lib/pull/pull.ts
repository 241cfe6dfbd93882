/**
 * The pull: the arguments, then `copyImage(the store in front of the registry, the store)` (one
 * resolve, one verifying blob path, every platform asked for in one run), then the stored forms
 * and the name in `index.json`. What the store has complete (policies `missing` and `never`) is
 * the caching source's answer, and names nothing.
 *
 * @module
 */

import { copyImage, type CopyPlan } from "../image/copy_image.ts";
import type { ResolvedRoot } from "../image/image_source.ts";
import type { Reference } from "../reference/parse_reference.ts";
import type { ProgressEvent } from "../progress/progress_event.ts";
import { checkImagePlatform, configPlatform } from "../oci/check_image_platform.ts";
import { choosePlatform, formatPlatform, isAttestation } from "../oci/choose_platform.ts";
import {
  type Descriptor,
  type ImageIndex,
  ManifestError,
  parseManifest,
  type Platform,
} from "../oci/parse_manifest.ts";
import { RegistryImageSource } from "../registry/registry_image_source.ts";
import { INDEX_DIGEST_ANNOTATION, SOURCE_DIGEST_ANNOTATION, Store } from "../store/store.ts";
import { LayoutImageDestination } from "../store/layout_image_destination.ts";
import { type StoredForm, storedForm } from "../store/stored_form.ts";
import { nameImage } from "../store/name_image.ts";
import { type PullRequest, pullRequest } from "./_pull_request.ts";
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
  const request = pullRequest(reference, options);
  const { ref, name, platforms, multi, explicit, want } = request;
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
  const signal = options.signal;
  signal?.throwIfAborted();
  // the store in front of the registry: with policy missing or never, its own answer
  const source = new StoreCachedSource(
    store,
    request,
    () => RegistryImageSource.open(ref, options),
  );
  // shared with other pulls; a garbage collection waits for it (and this for a running gc)
  using destination = await LayoutImageDestination.open(store, signal);

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
  // one platform asked of a single-platform image from the registry: its config says what it is
  // for; checked before any layer (the store's answer was checked against what is stored)
  const beforeLayers = explicit && platforms !== "all"
    ? async () => {
      if (source.answer || plan?.relation !== "same" || images[0]?.fromIndex !== false) return;
      const config = await store.readConfig(images[0].stored.manifest.config);
      for (const p of platforms!) checkImagePlatform(configPlatform(config), p, name);
    }
    : undefined;

  const copied = await copyImage(source, ref.identifier, destination, {
    platforms: multi ? platforms! : [want!],
    subset: "keep",
    foreignLayers: "copy",
    jobs: request.jobs,
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
  if (source.answer) {
    // the store's own image, named already: nothing to write (with policy missing, a blob the
    // store lacked under it, an attestation's, was fetched by its digest)
    emit({ type: "done", reference: name, digest: source.answer.digest });
    return { ...source.answer, bytesFetched: copied.bytesSent };
  }
  const result = await storeAndName(store, request, source.resolved!, images, copied.bytesSent);
  emit({ type: "done", reference: name, digest: result.digest });
  return result;
}

/**
 * The stored forms (a Docker schema 2 manifest's OCI conversion), then the names: last, so every
 * entry always resolves (a second platform of an index names the index). The result is the first
 * image's, or with several, the index's with each image in `platforms`.
 */
async function storeAndName(
  store: Store,
  { name, multi, platforms }: PullRequest,
  root: ResolvedRoot,
  images: PlannedImage[],
  bytesFetched: number,
): Promise<PullResult> {
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
    const platform = image.descriptor.platform ?? configPlatform(config);
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
      bytesFetched,
    });
  }
  if (multi && index && platforms === "all") await nameImage(store, name, index);
  const first = results[0]!;
  if (!multi) return first;
  const pulled: PulledPlatform[] = results.map((r) => ({
    platform: r.platform,
    digest: r.digest,
    storedDigest: r.storedDigest,
  }));
  if (!index) return { ...first, platforms: pulled }; // "all" of a single-platform image: itself
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
