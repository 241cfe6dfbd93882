/**
 * Manifest documents: types, and a strict parser that decides what a body is from its
 * Content-Type, its `mediaType`, and its shape, in that order.
 *
 * @module
 */

import { parseDigest } from "../reference/parse_digest.ts";
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, MediaType } from "./media_types.ts";

/** The most bytes a manifest or index may have (the distribution spec suggests 4 MiB). */
export const MANIFEST_SIZE_LIMIT = 4 * 1024 * 1024;
/** The largest config blob read (real ones are a few KiB; large histories reach a few MiB). */
export const CONFIG_SIZE_LIMIT = 64 * 1024 * 1024;

/** An image's platform, as in an index entry or an image config. */
export interface Platform {
  /** CPU architecture in Go's terms: `amd64`, `arm64`, `arm`, `386`, `ppc64le`, `s390x`, ... */
  architecture: string;
  /** Operating system in Go's terms: `linux`, `windows`, ... */
  os: string;
  /** CPU variant, e.g. `v7` for `arm`, `v8` for `arm64`. */
  variant?: string;
  /** Operating system version (Windows). */
  "os.version"?: string;
  /** Operating system features (Windows). */
  "os.features"?: string[];
}

/** A content descriptor (image-spec `descriptor.md`). */
export interface Descriptor {
  /** Media type of the content. */
  mediaType: string;
  /** Digest of the content, validated. */
  digest: string;
  /** Size of the content in bytes. */
  size: number;
  /** Annotations. */
  annotations?: Record<string, string>;
  /** Platform, in index entries. */
  platform?: Platform;
  /** Other URLs the content may be fetched from (foreign layers). */
  urls?: string[];
  /** Artifact type, for artifact manifests. */
  artifactType?: string;
}

/** An image manifest: a config and layers (OCI image manifest or Docker schema 2). */
export interface ImageManifest {
  /** Always 2. */
  schemaVersion: 2;
  /** The manifest's media type, when it names one. */
  mediaType?: string;
  /** The image config. */
  config: Descriptor;
  /** The layers, base first. */
  layers: Descriptor[];
  /** Annotations. */
  annotations?: Record<string, string>;
}

/** An index of manifests (OCI image index or Docker manifest list). */
export interface ImageIndex {
  /** Always 2. */
  schemaVersion: 2;
  /** The index's media type, when it names one. */
  mediaType?: string;
  /** The manifests, one per platform (and attestations). */
  manifests: Descriptor[];
  /** Annotations. */
  annotations?: Record<string, string>;
}

/** The result of {@linkcode parseManifest}. */
export type ParsedManifest =
  | { kind: "index"; mediaType: string; index: ImageIndex }
  | { kind: "manifest"; mediaType: string; manifest: ImageManifest };

/** A manifest that cannot be used: malformed, unsupported, or inconsistent. */
export class ManifestError extends Error {
  /**
   * Makes the error.
   *
   * @param message What is wrong, starting with "Cannot ...".
   * @param options The cause, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ManifestError";
  }
}

/** The most entries an index or layers list may have. */
const MAX_ENTRIES = 10_000;

/**
 * Parses a manifest body and validates its structure and every descriptor in it.
 *
 * The kind is decided by the `Content-Type` first, then the body's `mediaType`, then its shape
 * (some registries serve manifests as `application/json` without a `mediaType`). Docker schema 1
 * is refused. A body that says it is both an index and a manifest is refused.
 *
 * @param bytes The manifest's bytes.
 * @param contentType The response's `Content-Type`, if any.
 * @returns The kind, the effective media type, and the typed document.
 * @throws {ManifestError} When the body is not a usable manifest.
 *
 * @example Parse an OCI index
 * ```ts
 * import { parseManifest } from "./parse_manifest.ts";
 * import assert from "node:assert/strict";
 *
 * const body = JSON.stringify({ schemaVersion: 2, manifests: [] });
 * const parsed = parseManifest(new TextEncoder().encode(body), "application/json");
 * assert.deepEqual(parsed.kind, "index");
 * ```
 */
export function parseManifest(bytes: Uint8Array, contentType?: string | null): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new ManifestError(`Cannot parse manifest: not valid JSON (${(e as Error).message})`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new ManifestError("Cannot parse manifest: not a JSON object");
  }
  const obj = doc as Record<string, unknown>;
  const header = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  const bodyType = typeof obj.mediaType === "string" ? obj.mediaType : undefined;

