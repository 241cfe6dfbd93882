// The ext4 on-disk structures skiff writes, each a named-field encoder (as hcsshim's
// ext4/internal/format and the kernel's fs/ext4/ext4.h, ext4_extents.h, fs/jbd2 headers name
// them): the superblock, group descriptors, inodes, extent headers, leaves and indexes, directory
// entries and their checksum tail, the jbd2 superblock. Every offset of the format is here, next
// to the field's kernel name; the writer (_ext4_image.ts) fills fields by name. All little-endian
// but jbd2 (big-endian). Checksums are crc32c (metadata_csum), seeded as the kernel seeds them.

import { crc32c, crc32cU32 } from "./_crc32c.ts";
import { inodeMode } from "../linux_file_type.ts";
import type { LayerNodeType } from "../../layer/layer_tree.ts";

/** The block size of the images skiff writes. */
export const BLOCK_SIZE = 4096;
/** Blocks (and at most inodes) a block group has. */
export const BLOCKS_PER_GROUP = 32768;
/** The inode size: 128 bytes of the base inode, 32 of extra fields, 96 for xattrs. */
export const INODE_SIZE = 256;
/** `i_extra_isize`: the extra fields used (checksum high half, nanosecond times, crtime). */
export const EXTRA_ISIZE = 32;
/** Where the in-inode xattrs start (the ibody header), after the extra fields. */
export const INLINE_XATTR_START = 0x80 + EXTRA_ISIZE;
/** The root directory's inode. */
export const ROOT_INO = 2;
/** The journal's inode. */
export const JOURNAL_INO = 8;
/** The first inode that is not reserved (`s_first_ino`): lost+found. */
export const FIRST_INO = 11;
/** lost+found's inode. */
export const LOST_FOUND_INO = 11;
/** A group descriptor's size (no 64bit feature). */
export const DESC_SIZE = 32;
/** Group descriptors in one block. */
export const DESCS_PER_BLOCK = BLOCK_SIZE / DESC_SIZE;
/** The checksum tail that ends every directory block. */
export const DIR_TAIL_SIZE = 12;
/** The longest initialized extent ext4 allows. */
export const MAX_EXTENT_BLOCKS = 32768;
/** Extent entries in `i_block` (after its header). */
export const EXTENTS_IN_INODE = 4;
/** Extent entries in an index or leaf block: its header and checksum tail left out. */
export const EXTENTS_PER_BLOCK = (BLOCK_SIZE - 12 - 4) / 12;
/** The most names a file can have (`EXT4_LINK_MAX`). */
export const MAX_LINKS = 65000;

/** `s_feature_compat`: xattrs, and no superblock backups (sparse_super2 with none). */
export const COMPAT_EXT_ATTR = 0x8;
export const COMPAT_HAS_JOURNAL = 0x4;
export const COMPAT_SPARSE_SUPER2 = 0x200;
/** `s_feature_incompat`: file types in directory entries, extents, flexible group metadata. */
export const INCOMPAT_FILETYPE = 0x2;
export const INCOMPAT_EXTENTS = 0x40;
export const INCOMPAT_FLEX_BG = 0x200;
/** `s_feature_ro_compat`. */
export const RO_COMPAT_SPARSE_SUPER = 0x1;
export const RO_COMPAT_LARGE_FILE = 0x2;
export const RO_COMPAT_DIR_NLINK = 0x20;
export const RO_COMPAT_EXTRA_ISIZE = 0x40;
export const RO_COMPAT_METADATA_CSUM = 0x400;
/** `i_flags`: the inode's `i_block` holds an extent tree. */
export const EXTENTS_FL = 0x80000;
/** `bg_flags`. */
export const BG_INODE_UNINIT = 0x1;
export const BG_BLOCK_UNINIT = 0x2;
export const BG_INODE_ZEROED = 0x4;

