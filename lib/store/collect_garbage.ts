/**
 * Garbage collection: delete the blobs no `index.json` entry reaches, and partial downloads no
 * running pull holds.
 *
 * @module
 */

import { parseDigest } from "../reference/parse_digest.ts";
import { acquireLock, GC_LOCK, INDEX_LOCK } from "./_locks.ts";
import { removeIfThere, sweepIngest } from "./_sweep_ingest.ts";
import { openExisting } from "./_open_existing.ts";
import { entryLabel } from "./index_entry.ts";
import type { EntryProblem } from "./verify_store.ts";
import { isTempName, splitPath, sweepRecords, sweepTemps } from "./_temp_files.ts";
import { type Children, childrenOf, refersToBlobs, walkOptions } from "./_walk.ts";
import { INDEX_DIGEST_ANNOTATION, SOURCE_DIGEST_ANNOTATION, type Store } from "./store.ts";

// Kept on purpose, through annotations of `index.json` entries: the index a name pointed at (a
// re-pull by tag resolves through it with no GET), and the registry's original manifest (or list)
// of a converted Docker image.

/** Options for {@linkcode collectGarbage}. */
export interface CollectGarbageOptions {
  /**
   * Only report what would be deleted.
   * @default {false}
   */
  dryRun?: boolean;
  /** Stops waiting for running pulls (nothing is deleted until the wait is over). */
  signal?: AbortSignal;
  /** Called once when running pulls make the collection wait for them to finish. */
  onWait?: () => void;
}

/** A file that was deleted (or, in a dry run, would be). */
export interface FreedFile {
  /** The blob's digest (for a partial download, of the blob it was becoming). */
  digest: string;
  /** Its size in bytes on disk. */
  size: number;
}

/** What {@linkcode collectGarbage} did. */
export interface GarbageReport {
  /** Blobs no entry reaches, deleted. */
  blobs: FreedFile[];
  /** Partial downloads no running pull holds, deleted. */
  partials: FreedFile[];
  /** Left-over temporary files of interrupted atomic writes, deleted (their sizes). */
  temporary: number[];
  /** Partial downloads kept because a pull holds them. */
  inUse: string[];
  /**
   * Hidden temporaries that writes from this store left outside it when they were killed
   * (deleted), by path: the directories of unpacks, the files of disk images, layer images,
   * `save` and `export` outputs, and a creation of this store. Those of writes still running
   * are left alone.
   */
  unpacks: string[];
  /** Blobs kept (reached from `index.json`). */
  kept: number;
  /**
   * Entries that are malformed or name a damaged manifest: what they still name is kept (a
   * damaged manifest is kept, and read without its digest check for what it names), and the
   * rest of the store is collected all the same.
   */
  problems: EntryProblem[];
  /** Total bytes freed. */
  bytes: number;
  /** `true` for a dry run: nothing was deleted. */
  dryRun: boolean;
}

