/**
 * Referrers travel with the images they refer to: signatures, SBOMs and attestations found at the
 * source (OCI 1.1 referrers API, its tag-schema fallback, cosign-style tags) are copied with their
 * digests kept, and so are their own referrers (a signature on an SBOM), to a bounded depth. A
 * destination without the referrers API gets the fallback index it needs.
 *
 * @module
 */

import type { ImageDestination } from "../image/image_destination.ts";
import type { ImageSource } from "../image/image_source.ts";
import { computeDigest } from "../reference/compute_digest.ts";
import { parseDigest } from "../reference/parse_digest.ts";
import type { Reference } from "../reference/parse_reference.ts";
import { listReferrers, type Referrer, type ReferrersResult } from "../registry/list_referrers.ts";
import { MediaType } from "../oci/media_types.ts";
import type { RegistrySource } from "../registry/mirrored_registry.ts";
import type { Descriptor } from "../oci/parse_manifest.ts";
import { registryTarget } from "./_registry_target.ts";
import type { ReferrerTarget } from "./referrer_target.ts";

export type { ReferrerTarget } from "./referrer_target.ts";

/**
 * What a run has learnt about the source, shared by its calls (`sync()` makes one per run): its
 * tags, so that fallback and cosign-style tags it does not have are not asked for, and whether it
 * has the referrers API (OCI 1.1: a registry with the API never answers 404 there, so one 404
 * tells for the whole run).
 */
export interface SourceReferrerHints {
  /** Every tag of the source repository, when listed. */
  tags?: ReadonlySet<string>;
  /** Whether the source has the referrers API, once known (set by `carryReferrers`). */
  api?: boolean;
}

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
  /**
   * A client for the destination registry (no mirrors), for `HEAD` checks and the fallback;
   * with `destinationRepository`, unless `target` is given.
   */
  destinationClient?: RegistrySource;
  /** The destination repository (with `destinationClient`). */
  destinationRepository?: string;
  /** What the destination has and how it keeps referrers (instead of the client). */
  target?: ReferrerTarget;
  /** What is known about the source; updated as the run learns more. */
  sourceHints?: SourceReferrerHints;
  /**
   * How deep to follow referrers of referrers: 1 carries the subjects' referrers only, 2 their
   * referrers too (a signature on an SBOM), and so on.
   * @default {4}
   */
  depth?: number;
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
  /**
   * What could not be carried, one message per subject whose referrers failed (a malformed
   * answer, a cap reached, a referrer the destination refused); empty when all were carried.
   * The others were carried all the same.
   */
  problems: string[];
}

/** The default depth of referrers of referrers followed. */
export const REFERRER_DEPTH = 4;
/** The most subjects whose referrers one call looks up: a hostile graph cannot grow without end. */
const MAX_SUBJECTS = 1000;

/**
 * Copies the referrers of each subject digest from the source to the destination, then theirs,
 * to `depth` levels.
 *
 * For each subject: its referrers at the source; each one the destination does not have (a
 * `HEAD` by digest, or by tag for cosign-style tags) is copied whole with the copy engine (all
 * platforms, bytes unchanged, so the digests are kept). When the destination has no referrers
 * API (it answers 404, as Distribution 2.8 does), the index tagged `sha256-<hex>` is written when
 * it lacks one of them: the source's own fallback index, byte for byte, when the source keeps one
 * and the destination's lists nothing else, else the destination's merged with what it lacks. A
 * run over an unchanged source writes nothing. Then the referrers become subjects in turn (present ones too: a new
 * signature on an SBOM copied earlier travels on the next run), breadth first, each digest
 * looked up once: a referrer graph with loops (a registry can list anything) ends.
 *
 * Referrers are secondary to the images they refer to: a subject whose referrers cannot be
 * listed or copied (an invalid descriptor, a `Link` loop, more than a cap, a refusal) is a
 * problem reported in `problems`, and the other subjects go on; more than 1000 subjects in one
 * call ends the walk there, as a problem. Only an abort throws.
 *
 * @param ctx Source, destination and their clients, the depth.
 * @param subjects The digests whose referrers travel (an image's root and its manifests).
 * @returns How many were copied, present, how many fallback indexes were written, and what
 *   could not be carried.
 * @throws {DOMException} When `signal` aborts (its reason).
 *
 * @example Carry the referrers of a copied image
 * ```ts ignore
 * import { carryReferrers } from "./carry_referrers.ts";
 * import { RegistryImageSource } from "../registry/registry_image_source.ts";
 * import { RegistryImageDestination } from "../registry/registry_image_destination.ts";
 * import { clientFor } from "../registry/remote_options.ts";
 * import { parseReference } from "../reference/parse_reference.ts";
 *
 * const from = parseReference("ghcr.io/org/app:1");
 * const to = parseReference("127.0.0.1:5000/org/app:1");
 * const source = await RegistryImageSource.open(from);
 * const carried = await carryReferrers({
 *   sourceRef: from,
 *   sourceClient: source.client,
 *   source,
 *   destination: new RegistryImageDestination(to),
 *   destinationClient: await clientFor(to),
 *   destinationRepository: to.repository,
 * }, ["sha256:..."]);
 * console.log(`${carried.copied} referrers copied`);
 * ```
 */
