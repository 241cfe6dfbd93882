/**
 * The copy engine: one image from any source to any destination, every byte verified once.
 *
 * @module
 */

import type { BlobKind, ProgressListener } from "../progress/progress_event.ts";
import { computeDigest } from "../reference/compute_digest.ts";
import { choosePlatform, formatPlatform, isAttestation } from "../oci/choose_platform.ts";
import { MediaType } from "../oci/media_types.ts";
import {
  type Descriptor,
  type ImageManifest,
  parseManifest,
  type Platform,
} from "../oci/parse_manifest.ts";
import type { BlobWrittenListener } from "./blob_written.ts";
import { runBounded } from "./run_bounded.ts";
import { resumableBlob } from "./_resumable_blob.ts";
import { DownloadPriority } from "./download_priority.ts";
import type { ImageDestination } from "./image_destination.ts";
import type { ImageSource } from "./image_source.ts";
import { WriteLostError } from "./write_lost_error.ts";

/** How many times a blob whose write the destination lost is written again from its start. */
const WRITE_RESTARTS = 2;

/** Options for {@linkcode copyImage}. */
export interface CopyImageOptions {
  /**
   * Which platforms of an index to copy: `"all"` (the index byte for byte, attestations
   * included), one platform (its manifest alone becomes the destination's root), or several (the
   * index is rewritten to list them and their attestations: its digest changes).
   * @default {"all"}
   */
  platforms?: "all" | readonly Platform[];
  /**
   * The tag the destination gets for the root, written last.
   * @default {none: the root is stored by digest only}
   */
  tag?: string;
  /**
   * Blobs copied at once.
   * @default {4}
   */
  jobs?: number;
  /**
   * Digests of index entries the source does not have (a store holding some platforms of an
   * index): a rewritten index leaves out the attestations among them instead of failing to read
   * them. A chosen platform must be there all the same.
   * @default {none}
   */
  absent?: ReadonlySet<string>;
  /** Aborts the copy (what was committed stays; no name is written). */
  signal?: AbortSignal;
  /** Progress events, the same as a pull's. */
  onProgress?: ProgressListener;
  /** Diagnostic lines: resumes, mounts. */
  onDebug?: (line: string) => void;
  /**
   * What a subset of an index's platforms (a list of more than one) makes the root: `"rewrite"`
   * (the index rewritten to list them and their attestations: a new digest), or `"keep"` (the
   * index as it is, with only those platforms' manifests copied: a store keeps some platforms of
   * an index under its exact bytes).
   * @default {"rewrite"}
   */
  subset?: "rewrite" | "keep";
  /**
   * Layers of a foreign media type with `urls` (Windows bases): `"skip"` them (a registry
   * destination does not need them), or `"copy"` them from the source like any other (a store
   * needs every layer to unpack).
   * @default {"skip"}
   */
  foreignLayers?: "skip" | "copy";
  /**
   * Told the manifests to copy once they are read, before any blob; it may refuse the plan by
   * throwing.
   * @default {undefined}
   */
  onPlanned?: (plan: CopyPlan) => void | Promise<void>;
  /**
   * Run once every config is copied, before any layer (the configs then go first); it may stop
   * the copy by throwing (a platform check that needs the config).
   * @default {undefined}
   */
  beforeLayers?: () => Promise<void>;
  /**
   * Milliseconds without a byte after which a source read into a destination that keeps partial
   * data ({@linkcode ImageDestination.openIngest}) is aborted and resumed.
   * @default {30000}
   */
  stallTimeout?: number;
  /**
   * The destination's consumer reads the layers in their order while they download (the
   * streaming unpack): the first layer not yet downloaded gets the network first, the next ones
   * read ahead only while it waits on the network (see {@linkcode DownloadPriority}).
   * @default {false}
   */
  inOrder?: boolean;
  /**
   * Told how much of each blob is on disk, for a destination with
   * {@linkcode ImageDestination.openIngest} (blobs it has already: committed at once).
   * @default {undefined}
   */
  onWritten?: BlobWrittenListener;
}

