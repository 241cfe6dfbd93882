// ext4's extended attributes on disk: the entries (name index, name, value, hash) in ext4's
// order, where they go (the inode's area and one xattr block, found exactly), the in-inode area,
// the xattr block and its checksum, and POSIX ACLs in ext4's own format (fs/ext4/xattr.h, acl.h).

import { crc32c } from "./_crc32c.ts";
import { BLOCK_SIZE, INLINE_XATTR_START, INODE_SIZE } from "./_ext4_format.ts";

const XATTR_MAGIC = 0xea020000;
/** Bytes of entries and values the inode holds: its area less the magic and the end marker. */
export const INLINE_XATTR_ROOM = INODE_SIZE - INLINE_XATTR_START - 4 - 4;
/** The same for an xattr block: less its 32-byte header and the end marker. */
export const XATTR_BLOCK_ROOM = BLOCK_SIZE - 32 - 4;
/** The most inodes the kernel lets share one xattr block. */
export const XATTR_REFCOUNT_MAX = 1024;
const utf8 = new TextEncoder();

/** One xattr as ext4 stores it. */
export interface XattrEntry {
  index: number;
  name: Uint8Array;
  value: Uint8Array;
  hash: number;
}

const PREFIXES: [string, number][] = [
  ["user.", 1],
  ["trusted.", 4],
  ["security.", 6],
];

/** The entries in ext4's order (index, name length, name), ACLs in ext4's own format. */
export function xattrEntries(xattrs: Map<string, Uint8Array>): XattrEntry[] {
  const out: XattrEntry[] = [];
  for (const [full, raw] of xattrs) {
    let index = 0;
    let name = "";
    let value = raw;
    if (full === "system.posix_acl_access" || full === "system.posix_acl_default") {
      index = full.endsWith("access") ? 2 : 3;
      value = diskAcl(raw);
    } else {
      for (const [prefix, i] of PREFIXES) {
        if (full.startsWith(prefix) && full.length > prefix.length) {
          index = i;
          name = full.slice(prefix.length);
        }
      }
    }
    if (index === 0) throw new Error(`the xattr "${full}" is not in a namespace ext4 stores`);
    const nameBytes = utf8.encode(name);
    if (nameBytes.byteLength > 255) throw new Error(`the xattr name "${full}" is too long`);
    out.push({ index, name: nameBytes, value, hash: xattrHash(nameBytes, value) });
  }
  out.sort((a, b) =>
    a.index - b.index || a.name.length - b.name.length ||
    compareBytes(a.name, b.name)
  );
  for (let i = 1; i < out.length; i++) {
    const p = out[i - 1]!;
    const c = out[i]!;
    if (p.index === c.index && compareBytes(p.name, c.name) === 0) {
      throw new Error("an xattr is given twice");
    }
  }
  return out;
}

