/**
 * fsck for the store: re-hash every blob, follow every name to its manifests, configs and layers,
 * and find what interrupted pulls left behind; with `repair`, delete what is damaged or stale so
 * the next pull fetches it again.
 *
 * @module
 */

import { isDigest, parseDigest } from "../reference/parse_digest.ts";
import { hashFile } from "./_fs.ts";
import { acquireLock, GC_LOCK } from "./_locks.ts";
import { openExisting } from "./_open_existing.ts";
import { removeIfThere, sweepIngest } from "./_sweep_ingest.ts";
import { entryLabel } from "./index_entry.ts";
import { childrenOf, refersToBlobs, walkOptions } from "./_walk.ts";
import type { Store } from "./store.ts";

/** Options for {@linkcode verifyStore}. */
export interface VerifyStoreOptions {
  /**
   * Delete corrupt blobs and stale partial downloads (the next pull fetches them again). Waits
   * for running pulls first, and holds new ones back while it runs.
   * @default {false}
   */
  repair?: boolean;
  /** Stops the check between blobs. */
  signal?: AbortSignal;
  /** Called once when running pulls make a repair wait for them to finish. */
  onWait?: () => void;
}

/** A blob whose content does not hash to its name. */
export interface CorruptBlob {
  /** The blob's name. */
  digest: string;
  /** What its content hashes to. */
  actual: string;
  /** Its size on disk. */
  size: number;
  /** `true` when it was deleted (repair). */
  removed: boolean;
}

/** A blob an image needs that the store does not have (or has damaged). */
export interface MissingBlob {
  /** The blob's digest. */
  digest: string;
  /** What it is to the images that need it. */
  role: "manifest" | "index" | "config" | "layer";
  /** The names (`org.opencontainers.image.ref.name`) that need it. */
  images: string[];
}

/** A blob whose size differs from what a manifest says (a lying manifest). */
export interface SizeMismatch {
  /** The blob's digest. */
  digest: string;
  /** The size the manifest or index says. */
  expected: number;
  /** The size on disk. */
  actual: number;
}

/** An `index.json` entry that is malformed, or names a document that is not a manifest. */
export interface EntryProblem {
  /** The entry's name, else its digest, else its position (`index.json entry 3`). */
  image: string;
  /** What is wrong. */
  problem: string;
}

/** A partial download in `ingest/` that no running pull holds, by the blob it was becoming. */
export interface StalePartial {
  /** The blob's digest. */
  digest: string;
  /** Bytes on disk. */
  size: number;
}

/** What {@linkcode verifyStore} found. */
export interface StoreReport {
  /** Blob files hashed. */
  blobs: number;
  /** Their total size. */
  bytes: number;
  /** Names in `index.json`. */
  images: number;
  /** Blobs that do not hash to their names. */
  corrupt: CorruptBlob[];
  /** Blobs named images need but the store lacks (corrupt ones count as lacking). */
  missing: MissingBlob[];
  /** Blobs whose size differs from their descriptors. */
  sizeMismatches: SizeMismatch[];
  /** Entries with malformed fields, or whose manifest is not a readable document. */
  problems: EntryProblem[];
  /** Files under `blobs/` whose names are not digests (left alone). */
  unknownFiles: string[];
  /** Partial downloads no pull holds (deleted with repair). */
  stalePartials: StalePartial[];
  /** Stale temporary files, their sizes (deleted with repair). */
  staleTemporary: number[];
  /** Partial downloads a running pull holds. */
  inUse: string[];
  /** Whether it repaired. */
  repaired: boolean;
  /** `true` when every name reaches everything it needs and every blob is intact. */
  ok: boolean;
}

