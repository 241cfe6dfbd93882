/**
 * The one reader of `index.json` entries: every command (images, fsck, gc, rm, pull, unpack) sees
 * an entry the same way, whatever another tool (or a damaged disk) wrote there. An entry with a
 * field of the wrong type is kept, with its problem said; it is never a TypeError.
 *
 * @module
 */

import { isDigest } from "../reference/parse_digest.ts";
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES } from "../oci/media_types.ts";
import type { Descriptor, Platform } from "../oci/parse_manifest.ts";
import { REF_NAME_ANNOTATION } from "../oci/annotations.ts";

/** An `index.json` entry, read leniently by {@linkcode readEntries}. */
export interface IndexEntry {
  /** Its position in `index.json`, from 0. */
  position: number;
  /** The entry as a descriptor: only well-typed fields, the media type without parameters. */
  descriptor: Descriptor;
  /** The digest, when it is a valid one (else nothing in the store can be its blob). */
  digest: string | undefined;
  /** The name (`org.opencontainers.image.ref.name`), when it is a string. */
  name: string | undefined;
  /**
   * What its blob is: by its media type, or `unknown` when the entry has none (then the blob's
   * content tells). `other` for any other media type (an artifact, a layer).
   */
  kind: "index" | "manifest" | "unknown" | "other";
  /** What is wrong with the entry's fields; empty when nothing is. */
  problems: string[];
}

/**
 * A media type without parameters, lower case: `application/x; charset=utf-8` -> `application/x`.
 *
 * @param mediaType The media type as written.
 * @returns Its base.
 *
 * @example
 * ```ts
 * import { baseMediaType } from "./index_entry.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(baseMediaType("Application/JSON; charset=utf-8"), "application/json");
 * ```
 */
export function baseMediaType(mediaType: string): string {
  return mediaType.split(";")[0]!.trim().toLowerCase();
}

/**
 * The kind of blob a media type names (see {@linkcode IndexEntry.kind}).
 *
 * @param mediaType The media type, if any.
 * @returns `index`, `manifest`, `unknown` (none given) or `other`.
 *
 * @example
 * ```ts
 * import { kindOf } from "./index_entry.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(kindOf("application/vnd.oci.image.index.v1+json"), "index");
 * assert.equal(kindOf(undefined), "unknown");
 * assert.equal(kindOf("application/vnd.oci.image.layer.v1.tar"), "other");
 * ```
 */
export function kindOf(mediaType: string | undefined): IndexEntry["kind"] {
  if (mediaType === undefined || mediaType === "") return "unknown";
  const base = baseMediaType(mediaType);
  if (INDEX_MEDIA_TYPES.has(base)) return "index";
  if (MANIFEST_MEDIA_TYPES.has(base) || base === "application/vnd.oci.artifact.manifest.v1+json") {
    return "manifest";
  }
  return "other";
}

/**
 * The name annotation of a raw entry, when there is one and it is a string.
 *
 * @param raw An entry of `index.json` as parsed JSON.
 * @returns Its `org.opencontainers.image.ref.name`, or `undefined`.
 *
 * @example
 * ```ts
 * import { nameOf } from "./index_entry.ts";
 * import assert from "node:assert/strict";
 *
 * const raw = { annotations: { "org.opencontainers.image.ref.name": "docker.io/library/a:1" } };
 * assert.equal(nameOf(raw), "docker.io/library/a:1");
 * assert.equal(nameOf({ annotations: { "org.opencontainers.image.ref.name": 7 } }), undefined);
 * ```
 */
export function nameOf(raw: unknown): string | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const annotations = (raw as { annotations?: unknown }).annotations;
  if (typeof annotations !== "object" || annotations === null) return undefined;
  const name = (annotations as Record<string, unknown>)[REF_NAME_ANNOTATION];
  return typeof name === "string" ? name : undefined;
}

