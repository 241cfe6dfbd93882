/**
 * The image config (image-spec `config.md`): platform, runtime defaults, and the layers'
 * uncompressed digests.
 *
 * @module
 */

import { parseDigest } from "../reference/parse_digest.ts";

/** The image config document; fields skiff does not read are kept as they are. */
export interface ImageConfig {
  /** CPU architecture. */
  architecture?: string;
  /** Operating system. */
  os?: string;
  /** CPU variant. */
  variant?: string;
  /** Creation time (RFC 3339). */
  created?: string;
  /** Runtime defaults: `Env`, `Entrypoint`, `Cmd`, `WorkingDir`, `User`, ... */
  config?: Record<string, unknown>;
  /** The layers' uncompressed digests. */
  rootfs?: { type: string; diff_ids: string[] };
  /** Build history. */
  history?: unknown[];
  /** Other fields. */
  [key: string]: unknown;
}

/**
 * Parses an image config and validates the fields skiff relies on (`rootfs.diff_ids` must be
 * valid digests when present).
 *
 * @param bytes The config blob.
 * @returns The config.
 * @throws {SyntaxError} When it is not a JSON object or a field is malformed.
 *
 * @example Parse a minimal config
 * ```ts
 * import { parseImageConfig } from "./parse_image_config.ts";
 * import assert from "node:assert/strict";
 *
 * const c = parseImageConfig(new TextEncoder().encode('{"os":"linux","architecture":"amd64"}'));
 * assert.deepEqual(c.os, "linux");
 * ```
 */
export function parseImageConfig(bytes: Uint8Array): ImageConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new SyntaxError("Cannot parse image config: not valid JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new SyntaxError("Cannot parse image config: not a JSON object");
  }
  const config = doc as ImageConfig;
  for (const key of ["architecture", "os", "variant"] as const) {
    if (config[key] !== undefined && typeof config[key] !== "string") {
      throw new SyntaxError(`Cannot parse image config: ${key} is not a string`);
    }
  }
  if (config.rootfs !== undefined) {
    const ids = (config.rootfs as { diff_ids?: unknown }).diff_ids;
    if (!Array.isArray(ids) || !ids.every((d) => typeof d === "string")) {
      throw new SyntaxError("Cannot parse image config: rootfs.diff_ids is not a list of digests");
    }
    for (const d of ids) parseDigest(d);
  }
  return config;
}