/** A manifest the copy writes: its descriptor and exact bytes. */
export interface CopiedManifest {
  /** Its descriptor (an index entry's, with its platform, or the root's). */
  descriptor: Descriptor;
  /** Its exact bytes. */
  bytes: Uint8Array;
}

/** What a copy will write (see {@linkcode CopyImageOptions.onPlanned}). */
export interface CopyPlan {
  /** Every manifest, children first. */
  manifests: readonly CopiedManifest[];
  /** The root (last of `manifests`). */
  root: CopiedManifest;
  /** The root's relation to the source's (see {@linkcode CopyImageResult.root}). */
  relation: CopyImageResult["root"];
}

/** What {@linkcode copyImage} did. */
export interface CopyImageResult {
  /** The digest of the root the destination now has (and the tag names). */
  digest: string;
  /** Its media type. */
  mediaType: string;
  /** The digest the source's name resolved to. */
  sourceDigest: string;
  /**
   * How the root relates to the source's: `"same"` (byte for byte), `"platform"` (one platform's
   * manifest chosen from the source's index), or `"rewritten"` (an index listing a subset).
   */
  root: "same" | "platform" | "rewritten";
  /** The platforms of the image manifests copied (`os/arch[/variant]`), in index order. */
  platforms: string[];
  /** Every manifest written, children first (the root last). */
  manifests: Descriptor[];
  /** Blobs by what happened to them. */
  blobs: { copied: number; existing: number; mounted: number };
  /** Bytes sent to the destination (resent ones included). */
  bytesSent: number;
  /** Bytes sent again after a destination's interruption. */
  bytesResent: number;
}

type PlannedManifest = CopiedManifest;

interface PlannedBlob {
  descriptor: Descriptor;
  kind: BlobKind;
}

interface Plan {
  manifests: PlannedManifest[];
  blobs: Map<string, PlannedBlob>;
  platforms: string[];
  root: PlannedManifest;
  relation: CopyImageResult["root"];
}

/**
 * Copies an image: resolves `ref` at the source, chooses platforms, copies the blobs with bounded
 * concurrency (skipping what the destination has, mounting what its registry has elsewhere,
 * otherwise streaming source to destination with the digest checked on the way), then writes the
 * manifests children first, and the tag last.
 *
 * A blob whose bytes do not match its digest fails its stream before the destination commits it;
 * the copy then stops, and nothing names the image.
 *
 * @param source Where the image is.
 * @param ref Its name at the source (a tag, a stored name, or a digest).
 * @param destination Where it goes.
 * @param options Platforms, the tag, concurrency, progress, abort signal.
 * @returns The root's digest at the destination, and what was done.
 * @throws {PlatformNotFoundError} When a wanted platform is not in the index.
 * @throws {DigestMismatchError} When a source serves content that does not match its digest.
 *
 * @example Copy between two registries
 * ```ts ignore
 * import { copyImage } from "./copy_image.ts";
 * import { RegistryImageSource } from "../registry/registry_image_source.ts";
 * import { RegistryImageDestination } from "../registry/registry_image_destination.ts";
 * import { parseReference } from "../reference/parse_reference.ts";
 *
 * const from = parseReference("127.0.0.1:5000/team/app:1");
 * const to = parseReference("127.0.0.1:5001/team/app:1");
 * const result = await copyImage(
 *   await RegistryImageSource.open(from),
 *   from.tag ?? from.digest!,
 *   new RegistryImageDestination(to),
 *   { tag: "1" },
 * );
 * console.log(result.digest === result.sourceDigest);
 * ```
 */
