/**
 * The destination side of carrying referrers ({@linkcode ReferrerTarget}), apart from
 * `carry_referrers.ts` so that the targets it builds can name it without an import cycle.
 *
 * @module
 */

import type { Descriptor } from "../oci/parse_manifest.ts";

/**
 * What `carryReferrers()` asks of a destination besides writing: what it has, and how it
 * keeps referrers. A registry repository is one (`destinationClient` and `destinationRepository`
 * make it); `sync()` has one for an OCI layout.
 */
export interface ReferrerTarget {
  /**
   * The digest the destination has under a tag or a digest, `undefined` when it has none.
   *
   * @param reference A tag (`sha256-<hex>.sig`) or a digest.
   * @param signal Aborts.
   * @returns The digest, or `undefined`.
   */
  head(reference: string, signal?: AbortSignal): Promise<string | undefined>;
  /**
   * Whether the destination keeps referrers itself (the OCI 1.1 referrers API): then no fallback
   * index is written.
   *
   * @param subject A subject's digest, to ask about.
   * @param signal Aborts.
   * @returns `true` when it has the API.
   */
  keepsReferrers(subject: string, signal?: AbortSignal): Promise<boolean>;
  /**
   * The entries of the fallback index tagged `tag`, `[]` when there is none.
   *
   * @param tag `sha256-<hex>`.
   * @param signal Aborts.
   * @returns The index's entries.
   */
  fallbackEntries(tag: string, signal?: AbortSignal): Promise<Descriptor[]>;
}
