/**
 * Mirroring a repository: every tag (or those a pattern picks) copied to another registry or into
 * an OCI image layout (`oci:DIR`), with their referrers, incrementally: what the destination has
 * already is left alone.
 *
 * @module
 */

import type { ImageDestination } from "../image/image_destination.ts";
import { runBounded } from "../image/run_bounded.ts";
import { parseRepository } from "../reference/parse_repository.ts";
import type { Reference } from "../reference/parse_reference.ts";
import { choosePlatform } from "../oci/choose_platform.ts";
import { parseManifest, type Platform } from "../oci/parse_manifest.ts";
import { RegistryImageDestination } from "../registry/registry_image_destination.ts";
import { RegistryImageSource } from "../registry/registry_image_source.ts";
import { clientFor, type RemoteOptions } from "../registry/remote_options.ts";
import { LayoutImageDestination } from "../store/layout_image_destination.ts";
import { Store } from "../store/store.ts";
import {
  carryReferrers,
  referrerProblem,
  type ReferrerTarget,
  type SourceReferrerHints,
} from "./carry_referrers.ts";
import { parsePlatforms } from "./parse_platforms.ts";
import { LayoutTarget } from "./_layout_target.ts";
import { registryTarget } from "./_registry_target.ts";
import type { SyncedTag, SyncReport } from "./sync_report.ts";

export type { SyncedTag, SyncReport } from "./sync_report.ts";
import { destinationTags, probeReferrersApi } from "./_registry_probes.ts";

/** How many tags are checked (`HEAD` at both ends) at once; copies are bounded by `images`. */
const CHECKS = 8;
/** The distribution spec's tag grammar. */
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

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
   * How deep referrers of referrers are followed (1: only the images' own referrers; 2: also a
   * signature on an SBOM; ...). Each digest is looked up once, so loops end.
   * @default {4}
   */
  referrerDepth?: number;
  /**
   * Find out what would be copied; write nothing.
   * @default {false}
   */
  dryRun?: boolean;
  /** Told each tag's outcome as it is known. */
  onTag?: (tag: SyncedTag) => void;
}

/**
 * Mirrors a repository into another registry, or into an OCI image layout (`oci:DIR`).
 *
 * Lists the source's tags (a pattern may pick some), then for each, up to 8 at once: one `HEAD`
 * at the source and, at the same time, one at the destination (Docker Hub does not count `HEAD`
 * against its pull rate limit; a layout is read from its `index.json`). A tag whose destination
 * digest equals the source's is left alone: no blob upload, no manifest `PUT`, nothing written.
 * Any other is copied with the copy engine (every byte verified, digests kept for
 * `platforms: "all"`), `images` at once, with its referrers and theirs. A tag that fails is
 * reported and the others go on. Referrers that cannot be carried (a malformed referrer, a cap,
 * a refusal) do not fail their tag: its status is the image's, and `referrersError` says what
 * went wrong (counted in `referrersFailed`).
 *
 * In a layout, the source's tag `T` is named `REPO:T` (`org.opencontainers.image.ref.name`, the
 * canonical source repository, as skiff's store names pulls: `skopeo ... oci:DIR:REPO:T` and
 * `umoci unpack --image DIR:REPO:T` read it); Docker manifests are named through their OCI
 * conversion, the registry's digest kept in `dev.skiff.source.digest`. Referrers go in as on a
 * registry without the referrers API: the fallback index named `REPO:sha256-<hex>`, cosign-style
 * tags as `REPO:sha256-<hex>.sig`.
 *
 * With `oci:DIR` as the source, the layout's names become the destination repository's tags
 * (`R:T` gives `T`, a bare name is a tag; names of one repository only), each pushed as its
 * registry had it; no referrers are looked up beyond the names themselves.
 *
 * @param source The source repository, e.g. `docker.io/library/alpine` (no tag), or `oci:DIR`.
 * @param destination The destination repository, e.g. `127.0.0.1:5000/mirror/alpine`, or
 *   `oci:DIR` (created when missing).
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
 *
 * @example Mirror a repository into an OCI layout
 * ```ts ignore
 * import { sync } from "./sync.ts";
 *
 * await sync("ghcr.io/org/app", "oci:./mirror");
 * // skopeo inspect oci:./mirror:ghcr.io/org/app:1
 * ```
 */
