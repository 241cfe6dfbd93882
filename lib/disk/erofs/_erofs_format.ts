// The EROFS on-disk structures skiff writes (uncompressed images, 4 KiB blocks), encoded from the
// format as Linux documents it (Documentation/filesystems/erofs.rst, fs/erofs/erofs_fs.h). All
// little-endian. Only what an uncompressed image needs: the superblock, compact (32-byte) and
// extended (64-byte) inodes with FLAT_PLAIN or FLAT_INLINE data, inline and shared xattrs,
// directory blocks.

import { inodeMode } from "../linux_file_type.ts";
import type { LayerNode } from "../../layer/layer_tree.ts";
import { nodeTime } from "../../layer/node_time.ts";

/** Block size: 4 KiB, the page size the kernel needs on the usual machines. */
export const BLOCK = 4096;
export const BLOCK_BITS = 12;
export const SUPER_OFFSET = 1024;
export const SUPER_MAGIC = 0xe0f5e1e2;
/** Inode slots are 32 bytes: a nid is a byte offset in the metadata area / 32. */
export const SLOT = 32;
export const COMPACT_SIZE = 32;
export const EXTENDED_SIZE = 64;
export const DIRENT_SIZE = 12;
export const NAME_MAX = 255;

export const LAYOUT_FLAT_PLAIN = 0;
export const LAYOUT_FLAT_INLINE = 2;

/** What the superblock records. */
export interface SuperBlock {
  rootNid: number;
  inodes: number;
  /** Seconds and nanoseconds every compact inode's times are. */
  epoch: number;
  epochNsec: number;
  blocks: number;
  metaBlkaddr: number;
  /** The first block of the shared xattrs (0: none). */
  xattrBlkaddr: number;
  uuid: Uint8Array;
  volumeName: Uint8Array;
}

/** The 128-byte superblock, to be written at byte 1024. */
export function encodeSuperBlock(sb: SuperBlock): Uint8Array {
  const out = new Uint8Array(128);
  const v = new DataView(out.buffer);
  v.setUint32(0, SUPER_MAGIC, true);
  // 4: checksum, 8: feature_compat: none (no checksum: the image's digest is reported instead)
  out[12] = BLOCK_BITS;
  // 13: sb_extslots 0
  v.setUint16(14, sb.rootNid, true);
  v.setBigUint64(16, BigInt(sb.inodes), true);
  v.setBigUint64(24, BigInt(sb.epoch), true);
  v.setUint32(32, sb.epochNsec, true);
  v.setUint32(36, sb.blocks, true);
  v.setUint32(40, sb.metaBlkaddr, true);
  v.setUint32(44, sb.xattrBlkaddr, true);
  out.set(sb.uuid.subarray(0, 16), 48);
  out.set(sb.volumeName.subarray(0, 16), 64);
  // 80: feature_incompat 0: nothing a reader must understand beyond the base format
  return out;
}

/** Whether a node fits a compact inode: small ids, sizes and link counts, and the epoch's time. */
export function fitsCompact(
  node: LayerNode<unknown>,
  size: number,
  epoch: number,
  epochNsec: number,
): boolean {
  const [sec, nsec] = nodeTime(node);
  return node.uid <= 0xffff && node.gid <= 0xffff && node.nlink <= 0xffff &&
    size <= 0xffffffff && sec === epoch && nsec === epochNsec;
}

/** What an inode records beyond the node's metadata. */
export interface InodeFields {
  compact: boolean;
  layout: number;
  /** i_xattr_icount (0 when no xattrs). */
  xattrCount: number;
  size: number;
  /** raw_blkaddr for data, or the encoded rdev for devices. */
  iu: number;
  ino: number;
  nlink: number;
}

/** An inode, compact (32 bytes) or extended (64 bytes). */
export function encodeInode(node: LayerNode<unknown>, f: InodeFields): Uint8Array {
  const out = new Uint8Array(f.compact ? COMPACT_SIZE : EXTENDED_SIZE);
  const v = new DataView(out.buffer);
  v.setUint16(0, (f.compact ? 0 : 1) | (f.layout << 1), true);
  v.setUint16(2, f.xattrCount, true);
  v.setUint16(4, inodeMode(node.type, node.mode), true);
  if (f.compact) {
    v.setUint16(6, f.nlink, true);
    v.setUint32(8, f.size, true);
    // 12: i_mtime, seconds after the epoch (newer kernels): 0, the inode's time is the epoch
    v.setUint32(16, f.iu, true);
    v.setUint32(20, f.ino, true);
    v.setUint16(24, node.uid, true);
    v.setUint16(26, node.gid, true);
  } else {
    const [sec, nsec] = nodeTime(node);
    v.setBigUint64(8, BigInt(f.size), true);
    v.setUint32(16, f.iu, true);
    v.setUint32(20, f.ino, true);
    v.setUint32(24, node.uid, true);
    v.setUint32(28, node.gid, true);
    v.setBigUint64(32, BigInt.asUintN(64, BigInt(sec)), true);
    v.setUint32(40, nsec, true);
    v.setUint32(44, f.nlink, true);
  }
  return out;
}

