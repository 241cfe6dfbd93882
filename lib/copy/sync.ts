/**
 * Mirroring a repository: every tag (or those a pattern picks) copied to another registry, with
 * their referrers, incrementally: what the destination has already is left alone.
 *
 * @module
 */

import { copyImage } from "../image/copy_image.ts";
import { runBounded } from "../image/run_bounded.ts";
import { parseRepository } from "../reference/parse_repository.ts";
import type { Reference } from "../reference/parse_reference.ts";
import { choosePlatform } from "../oci/choose_platform.ts";
import { parseManifest, type Platform } from "../oci/parse_manifest.ts";
import { RegistryImageDestination } from "../registry/registry_image_destination.ts";
import { RegistryImageSource } from "../registry/registry_image_source.ts";
import { clientFor, type RemoteOptions } from "../registry/remote_options.ts";
import { carryReferrers } from "./carry_referrers.ts";
import { parsePlatforms } from "./copy.ts";

/** Options for {@linkcode sync}. */
export interface SyncOptions extends Omit<RemoteOptions, "client"> {
  /**
   * Only tags this regular expression finds (a search: anchor it with `^...$` for whole tags).
   * @default {every tag}
   */
  tags?: string | RegExp;
  /**
   * Platforms of multi-platform images, as for `copy()`: `"all"`, one, or a list.
   * @default {"all"}
   */
  platforms?: "all" | string | readonly Platform[];
  /**
   * Images copied at once.
   * @default {2}
   */
  images?: number;
  /**
   * Blobs copied at once, per image.
   * @default {4}
   */
  jobs?: number;
  /**
   * Carry each image's referrers and cosign-style tags.
   * @default {true}
   */
  referrers?: boolean;
  /**
   * Find out what would be copied; write nothing.
   * @default {false}
   */
  dryRun?: boolean;
  /** Told each tag's outcome as it is known. */
  onTag?: (tag: SyncedTag) => void;
}

/** One tag's outcome. */
export interface SyncedTag {
  /** The tag. */
  tag: string;
  /**
   * `copied`; `up-to-date` (the destination's tag already names the same digest: nothing was
   * written); `would-copy` (a dry run); `failed`.
   */
  status: "copied" | "up-to-date" | "would-copy" | "failed";
  /** The digest the source's tag names, when it was found. */
  digest?: string;
  /** Referrers copied for it (or that would be). */
  referrers?: number;
  /** Why it failed. */
  error?: string;
}

/** What {@linkcode sync} did. */
export interface SyncReport {
  /** The source repository, canonical. */
  source: string;
  /** The destination repository, canonical. */
  destination: string;
  /** Every tag picked, in the source's order. */
  tags: SyncedTag[];
  /** Tags copied (or that would be). */
  copied: number;
  /** Tags left alone. */
  upToDate: number;
  /** Tags that failed. */
  failed: number;
}

/**
 * Mirrors a repository into another registry.
 *
 * Lists the source's tags (a pattern may pick some), then for each, with a bound on how many at
 * once: one `HEAD` at the source and one at the destination (Docker Hub does not count `HEAD`
 * against its pull rate limit). A tag whose destination digest equals the source's is left alone:
 * no blob upload, no manifest `PUT`. Any other is copied with the copy engine (every byte
 * verified, digests kept for `platforms: "all"`), with its referrers. A tag that fails is
 * reported and the others go on.
 *
 * @param source The source repository, e.g. `docker.io/library/alpine` (no tag).
 * @param destination The destination repository, e.g. `127.0.0.1:5000/mirror/alpine`.
 * @param options Tag pattern, platforms, concurrency, referrers, dry run, transport.
 * @returns Every tag's outcome and the counts.
 * @throws {SyntaxError} When a repository or the pattern is malformed.
 * @throws {RegistryError} When the source's tags cannot be listed.
 *
 * @example Mirror the 3.x tags of a repository
 * ```ts ignore
 * import { sync } from "./sync.ts";
 *
 * const report = await sync("alpine", "127.0.0.1:5000/mirror/alpine", { tags: "^3\\." });
 * console.log(`${report.copied} copied, ${report.upToDate} up to date, ${report.failed} failed`);
 * ```
 */