export async function sync(
  source: string | Reference,
  destination: string | Reference,
  options: SyncOptions = {},
): Promise<SyncReport> {
  if (typeof source === "string" && source.startsWith("oci:")) {
    return await fromLayout(source.slice("oci:".length), destination, options);
  }
  const from = typeof source === "string" ? parseRepository(source) : source;
  const layoutDir = typeof destination === "string" && destination.startsWith("oci:")
    ? destination.slice("oci:".length)
    : undefined;
  if (layoutDir === "") {
    throw new SyntaxError(`Cannot parse destination "oci:": it names no directory (oci:DIR)`);
  }
  const to = layoutDir !== undefined
    ? undefined
    : typeof destination === "string"
    ? parseRepository(destination)
    : destination as Reference;
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
    referrerDepth: _referrerDepth,
    dryRun: _dryRun,
    onTag: _onTag,
    ...remote
  } = options;
  const signal = options.signal;
  const request = signal ? { signal } : {};
  const sourceClient = await clientFor(from, remote);
  const src = new RegistryImageSource(sourceClient, from.repository);

  // the destination: a registry repository, or a layout (opened once the source's tags are
  // known: a source that cannot be listed leaves no new directory behind)
  let dst: ImageDestination | undefined;
  let target: ReferrerTarget | undefined;
  let release: Disposable | undefined;
  let destinationClient: Awaited<ReturnType<typeof clientFor>> | undefined;
  const destinationName = layoutDir !== undefined ? `oci:${layoutDir}` : to!.toString();
  if (to !== undefined) {
    // the destination is read as it is: never through the mirrors configured for its registry
    destinationClient = await clientFor(to, { ...remote, config: { registries: {} } });
    dst = new RegistryImageDestination(to, remote);
    target = registryTarget(destinationClient, to.repository);
  }

  try {
    // at once: the source's tags, whether it has the referrers API, the destination's tags
    const [all, api, present] = await Promise.all([
      sourceClient.listTags(from.repository, request),
      options.referrers ?? true
        ? probeReferrersApi(sourceClient, from.repository, signal).catch(() => undefined)
        : undefined,
      destinationClient ? destinationTags(destinationClient, to!.repository, signal) : undefined,
    ]);
    if (layoutDir !== undefined) {
      const layout = await openLayout(layoutDir, from.toString(), options.dryRun ?? false, signal);
      dst = layout.destination;
      target = layout.target;
      release = layout.release;
    }
    const into = dst!;
    const check = target!;
    const picked = pattern ? all.filter((t) => pattern.test(t)) : all;
    const results: SyncedTag[] = picked.map((tag) => ({ tag, status: "failed" }));
    // what referrer look-ups need to know of the source: its tags (no HEAD for a cosign tag it
    // does not have), and, once a look-up found out, whether it has the referrers API
    const hints: SourceReferrerHints = {
      tags: new Set(all),
      ...(api !== undefined ? { api } : {}),
    };
    const copies = limiter(options.images ?? 2);

    const one = async (index: number) => {
      const tag = picked[index]!;
      const result = results[index]!;
      try {
        // a tag goes into request paths and names: a registry's list is not trusted to hold
        // only tags (a "../x" would reach another path)
        if (!TAG.test(tag)) {
          throw new SyntaxError(`Cannot sync ${JSON.stringify(tag)}: not a valid tag`);
        }
        // both ends at once
        const [head, there] = await Promise.all([
          sourceClient.headManifest(from.repository, tag, request),
          present && !present.has(tag) ? undefined : check.head(tag, signal),
        ]);
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
        const upToDate = expected !== undefined && there === expected;
        let subjects = [expected ?? digest];
        if (expected !== undefined) result.destinationDigest = expected;
        if (upToDate) {
          result.status = "up-to-date";
        } else if (options.dryRun) {
          result.status = "would-copy";
        } else {
          // the engine (and node:crypto, ~15 ms) is loaded only when something is to be copied
          const { copyImage } = await import("../image/copy_image.ts");
          const copied = await copies(() =>
            copyImage(src, tag, into, {
              platforms,
              tag,
              ...(options.jobs !== undefined ? { jobs: options.jobs } : {}),
              ...request,
              ...(options.onDebug ? { onDebug: options.onDebug } : {}),
            })
          );
          subjects = [copied.digest, ...copied.manifests.map((m) => m.digest)];
          result.destinationDigest = copied.digest;
          result.status = "copied";
        }
        if (options.referrers ?? true) {
          const carried = await carryReferrers({
            sourceRef: from,
            sourceClient,
            source: src,
            destination: into,
            target: check,
            sourceHints: hints,
            ...(options.referrerDepth !== undefined ? { depth: options.referrerDepth } : {}),
            ...(options.dryRun ? { dryRun: true } : {}),
            ...request,
            ...(options.onDebug ? { onDebug: options.onDebug } : {}),
          }, subjects);
          result.referrers = carried.copied;
          const problem = referrerProblem(carried.problems);
          if (problem !== undefined) result.referrersError = problem;
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
      Math.max(CHECKS, options.images ?? 2),
      (i) => one(i),
      signal,
    );
    const count = (...s: SyncedTag["status"][]) =>
      results.filter((r) => s.includes(r.status)).length;
    return {
      source: from.toString(),
      destination: destinationName,
      tags: results,
      copied: count("copied", "would-copy"),
      upToDate: count("up-to-date"),
      failed: count("failed"),
      referrersFailed: results.filter((r) => r.referrersError !== undefined).length,
    };
  } finally {
    release?.[Symbol.dispose]();
  }
}

/** `sync("oci:DIR", REPO)`: the layout's names as the repository's tags. */
async function fromLayout(
  dir: string,
  destination: string | Reference,
  options: SyncOptions,
): Promise<SyncReport> {
  if (dir === "") {
    throw new SyntaxError(`Cannot parse source "oci:": it names no directory (oci:DIR)`);
  }
  if (typeof destination === "string" && destination.startsWith("oci:")) {
    throw new SyntaxError(
      `Cannot sync oci:${dir} to ${destination}: one of them must be a registry`,
    );
  }
  const to = typeof destination === "string" ? parseRepository(destination) : destination;
  const {
    tags,
    platforms,
    images,
    jobs,
    referrers: _referrers,
    referrerDepth: _referrerDepth,
    dryRun,
    onTag,
    ...remote
  } = options;
  const { syncFromLayout } = await import("./_sync_from_layout.ts");
  return await syncFromLayout(dir, to, {
    ...remote,
    pattern: tags === undefined ? undefined : typeof tags === "string" ? new RegExp(tags) : tags,
    platforms: parsePlatforms(platforms ?? "all"),
    images: images ?? 2,
    ...(jobs !== undefined ? { jobs } : {}),
    dryRun: dryRun ?? false,
    ...(onTag ? { onTag } : {}),
  });
}

/**
 * The layout: the store's destination (its gc lock held until released) behind the names sync
 * gives. A dry run into a directory that is not there creates nothing: everything would be copied.
 */
async function openLayout(
  dir: string,
  base: string,
  dryRun: boolean,
  signal: AbortSignal | undefined,
): Promise<{ destination: ImageDestination; target: ReferrerTarget; release?: Disposable }> {
  if (dryRun && !(await exists(dir))) {
    const nothing: ReferrerTarget & ImageDestination = {
      name: `oci:${dir}`,
      head: () => Promise.resolve(undefined),
      keepsReferrers: () => Promise.resolve(false),
      fallbackEntries: () => Promise.resolve([]),
      hasBlob: () => Promise.resolve(false),
      writeBlob: () => Promise.reject(new Error(`Cannot write to oci:${dir}: a dry run`)),
      putManifest: () => Promise.reject(new Error(`Cannot write to oci:${dir}: a dry run`)),
    };
    return { destination: nothing, target: nothing };
  }
  // a dry run reads index.json only: no lock taken (a read-only layout works), nothing written
  const store = await Store.open(dir, dryRun ? { create: false } : {});
  const inner = dryRun ? undefined : await LayoutImageDestination.open(store, signal);
  const layout = new LayoutTarget(store, inner, base);
  return { destination: layout, target: layout, ...(inner ? { release: inner } : {}) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** At most `n` calls of the returned function run at once; the others wait their turn. */
function limiter(n: number): <T>(f: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(f: () => Promise<T>): Promise<T> => {
    while (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await f();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}
