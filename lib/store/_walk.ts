// What a stored manifest or index refers to, read leniently: gc and images must understand any
// layout another tool wrote, not only what skiff pulls.

import { isDigest } from "../reference/parse_digest.ts";
import { type Descriptor, MANIFEST_SIZE_LIMIT } from "../oci/parse_manifest.ts";
import { kindOf } from "./index_entry.ts";
import type { Store } from "./store.ts";

/** The most bytes a manifest in the store may have. */

/**
 * Whether a descriptor's blob is a manifest or index (a document to walk into): by its media type
 * (parameters ignored), and also when it has none (then the content tells).
 */
export function refersToBlobs(descriptor: Descriptor): boolean {
  return kindOf(descriptor.mediaType) !== "other";
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

/** Options for {@linkcode childrenOf}. */
export interface ChildrenOptions {
  /**
   * The blob must be a JSON document (its media type says it is a manifest or an index); else,
   * a blob that is too large or not JSON simply names nothing.
   * @default {true}
   */
  document?: boolean;
  /**
   * Check the blob's digest. Off only to salvage what a damaged manifest still names, so that gc
   * keeps it rather than deletes it.
   * @default {true}
   */
  verify?: boolean;
}

const NOTHING: Children = { manifests: [], config: undefined, layers: [] };

/**
 * Reads a stored manifest or index (verifying its digest) and returns what it names. Entries
 * that are not valid descriptors are left out: they cannot name a blob.
 *
 * @returns The children, or `undefined` when the blob is not in the store.
 * @throws {DigestMismatchError} When the stored blob is damaged.
 * @throws {SyntaxError} When a document is expected and it is not JSON (or too large).
 */
export async function childrenOf(
  store: Store,
  digest: string,
  options: ChildrenOptions = {},
): Promise<Children | undefined> {
  const document = options.document ?? true;
  let bytes: Uint8Array;
  try {
    if (options.verify === false) {
      const path = store.blobPath(digest);
      const info = await Deno.stat(path);
      if (info.size > MANIFEST_SIZE_LIMIT) return NOTHING;
      bytes = await Deno.readFile(path);
    } else {
      bytes = await store.readBlob(digest, MANIFEST_SIZE_LIMIT);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    if (e instanceof RangeError) {
      if (!document) return NOTHING;
      throw new SyntaxError(`Cannot read stored manifest ${digest}: larger than 4 MiB`);
    }
    throw e;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    if (!document) return NOTHING;
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
  const descriptor: Descriptor = {
    mediaType: typeof d.mediaType === "string" ? d.mediaType : "",
    digest: d.digest,
    size: d.size,
  };
  // an index entry's platform and annotations, when well typed (images lists by platform)
  const p = d.platform as Record<string, unknown> | null | undefined;
  if (
    typeof p === "object" && p !== null && typeof p.os === "string" &&
    typeof p.architecture === "string"
  ) {
    descriptor.platform = { os: p.os, architecture: p.architecture };
    if (typeof p.variant === "string") descriptor.platform.variant = p.variant;
  }
  if (typeof d.annotations === "object" && d.annotations !== null) {
    const annotations = Object.fromEntries(
      Object.entries(d.annotations).filter(([, v]) => typeof v === "string"),
    ) as Record<string, string>;
    if (Object.keys(annotations).length > 0) descriptor.annotations = annotations;
  }
  return descriptor;
}

/** The options to walk into a descriptor's blob: a document when its media type says so. */
export function walkOptions(descriptor: Descriptor): ChildrenOptions {
  return { document: kindOf(descriptor.mediaType) !== "unknown" };
}