const EXT4_MAGIC = 0xef53;
const EXTENT_MAGIC = 0xf30a;
const JBD2_MAGIC = 0xc03b3998;
const JBD2_SUPERBLOCK_V2 = 4;

/** What the superblock says (the fields skiff sets; the rest are 0). */
export interface Superblock {
  inodesCount: number;
  blocksCount: number;
  freeBlocks: number;
  freeInodes: number;
  inodesPerGroup: number;
  uuid: Uint8Array;
  /** The directory hash seed (16 bytes). */
  hashSeed: Uint8Array;
  volumeName: string;
  /** The journal's inode: its `i_block` (60 bytes) and size, copied into `s_jnl_blocks`. */
  journal?: { iblock: Uint8Array; size: number };
}

/** The superblock (1024 bytes, written at byte 1024), with its checksum. */
export function encodeSuperblock(sb: Superblock): Uint8Array {
  const out = new Uint8Array(1024);
  const v = new DataView(out.buffer);
  v.setUint32(0x00, sb.inodesCount, true); // s_inodes_count
  v.setUint32(0x04, sb.blocksCount, true); // s_blocks_count_lo
  v.setUint32(0x0c, sb.freeBlocks, true); // s_free_blocks_count_lo
  v.setUint32(0x10, sb.freeInodes, true); // s_free_inodes_count
  v.setUint32(0x14, 0, true); // s_first_data_block: 0 for 4 KiB blocks
  v.setUint32(0x18, 2, true); // s_log_block_size: 1024 << 2
  v.setUint32(0x1c, 2, true); // s_log_cluster_size
  v.setUint32(0x20, BLOCKS_PER_GROUP, true); // s_blocks_per_group
  v.setUint32(0x24, BLOCKS_PER_GROUP, true); // s_clusters_per_group
  v.setUint32(0x28, sb.inodesPerGroup, true); // s_inodes_per_group
  v.setUint16(0x36, 0xffff, true); // s_max_mnt_count: no forced checks
  v.setUint16(0x38, EXT4_MAGIC, true); // s_magic
  v.setUint16(0x3a, 1, true); // s_state: clean
  v.setUint16(0x3c, 1, true); // s_errors: continue
  v.setUint32(0x4c, 1, true); // s_rev_level: dynamic
  v.setUint32(0x54, FIRST_INO, true); // s_first_ino
  v.setUint16(0x58, INODE_SIZE, true); // s_inode_size
  v.setUint32(
    0x5c, // s_feature_compat
    COMPAT_EXT_ATTR | COMPAT_SPARSE_SUPER2 | (sb.journal ? COMPAT_HAS_JOURNAL : 0),
    true,
  );
  v.setUint32(0x60, INCOMPAT_FILETYPE | INCOMPAT_EXTENTS | INCOMPAT_FLEX_BG, true); // s_feature_incompat
  v.setUint32(
    0x64, // s_feature_ro_compat
    RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE | RO_COMPAT_DIR_NLINK | RO_COMPAT_EXTRA_ISIZE |
      RO_COMPAT_METADATA_CSUM,
    true,
  );
  out.set(sb.uuid.subarray(0, 16), 0x68); // s_uuid
  out.set(new TextEncoder().encode(sb.volumeName).subarray(0, 16), 0x78); // s_volume_name
  if (sb.journal) v.setUint32(0xe0, JOURNAL_INO, true); // s_journal_inum
  out.set(sb.hashSeed.subarray(0, 16), 0xec); // s_hash_seed
  v.setUint8(0xfc, 1); // s_def_hash_version: half_md4
  if (sb.journal) {
    v.setUint8(0xfd, 1); // s_jnl_backup_type: s_jnl_blocks holds a copy of the journal's i_block
    out.set(sb.journal.iblock, 0x10c); // s_jnl_blocks[0..14]
    v.setUint32(0x10c + 60, Math.floor(sb.journal.size / 2 ** 32), true); // s_jnl_blocks[15]
    v.setUint32(0x10c + 64, sb.journal.size >>> 0, true); // s_jnl_blocks[16]
  }
  v.setUint32(0x100, 0xc, true); // s_default_mount_opts: user_xattr, acl
  v.setUint16(0x15c, EXTRA_ISIZE, true); // s_min_extra_isize
  v.setUint16(0x15e, EXTRA_ISIZE, true); // s_want_extra_isize
  v.setUint32(0x160, 0x1, true); // s_flags: signed directory hash
  v.setUint8(0x174, 4); // s_log_groups_per_flex: 16 (an allocation hint for the kernel)
  v.setUint8(0x175, 1); // s_checksum_type: crc32c
  v.setUint32(0x3fc, crc32c(0xffffffff, out.subarray(0, 0x3fc)), true); // s_checksum
  return out;
}