export async function copyImage(
  source: ImageSource,
  ref: string,
  destination: ImageDestination,
  options: CopyImageOptions = {},
): Promise<CopyImageResult> {
  const signal = options.signal;
  const request = signal ? { signal } : {};
  const emit = options.onProgress ?? (() => {});
  const resolved = await source.resolve(ref, request);
  emit({
    type: "resolved",
    reference: `${source.name}${ref.includes(":") ? "@" : ":"}${ref}`,
    digest: resolved.descriptor.digest,
    mediaType: resolved.descriptor.mediaType,
    local: resolved.local ?? false,
  });
  const plan = await planCopy(
    source,
    resolved,
    options.platforms ?? "all",
    options.absent ?? new Set(),
    options.subset ?? "rewrite",
    options.foreignLayers ?? "skip",
    request,
  );
  await options.onPlanned?.({
    manifests: plan.manifests,
    root: plan.root,
    relation: plan.relation,
  });
  for (const m of plan.manifests) {
    const parsed = parseManifest(m.bytes, m.descriptor.mediaType);
    if (parsed.kind !== "manifest") continue;
    const image = parsed.manifest;
    emit({
      type: "manifest",
      digest: m.descriptor.digest,
      platform: m.descriptor.platform ? formatPlatform(m.descriptor.platform) : undefined,
      layers: image.layers.length,
      size: [image.config, ...image.layers].reduce((n, d) => n + d.size, 0),
    });
  }

  const counts = { copied: 0, existing: 0, mounted: 0 };
  let bytesSent = 0;
  let bytesResent = 0;
  const from = source.location;
  const mountable = from !== undefined && destination.canMount?.(from) === true &&
    destination.mountBlob !== undefined;
  const blobPath = destination.blobPath?.bind(destination);
  const priority = options.inOrder
    ? new DownloadPriority(
      [...plan.blobs.values()].filter((b) => b.kind === "layer").map((b) => b.descriptor),
    )
    : undefined;
  const copyBlob = async (blob: PlannedBlob, jobSignal: AbortSignal) => {
    const d = blob.descriptor;
    const opts = { signal: jobSignal };
    if (await destination.hasBlob(d, { ...opts, kind: blob.kind })) {
      counts.existing++;
      emit(done(blob, 0, true));
      if (blobPath) {
        options.onWritten?.({
          digest: d.digest,
          path: blobPath(d.digest),
          bytes: d.size,
          committed: true,
        });
      }
      return;
    }
    if (mountable && await destination.mountBlob!(d, from!, opts)) {
      counts.mounted++;
      options.onDebug?.(`mounted ${d.digest} from ${from!.repository}`);
      emit({ ...done(blob, 0, true), mounted: true });
      return;
    }
    if (destination.openIngest) {
      // a destination that keeps partial data: resumed into, verified, committed (the store)
      const { ingestBlob } = await import("./_ingest_blob.ts");
      const ingest = await destination.openIngest(d, opts);
      const had = ingest.complete;
      // read the total after the await: `bytesSent += await ...` would read it before, and
      // blobs copied side by side would overwrite each other's counts
      const fetched = await ingestBlob(
        {
          source,
          blobPath: blobPath ?? (() => ingest.path),
          signal: jobSignal,
          onProgress: emit,
          stallTimeout: options.stallTimeout,
          onDebug: options.onDebug,
          onWritten: options.onWritten,
          priority,
        },
        ingest,
        d,
        blob.kind,
      );
      bytesSent += fetched;
      if (had) counts.existing++;
      else counts.copied++;
      return;
    }
    // loaded only when a blob is streamed: its hash (node:crypto) costs ~17 ms at start-up
    const { DigestVerifier } = await import("../stream/digest_verifier.ts");
    emit({ type: "blob-start", digest: d.digest, kind: blob.kind, size: d.size, offset: 0 });
    for (let restarts = 0;; restarts++) {
      // verified in the source's own stream: a mismatch errors it before it can end
      const verifier = new DigestVerifier(d, { what: `blob ${d.digest} from ${source.name}` });
      const content = resumableBlob(
        source,
        d,
        jobSignal,
        (offset, reason) => {
          options.onDebug?.(`source broke at ${offset} of ${d.digest} (${reason}); resuming`);
        },
        undefined,
        verifier,
      );
      let written;
      try {
        written = await destination.writeBlob(d, content, {
          signal: jobSignal,
          onProgress: (bytes) =>
            emit({ type: "blob-progress", digest: d.digest, bytes, size: d.size }),
        });
      } catch (error) {
        // the destination lost what it had: the blob starts over, from a new source stream
        if (!(error instanceof WriteLostError)) throw error;
        if (restarts >= WRITE_RESTARTS) {
          throw new WriteLostError(
            error.action,
            `it was lost ${restarts + 1} times, and written again from the blob's start after ` +
              `each; the last time ${error.reason}`,
            error.sent,
            { cause: error },
          );
        }
        options.onDebug?.(`${error.message}; writing ${d.digest} again from its start`);
        bytesSent += error.sent;
        bytesResent += error.sent;
        continue;
      }
      counts.copied++;
      bytesSent += written.sent;
      bytesResent += written.resent;
      emit(done(blob, written.sent, false));
      return;
    }
  };
  const blobs = [...plan.blobs.values()];
  const jobs = options.jobs ?? 4;
  const copyInTurn = async (blob: PlannedBlob, jobSignal: AbortSignal) => {
    try {
      await copyBlob(blob, jobSignal);
    } finally {
      priority?.finish(blob.descriptor.digest); // the next layer goes first now
    }
  };
  if (options.beforeLayers) {
    await runBounded(blobs.filter((b) => b.kind === "config"), jobs, copyInTurn, signal);
    await options.beforeLayers();
    await runBounded(blobs.filter((b) => b.kind !== "config"), jobs, copyInTurn, signal);
  } else {
    await runBounded(blobs, jobs, copyInTurn, signal);
  }
  if (priority) {
    options.onDebug?.(
      `download priority: the later layers were let through ${priority.stats.opened} times ` +
        `(the first waited on the network), held ${priority.stats.closed} times`,
    );
  }

  for (const m of plan.manifests) {
    signal?.throwIfAborted();
    const isRoot = m === plan.root;
    await destination.putManifest(m.descriptor, m.bytes, {
      ...request,
      ...(isRoot && options.tag !== undefined ? { tag: options.tag } : {}),
    });
  }
  emit({ type: "done", reference: destination.name, digest: plan.root.descriptor.digest });
  return {
    digest: plan.root.descriptor.digest,
    mediaType: plan.root.descriptor.mediaType,
    sourceDigest: resolved.descriptor.digest,
    root: plan.relation,
    platforms: plan.platforms,
    manifests: plan.manifests.map((m) => m.descriptor),
    blobs: counts,
    bytesSent,
    bytesResent,
  };
}