function compareBytes(x: Uint8Array, y: Uint8Array): number {
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

function xattrHash(name: Uint8Array, value: Uint8Array): number {
  let hash = 0;
  for (const c of name) hash = ((hash << 5) ^ (hash >>> 27) ^ c) >>> 0;
  const padded = new Uint8Array(Math.ceil(value.byteLength / 4) * 4);
  padded.set(value);
  const v = new DataView(padded.buffer);
  for (let i = 0; i < padded.byteLength; i += 4) {
    hash = ((hash << 16) ^ (hash >>> 16) ^ v.getUint32(i, true)) >>> 0;
  }
  return hash;
}

/** The bytes an entry and its value take: header, name and value, each padded to 4. */
function xattrSize(e: XattrEntry): number {
  return 16 + Math.ceil(e.name.byteLength / 4) * 4 + Math.ceil(e.value.byteLength / 4) * 4;
}

/**
 * Which entries go into the inode and which into the xattr block, as the kernel would place them
 * one by one: the inode holds as many bytes of them as fit (an exact fit over at most 22 slots of
 * 4 bytes, so the block gets the least), the block the rest.
 *
 * @throws {Error} When the rest does not fit one block either.
 */
export function splitXattrs(entries: XattrEntry[]): [XattrEntry[], XattrEntry[]] {
  const slots = INLINE_XATTR_ROOM / 4;
  // best[c]: the first subset found whose entries take exactly c slots
  const best: (number[] | undefined)[] = [[]];
  entries.forEach((e, i) => {
    const w = xattrSize(e) / 4;
    for (let c = slots; c >= w; c--) {
      if (!best[c] && best[c - w]) best[c] = [...best[c - w]!, i];
    }
  });
  let c = slots;
  while (!best[c]) c--;
  const inInode = new Set(best[c]);
  const inBlock = entries.filter((_, i) => !inInode.has(i));
  const rest = inBlock.reduce((n, e) => n + xattrSize(e), 0);
  if (rest > XATTR_BLOCK_ROOM) {
    const all = entries.reduce((n, e) => n + xattrSize(e), 0);
    throw new Error(
      `its xattrs take ${all} bytes (entries and values), more than ext4 holds in the inode ` +
        `(${INLINE_XATTR_ROOM}) and one xattr block (${XATTR_BLOCK_ROOM})`,
    );
  }
  return [entries.filter((_, i) => inInode.has(i)), inBlock];
}

/** The in-inode area (0xa0 to the inode's end) of entries that fit it. */
export function inlineXattrs(entries: XattrEntry[]): Uint8Array {
  const area = new Uint8Array(INODE_SIZE - INLINE_XATTR_START);
  const body = area.subarray(4); // offsets count from the first entry
  if (!placeXattrs(body, entries, 0)) throw new Error("the xattrs do not fit the inode");
  new DataView(area.buffer).setUint32(0, XATTR_MAGIC, true);
  return area;
}

/** An xattr block that one or more inodes share. */
export interface SharedXattrBlock {
  block: number;
  /** Its bytes without refcount and checksum. */
  body: Uint8Array;
  refs: number;
}

/** An xattr block's entries, values and hash: everything but its refcount and checksum. */
export function xattrBlockBody(entries: XattrEntry[]): Uint8Array {
  const bytes = new Uint8Array(BLOCK_SIZE);
  if (!placeXattrs(bytes, entries, 32)) throw new Error("the xattrs do not fit in one block");
  const v = new DataView(bytes.buffer);
  v.setUint32(0, XATTR_MAGIC, true);
  v.setUint32(8, 1, true); // blocks
  let hash = 0;
  for (const e of entries) hash = ((hash << 16) ^ (hash >>> 16) ^ e.hash) >>> 0;
  v.setUint32(12, hash, true);
  return bytes;
}

/** The block as written: its refcount, then the checksum (seeded with its block number). */
export function sealXattrBlock(shared: SharedXattrBlock, fsSeed: number): Uint8Array {
  const bytes = shared.body;
  const v = new DataView(bytes.buffer);
  v.setUint32(4, shared.refs, true);
  const nr = new Uint8Array(8);
  new DataView(nr.buffer).setBigUint64(0, BigInt(shared.block), true);
  v.setUint32(16, crc32c(crc32c(fsSeed, nr), bytes), true);
  return bytes;
}

/** Entries from `start` up, values from the end down; false when they do not fit. */
function placeXattrs(area: Uint8Array, entries: XattrEntry[], start: number): boolean {
  let off = start;
  let valueEnd = area.byteLength;
  for (const e of entries) {
    off += 16 + Math.ceil(e.name.byteLength / 4) * 4;
    valueEnd -= Math.ceil(e.value.byteLength / 4) * 4;
  }
  if (off + 4 > valueEnd) return false;
  const v = new DataView(area.buffer, area.byteOffset, area.byteLength);
  off = start;
  valueEnd = area.byteLength;
  for (const e of entries) {
    valueEnd -= Math.ceil(e.value.byteLength / 4) * 4;
    v.setUint8(off, e.name.byteLength);
    v.setUint8(off + 1, e.index);
    v.setUint16(off + 2, e.value.byteLength === 0 ? 0 : valueEnd, true);
    v.setUint32(off + 4, 0, true);
    v.setUint32(off + 8, e.value.byteLength, true);
    v.setUint32(off + 12, e.hash, true);
    area.set(e.name, off + 16);
    area.set(e.value, valueEnd);
    off += 16 + Math.ceil(e.name.byteLength / 4) * 4;
  }
  return true;
}

/** A POSIX ACL from the xattr format (version 2, 8-byte entries) to ext4's (version 1). */
function diskAcl(raw: Uint8Array): Uint8Array {
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (raw.byteLength < 4 || (raw.byteLength - 4) % 8 !== 0 || v.getUint32(0, true) !== 2) {
    throw new Error("a POSIX ACL xattr is malformed");
  }
  const parts: number[] = [1, 0, 0, 0];
  for (let at = 4; at < raw.byteLength; at += 8) {
    const tag = v.getUint16(at, true);
    const perm = v.getUint16(at + 2, true);
    const id = v.getUint32(at + 4, true);
    parts.push(tag & 0xff, tag >> 8, perm & 0xff, perm >> 8);
    if (tag === 2 || tag === 8) {
      parts.push(id & 0xff, (id >> 8) & 0xff, (id >> 16) & 0xff, id >>> 24);
    } else if (![1, 4, 0x10, 0x20].includes(tag)) throw new Error(`a POSIX ACL has the tag ${tag}`);
  }
  return new Uint8Array(parts);
}