/** What a group descriptor says. */
export interface GroupDescriptor {
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
  freeBlocks: number;
  freeInodes: number;
  usedDirs: number;
  /** `BG_*` flags. */
  flags: number;
  /** The low 16 bits of the crc32c of the block bitmap, and of the inode bitmap. */
  blockBitmapCsum: number;
  inodeBitmapCsum: number;
  /** Inodes at the end of the group's table never used: the kernel and e2fsck skip them. */
  itableUnused: number;
}

/** Group `group`'s descriptor into `out` at `at`, with its checksum. */
export function encodeGroupDescriptor(
  out: Uint8Array,
  at: number,
  group: number,
  gd: GroupDescriptor,
  fsSeed: number,
): void {
  const v = new DataView(out.buffer, out.byteOffset + at, DESC_SIZE);
  v.setUint32(0x00, gd.blockBitmap, true); // bg_block_bitmap_lo
  v.setUint32(0x04, gd.inodeBitmap, true); // bg_inode_bitmap_lo
  v.setUint32(0x08, gd.inodeTable, true); // bg_inode_table_lo
  v.setUint16(0x0c, gd.freeBlocks, true); // bg_free_blocks_count_lo
  v.setUint16(0x0e, gd.freeInodes, true); // bg_free_inodes_count_lo
  v.setUint16(0x10, gd.usedDirs, true); // bg_used_dirs_count_lo
  v.setUint16(0x12, gd.flags, true); // bg_flags
  v.setUint16(0x18, gd.blockBitmapCsum, true); // bg_block_bitmap_csum_lo
  v.setUint16(0x1a, gd.inodeBitmapCsum, true); // bg_inode_bitmap_csum_lo
  v.setUint16(0x1c, gd.itableUnused, true); // bg_itable_unused_lo
  // bg_checksum: over the group number and the descriptor with the checksum field 0
  const c = crc32c(crc32cU32(fsSeed, group), out.subarray(at, at + DESC_SIZE));
  v.setUint16(0x1e, c & 0xffff, true);
}

/** What an inode says beyond its node's metadata. */
export interface InodeFields {
  type: LayerNodeType;
  /** Permission bits (setuid, setgid, sticky included). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds and nanoseconds: every time of the inode (atime, ctime, mtime, crtime). */
  sec: number;
  nsec: number;
  links: number;
  /** Blocks the inode owns, of 4 KiB. */
  blocks: number;
  flags: number;
  /** `i_block`: the extent tree's root, a short symlink's target, a device number. */
  iblock: Uint8Array;
  /** The xattr block (0: none). */
  xattrBlock: number;
  /** The in-inode xattr area (ibody header and entries), from {@linkcode INLINE_XATTR_START}. */
  inlineXattrs?: Uint8Array | undefined;
}

/**
 * An inode into `out` (256 bytes of zeros), with its checksum.
 *
 * @throws {Error} When the file is too large for `i_blocks` (2 TiB without huge_file).
 */