export async function sync(
  source: string | Reference,
  destination: string | Reference,
  options: SyncOptions = {},
): Promise<SyncReport> {
  const from = typeof source === "string" ? parseRepository(source) : source;
  const to = typeof destination === "string" ? parseRepository(destination) : destination;
  const pattern = options.tags === undefined
    ? undefined
    : typeof options.tags === "string"
    ? new RegExp(options.tags)
    : options.tags;
  const platforms = parsePlatforms(options.platforms ?? "all");
  const {
    tags: _tags,
    platforms: _platforms,
    images: _images,
    jobs: _jobs,
    referrers: _referrers,
    dryRun: _dryRun,
    onTag: _onTag,
    ...remote
  } = options;
  const signal = options.signal;
  const request = signal ? { signal } : {};
  const sourceClient = await clientFor(from, remote);
  // the destination is read as it is: never through the mirrors configured for its registry
  const destinationClient = await clientFor(to, { ...remote, config: { registries: {} } });
  const src = new RegistryImageSource(sourceClient, from.repository);
  const dst = new RegistryImageDestination(to, remote);

  const all = await sourceClient.listTags(from.repository, request);
  const picked = pattern ? all.filter((t) => pattern.test(t)) : all;
  const results: SyncedTag[] = picked.map((tag) => ({ tag, status: "failed" }));

  const one = async (index: number) => {
    const tag = picked[index]!;
    const result = results[index]!;
    try {
      const head = await sourceClient.headManifest(from.repository, tag, request);
      let digest = head?.digest;
      let expected = platforms === "all" ? digest : undefined;
      if (digest === undefined || (platforms !== "all" && platforms.length === 1)) {
        // no digest from HEAD, or one platform of an index: the manifest tells
        const resolved = await src.resolve(tag, request);
        digest = resolved.descriptor.digest;
        expected = digest;
        const parsed = parseManifest(resolved.bytes, resolved.descriptor.mediaType);
        if (platforms !== "all" && parsed.kind === "index") {
          expected = choosePlatform(parsed.index, platforms[0]!, src.name).digest;
        }
      }
      result.digest = digest;
      const there = await destinationClient.headManifest(to.repository, tag, request);
      const upToDate = expected !== undefined && there?.digest === expected;
      let subjects = [expected ?? digest];
      if (!upToDate) {
        if (options.dryRun) {
          result.status = "would-copy";
        } else {
          const copied = await copyImage(src, tag, dst, {
            platforms,
            tag,
            ...(options.jobs !== undefined ? { jobs: options.jobs } : {}),
            ...request,
            ...(options.onDebug ? { onDebug: options.onDebug } : {}),
          });
          subjects = [copied.digest, ...copied.manifests.map((m) => m.digest)];
          result.status = "copied";
        }
      } else {
        result.status = "up-to-date";
      }
      if (options.referrers ?? true) {
        const carried = await carryReferrers({
          sourceRef: from,
          sourceClient,
          source: src,
          destination: dst,
          destinationClient,
          destinationRepository: to.repository,
          ...(options.dryRun ? { dryRun: true } : {}),
          ...request,
          ...(options.onDebug ? { onDebug: options.onDebug } : {}),
        }, subjects);
        result.referrers = carried.copied;
      }
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      result.status = "failed";
      result.error = (e as Error).message;
    }
    options.onTag?.(result);
  };
  await runBounded(
    picked.map((_, i) => i),
    options.images ?? 2,
    (i) => one(i),
    signal,
  );
  const count = (...s: SyncedTag["status"][]) => results.filter((r) => s.includes(r.status)).length;
  return {
    source: from.toString(),
    destination: to.toString(),
    tags: results,
    copied: count("copied", "would-copy"),
    upToDate: count("up-to-date"),
    failed: count("failed"),
  };
}