export async function carryReferrers(
  ctx: CarryReferrersContext,
  subjects: readonly string[],
): Promise<CarriedReferrers> {
  const out: CarriedReferrers = { copied: 0, present: 0, fallbackIndexes: 0, problems: [] };
  const signal = ctx.signal;
  const request = signal ? { signal } : {};
  const target = ctx.target ?? targetOf(ctx);
  const hints = ctx.sourceHints ?? {};
  const depth = ctx.depth ?? REFERRER_DEPTH;
  const seen = new Set(subjects);
  let level = [...seen];
  walk: for (let d = 1; d <= depth && level.length > 0; d++) {
    const next: string[] = [];
    for (const subject of level) {
      try {
        const found = await listReferrers(ctx.sourceRef.with({ tag: undefined, digest: subject }), {
          client: ctx.sourceClient,
          ...(hints.tags ? { knownTags: hints.tags } : {}),
          ...(hints.api !== undefined ? { referrersApi: hints.api } : {}),
          ...request,
        });
        hints.api = found.api;
        // the bound before any work: a hostile registry's endless graph costs no request more
        const fresh = new Set(found.referrers.map((r) => r.digest).filter((x) => !seen.has(x)));
        if (seen.size + fresh.size > MAX_SUBJECTS) {
          out.problems.push(
            `Cannot carry the referrers of ${subject}: more than ${MAX_SUBJECTS} referrers ` +
              `reached (depth ${d})`,
          );
          break walk;
        }
        for (const x of fresh) {
          seen.add(x);
          next.push(x);
        }
        await copyReferrers(ctx, target, subject, d, found, out);
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        out.problems.push((e as Error).message);
      }
    }
    level = next;
  }
  return out;
}

/** One subject's referrers: each the destination lacks copied, then its fallback index. */
async function copyReferrers(
  ctx: CarryReferrersContext,
  target: ReferrerTarget,
  subject: string,
  d: number,
  found: ReferrersResult,
  out: CarriedReferrers,
): Promise<void> {
  const signal = ctx.signal;
  const indexed: Referrer[] = [];
  for (const r of found.referrers) {
    if (r.source !== "cosign-tag") indexed.push(r);
    const at = r.source === "cosign-tag" ? r.tag! : r.digest;
    if (await target.head(at, signal) === r.digest) {
      out.present++;
      continue;
    }
    if (ctx.dryRun) {
      out.copied++;
      continue;
    }
    ctx.onDebug?.(`referrer ${r.digest} of ${subject} (${r.source}, depth ${d}): copying`);
    // loaded only when a referrer is to be copied (a sync that finds everything in place
    // never loads the engine)
    const { copyImage } = await import("../image/copy_image.ts");
    await copyImage(ctx.source, at, ctx.destination, {
      platforms: "all",
      ...(r.source === "cosign-tag" ? { tag: r.tag! } : {}),
      ...(signal ? { signal } : {}),
    });
    out.copied++;
  }
  if (indexed.length > 0 && !ctx.dryRun) {
    if (await writeFallback(ctx, target, subject, indexed, found.fallbackIndex)) {
      out.fallbackIndexes++;
    }
  }
}

/**
 * What `carryReferrers` could not do, as one message (the first problem, and how many more), or
 * `undefined` when it did it all.
 *
 * @param problems `CarriedReferrers.problems`.
 * @returns The message.
 */
export function referrerProblem(problems: readonly string[]): string | undefined {
  if (problems.length === 0) return undefined;
  return problems.length === 1
    ? problems[0]
    : `${problems[0]} (and ${problems.length - 1} more problem${problems.length > 2 ? "s" : ""})`;
}

/** The target `destinationClient` and `destinationRepository` make. */
function targetOf(ctx: CarryReferrersContext): ReferrerTarget {
  if (!ctx.destinationClient || ctx.destinationRepository === undefined) {
    throw new TypeError(
      "Cannot carry referrers: give target, or destinationClient and destinationRepository",
    );
  }
  return registryTarget(ctx.destinationClient, ctx.destinationRepository);
}

/**
 * On a destination without the referrers API, merges `referrers` into the index tagged
 * `sha256-<hex>` of `subject`; returns whether it wrote one.
 */
async function writeFallback(
  ctx: CarryReferrersContext,
  target: ReferrerTarget,
  subject: string,
  referrers: Referrer[],
  sourceIndex: { descriptor: Descriptor; bytes: Uint8Array } | undefined,
): Promise<boolean> {
  const signal = ctx.signal;
  if (await target.keepsReferrers(subject, signal)) return false;
  const { algorithm, hex } = parseDigest(subject);
  const tag = `${algorithm}-${hex}`;
  const entries = await target.fallbackEntries(tag, signal);
  const have = new Set(entries.map((d) => d.digest));
  const missing = referrers.filter((r) => !have.has(r.digest));
  if (missing.length === 0) return false;
  const listed = new Set(referrers.map((r) => r.digest));
  if (sourceIndex && entries.every((d) => listed.has(d.digest))) {
    // the source keeps a fallback index and the destination's lists nothing else: the source's
    // exact bytes, so its digest is kept (and a sync that also copies that tag writes the same)
    ctx.onDebug?.(`fallback index ${tag}: the source's, ${sourceIndex.descriptor.digest}`);
    await ctx.destination.putManifest(sourceIndex.descriptor, sourceIndex.bytes, {
      tag,
      ...(signal ? { signal } : {}),
    });
    return true;
  }
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