export function encodeInode(out: Uint8Array, f: InodeFields, seed: number): void {
  const v = new DataView(out.buffer, out.byteOffset, INODE_SIZE);
  const [t, extra] = timeParts(f.sec, f.nsec);
  v.setUint16(0x00, inodeMode(f.type, f.mode), true); // i_mode
  v.setUint16(0x02, f.uid & 0xffff, true); // i_uid
  v.setUint32(0x04, f.size >>> 0, true); // i_size_lo
  v.setUint32(0x08, t, true); // i_atime
  v.setUint32(0x0c, t, true); // i_ctime
  v.setUint32(0x10, t, true); // i_mtime
  v.setUint16(0x18, f.gid & 0xffff, true); // i_gid
  v.setUint16(0x1a, f.links, true); // i_links_count
  const sectors = f.blocks * (BLOCK_SIZE / 512);
  if (sectors >= 2 ** 32) throw new Error("a file is larger than 2 TiB");
  v.setUint32(0x1c, sectors, true); // i_blocks_lo, in 512-byte sectors
  v.setUint32(0x20, f.flags, true); // i_flags
  out.set(f.iblock, 0x28); // i_block
  v.setUint32(0x68, f.xattrBlock, true); // i_file_acl_lo
  v.setUint32(0x6c, Math.floor(f.size / 2 ** 32), true); // i_size_high
  v.setUint16(0x78, f.uid >>> 16, true); // l_i_uid_high
  v.setUint16(0x7a, f.gid >>> 16, true); // l_i_gid_high
  v.setUint16(0x80, EXTRA_ISIZE, true); // i_extra_isize
  v.setUint32(0x84, extra, true); // i_ctime_extra
  v.setUint32(0x88, extra, true); // i_mtime_extra
  v.setUint32(0x8c, extra, true); // i_atime_extra
  v.setUint32(0x90, t, true); // i_crtime
  v.setUint32(0x94, extra, true); // i_crtime_extra
  if (f.inlineXattrs) out.set(f.inlineXattrs, INLINE_XATTR_START);
  // the checksum over the inode with its two checksum fields 0: l_i_checksum_lo, i_checksum_hi
  const c = crc32c(seed, out.subarray(0, INODE_SIZE));
  v.setUint16(0x7c, c & 0xffff, true);
  v.setUint16(0x82, c >>> 16, true);
}

/** The kernel's time encoding: low 32 bits signed, 2 epoch bits and nanoseconds in `extra`. */
function timeParts(sec: number, nsec: number): [number, number] {
  const s = Math.min(Math.max(sec, -(2 ** 31)), 2 ** 34 - 1);
  const lo = s | 0;
  const epoch = ((s - lo) / 2 ** 32) & 3;
  return [lo >>> 0, ((Math.min(Math.max(nsec, 0), 999_999_999) * 4) + epoch) >>> 0];
}

/** A device number in `i_block`: the old 8:8 form when it fits, else the new 12:20 one. */
export function encodeDevice(iblock: Uint8Array, major: number, minor: number): void {
  const v = new DataView(iblock.buffer, iblock.byteOffset, 60);
  if (major < 256 && minor < 256) v.setUint32(0, (major << 8) | minor, true);
  else v.setUint32(4, ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0, true);
}

/** An extent tree node's header (12 bytes), into `out`. */
export function encodeExtentHeader(
  out: Uint8Array,
  entries: number,
  max: number,
  depth: number,
): void {
  const v = new DataView(out.buffer, out.byteOffset, 12);
  v.setUint16(0, EXTENT_MAGIC, true); // eh_magic
  v.setUint16(2, entries, true); // eh_entries
  v.setUint16(4, max, true); // eh_max
  v.setUint16(6, depth, true); // eh_depth
}

/** A leaf entry: `length` blocks of the file from block `logical` on, at disk block `physical`. */
export function encodeExtent(logical: number, length: number, physical: number): Uint8Array {
  const out = new Uint8Array(12);
  const v = new DataView(out.buffer);
  v.setUint32(0, logical, true); // ee_block
  v.setUint16(4, length, true); // ee_len
  v.setUint16(6, Math.floor(physical / 2 ** 32), true); // ee_start_hi
  v.setUint32(8, physical >>> 0, true); // ee_start_lo
  return out;
}