/**
 * Reads one raw `index.json` entry (see {@linkcode readEntries}).
 *
 * @param raw The entry as parsed JSON.
 * @param position Its position in `manifests`.
 * @returns The entry, with what is wrong with it.
 *
 * @example A size that is a string is a problem, not an error
 * ```ts
 * import { readEntry } from "./index_entry.ts";
 * import assert from "node:assert/strict";
 *
 * const entry = readEntry({ mediaType: "x", digest: "sha256:" + "a".repeat(64), size: "1" }, 0);
 * assert.deepEqual(entry.problems, ["its size is not a whole number of bytes"]);
 * ```
 */
export function readEntry(raw: unknown, position: number): IndexEntry {
  const problems: string[] = [];
  const fields = typeof raw === "object" && raw !== null && !Array.isArray(raw)
    ? raw as Record<string, unknown>
    : undefined;
  if (!fields) problems.push("it is not an object");
  const f = fields ?? {};
  const digest = typeof f.digest === "string" && isDigest(f.digest) ? f.digest : undefined;
  if (fields && digest === undefined) problems.push("its digest is not a valid digest");
  let size = 0;
  if (typeof f.size === "number" && Number.isSafeInteger(f.size) && f.size >= 0) {
    size = f.size;
  } else if (fields) {
    problems.push("its size is not a whole number of bytes");
  }
  let mediaType = "";
  if (typeof f.mediaType === "string") mediaType = baseMediaType(f.mediaType);
  else if (f.mediaType !== undefined) problems.push("its mediaType is not a string");
  const annotations: Record<string, string> = {};
  if (f.annotations !== undefined) {
    if (typeof f.annotations !== "object" || f.annotations === null) {
      problems.push("its annotations are not an object");
    } else {
      for (const [k, v] of Object.entries(f.annotations)) {
        if (typeof v === "string") annotations[k] = v;
        else problems.push(`its annotation ${k} is not a string`);
      }
    }
  }
  let platform: Platform | undefined;
  if (f.platform !== undefined) {
    const p = f.platform as Record<string, unknown> | null;
    if (
      typeof p === "object" && p !== null && typeof p.os === "string" &&
      typeof p.architecture === "string" &&
      (p.variant === undefined || typeof p.variant === "string")
    ) {
      platform = { os: p.os, architecture: p.architecture };
      if (typeof p.variant === "string") platform.variant = p.variant;
    } else {
      problems.push("its platform is malformed");
    }
  }
  const descriptor: Descriptor = {
    mediaType,
    digest: digest ?? "",
    size,
    ...(platform ? { platform } : {}),
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
  return {
    position,
    descriptor,
    digest,
    name: annotations[REF_NAME_ANNOTATION],
    kind: kindOf(mediaType),
    problems,
  };
}

/**
 * Reads every entry of `index.json`'s `manifests` list, leniently: what `Store.readEntries`
 * returns.
 *
 * @param manifests The list as parsed JSON.
 * @returns The entries, in order.
 *
 * @example
 * ```ts
 * import { readEntries } from "./index_entry.ts";
 * import assert from "node:assert/strict";
 *
 * const [ok, bad] = readEntries([
 *   { mediaType: "application/vnd.oci.image.manifest.v1+json; x=1", digest: "sha256:" + "b".repeat(64), size: 2 },
 *   null,
 * ]);
 * assert.equal(ok!.kind, "manifest");
 * assert.deepEqual(bad!.problems, ["it is not an object"]);
 * ```
 */
export function readEntries(manifests: readonly unknown[]): IndexEntry[] {
  return manifests.map((raw, i) => readEntry(raw, i));
}

/**
 * How an entry is named in reports: its name, else its digest, else its position.
 *
 * @param entry The entry.
 * @returns Its label.
 *
 * @example
 * ```ts
 * import { entryLabel, readEntry } from "./index_entry.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(entryLabel(readEntry({}, 2)), "index.json entry 3");
 * ```
 */
export function entryLabel(entry: IndexEntry): string {
  return entry.name ?? entry.digest ?? `index.json entry ${entry.position + 1}`;
}
