/**
 * The volume UUID of a disk image skiff writes: derived, so that every run writes the same bytes.
 *
 * @module
 */

/**
 * A version 8 UUID (RFC 9562) from SHA-256(`skiff ` + `id`): an image's from its manifest
 * digest, a layer image's from its diff_id.
 *
 * @param id What the image is of.
 * @returns 16 bytes.
 *
 * @example The same id gives the same UUID
 * ```ts
 * import { volumeUuid } from "./volume_uuid.ts";
 * import assert from "node:assert/strict";
 *
 * const a = await volumeUuid("sha256:" + "0".repeat(64));
 * assert.deepEqual(a, await volumeUuid("sha256:" + "0".repeat(64)));
 * assert.equal(a[6]! >> 4, 8); // version 8
 * ```
 */
export async function volumeUuid(id: string): Promise<Uint8Array> {
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`skiff ${id}`));
  const uuid = new Uint8Array(hash, 0, 16).slice();
  uuid[6] = (uuid[6]! & 0x0f) | 0x80; // version 8: custom
  uuid[8] = (uuid[8]! & 0x3f) | 0x80; // RFC 9562 variant
  return uuid;
}