/** An index entry: the subtree for file blocks from `logical` on is at disk block `block`. */
export function encodeExtentIndex(logical: number, block: number): Uint8Array {
  const out = new Uint8Array(12);
  const v = new DataView(out.buffer);
  v.setUint32(0, logical, true); // ei_block
  v.setUint32(4, block >>> 0, true); // ei_leaf_lo
  v.setUint16(8, Math.floor(block / 2 ** 32), true); // ei_leaf_hi
  return out;
}

/** An index or leaf block of an extent tree: header, entries, the checksum tail. */
export function encodeExtentBlock(entries: Uint8Array[], depth: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(BLOCK_SIZE);
  encodeExtentHeader(bytes, entries.length, EXTENTS_PER_BLOCK, depth);
  entries.forEach((e, j) => bytes.set(e, 12 + 12 * j));
  const tail = 12 + 12 * EXTENTS_PER_BLOCK; // ext4_extent_tail: eb_checksum
  new DataView(bytes.buffer).setUint32(tail, crc32c(seed, bytes.subarray(0, tail)), true);
  return bytes;
}

/** The bytes a directory entry with a name of `length` bytes takes (padded to 4). */
export function direntSize(length: number): number {
  return 8 + Math.ceil(length / 4) * 4;
}

/** A directory entry at `at` of a directory block (its name's bytes given). */
export function encodeDirent(
  block: Uint8Array,
  at: number,
  entry: { ino: number; recLen: number; name: Uint8Array; type: number },
): void {
  const v = new DataView(block.buffer, block.byteOffset, block.byteLength);
  v.setUint32(at, entry.ino, true); // inode
  v.setUint16(at + 4, entry.recLen, true); // rec_len
  v.setUint8(at + 6, entry.name.byteLength); // name_len
  v.setUint8(at + 7, entry.type); // file_type
  block.set(entry.name, at + 8); // name
}

/** Stretches the entry at `at` (the last, or the unused one of an empty block) to `end`. */
export function setRecLen(block: Uint8Array, at: number, recLen: number): void {
  new DataView(block.buffer, block.byteOffset, block.byteLength).setUint16(at + 4, recLen, true);
}

/** A directory block's checksum tail (`ext4_dir_entry_tail`), over the block before it. */
export function encodeDirTail(block: Uint8Array, seed: number): void {
  const at = BLOCK_SIZE - DIR_TAIL_SIZE;
  const v = new DataView(block.buffer, block.byteOffset, BLOCK_SIZE);
  v.setUint16(at + 4, DIR_TAIL_SIZE, true); // det_rec_len (det_reserved_zero1 is 0)
  v.setUint8(at + 7, 0xde); // det_reserved_ft
  v.setUint32(at + 8, crc32c(seed, block.subarray(0, at)), true); // det_checksum
}

/** An empty jbd2 journal's superblock (v2): nothing to replay. Big-endian, as all of jbd2. */
export function encodeJournalSuperblock(blocks: number, uuid: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(BLOCK_SIZE);
  const v = new DataView(bytes.buffer);
  v.setUint32(0x0, JBD2_MAGIC); // h_magic
  v.setUint32(0x4, JBD2_SUPERBLOCK_V2); // h_blocktype
  v.setUint32(0xc, BLOCK_SIZE); // s_blocksize
  v.setUint32(0x10, blocks); // s_maxlen
  v.setUint32(0x14, 1); // s_first: the first log block
  v.setUint32(0x18, 1); // s_sequence: the first commit expected
  v.setUint32(0x1c, 0); // s_start 0: clean, nothing to replay
  bytes.set(uuid, 0x30); // s_uuid
  v.setUint32(0x40, 1); // s_nr_users
  return bytes;
}