function done(blob: PlannedBlob, fetched: number, cached: boolean) {
  return {
    type: "blob-done" as const,
    digest: blob.descriptor.digest,
    kind: blob.kind,
    size: blob.descriptor.size,
    fetched,
    cached,
  };
}

/** The media types of layers that are fetched from their `urls`, never copied (Windows bases). */
const FOREIGN = new Set<string>([
  MediaType.DockerLayerForeignGzip,
  MediaType.OciLayerNondistributable,
  MediaType.OciLayerNondistributableGzip,
  MediaType.OciLayerNondistributableZstd,
]);

/** The most manifests one copy reads (an index of indexes cannot make it read forever). */
const MANIFEST_LIMIT = 10_000;

/** Reads every manifest the copy needs and lists the blobs, children before parents. */
async function planCopy(
  source: ImageSource,
  resolved: { descriptor: Descriptor; bytes: Uint8Array },
  platforms: "all" | readonly Platform[],
  absent: ReadonlySet<string>,
  subset: "rewrite" | "keep",
  foreignLayers: "skip" | "copy",
  request: { signal?: AbortSignal },
): Promise<Plan> {
  const manifests: PlannedManifest[] = [];
  const written = new Set<string>();
  const blobs = new Map<string, PlannedBlob>();
  const copied: string[] = [];

  const addImage = (descriptor: Descriptor, image: ImageManifest) => {
    if (descriptor.platform && !isAttestation(descriptor)) {
      copied.push(formatPlatform(descriptor.platform));
    }
    const add = (d: Descriptor, kind: BlobKind) => {
      const foreign = kind === "layer" && FOREIGN.has(d.mediaType) && d.urls?.length;
      if (foreign && foreignLayers === "skip") return;
      if (!blobs.has(d.digest)) blobs.set(d.digest, { descriptor: plain(d), kind });
    };
    add(image.config, "config");
    for (const l of image.layers) add(l, "layer");
  };

  /** Walks a manifest or index (all of an index's entries), appending children first. */
  const walk = async (descriptor: Descriptor, bytes: Uint8Array, depth: number) => {
    if (written.has(descriptor.digest)) return;
    if (depth > 8 || written.size >= MANIFEST_LIMIT) {
      throw new Error(`Cannot copy ${source.name}: indexes nest too deep or list too much`);
    }
    const parsed = parseManifest(bytes, descriptor.mediaType);
    if (parsed.kind === "index") {
      for (const child of parsed.index.manifests) {
        const childBytes = await source.manifest(child, request);
        await walk(child, childBytes, depth + 1);
      }
    } else {
      addImage(descriptor, parsed.manifest);
    }
    written.add(descriptor.digest);
    manifests.push({ descriptor, bytes });
  };

  /** The plan, its root the manifest pushed last. */
  const planned = (relation: Plan["relation"]): Plan => ({
    manifests,
    blobs,
    platforms: copied,
    root: manifests[manifests.length - 1]!,
    relation,
  });

  const rootParsed = parseManifest(resolved.bytes, resolved.descriptor.mediaType);
  const rootDescriptor = { ...resolved.descriptor, mediaType: rootParsed.mediaType };
  if (rootParsed.kind === "manifest" || platforms === "all") {
    await walk(rootDescriptor, resolved.bytes, 0);
    return planned("same");
  }

  const index = rootParsed.index;
  const chosen: Descriptor[] = [];
  for (const p of platforms) {
    const entry = choosePlatform(index, p, source.name);
    if (!chosen.includes(entry)) chosen.push(entry);
  }
  if (platforms.length === 1) {
    const entry = chosen[0]!;
    await walk(entry, await source.manifest(entry, request), 1);
    return planned("platform");
  }
  if (subset === "keep") {
    // the index as it is; only the chosen platforms' manifests (no attestations) under it
    for (const entry of chosen) await walk(entry, await source.manifest(entry, request), 1);
    manifests.push({ descriptor: rootDescriptor, bytes: resolved.bytes });
    return planned("same");
  }
  const keep = new Set(chosen.map((d) => d.digest));
  const kept = index.manifests.map((d, i) => ({ d, i })).filter(({ d }) =>
    keep.has(d.digest) ||
    (isAttestation(d) && !absent.has(d.digest) &&
      keep.has(d.annotations?.["vnd.docker.reference.digest"] ?? ""))
  );
  for (const { d } of kept) await walk(d, await source.manifest(d, request), 1);
  if (kept.length === index.manifests.length) {
    // every entry is wanted: the index is copied as it is
    manifests.push({ descriptor: rootDescriptor, bytes: resolved.bytes });
    return planned("same");
  }
  const bytes = rewriteIndex(resolved.bytes, kept.map(({ i }) => i));
  const descriptor: Descriptor = {
    mediaType: rootParsed.mediaType,
    digest: await computeDigest(bytes),
    size: bytes.byteLength,
  };
  manifests.push({ descriptor, bytes });
  return planned("rewritten");
}

/** The index's JSON with only the entries at `positions` (every other field as it was). */
function rewriteIndex(bytes: Uint8Array, positions: number[]): Uint8Array {
  const doc = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown> & {
    manifests: unknown[];
  };
  doc.manifests = positions.map((i) => doc.manifests[i]);
  return new TextEncoder().encode(JSON.stringify(doc));
}

/** A descriptor as the engine passes it on: what identifies the content, nothing more. */
function plain(d: Descriptor): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}