  if (
    header === MediaType.DockerSchema1 || header === MediaType.DockerSchema1Signed ||
    bodyType === MediaType.DockerSchema1 || bodyType === MediaType.DockerSchema1Signed ||
    obj.schemaVersion === 1 || "fsLayers" in obj
  ) {
    throw new ManifestError(
      "Cannot use manifest: Docker schema 1 is deprecated and not supported; " +
        "ask the image's publisher to push it again with a current tool",
    );
  }
  if (obj.mediaType !== undefined && typeof obj.mediaType !== "string") {
    throw new ManifestError("Cannot parse manifest: mediaType is not a string");
  }
  if (obj.schemaVersion !== 2) {
    throw new ManifestError(
      `Cannot parse manifest: unsupported schemaVersion ${JSON.stringify(obj.schemaVersion)}`,
    );
  }
  if ("manifests" in obj && ("layers" in obj || "config" in obj)) {
    throw new ManifestError("Cannot parse manifest: it has both manifests and layers");
  }

  const kindOf = (t: string | undefined) =>
    t === undefined
      ? undefined
      : INDEX_MEDIA_TYPES.has(t)
      ? "index" as const
      : MANIFEST_MEDIA_TYPES.has(t)
      ? "manifest" as const
      : undefined;
  const headerKind = kindOf(header);
  const bodyKind = kindOf(bodyType);
  const shapeKind = Array.isArray(obj.manifests)
    ? "index" as const
    : "config" in obj || Array.isArray(obj.layers)
    ? "manifest" as const
    : undefined;

  if (bodyType !== undefined && bodyKind === undefined) {
    throw new ManifestError(`Cannot use manifest: unsupported media type "${bodyType}"`);
  }
  if (headerKind && bodyKind && headerKind !== bodyKind) {
    throw new ManifestError(
      `Cannot parse manifest: Content-Type says ${header} but the body says ${bodyType}`,
    );
  }
  const kind = headerKind ?? bodyKind ?? shapeKind;
  if (kind === undefined) {
    throw new ManifestError(
      header && header !== "application/json" && header !== "text/plain"
        ? `Cannot use manifest: unsupported media type "${header}"`
        : "Cannot parse manifest: neither an index nor an image manifest",
    );
  }
  if (shapeKind !== undefined && shapeKind !== kind) {
    throw new ManifestError(
      `Cannot parse manifest: its media type says ${kind}, its fields do not`,
    );
  }

  const annotations = optionalAnnotations(obj.annotations, "manifest");
  if (kind === "index") {
    const mediaType = bodyType ?? (headerKind ? header : MediaType.OciIndex);
    if (!Array.isArray(obj.manifests)) {
      throw new ManifestError("Cannot parse index: manifests is not an array");
    }
    if (obj.manifests.length > MAX_ENTRIES) {
      throw new ManifestError(`Cannot parse index: more than ${MAX_ENTRIES} manifests`);
    }
    const index: ImageIndex = {
      schemaVersion: 2,
      manifests: obj.manifests.map((d, i) =>
        capped(parseDescriptor(d, `manifests[${i}]`), `manifests[${i}]`, MANIFEST_SIZE_LIMIT)
      ),
    };
    if (bodyType !== undefined) index.mediaType = bodyType;
    if (annotations) index.annotations = annotations;
    return { kind, mediaType, index };
  }

