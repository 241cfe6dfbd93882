// What a stored manifest or index refers to, read leniently: gc and images must understand any
// layout another tool wrote, not only what skiff pulls.

import { isDigest } from "../reference/parse_digest.ts";
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES } from "../registry/media_types.ts";
import type { Descriptor } from "../registry/parse_manifest.ts";
import type { Store } from "./store.ts";

/** Media types whose blobs are JSON documents that refer to other blobs. */
const REFERRING_TYPES: ReadonlySet<string> = new Set([
  ...INDEX_MEDIA_TYPES,
  ...MANIFEST_MEDIA_TYPES,
  "application/vnd.oci.artifact.manifest.v1+json",
]);

/** The most bytes a manifest in the store may have. */
const MANIFEST_LIMIT = 4 * 1024 * 1024;

/** Whether a descriptor's blob is a manifest or index (a document to walk into). */
export function refersToBlobs(descriptor: Descriptor): boolean {
  return REFERRING_TYPES.has(descriptor.mediaType);
}

/** What a manifest or index document names, sorted by role. */
export interface Children {
  /** `manifests` of an index. */
  manifests: Descriptor[];
  /** `config` of a manifest. */
  config: Descriptor | undefined;
  /** `layers` of a manifest (and `blobs` of an artifact manifest). */
  layers: Descriptor[];
}

/**
 * Reads a stored manifest or index (verifying its digest) and returns what it names. Entries
 * that are not valid descriptors are left out: they cannot name a blob.
 *
 * @returns The children, or `undefined` when the blob is not in the store.
 * @throws {DigestMismatchError} When the stored blob is damaged.
 * @throws {SyntaxError} When it is not JSON.
 */
export async function childrenOf(store: Store, digest: string): Promise<Children | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await store.readBlob(digest, MANIFEST_LIMIT);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new SyntaxError(`Cannot read stored manifest ${digest}: not valid JSON`);
  }
  const obj = (typeof doc === "object" && doc !== null ? doc : {}) as Record<string, unknown>;
  const list = (v: unknown) => (Array.isArray(v) ? v : []).flatMap((d) => asDescriptor(d) ?? []);
  return {
    manifests: list(obj.manifests),
    config: asDescriptor(obj.config),
    layers: [...list(obj.layers), ...list(obj.blobs)],
  };
}

function asDescriptor(value: unknown): Descriptor | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const d = value as Record<string, unknown>;
  if (typeof d.digest !== "string" || !isDigest(d.digest)) return undefined;
  if (typeof d.size !== "number" || !Number.isSafeInteger(d.size) || d.size < 0) return undefined;
  return { ...(d as unknown as Descriptor), mediaType: String(d.mediaType ?? "") };
}
