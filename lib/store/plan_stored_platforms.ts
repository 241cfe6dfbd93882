/**
 * Which platforms of a stored entry `push` sends and `save --format oci` writes. A stored index
 * may list platforms the store does not hold (`pull --platform a,b` keeps the whole index): the
 * default is what is stored (the index byte for byte when that is everything it lists, else an
 * index rewritten to list the stored ones); `all` asks for the index as it is and fails when part
 * of it is not stored; a platform or a list must be stored, each of them.
 *
 * @module
 */

import type { ResolvedRoot } from "../image/image_source.ts";
import { configPlatform, platformMatches } from "../oci/check_image_platform.ts";
import { formatPlatform, isAttestation } from "../oci/choose_platform.ts";
import { type Descriptor, parseManifest, type Platform } from "../oci/parse_manifest.ts";
import { ImageNotFoundError } from "./image_not_found_error.ts";
import type { Store } from "./store.ts";

/** What the engine is asked to copy out of the store. */
export interface StoredPlatformsPlan {
  platforms: "all" | Platform[];
  /** Index entries the store lacks (attestations of a chosen platform among them are left out). */
  absent: Set<string>;
}

/**
 * Chooses what to copy of a stored root: the platforms for `copyImage`, and the entries the
 * store lacks (`CopyImageOptions.absent`).
 *
 * @param store The store.
 * @param root The stored root (an image manifest or an index), as the layout source resolved it.
 * @param wanted `undefined` (what is stored), `"all"`, or platforms.
 * @param name The image, for messages.
 * @param command The command the messages name (`push`, `save`).
 * @returns The platforms, and the index entries that are not stored.
 * @throws {ImageNotFoundError} When a platform asked for (or, with `"all"`, any entry) is not
 *   stored, or no platform of an index is.
 *
 * @example What a store holding two of an index's three platforms sends
 * ```ts ignore
 * import { planStoredPlatforms } from "./plan_stored_platforms.ts";
 * import { LayoutImageSource } from "./layout_image_source.ts";
 * import { Store } from "./store.ts";
 *
 * const store = await Store.open("./images", { create: false });
 * const root = await new LayoutImageSource(store).resolve("ghcr.io/org/app:1");
 * const plan = await planStoredPlatforms(store, root, undefined, "ghcr.io/org/app:1", "push");
 * console.log(plan.platforms); // [{ os: "linux", architecture: "amd64" }, ...] or "all"
 * ```
 */
export async function planStoredPlatforms(
  store: Store,
  root: ResolvedRoot,
  wanted: "all" | Platform[] | undefined,
  name: string,
  command: "push" | "save",
): Promise<StoredPlatformsPlan> {
  const parsed = parseManifest(root.bytes, root.descriptor.mediaType);
  const none = new Set<string>();
  if (parsed.kind === "manifest") {
    if (wanted === undefined || wanted === "all") return { platforms: "all", absent: none };
    let have: Platform | undefined;
    try {
      have = configPlatform(await store.readConfig(parsed.manifest.config));
    } catch {
      have = undefined; // the engine reports the missing config
    }
    const stored = have ? [formatPlatform(have)] : [];
    for (const p of wanted) {
      if (!have || !platformMatches(have, p)) throw notStored(command, name, store, p, stored);
    }
    return { platforms: "all", absent: none };
  }
  const entries = parsed.index.manifests;
  const absent = new Set<string>();
  for (const d of entries) if (!(await isStored(store, d))) absent.add(d.digest);
  const storedPlatforms = entries.filter((d) =>
    d.platform && !isAttestation(d) && !absent.has(d.digest)
  );
  const storedNames = storedPlatforms.map((d) => formatPlatform(d.platform!));
  if (wanted === undefined || wanted === "all") {
    if (absent.size === 0) return { platforms: "all", absent };
    if (wanted === "all") {
      const missing = entries.filter((d) => absent.has(d.digest)).map(describe);
      throw new ImageNotFoundError(
        command,
        name,
        store.path,
        `--platform all needs everything its index lists, and ${missing.join(", ")} ` +
          `${missing.length === 1 ? "is" : "are"} not in the store ` +
          `(stored: ${storedNames.join(", ") || "no platform"}; ${command} --platform with ` +
          `those, or pull --platform all first)`,
      );
    }
    if (storedPlatforms.length === 0) {
      throw new ImageNotFoundError(
        command,
        name,
        store.path,
        `no platform of its index is in the store ${store.path}`,
      );
    }
    return { platforms: storedPlatforms.map((d) => d.platform!), absent };
  }
  for (const p of wanted) {
    if (!storedPlatforms.some((d) => platformMatches(d.platform!, p))) {
      throw notStored(command, name, store, p, storedNames);
    }
  }
  return { platforms: wanted, absent };
}

function notStored(
  command: string,
  name: string,
  store: Store,
  p: Platform,
  stored: string[],
): ImageNotFoundError {
  return new ImageNotFoundError(
    command,
    name,
    store.path,
    `platform ${formatPlatform(p)} is not in the store (stored: ${
      stored.join(", ") || "no platform"
    })`,
  );
}

function describe(d: Descriptor): string {
  if (isAttestation(d)) {
    return `the attestation ${d.digest.slice(0, 19)}`;
  }
  return d.platform ? formatPlatform(d.platform) : d.digest;
}

/** Whether a manifest and what it names (config, layers; an index's entries) are in the store. */
async function isStored(store: Store, d: Descriptor, depth = 0): Promise<boolean> {
  if (!(await store.hasBlob(d.digest, d.size))) return false;
  let parsed;
  try {
    parsed = (await store.readManifestOrIndex(d)).parsed;
  } catch {
    return false;
  }
  if (parsed.kind === "index") {
    if (depth > 8) return false;
    for (const c of parsed.index.manifests) {
      if (!(await isStored(store, c, depth + 1))) return false;
    }
    return true;
  }
  // a foreign layer (fetched from its urls) is never pushed, so it need not be here
  const blobs = [parsed.manifest.config, ...parsed.manifest.layers.filter((l) => !l.urls?.length)];
  const present = await Promise.all(blobs.map((b) => store.hasBlob(b.digest, b.size)));
  return present.every(Boolean);
}