  const mediaType = bodyType ?? (headerKind ? header : MediaType.OciManifest);
  if (!Array.isArray(obj.layers)) {
    throw new ManifestError("Cannot parse manifest: layers is not an array");
  }
  if (obj.layers.length > MAX_ENTRIES) {
    throw new ManifestError(`Cannot parse manifest: more than ${MAX_ENTRIES} layers`);
  }
  const manifest: ImageManifest = {
    schemaVersion: 2,
    config: capped(parseDescriptor(obj.config, "config"), "config", CONFIG_SIZE_LIMIT),
    layers: obj.layers.map((d, i) => parseDescriptor(d, `layers[${i}]`)),
  };
  if (bodyType !== undefined) manifest.mediaType = bodyType;
  if (annotations) manifest.annotations = annotations;
  return { kind, mediaType, manifest };
}

/**
 * A descriptor far beyond any real one of its kind is refused before a byte of it is fetched:
 * the store would otherwise take whatever size a hostile manifest claims.
 */
function capped(d: Descriptor, where: string, limit: number): Descriptor {
  if (d.size > limit) {
    throw new ManifestError(
      `Cannot parse manifest: ${where} claims ${d.size} bytes, more than the ${limit} bytes ` +
        "such a document may have",
    );
  }
  return d;
}

/**
 * Validates one descriptor from untrusted JSON.
 *
 * @param value The parsed JSON value.
 * @param where Where it was found, for messages (e.g. `layers[2]`).
 * @returns The descriptor, with only known fields.
 * @throws {ManifestError} When a field is missing or invalid.
 */
export function parseDescriptor(value: unknown, where: string): Descriptor {
  const fail = (why: string): never => {
    throw new ManifestError(`Cannot parse manifest: ${where} ${why}`);
  };
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail("is not an object");
  }
  const d = value as Record<string, unknown>;
  if (typeof d.mediaType !== "string" || d.mediaType === "" || d.mediaType.length > 255) {
    fail("has no valid mediaType");
  }
  if (typeof d.digest !== "string") fail("has no digest");
  try {
    parseDigest(d.digest as string);
  } catch (e) {
    fail(`has an invalid digest: ${(e as Error).message}`);
  }
  if (typeof d.size !== "number" || !Number.isSafeInteger(d.size) || d.size < 0) {
    fail("has no valid size");
  }
  const out: Descriptor = {
    mediaType: d.mediaType as string,
    digest: d.digest as string,
    size: d.size as number,
  };
  const annotations = optionalAnnotations(d.annotations, where);
  if (annotations) out.annotations = annotations;
  if (d.platform !== undefined) out.platform = parsePlatformObject(d.platform, where);
  if (d.urls !== undefined) {
    if (!Array.isArray(d.urls) || !d.urls.every((u) => typeof u === "string")) {
      fail("has invalid urls");
    }
    out.urls = d.urls as string[];
  }
  if (typeof d.artifactType === "string") out.artifactType = d.artifactType;
  return out;
}

function parsePlatformObject(value: unknown, where: string): Platform {
  if (typeof value !== "object" || value === null) {
    throw new ManifestError(`Cannot parse manifest: ${where} has an invalid platform`);
  }
  const p = value as Record<string, unknown>;
  if (typeof p.os !== "string" || typeof p.architecture !== "string") {
    throw new ManifestError(`Cannot parse manifest: ${where} platform needs os and architecture`);
  }
  const out: Platform = { architecture: p.architecture, os: p.os };
  if (typeof p.variant === "string" && p.variant !== "") out.variant = p.variant;
  if (typeof p["os.version"] === "string") out["os.version"] = p["os.version"];
  if (Array.isArray(p["os.features"])) {
    out["os.features"] = p["os.features"].filter((f): f is string => typeof f === "string");
  }
  return out;
}

function optionalAnnotations(
  value: unknown,
  where: string,
): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (
    typeof value !== "object" || Array.isArray(value) ||
    !Object.values(value).every((v) => typeof v === "string")
  ) {
    throw new ManifestError(`Cannot parse manifest: ${where} annotations must map strings`);
  }
  return value as Record<string, string>;
}
