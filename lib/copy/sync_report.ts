/**
 * What a sync reports: {@linkcode SyncReport} and its {@linkcode SyncedTag}s (apart from
 * `sync.ts` so that its helpers can name them without an import cycle).
 *
 * @module
 */

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
  /**
   * What the destination's tag names after the run (would name, for a dry run): with one
   * platform, that platform's manifest; with a list, the rewritten index (not known before it is
   * written); else the same as `digest`.
   */
  destinationDigest?: string;
  /** Referrers copied for it (or that would be). */
  referrers?: number;
  /**
   * Set when some of its referrers could not be carried (a malformed referrer, a cap, a
   * refusal): what went wrong. `status` is the image's own, which stands.
   */
  referrersError?: string;
  /** Why it failed. */
  error?: string;
}

/** What `sync()` did. */
export interface SyncReport {
  /** The source repository, canonical. */
  source: string;
  /** The destination repository, canonical, or `oci:DIR`. */
  destination: string;
  /** Every tag picked, in the source's order. */
  tags: SyncedTag[];
  /** Tags copied (or that would be). */
  copied: number;
  /** Tags left alone. */
  upToDate: number;
  /** Tags that failed. */
  failed: number;
  /** Tags copied or up to date whose referrers could not all be carried (`referrersError`). */
  referrersFailed: number;
}
