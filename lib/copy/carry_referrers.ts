/**
 * Referrers travel with the images they refer to: signatures, SBOMs and attestations found at the
 * source (OCI 1.1 referrers API, its tag-schema fallback, cosign-style tags) are copied with their
 * digests kept, and a destination without the referrers API gets the fallback index it needs.
 *
 * @module
 */

import { copyImage } from "../image/copy_image.ts";
import type { ImageDestination } from "../image/image_destination.ts";
import type { ImageSource } from "../image/image_source.ts";
import { computeDigest } from "../reference/compute_digest.ts";
import { parseDigest } from "../reference/parse_digest.ts";
import type { Reference } from "../reference/parse_reference.ts";
import { listReferrers, type Referrer } from "../registry/list_referrers.ts";
import { MediaType } from "../oci/media_types.ts";
import type { RegistrySource } from "../registry/mirrored_registry.ts";
import type { Descriptor } from "../oci/parse_manifest.ts";
import { RegistryError } from "../transport/registry_error.ts";
import { discard } from "../transport/fetcher.ts";

/** Where the referrers come from and go to. */
export interface CarryReferrersContext {
  /** The source repository (its tag or digest is not used). */
  sourceRef: Reference;
  /** A client for the source registry. */
  sourceClient: RegistrySource;
  /** The source, for the copy engine. */
  source: ImageSource;
  /** The destination, for the copy engine. */
  destination: ImageDestination;
  /** A client for the destination registry (no mirrors), for `HEAD` checks and the fallback. */
  destinationClient: RegistrySource;
  /** The destination repository. */
  destinationRepository: string;
  /** Count what would be copied, write nothing. */
  dryRun?: boolean;
  /** Aborts. */
  signal?: AbortSignal;
  /** Diagnostic lines. */
  onDebug?: (line: string) => void;
}

/** What {@linkcode carryReferrers} did. */
export interface CarriedReferrers {
  /** Referrers (and cosign-style tags) copied now (or that would be, in a dry run). */
  copied: number;
  /** Referrers the destination had already. */
  present: number;
  /** Fallback indexes written (tag `sha256-<hex>`), for a destination without the API. */
  fallbackIndexes: number;
}

/**
 * Copies the referrers of each subject digest from the source to the destination.
 *
 * For each subject: its referrers at the source; each one the destination does not have (a
 * `HEAD` by digest, or by tag for cosign-style tags) is copied whole with the copy engine (all
 * platforms, bytes unchanged, so the digests are kept). When the destination has no referrers
 * API (it answers 404, as Distribution 2.8 does), the index tagged `sha256-<hex>` is merged with
 * the referrers it lacks and written, but only when something changed: a run over an unchanged
 * source writes nothing.
 *
 * @param ctx Source, destination and their clients.
 * @param subjects The digests whose referrers travel (an image's root and its manifests).
 * @returns How many were copied, present, and how many fallback indexes were written.
 */
export async function carryReferrers(
  ctx: CarryReferrersContext,
  subjects: readonly string[],
): Promise<CarriedReferrers> {
  const out: CarriedReferrers = { copied: 0, present: 0, fallbackIndexes: 0 };
  const signal = ctx.signal;
  const request = signal ? { signal } : {};
  const repo = ctx.destinationRepository;
  for (const subject of new Set(subjects)) {
    const found = await listReferrers(ctx.sourceRef.with({ tag: undefined, digest: subject }), {
      client: ctx.sourceClient,
      ...request,
    });
    const indexed: Referrer[] = [];
    for (const r of found.referrers) {
      if (r.source !== "cosign-tag") indexed.push(r);
      const at = r.source === "cosign-tag" ? r.tag! : r.digest;
      const head = await ctx.destinationClient.headManifest(repo, at, request);
      if (head?.digest === r.digest) {
        out.present++;
        continue;
      }
      out.copied++;
      if (ctx.dryRun) continue;
      ctx.onDebug?.(`referrer ${r.digest} of ${subject} (${r.source}): copying`);
      await copyImage(ctx.source, at, ctx.destination, {
        platforms: "all",
        ...(r.source === "cosign-tag" ? { tag: r.tag! } : {}),
        ...request,
      });
    }
    if (indexed.length > 0 && !ctx.dryRun) {
      if (await writeFallback(ctx, subject, indexed)) out.fallbackIndexes++;
    }
  }
  return out;
}

/**
 * On a destination without the referrers API, merges `referrers` into the index tagged
 * `sha256-<hex>` of `subject`; returns whether it wrote one.
 */
async function writeFallback(
  ctx: CarryReferrersContext,
  subject: string,
  referrers: Referrer[],
): Promise<boolean> {
  const client = ctx.destinationClient;
  const repo = ctx.destinationRepository;
  const signal = ctx.signal;
  if (client.request) {
    const res = await client.request(
      "GET",
      `/v2/${repo}/referrers/${subject}`,
      { accept: MediaType.OciIndex },
      signal,
    );
    await discard(res);
    if (res.status === 200) return false; // the registry keeps its referrers itself
  }
  const { algorithm, hex } = parseDigest(subject);
  const tag = `${algorithm}-${hex}`;
  let entries: Descriptor[] = [];
  try {
    const existing = await client.getManifest(repo, tag, signal ? { signal } : {});
    if (existing.kind === "index") entries = [...existing.index.manifests];
  } catch (e) {
    if (!(e instanceof RegistryError && e.status === 404)) throw e;
  }
  const have = new Set(entries.map((d) => d.digest));
  const missing = referrers.filter((r) => !have.has(r.digest));
  if (missing.length === 0) return false;
  for (const r of missing) {
    entries.push({
      mediaType: r.mediaType,
      digest: r.digest,
      size: r.size,
      ...(r.artifactType !== undefined ? { artifactType: r.artifactType } : {}),
      ...(r.annotations !== undefined ? { annotations: r.annotations } : {}),
    });
  }
  const bytes = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: entries,
  }));
  const descriptor = {
    mediaType: MediaType.OciIndex,
    digest: await computeDigest(bytes),
    size: bytes.byteLength,
  };
  ctx.onDebug?.(`fallback index ${tag}: ${entries.length} referrers`);
  await ctx.destination.putManifest(descriptor, bytes, { tag, ...(signal ? { signal } : {}) });
  return true;
}