/** Linux's new_encode_dev: 12 bits of major, 20 of minor, in the kernel's 32-bit layout. */
export function encodeDev(major: number, minor: number): number {
  if (major > 0xfff || minor > 0xfffff) {
    throw new Error(`the device number ${major}:${minor} does not fit 12:20 bits`);
  }
  return ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

const PREFIXES: [string, number][] = [["user.", 1], ["trusted.", 4], ["security.", 6]];

/** EROFS's name index and the rest of the name, for the names it can hold. */
function xattrName(name: string): [number, string] | undefined {
  if (name === "system.posix_acl_access") return [2, ""];
  if (name === "system.posix_acl_default") return [3, ""];
  for (const [prefix, index] of PREFIXES) {
    if (name.startsWith(prefix) && name.length > prefix.length) {
      return [index, name.slice(prefix.length)];
    }
  }
  return undefined;
}

const enc = new TextEncoder();
const latin1 = new TextDecoder("latin1"); // one character a byte: a map key for bytes

/** One xattr as EROFS stores it: a name index, the rest of the name, the value. */
export interface XattrEntry {
  index: number;
  suffix: Uint8Array;
  value: Uint8Array;
  /** Its encoding (entry header, name, value, padded to 4 bytes). */
  bytes: Uint8Array;
  /** The same name and value give the same key (for sharing). */
  key: string;
}

/** The most bytes of xattrs an inode can hold (`i_xattr_icount` is 16 bits of 4-byte slots). */
export const MAX_XATTR_AREA = 12 + (0xffff - 1) * 4;
/** The most shared xattrs an inode can name (`h_shared_count` is 8 bits). */
export const MAX_SHARED_XATTRS = 255;

/**
 * A node's xattrs as EROFS entries, sorted; names without one of EROFS's prefixes (user.,
 * trusted., security., the two POSIX ACLs) are left out and counted in `skipped`.
 */
export function xattrEntries(
  xattrs: Map<string, Uint8Array> | undefined,
  skipped: { count: number },
): XattrEntry[] {
  if (!xattrs || xattrs.size === 0) return [];
  const entries: XattrEntry[] = [];
  for (const [name, value] of xattrs) {
    const known = xattrName(name);
    if (!known) {
      skipped.count++;
      continue;
    }
    const suffix = enc.encode(known[1]);
    if (suffix.length > NAME_MAX) throw new Error(`the xattr name "${name}" is too long`);
    if (value.length > 0xffff) throw new Error(`the xattr "${name}" is larger than 64 KiB`);
    const bytes = new Uint8Array(align4(4 + suffix.length + value.length));
    bytes[0] = suffix.length;
    bytes[1] = known[0];
    new DataView(bytes.buffer).setUint16(2, value.length, true);
    bytes.set(suffix, 4);
    bytes.set(value, 4 + suffix.length);
    entries.push({ index: known[0], suffix, value, bytes, key: latin1.decode(bytes) });
  }
  entries.sort((a, b) => a.index - b.index || compareBytes(a.suffix, b.suffix));
  return entries;
}

/**
 * An inode's xattr area: the 12-byte header with the ids of its shared xattrs (their offsets in
 * the shared area / 4), then its own entries; undefined when it has neither. It may be larger
 * than a block: the kernel reads entries across block boundaries.
 */
export function xattrArea(shared: number[], inline: XattrEntry[]): Uint8Array | undefined {
  if (shared.length === 0 && inline.length === 0) return undefined;
  if (shared.length > MAX_SHARED_XATTRS) throw new Error("more than 255 shared xattrs");
  let size = 12 + 4 * shared.length;
  for (const e of inline) size += e.bytes.length;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  // 0: h_name_filter (ignored without the XATTR_FILTER feature), 4: h_shared_count
  out[4] = shared.length;
  let at = 12;
  for (const id of shared) {
    v.setUint32(at, id, true);
    at += 4;
  }
  for (const e of inline) {
    out.set(e.bytes, at);
    at += e.bytes.length;
  }
  return out;
}

/** i_xattr_icount for an xattr area of `size` bytes (12-byte header + 4-byte slots). */
export function xattrCount(size: number): number {
  return size === 0 ? 0 : (size - 12) / 4 + 1;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