/**
 * Checks a store: every blob under `blobs/` is re-hashed; every name in `index.json` is followed
 * to its manifests (through an index, to the entries present), config and layers, each of which
 * must be present, intact and of the size its descriptor says; `ingest/` is searched for partial
 * downloads and temporary files no running pull holds.
 *
 * With `repair`, corrupt blobs and stale partial downloads are deleted: the names that need them
 * are then incomplete, and `pull` fetches them again.
 *
 * @param store The store: a directory or an open {@linkcode Store}.
 * @param options Repair, abort signal.
 * @returns What was found (and repaired).
 *
 * @example Check a store
 * ```ts
 * import { verifyStore } from "./verify_store.ts";
 * import { Store } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * await Store.open(dir);
 * const report = await verifyStore(dir);
 * assert.equal(report.ok, true);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function verifyStore(
  store: string | Store,
  options: VerifyStoreOptions = {},
): Promise<StoreReport> {
  const repair = options.repair ?? false;
  const report: StoreReport = {
    blobs: 0,
    bytes: 0,
    images: 0,
    corrupt: [],
    missing: [],
    sizeMismatches: [],
    problems: [],
    unknownFiles: [],
    stalePartials: [],
    staleTemporary: [],
    inUse: [],
    repaired: repair,
    ok: true,
  };
  const opened = await openExisting(store);
  if (!opened) return report;
  // a repair deletes: no pull may be between committing a blob and naming it
  const lock = repair
    ? await acquireLock(opened, GC_LOCK, true, {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onWait ? { onWait: options.onWait } : {}),
    })
    : undefined;
  try {
    const intact = await hashBlobs(opened, report, repair, options.signal);
    await followNames(opened, report, intact);
    const ingest = await sweepIngest(opened, { remove: repair });
    report.stalePartials = ingest.partials;
    report.staleTemporary = ingest.temporary;
    report.inUse = ingest.inUse;
  } finally {
    lock?.close();
  }
  report.ok = report.corrupt.length === 0 && report.missing.length === 0 &&
    report.sizeMismatches.length === 0 && report.problems.length === 0;
  return report;
}

/** Re-hashes every blob; returns the intact ones with their sizes. */
async function hashBlobs(
  store: Store,
  report: StoreReport,
  repair: boolean,
  signal: AbortSignal | undefined,
): Promise<Map<string, number>> {
  const intact = new Map<string, number>();
  let algorithms: string[] = [];
  try {
    for await (const e of Deno.readDir(`${store.path}/blobs`)) {
      if (e.isDirectory) algorithms.push(e.name);
      else report.unknownFiles.push(`blobs/${e.name}`);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  algorithms = algorithms.sort();
  for (const algorithm of algorithms) {
    const names: string[] = [];
    for await (const e of Deno.readDir(`${store.path}/blobs/${algorithm}`)) names.push(e.name);
    for (const hex of names.sort()) {
      signal?.throwIfAborted();
      const digest = `${algorithm}:${hex}`;
      const path = `${store.path}/blobs/${algorithm}/${hex}`;
      if (!isDigest(digest)) {
        report.unknownFiles.push(`blobs/${algorithm}/${hex}`);
        continue;
      }
      const hashed = await hashFile(path, parseDigest(digest).algorithm);
      if (hashed === undefined) continue; // deleted meanwhile
      const size = hashed.size;
      report.blobs++;
      report.bytes += size;
      const actual = `${algorithm}:${hashed.hex}`;
      if (actual === digest) {
        intact.set(digest, size);
        continue;
      }
      if (repair) await removeIfThere(path);
      report.corrupt.push({ digest, actual, size, removed: repair });
    }
  }
  return intact;
}

/** Follows every name to what it needs. */
async function followNames(
  store: Store,
  report: StoreReport,
  intact: Map<string, number>,
): Promise<void> {
  const missing = new Map<string, MissingBlob>();
  const mismatched = new Set<string>();
  const walked = new Set<string>();
  const visit = async (
    digest: string,
    size: number,
    role: MissingBlob["role"],
    walk: boolean,
    image: string,
    document = true,
  ): Promise<void> => {
    const have = intact.get(digest);
    if (have === undefined) {
      const entry = missing.get(digest) ?? { digest, role, images: [] };
      if (!entry.images.includes(image)) entry.images.push(image);
      missing.set(digest, entry);
      return;
    }
    if (have !== size && !mismatched.has(digest)) {
      mismatched.add(digest);
      report.sizeMismatches.push({ digest, expected: size, actual: have });
    }
    if (!walk) return;
    const key = `${image}|${digest}`;
    if (walked.has(key)) return;
    walked.add(key);
    let children;
    try {
      children = await childrenOf(store, digest, { document });
    } catch (e) {
      // intact but not a manifest (not JSON, too large): that image's problem, not the store's
      report.problems.push({ image, problem: (e as Error).message });
      return;
    }
    if (!children) return;
    for (const m of children.manifests) {
      // an index names every platform; only those present are checked (a pull keeps one)
      if (intact.has(m.digest)) {
        await visit(
          m.digest,
          m.size,
          "manifest",
          refersToBlobs(m),
          image,
          walkOptions(m).document,
        );
      }
    }
    if (children.config) {
      await visit(children.config.digest, children.config.size, "config", false, image);
    }
    for (const l of children.layers) {
      await visit(l.digest, l.size, "layer", refersToBlobs(l), image, walkOptions(l).document);
    }
  };
  for (const entry of await store.readEntries()) {
    report.images++;
    const name = entryLabel(entry);
    for (const problem of entry.problems) {
      report.problems.push({ image: name, problem: `index.json entry: ${problem}` });
    }
    if (entry.digest === undefined) continue;
    const d = entry.descriptor;
    const role = entry.kind === "index" ? "index" as const : "manifest" as const;
    await visit(d.digest, d.size, role, refersToBlobs(d), name, walkOptions(d).document);
  }
  report.missing = [...missing.values()];
}