/**
 * Deletes what no image in the store needs.
 *
 * Reached, and kept: every `index.json` entry's manifest or index, everything it refers to
 * (index entries present in the store, configs, layers), and the blobs named by the entry's
 * `dev.skiff.index.digest` and `dev.skiff.source.digest` annotations. Deleted: every other blob
 * under `blobs/`, partial downloads in `ingest/` that no pull holds (tested with the same `flock`
 * a pull takes, without waiting), temporary files no running write holds (their lock), and the
 * hidden temporaries that killed writes from this store left outside it (unpacks, disk and layer
 * images, `save` and `export` outputs, noted in `ingest/`) whose writers are dead. Files under
 * `blobs/` whose names are not digests are left alone.
 *
 * It runs under the store's locks: it first waits for running pulls to finish (and holds new
 * ones back while it runs), so a blob a pull has downloaded but not yet named is never deleted;
 * and it holds the index lock, so `index.json` cannot change under it. Every entry is read the
 * way `images` and `fsck` read it (media type parameters ignored, an entry without a media type
 * walked by its content); a damaged manifest is reported in `problems`, kept, and what it still
 * names is kept too.
 *
 * @param store The store: a directory or an open {@linkcode Store}.
 * @param options Dry run, abort signal, and a callback for when it waits.
 * @returns What was freed.
 *
 * @example Collect garbage in a store
 * ```ts
 * import { collectGarbage } from "./collect_garbage.ts";
 * import { Store } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const store = await Store.open(dir);
 * const orphan = new TextEncoder().encode("nobody needs me");
 * const digest = "sha256:" + Array.from(
 *   new Uint8Array(await crypto.subtle.digest("SHA-256", orphan)),
 *   (b) => b.toString(16).padStart(2, "0"),
 * ).join("");
 * await store.putBlob(digest, orphan);
 * const report = await collectGarbage(store);
 * assert.deepEqual(report.blobs, [{ digest, size: orphan.byteLength }]);
 * assert.deepEqual(await store.hasBlob(digest), false);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function collectGarbage(
  store: string | Store,
  options: CollectGarbageOptions = {},
): Promise<GarbageReport> {
  const dryRun = options.dryRun ?? false;
  const report: GarbageReport = {
    blobs: [],
    partials: [],
    temporary: [],
    inUse: [],
    unpacks: [],
    kept: 0,
    problems: [],
    bytes: 0,
    dryRun,
  };
  const opened = await openExisting(store);
  if (!opened) return report;
  const wait = {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onWait ? { onWait: options.onWait } : {}),
  };
  let outsideBytes = 0; // the files among the temporaries outside the store
  const gcLock = await acquireLock(opened, GC_LOCK, true, wait);
  try {
    const indexLock = await acquireLock(opened, INDEX_LOCK, true, wait);
    try {
      const reached = await mark(opened, report.problems);
      await sweepBlobs(opened, reached, report, dryRun);
      const ingest = await sweepIngest(opened, { remove: !dryRun });
      report.partials.push(...ingest.partials);
      report.temporary.push(...ingest.temporary);
      report.inUse.push(...ingest.inUse);
      const outside = await sweepRecords(opened, { remove: !dryRun });
      // a creation of this store that was killed (a later one made it): beside it
      const { parent, base } = splitPath(await Deno.realPath(opened.path));
      const created = await sweepTemps(parent, (name) => isTempName(name, base), {
        remove: !dryRun,
      });
      for (const t of [...outside.stale, ...created.stale]) {
        report.unpacks.push(t.path);
        outsideBytes += t.size;
      }
    } finally {
      indexLock.close();
    }
  } finally {
    gcLock.close();
  }
  report.bytes = [...report.blobs, ...report.partials].reduce((n, f) => n + f.size, 0) +
    report.temporary.reduce((n, s) => n + s, 0) + outsideBytes;
  return report;
}

/** Every digest reachable from `index.json`. */
async function mark(
  store: Store,
  problems: GarbageReport["problems"],
): Promise<Set<string>> {
  const reached = new Set<string>();
  const visit = async (
    digest: string,
    walk: boolean,
    document: boolean,
    image: string,
  ): Promise<void> => {
    if (reached.has(digest)) return;
    reached.add(digest);
    if (!walk) return;
    let children: Children | undefined;
    try {
      children = await childrenOf(store, digest, { document });
    } catch (e) {
      problems.push({ image, problem: (e as Error).message });
      // keep what the damaged document still seems to name: deleting it would lose more
      children = await childrenOf(store, digest, { document: false, verify: false })
        .catch(() => undefined);
    }
    if (!children) return;
    for (const d of [...children.manifests, ...(children.config ? [children.config] : [])]) {
      await visit(d.digest, refersToBlobs(d), walkOptions(d).document ?? true, image);
    }
    for (const d of children.layers) {
      await visit(d.digest, refersToBlobs(d), walkOptions(d).document ?? true, image);
    }
  };
  for (const entry of await store.readEntries()) {
    const image = entryLabel(entry);
    for (const problem of entry.problems) {
      problems.push({ image, problem: `index.json entry: ${problem}` });
    }
    if (entry.digest !== undefined) {
      const d = entry.descriptor;
      await visit(d.digest, refersToBlobs(d), walkOptions(d).document ?? true, image);
    }
    const index = entry.descriptor.annotations?.[INDEX_DIGEST_ANNOTATION];
    // kept as a blob, not walked: other platforms of an index are not kept through it
    if (index !== undefined && isValid(index)) reached.add(index);
    const source = entry.descriptor.annotations?.[SOURCE_DIGEST_ANNOTATION];
    // the registry's original of a converted manifest or list: walked, so that the original
    // Docker manifests a converted list's platforms came from stay too (push sends them)
    if (source !== undefined && isValid(source)) await visit(source, true, true, image);
  }
  return reached;
}

async function sweepBlobs(
  store: Store,
  reached: Set<string>,
  report: GarbageReport,
  dryRun: boolean,
): Promise<void> {
  let algorithms: string[] = [];
  try {
    for await (const e of Deno.readDir(`${store.path}/blobs`)) {
      if (e.isDirectory) algorithms.push(e.name);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  algorithms = algorithms.sort();
  for (const algorithm of algorithms) {
    const dir = `${store.path}/blobs/${algorithm}`;
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) if (e.isFile) names.push(e.name);
    for (const hex of names.sort()) {
      const digest = `${algorithm}:${hex}`;
      if (!isValid(digest)) continue; // not a blob skiff could have written: not ours to judge
      if (reached.has(digest)) {
        report.kept++;
        continue;
      }
      const size = await sizeOf(`${dir}/${hex}`);
      if (size === undefined) continue;
      if (!dryRun) await removeIfThere(`${dir}/${hex}`);
      report.blobs.push({ digest, size });
    }
  }
}

function isValid(digest: string): boolean {
  try {
    parseDigest(digest);
    return true;
  } catch {
    return false;
  }
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await Deno.stat(path)).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}
