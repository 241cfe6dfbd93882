// What a pull is asked for, read once from its arguments and checked before anything is opened:
// the reference, the policy, the platforms (one, a list, all, or the host's), the concurrency.

import { parseReference, type Reference } from "../reference/parse_reference.ts";
import {
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  parsePlatformList,
} from "../oci/choose_platform.ts";
import type { Platform } from "../oci/parse_manifest.ts";
import type { PullOptions, PullPolicy } from "./pull_options.ts";

/** A pull's arguments, checked. */
export interface PullRequest {
  /** The reference. */
  ref: Reference;
  /** Its canonical form: the name the image gets. */
  name: string;
  /** When the registry is asked. */
  policy: PullPolicy;
  /** The platforms asked for: `undefined` when none was (then the host's). */
  platforms: "all" | Platform[] | undefined;
  /** More than one platform (a list of several, or all): the name's entry is then the index. */
  multi: boolean;
  /** A platform was asked for (it must then match what is stored, or the image's config). */
  explicit: boolean;
  /** The one platform wanted (normalised): the first asked for, or the host's; none for all. */
  want: Platform | undefined;
  /** Blobs downloaded at once. */
  jobs: number;
}

/**
 * Reads a pull's reference and options.
 *
 * @throws {SyntaxError} When the reference or a platform is malformed.
 * @throws {TypeError} When the policy is not one.
 * @throws {RangeError} When `jobs` is not a positive integer.
 */
export function pullRequest(reference: string | Reference, options: PullOptions): PullRequest {
  const ref = typeof reference === "string" ? parseReference(reference) : reference;
  const jobs = options.jobs ?? 4;
  const policy = options.policy ?? "always";
  if (policy !== "always" && policy !== "missing" && policy !== "never") {
    throw new TypeError(`Cannot pull with policy "${policy}": expected always, missing or never`);
  }
  const platforms = platformsOf(options.platform);
  if (!Number.isInteger(jobs) || jobs < 1) {
    throw new RangeError(`Cannot pull with ${jobs} jobs: expected a positive integer`);
  }
  return {
    ref,
    name: ref.toString(),
    policy,
    platforms,
    multi: platforms === "all" || (platforms !== undefined && platforms.length > 1),
    explicit: options.platform !== undefined,
    want: platforms === undefined
      ? hostPlatform()
      : platforms === "all"
      ? undefined
      : normalizePlatform(platforms[0]!),
    jobs,
  };
}

/** The platforms a `platform` option asks for: one, a list, or all. */
function platformsOf(platform: PullOptions["platform"]): "all" | Platform[] | undefined {
  if (platform === undefined) return undefined;
  if (typeof platform === "string") return parsePlatformList(platform);
  const items: readonly (string | Platform)[] = Array.isArray(platform)
    ? platform
    : [platform as Platform];
  if (items.length === 0) throw new SyntaxError(`Cannot pull for an empty list of platforms`);
  return items.map((p) => typeof p === "string" ? parsePlatform(p) : p);
}
