// What is left in ingest/ that no running pull holds: partial downloads whose lock is free, and
// temporary files (`tmp-*`) of interrupted writes, whose lock is free too (an atomic write holds
// it while it runs: lib/store/_temp_files.ts). `load`'s `tmp-load-*` files are not locked once
// written, but a load holds the pull side of gc.lock, which gc and fsck --repair (the sweeps that
// delete) take exclusively. gc deletes them; fsck reports them (and deletes them with --repair).

import { isDigest } from "../reference/parse_digest.ts";
import { GC_LOCK, INDEX_LOCK } from "./_locks.ts";
import { sweepTemps } from "./_temp_files.ts";
import type { Store } from "./store.ts";

/** What {@linkcode sweepIngest} found. */
export interface IngestSweep {
  /** Partial downloads no pull holds (deleted when `remove`): `StalePartial`s of fsck's report. */
  partials: { digest: string; size: number }[];
  /** Sizes of temporary files no running write holds (deleted when `remove`). */
  temporary: number[];
  /** Digests of partial downloads a running pull holds (never touched). */
  inUse: string[];
}

/**
 * Finds, and with `remove` deletes, the stale files in `ingest/`. A partial file is stale when its
 * `flock` (the one a pull holds while it downloads) can be taken without waiting; it is deleted
 * while that lock is held, and only if the path still names the file that was locked.
 */
export async function sweepIngest(
  store: Store,
  options: { remove: boolean },
): Promise<IngestSweep> {
  const found: IngestSweep = { partials: [], temporary: [], inUse: [] };
  const dir = `${store.path}/ingest`;
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (e.isFile) names.push(e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return found;
    throw e;
  }
  const temps = await sweepTemps(dir, (name) => name.startsWith("tmp-"), options);
  found.temporary.push(...temps.stale.map((t) => t.size));
  for (const name of names.sort()) {
    if (name === GC_LOCK || name === INDEX_LOCK || name.startsWith("tmp-")) continue;
    const path = `${dir}/${name}`;
    const dash = name.indexOf("-");
    const digest = `${name.slice(0, dash)}:${name.slice(dash + 1)}`;
    if (dash <= 0 || !isDigest(digest)) continue;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true, write: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
    try {
      if (!(await file.tryLock(true))) {
        found.inUse.push(digest);
        continue;
      }
      // the path may have been committed or replaced since it was opened
      const [held, current] = await Promise.all([file.stat(), Deno.stat(path).catch(() => null)]);
      if (current === null || current.ino !== held.ino || current.dev !== held.dev) continue;
      if (options.remove) await removeIfThere(path);
      found.partials.push({ digest, size: held.size });
    } finally {
      file.close();
    }
  }
  return found;
}

/** Deletes a file; one already gone is fine. */
export async function removeIfThere(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}
