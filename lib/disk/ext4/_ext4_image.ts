// The metadata half of an ext4 image: given the tree (metadata in memory, file content already in
// the data area as extents), it lays out and writes directories, long symlinks, xattr blocks,
// extent index blocks, the journal, bitmaps, inode tables, group descriptors and the superblock.
//
// Layout (4 KiB blocks, 32768 blocks a group, flex_bg so that every group's bitmaps and inode
// table may live anywhere, sparse_super2 with no backups so no group has a copy of the superblock
// in the middle of the data):
//
//   0                superblock (at byte 1024)
//   1 ..             group descriptors (one block holds 128), then free blocks up to
//   dataStart ..     file content, streamed as the layers came (Ext4DataStore)
//   dataEnd ..       the tail: directories, long symlinks, xattr blocks, extent index blocks,
//                    the journal, all block bitmaps, all inode bitmaps, all inode tables
//   .. end           free space (--free / --size)

import { crc32c, crc32cU32 } from "./_crc32c.ts";
import { compareNames } from "../../layer/compare_names.ts";
import { BLOCK_SIZE, type Ext4Data, type Ext4Extent, MAX_EXTENT_BLOCKS } from "./_ext4_data.ts";
import type { LayerNode, LayerNodeType } from "../../layer/layer_tree.ts";

/** A node of the tree the encoder writes: the `LayerTree`'s, with extents as file data. */
export type Ext4Node = LayerNode<Ext4Data>;

/** How the image is laid out. */
export interface Ext4ImageOptions {
  /** The first block of the data area (after the group descriptors reserved for). */
  dataStart: number;
  /** The first block after the data area. */
  dataEnd: number;
  /** 32 bytes: the UUID (16) and the directory hash seed (16). */
  seed: Uint8Array;
  /** The exact image size in bytes (whole blocks: {@linkcode Ext4Writer} checks). */
  size?: number;
  /** Bytes of free space to add beyond what the tree needs. */
  free?: number;
  /** Add an (empty) jbd2 journal as inode 8. */
  journal?: boolean;
  /**
   * `false`: the file holds old bytes where nothing is written (a block device): the inode tables
   * are not marked zeroed, the file is not truncated, and it must be large enough.
   */
  zeroed?: boolean;
}

/** What was written. */
export interface Ext4ImageResult {
  /** Blocks in the file system. */
  blocks: number;
  /** The image size in bytes. */
  size: number;
  /** Inodes in use (reserved ones included). */
  inodes: number;
  /** Free blocks. */
  freeBlocks: number;
}

const BLOCKS_PER_GROUP = 32768;
const INODE_SIZE = 256;
const EXTRA_ISIZE = 32;
const FIRST_INO = 11;
const ROOT_INO = 2;
const JOURNAL_INO = 8;
const LOST_FOUND_INO = 11;
const DESC_SIZE = 32;
const DESCS_PER_BLOCK = BLOCK_SIZE / DESC_SIZE;
const DIR_TAIL = 12;
const EXTENTS_FL = 0x80000;
const EXTENT_MAGIC = 0xf30a;
const XATTR_MAGIC = 0xea020000;
const INLINE_XATTR_START = 0x80 + EXTRA_ISIZE; // 0xa0
/** Bytes of entries and values the inode holds: its area less the magic and the end marker. */
const INLINE_XATTR_ROOM = INODE_SIZE - INLINE_XATTR_START - 4 - 4;
/** The same for an xattr block: less its 32-byte header and the end marker. */
const XATTR_BLOCK_ROOM = BLOCK_SIZE - 32 - 4;
/** The most inodes the kernel lets share one xattr block. */
const XATTR_REFCOUNT_MAX = 1024;
const MAX_LINKS = 65000;
const BG_INODE_UNINIT = 0x1;
const BG_BLOCK_UNINIT = 0x2;
const BG_INODE_ZEROED = 0x4;

const S_IF: Record<LayerNodeType, number> = {
  file: 0x8000,
  directory: 0x4000,
  symlink: 0xa000,
  char: 0x2000,
  block: 0x6000,
  fifo: 0x1000,
};
const FILE_TYPE: Record<LayerNodeType, number> = {
  file: 1,
  directory: 2,
  char: 3,
  block: 4,
  fifo: 5,
  symlink: 7,
};

const utf8 = new TextEncoder();
const latin1 = new TextDecoder("latin1"); // one character a byte: a map key for a block's bytes
const NO_IBLOCK = new Uint8Array(0);

/** The largest image the group descriptors reserved at the start can describe, in bytes. */
export function gdtBlocksFor(maxSize: number): number {
  const groups = Math.ceil(maxSize / BLOCK_SIZE / BLOCKS_PER_GROUP);
  return Math.max(1, Math.ceil(groups / DESCS_PER_BLOCK));
}

interface Rec {
  ino: number;
  node: Ext4Node;
  links: number;
  parent: number;
  /** i_block (60 bytes) */
  iblock: Uint8Array;
  flags: number;
  size: number;
  /** blocks this inode owns (data, directory, symlink, index and xattr blocks) */
  blocks: number;
  xattrBlock: number;
  inline?: Uint8Array; // the in-inode xattr area (0xa0..0x100)
}

/** A block range to write at the end. */
interface Piece {
  block: number;
  bytes: Uint8Array;
}

/**
 * Writes the metadata of an ext4 image whose file content is in place.
 *
 * @param file The image file, open for writing.
 * @param root The root directory.
 * @param options The layout.
 * @returns What was written.
 */
export function writeExt4Image(
  file: Deno.FsFile,
  root: Ext4Node,
  options: Ext4ImageOptions,
): Ext4ImageResult {
  const uuid = options.seed.subarray(0, 16);
  const fsSeed = crc32c(0xffffffff, uuid);
  const inoSeed = (ino: number) => crc32cU32(crc32cU32(fsSeed, ino), 0);

  // 1. inode numbers: root 2, lost+found 11, then the tree depth first in name order
  if (root.type !== "directory") throw new Error("the root is not a directory");
  const sorted = (dir: Ext4Node) =>
    [...(dir.children ?? [])].sort((x, y) => compareNames(x[0], y[0]));
  const rootChildren = sorted(root);
  let lostFound = rootChildren.find(([name]) => name === "lost+found")?.[1];
  if (!lostFound || lostFound.type !== "directory") {
    if (lostFound) throw new Error(`"lost+found" is a ${lostFound.type}, not a directory`);
    lostFound = {
      type: "directory",
      mode: 0o700,
      uid: 0,
      gid: 0,
      mtime: root.mtime,
      devmajor: 0,
      devminor: 0,
      size: 0,
      nlink: 2,
      layer: -1,
      entry: -1,
      children: new Map(),
    };
    rootChildren.push(["lost+found", lostFound]);
    rootChildren.sort((a, b) => compareNames(a[0], b[0]));
  }
  const recs: Rec[] = [];
  const byNode = new Map<Ext4Node, Rec>();
  const newRec = (ino: number, node: Ext4Node, parent: number): Rec => {
    const rec: Rec = {
      ino,
      node,
      links: 1,
      parent,
      iblock: NO_IBLOCK, // a view of one pooled buffer, once the inodes are counted
      flags: 0,
      size: 0,
      blocks: 0,
      xattrBlock: 0,
    };
    recs[ino] = rec;
    byNode.set(node, rec);
    return rec;
  };
  newRec(ROOT_INO, root, ROOT_INO);
  newRec(LOST_FOUND_INO, lostFound, ROOT_INO);
  let nextIno = FIRST_INO + 1;
  const childrenOf = new Map<Ext4Node, [string, Ext4Node][]>();
  childrenOf.set(root, rootChildren);
  const stack: Ext4Node[] = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    const dirRec = byNode.get(dir)!;
    let kids = childrenOf.get(dir);
    if (!kids) childrenOf.set(dir, kids = sorted(dir));
    const subdirs: Ext4Node[] = [];
    for (const [name, child] of kids) {
      checkName(name);
      const seen = byNode.get(child);
      if (seen && child !== lostFound) {
        if (child.type === "directory") throw new Error(`the directory "${name}" has two names`);
        if (++seen.links > MAX_LINKS) throw new Error(`more than ${MAX_LINKS} links to "${name}"`);
        continue;
      }
      if (!seen) newRec(nextIno++, child, dirRec.ino);
      if (child.type === "directory") subdirs.push(child);
    }
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
  }
  const maxIno = nextIno - 1;
  const iblocks = new Uint8Array(60 * (maxIno + 1));
  const iblockOf = (ino: number) => iblocks.subarray(60 * ino, 60 * ino + 60);
  for (const rec of recs) if (rec) rec.iblock = iblockOf(rec.ino);
  if (options.journal) {
    newRec(JOURNAL_INO, {
      type: "file",
      mode: 0o600,
      uid: 0,
      gid: 0,
      mtime: 0,
      devmajor: 0,
      devminor: 0,
      size: 0,
      nlink: 1,
      layer: -1,
      entry: -1,
    }, 0).iblock = iblockOf(JOURNAL_INO);
  }

  // 2. the tail: directory blocks, long symlinks, xattr blocks, extent index blocks
  const pieces: Piece[] = [];
  let next = options.dataEnd;
  const alloc = (n: number) => {
    const at = next;
    next += n;
    return at;
  };
  let usedDirs = new Uint32Array(0);
  const dirInos: number[] = [];
  const xattrBlocks = new Map<string, SharedXattrBlock>();
  const sharedBlocks: SharedXattrBlock[] = [];
  /** A node's path, for messages (the first name of a hardlinked one). */
  const pathOf = (rec: Rec): string => {
    const parts: string[] = [];
    for (let r = rec; r.ino !== ROOT_INO && recs[r.parent];) {
      const parent = recs[r.parent]!;
      parts.unshift(childrenOf.get(parent.node)?.find(([, n]) => n === r.node)?.[0] ?? "?");
      r = parent;
    }
    return parts.length > 0 ? parts.join("/") : "/";
  };
  for (const rec of recs) {
    if (!rec) continue;
    const node = rec.node;
    if (rec.ino === JOURNAL_INO) continue;
    if (node.type === "directory") {
      dirInos.push(rec.ino);
      const kids = childrenOf.get(node)!;
      let subdirs = 0;
      for (const [, child] of kids) if (child.type === "directory") subdirs++;
      rec.links = 2 + subdirs > MAX_LINKS ? 1 : 2 + subdirs;
      const bytes = dirBlocks(
        rec.ino,
        rec.parent,
        kids,
        (node) => byNode.get(node)!.ino,
        rec.ino === LOST_FOUND_INO ? 4 : 1,
        inoSeed(rec.ino),
      );
      const n = bytes.byteLength / BLOCK_SIZE;
      const start = alloc(n);
      pieces.push({ block: start, bytes });
      rec.size = bytes.byteLength;
      rec.blocks = n;
      setExtents(rec, contiguous(start, n), alloc, pieces, inoSeed(rec.ino));
    } else if (node.type === "file") {
      const data = node.data ?? { size: 0, extents: [], blocks: 0 };
      rec.size = data.size;
      rec.blocks = data.blocks;
      setExtents(rec, data.extents, alloc, pieces, inoSeed(rec.ino));
    } else if (node.type === "symlink") {
      const target = utf8.encode(node.target ?? "");
      if (target.byteLength === 0) throw new Error("a symlink has an empty target");
      if (target.byteLength >= BLOCK_SIZE) {
        throw new Error(`a symlink target of ${target.byteLength} bytes is too long`);
      }
      rec.size = target.byteLength;
      if (target.byteLength < 60) rec.iblock.set(target);
      else {
        const block = alloc(1);
        const bytes = new Uint8Array(BLOCK_SIZE);
        bytes.set(target);
        pieces.push({ block, bytes });
        rec.blocks = 1;
        setExtents(rec, [{ logical: 0, physical: block, length: 1 }], alloc, pieces, 0);
      }
    } else if (node.type === "char" || node.type === "block") {
      const major = node.devmajor ?? 0;
      const minor = node.devminor ?? 0;
      const dv = new DataView(rec.iblock.buffer, rec.iblock.byteOffset, 60);
      if (major < 256 && minor < 256) dv.setUint32(0, (major << 8) | minor, true);
      else dv.setUint32(4, ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0, true);
    }
    if (node.xattrs && node.xattrs.size > 0) {
      let split: [XattrEntry[], XattrEntry[]];
      try {
        split = splitXattrs(xattrEntries(node.xattrs));
      } catch (e) {
        throw new Error(`"${pathOf(rec)}": ${(e as Error).message}`, { cause: e });
      }
      const [inInode, inBlock] = split;
      if (inInode.length > 0) rec.inline = inlineXattrs(inInode);
      if (inBlock.length > 0) {
        // inodes with the same block content share one block (its refcount), as the kernel does
        const body = xattrBlockBody(inBlock);
        const key = latin1.decode(body);
        let shared = xattrBlocks.get(key);
        if (!shared || shared.refs === XATTR_REFCOUNT_MAX) {
          shared = { block: alloc(1), body, refs: 0 };
          xattrBlocks.set(key, shared);
          sharedBlocks.push(shared);
        }
        shared.refs++;
        rec.xattrBlock = shared.block;
        rec.blocks++;
      }
    }
  }
  for (const shared of sharedBlocks) {
    pieces.push({ block: shared.block, bytes: sealXattrBlock(shared, fsSeed) });
  }
  const tailEnd = next;

  // 3. the journal, sized like mke2fs's default for the size so far
  let journalBlocks = 0;
  if (options.journal) {
    const sofar = tailEnd;
    journalBlocks = sofar < 32768 ? 1024 : sofar < 262144 ? 4096 : sofar < 524288 ? 8192 : 16384;
    const start = alloc(journalBlocks);
    const rec = recs[JOURNAL_INO]!;
    rec.size = journalBlocks * BLOCK_SIZE;
    rec.blocks = journalBlocks;
    setExtents(rec, contiguous(start, journalBlocks), alloc, pieces, inoSeed(JOURNAL_INO));
    pieces.push({ block: start, bytes: journalSuperblock(journalBlocks, uuid) });
  }
  const before = next;

  // 4. groups: count, inodes per group, where bitmaps and inode tables go
  const wantFree = Math.floor((options.free ?? 0) / BLOCK_SIZE);
  const fixed = options.size === undefined ? undefined : Math.floor(options.size / BLOCK_SIZE);
  let groups = 1;
  let ipg = 16;
  let itb = 1;
  let total = 0;
  for (let round = 0; round < 64; round++) {
    const freeGuess = fixed === undefined ? wantFree : Math.max(0, fixed - before);
    const wantInodes = maxIno + Math.floor((freeGuess * BLOCK_SIZE) / 16384);
    groups = Math.max(groups, Math.ceil(wantInodes / BLOCKS_PER_GROUP));
    ipg = Math.ceil(Math.ceil(wantInodes / groups) / 16) * 16;
    itb = (ipg * INODE_SIZE) / BLOCK_SIZE;
    const needed = before + 2 * groups + groups * itb;
    total = fixed ?? needed + wantFree;
    if (total < needed) {
      throw new Error(
        `the image needs ${needed * BLOCK_SIZE} bytes, more than the size ${options.size}`,
      );
    }
    const g = Math.ceil(total / BLOCKS_PER_GROUP);
    if (g <= groups) {
      if (g < groups) {
        // more groups than blocks need (for inodes): make the last group whole enough
        if (fixed !== undefined) throw new Error(`the size ${options.size} holds too few inodes`);
        total = Math.max(total, (groups - 1) * BLOCKS_PER_GROUP + 1024);
      }
      break;
    }
    groups = g;
  }
  const gdtBlocks = Math.ceil(groups / DESCS_PER_BLOCK);
  if (1 + gdtBlocks > options.dataStart) {
    throw new Error(`an image of ${total * BLOCK_SIZE} bytes is larger than reserved for`);
  }
  if (total >= 2 ** 32) throw new Error("the image would exceed 2^32 blocks");
  const blockBitmaps = alloc(groups);
  const inodeBitmaps = alloc(groups);
  const inodeTables = alloc(groups * itb);
  const metaEnd = next;
  const inodesCount = ipg * groups;

  // 5. inode tables
  usedDirs = new Uint32Array(groups);
  for (const ino of dirInos) usedDirs[Math.floor((ino - 1) / ipg)]!++;
  const lastUsed = Math.max(maxIno, options.journal ? JOURNAL_INO : 0);
  for (let g = 0; g < groups; g++) {
    const first = g * ipg + 1;
    const last = Math.min(lastUsed, (g + 1) * ipg);
    if (last < first) continue;
    const table = new Uint8Array((last - first + 1) * INODE_SIZE);
    for (let ino = first; ino <= last; ino++) {
      const rec = recs[ino];
      if (rec) encodeInode(table.subarray((ino - first) * INODE_SIZE), rec, inoSeed(ino));
    }
    writeAt(file, inodeTables + g * itb, table); // now: a group's table is up to 8 MiB
  }

  // 6. bitmaps and group descriptors
  // in use: the superblock and descriptors, the content of files still in the tree (a file a
  // later layer deleted or replaced was written already: its blocks are free space), the tail.
  // All of it lies before metaEnd: the groups past it are empty space, BLOCK_UNINIT (the kernel
  // makes their bitmap when it first allocates there) with no bitmap written, as mke2fs does,
  // so that the time and the bytes written grow with the content, not with --size or --free.
  const usedGroups = Math.ceil(metaEnd / BLOCKS_PER_GROUP);
  const inUseMap = new Uint8Array(usedGroups * (BLOCKS_PER_GROUP / 8));
  setBits(inUseMap, 0, 1 + gdtBlocks);
  for (const rec of recs) {
    const data = rec?.node.type === "file" ? rec.node.data : undefined;
    if (rec?.ino === JOURNAL_INO || !data) continue;
    for (const e of data.extents) setBits(inUseMap, e.physical, e.physical + e.length);
  }
  setBits(inUseMap, options.dataEnd, metaEnd);
  // the checksums of the bitmaps the kernel makes for an uninitialised group: all free
  const emptyBlockBitmapCsum = crc32c(fsSeed, new Uint8Array(BLOCK_SIZE)) & 0xffff;
  const emptyInodeBitmapCsum = crc32c(fsSeed, new Uint8Array(ipg / 8)) & 0xffff;
  const gdt = new Uint8Array(gdtBlocks * BLOCK_SIZE);
  const gdv = new DataView(gdt.buffer);
  let freeBlocks = 0;
  let freeInodes = 0;
  for (let g = 0; g < groups; g++) {
    const first = g * BLOCKS_PER_GROUP;
    const count = Math.min(BLOCKS_PER_GROUP, total - first);
    // the inode tables are holes: zeros; on a device (old bytes), the kernel's to zero (lazy
    // init, as mke2fs -E lazy_itable_init): itable_unused tells e2fsck and the kernel not to read
    // the unused inodes meanwhile
    let flags = options.zeroed === false ? 0 : BG_INODE_ZEROED;
    let groupFree = count;
    let blockCsum = emptyBlockBitmapCsum;
    // the last group's bitmap is always written (e2fsck wants it initialised)
    if (g < usedGroups || g === groups - 1) {
      const bb = g < usedGroups
        ? inUseMap.slice(first / 8, first / 8 + BLOCK_SIZE)
        : new Uint8Array(BLOCK_SIZE);
      setBits(bb, count, BLOCKS_PER_GROUP);
      groupFree = count - countBits(bb, count);
      blockCsum = crc32c(fsSeed, bb) & 0xffff;
      pieces.push({ block: blockBitmaps + g, bytes: bb });
    } else flags |= BG_BLOCK_UNINIT;
    const inUse = Math.max(0, Math.min(lastUsed - g * ipg, ipg));
    let inodeCsum = emptyInodeBitmapCsum;
    if (inUse > 0) {
      const ib = new Uint8Array(BLOCK_SIZE);
      setBits(ib, 0, inUse);
      setBits(ib, ipg, BLOCK_SIZE * 8);
      inodeCsum = crc32c(fsSeed, ib.subarray(0, ipg / 8)) & 0xffff;
      pieces.push({ block: inodeBitmaps + g, bytes: ib });
    } else flags |= BG_INODE_UNINIT;
    freeBlocks += groupFree;
    freeInodes += ipg - inUse;
    const o = g * DESC_SIZE;
    gdv.setUint32(o, blockBitmaps + g, true);
    gdv.setUint32(o + 4, inodeBitmaps + g, true);
    gdv.setUint32(o + 8, inodeTables + g * itb, true);
    gdv.setUint16(o + 0xc, groupFree, true);
    gdv.setUint16(o + 0xe, ipg - inUse, true);
    gdv.setUint16(o + 0x10, usedDirs[g]!, true);
    gdv.setUint16(o + 0x12, flags, true);
    gdv.setUint16(o + 0x18, blockCsum, true);
    gdv.setUint16(o + 0x1a, inodeCsum, true);
    gdv.setUint16(o + 0x1c, ipg - inUse, true); // itable_unused: never read past the used ones
    const c = crc32c(crc32cU32(fsSeed, g), gdt.subarray(o, o + DESC_SIZE)); // checksum field 0
    gdv.setUint16(o + 0x1e, c & 0xffff, true);
  }
  pieces.push({ block: 1, bytes: gdt });

  // 7. the superblock
  const sb = new Uint8Array(BLOCK_SIZE);
  const sv = new DataView(sb.buffer, 1024, 1024);
  sv.setUint32(0x0, inodesCount, true);
  sv.setUint32(0x4, total, true);
  sv.setUint32(0xc, freeBlocks, true);
  sv.setUint32(0x10, freeInodes, true);
  sv.setUint32(0x14, 0, true); // first data block
  sv.setUint32(0x18, 2, true); // 4 KiB blocks
  sv.setUint32(0x1c, 2, true);
  sv.setUint32(0x20, BLOCKS_PER_GROUP, true);
  sv.setUint32(0x24, BLOCKS_PER_GROUP, true);
  sv.setUint32(0x28, ipg, true);
  sv.setUint16(0x36, 0xffff, true); // max mount count: no forced checks
  sv.setUint16(0x38, 0xef53, true);
  sv.setUint16(0x3a, 1, true); // clean
  sv.setUint16(0x3c, 1, true); // errors: continue
  sv.setUint32(0x4c, 1, true); // dynamic revision
  sv.setUint32(0x54, FIRST_INO, true);
  sv.setUint16(0x58, INODE_SIZE, true);
  // compat: ext_attr, sparse_super2 (+ has_journal); incompat: filetype, extents, flex_bg;
  // ro_compat: sparse_super, large_file, dir_nlink, extra_isize, metadata_csum
  sv.setUint32(0x5c, 0x8 | 0x200 | (options.journal ? 0x4 : 0), true);
  sv.setUint32(0x60, 0x2 | 0x40 | 0x200, true);
  sv.setUint32(0x64, 0x1 | 0x2 | 0x20 | 0x40 | 0x400, true);
  sb.set(uuid, 1024 + 0x68);
  sb.set(utf8.encode("skiff").subarray(0, 16), 1024 + 0x78);
  if (options.journal) sv.setUint32(0xe0, JOURNAL_INO, true);
  sb.set(options.seed.subarray(16, 32), 1024 + 0xec); // hash seed
  sv.setUint8(0xfc, 1); // half_md4
  if (options.journal) {
    sv.setUint8(0xfd, 1); // s_jnl_blocks holds a copy of the journal's i_block
    const j = recs[JOURNAL_INO]!;
    sb.set(j.iblock, 1024 + 0x10c);
    sv.setUint32(0x10c + 60, Math.floor(j.size / 2 ** 32), true);
    sv.setUint32(0x10c + 64, j.size >>> 0, true);
  }
  sv.setUint32(0x100, 0xc, true); // default mount options: user_xattr, acl
  sv.setUint16(0x15c, EXTRA_ISIZE, true);
  sv.setUint16(0x15e, EXTRA_ISIZE, true);
  sv.setUint32(0x160, 0x1, true); // signed directory hash
  sv.setUint8(0x174, 4); // 16 groups a flex group (allocation hint for the kernel)
  sv.setUint8(0x175, 1); // crc32c
  sv.setUint32(0x3fc, crc32c(0xffffffff, sb.subarray(1024, 1024 + 0x3fc)), true);
  pieces.push({ block: 0, bytes: sb });

  // 8. write everything, in block order; the rest of the image stays a hole (zeros)
  if (options.zeroed === false) {
    const room = file.seekSync(0, Deno.SeekMode.End);
    if (room < total * BLOCK_SIZE) {
      throw new Error(
        `the image needs ${total * BLOCK_SIZE} bytes, more than the ${room} it is given`,
      );
    }
  }
  pieces.sort((a, b) => a.block - b.block);
  for (const piece of pieces) writeAt(file, piece.block, piece.bytes);
  if (options.zeroed !== false) file.truncateSync(total * BLOCK_SIZE);
  return { blocks: total, size: total * BLOCK_SIZE, inodes: lastUsed, freeBlocks };
}

function writeAt(file: Deno.FsFile, block: number, bytes: Uint8Array): void {
  file.seekSync(block * BLOCK_SIZE, Deno.SeekMode.Start);
  let at = 0;
  while (at < bytes.byteLength) at += file.writeSync(bytes.subarray(at));
}

function checkName(name: string): void {
  // at most 3 UTF-8 bytes for each UTF-16 unit: only long names need encoding
  const n = name.length * 3 <= 255 ? Math.max(1, name.length) : utf8.encode(name).byteLength;
  if (name.length === 0) throw new Error("an empty name cannot be in a directory");
  if (n === 0 || n > 255) throw new Error(`a name of ${n} bytes cannot be in a directory`);
  if (name.includes("/") || name.includes("\0") || name === "." || name === "..") {
    throw new Error(`"${name}" cannot be a name`);
  }
}

function contiguous(start: number, n: number): Ext4Extent[] {
  const out: Ext4Extent[] = [];
  for (let at = 0; at < n; at += MAX_EXTENT_BLOCKS) {
    out.push({ logical: at, physical: start + at, length: Math.min(MAX_EXTENT_BLOCKS, n - at) });
  }
  return out;
}

function setBits(bitmap: Uint8Array, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    if ((i & 7) === 0 && i + 8 <= to) {
      const end = Math.floor(to / 8);
      bitmap.fill(0xff, i >> 3, end);
      i = end * 8 - 1;
      continue;
    }
    bitmap[i >> 3]! |= 1 << (i & 7);
  }
}

function countBits(bitmap: Uint8Array, n: number): number {
  let count = 0;
  for (let i = 0; i < n; i++) if (bitmap[i >> 3]! & (1 << (i & 7))) count++;
  return count;
}

/** An extent tree: in i_block when 4 extents or fewer, else index levels in blocks of the tail. */
function setExtents(
  rec: Rec,
  extents: Ext4Extent[],
  alloc: (n: number) => number,
  pieces: Piece[],
  seed: number,
): void {
  rec.flags |= EXTENTS_FL;
  let depth = 0;
  let entries: Uint8Array[] = extents.map((e) => {
    const b = new Uint8Array(12);
    const v = new DataView(b.buffer);
    v.setUint32(0, e.logical, true);
    v.setUint16(4, e.length, true);
    v.setUint16(6, Math.floor(e.physical / 2 ** 32), true);
    v.setUint32(8, e.physical >>> 0, true);
    return b;
  });
  let firsts = extents.map((e) => e.logical);
  const perBlock = (BLOCK_SIZE - 12 - 4) / 12; // 340, and the checksum tail
  while (entries.length > 4) {
    const upper: Uint8Array[] = [];
    const upperFirsts: number[] = [];
    for (let i = 0; i < entries.length; i += perBlock) {
      const chunk = entries.slice(i, i + perBlock);
      const block = alloc(1);
      const bytes = new Uint8Array(BLOCK_SIZE);
      extentHeader(bytes, chunk.length, perBlock, depth);
      chunk.forEach((e, j) => bytes.set(e, 12 + 12 * j));
      const tail = 12 + 12 * perBlock;
      new DataView(bytes.buffer).setUint32(tail, crc32c(seed, bytes.subarray(0, tail)), true);
      pieces.push({ block, bytes });
      rec.blocks++;
      const idx = new Uint8Array(12);
      const v = new DataView(idx.buffer);
      v.setUint32(0, firsts[i]!, true);
      v.setUint32(4, block >>> 0, true);
      v.setUint16(8, Math.floor(block / 2 ** 32), true);
      upper.push(idx);
      upperFirsts.push(firsts[i]!);
    }
    entries = upper;
    firsts = upperFirsts;
    depth++;
  }
  extentHeader(rec.iblock, entries.length, 4, depth);
  entries.forEach((e, j) => rec.iblock.set(e, 12 + 12 * j));
}

function extentHeader(bytes: Uint8Array, entries: number, max: number, depth: number): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset, 12);
  v.setUint16(0, EXTENT_MAGIC, true);
  v.setUint16(2, entries, true);
  v.setUint16(4, max, true);
  v.setUint16(6, depth, true);
}

/** Linear directory blocks (at least `minBlocks`), each ending in the checksum tail. */
function dirBlocks(
  self: number,
  parent: number,
  kids: ReadonlyArray<readonly [string, Ext4Node]>,
  inoOf: (node: Ext4Node) => number,
  minBlocks: number,
  seed: number,
): Uint8Array {
  const limit = BLOCK_SIZE - DIR_TAIL;
  const blocks: Uint8Array[] = [];
  const name = new Uint8Array(1024); // one name's UTF-8 bytes (255 at most)
  let cur = new Uint8Array(BLOCK_SIZE);
  let v = new DataView(cur.buffer);
  let off = 0;
  let last = -1;
  const close = () => {
    if (last < 0) v.setUint16(4, limit, true); // an empty block: one unused entry
    else v.setUint16(last + 4, limit - last, true);
    v.setUint16(limit + 4, DIR_TAIL, true);
    v.setUint8(limit + 7, 0xde);
    v.setUint32(limit + 8, crc32c(seed, cur.subarray(0, limit)), true);
    blocks.push(cur);
    cur = new Uint8Array(BLOCK_SIZE);
    v = new DataView(cur.buffer);
    off = 0;
    last = -1;
  };
  const add = (length: number, ino: number, type: number) => {
    const size = 8 + Math.ceil(length / 4) * 4;
    if (off + size > limit) close();
    v.setUint32(off, ino, true);
    v.setUint16(off + 4, size, true);
    v.setUint8(off + 6, length);
    v.setUint8(off + 7, type);
    for (let i = 0; i < length; i++) cur[off + 8 + i] = name[i]!;
    last = off;
    off += size;
  };
  name[0] = 0x2e;
  add(1, self, 2); // .
  name[1] = 0x2e;
  add(2, parent, 2); // ..
  for (const [text, child] of kids) {
    add(utf8.encodeInto(text, name).written, inoOf(child), FILE_TYPE[child.type]);
  }
  close();
  while (blocks.length < minBlocks) close();
  const out = new Uint8Array(blocks.length * BLOCK_SIZE);
  blocks.forEach((b, i) => out.set(b, i * BLOCK_SIZE));
  return out;
}

interface XattrEntry {
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
function xattrEntries(xattrs: Map<string, Uint8Array>): XattrEntry[] {
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
function splitXattrs(entries: XattrEntry[]): [XattrEntry[], XattrEntry[]] {
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
function inlineXattrs(entries: XattrEntry[]): Uint8Array {
  const area = new Uint8Array(INODE_SIZE - INLINE_XATTR_START);
  const body = area.subarray(4); // offsets count from the first entry
  if (!placeXattrs(body, entries, 0)) throw new Error("the xattrs do not fit the inode");
  new DataView(area.buffer).setUint32(0, XATTR_MAGIC, true);
  return area;
}

/** An xattr block that one or more inodes share. */
interface SharedXattrBlock {
  block: number;
  /** Its bytes without refcount and checksum. */
  body: Uint8Array;
  refs: number;
}

/** An xattr block's entries, values and hash: everything but its refcount and checksum. */
function xattrBlockBody(entries: XattrEntry[]): Uint8Array {
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
function sealXattrBlock(shared: SharedXattrBlock, fsSeed: number): Uint8Array {
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

/** The kernel's time encoding: low 32 bits signed, 2 epoch bits and nanoseconds in `extra`. */
function timeParts(sec: number, nsec: number): [number, number] {
  const s = Math.min(Math.max(sec, -(2 ** 31)), 2 ** 34 - 1);
  const lo = s | 0;
  const epoch = ((s - lo) / 2 ** 32) & 3;
  return [lo >>> 0, ((Math.min(Math.max(nsec, 0), 999_999_999) * 4) + epoch) >>> 0];
}

function encodeInode(out: Uint8Array, rec: Rec, seed: number): void {
  const node = rec.node;
  const v = new DataView(out.buffer, out.byteOffset, INODE_SIZE);
  let sec: number;
  let nsec: number;
  if (node.mtimeNs !== undefined) {
    // exact: pax gave a fraction (a double holds only about 0.2 microseconds of it)
    const whole = node.mtimeNs >= 0n
      ? node.mtimeNs / 1_000_000_000n
      : -((-node.mtimeNs + 999_999_999n) / 1_000_000_000n);
    sec = Number(whole);
    nsec = Number(node.mtimeNs - whole * 1_000_000_000n);
  } else {
    sec = Math.floor(node.mtime);
    nsec = Math.round((node.mtime - sec) * 1e9);
    if (nsec >= 1e9) [sec, nsec] = [sec + 1, 0];
  }
  const [t, extra] = timeParts(sec, nsec);
  v.setUint16(0x0, S_IF[node.type] | (node.mode & 0o7777), true);
  v.setUint16(0x2, node.uid & 0xffff, true);
  v.setUint32(0x4, rec.size >>> 0, true);
  v.setUint32(0x8, t, true);
  v.setUint32(0xc, t, true);
  v.setUint32(0x10, t, true);
  v.setUint16(0x18, node.gid & 0xffff, true);
  v.setUint16(0x1a, rec.links, true);
  const sectors = rec.blocks * (BLOCK_SIZE / 512);
  if (sectors >= 2 ** 32) throw new Error("a file is larger than 2 TiB");
  v.setUint32(0x1c, sectors, true);
  v.setUint32(0x20, rec.flags, true);
  out.set(rec.iblock, 0x28);
  v.setUint32(0x68, rec.xattrBlock, true);
  v.setUint32(0x6c, Math.floor(rec.size / 2 ** 32), true);
  v.setUint16(0x78, node.uid >>> 16, true);
  v.setUint16(0x7a, node.gid >>> 16, true);
  v.setUint16(0x80, EXTRA_ISIZE, true);
  v.setUint32(0x84, extra, true);
  v.setUint32(0x88, extra, true);
  v.setUint32(0x8c, extra, true);
  v.setUint32(0x90, t, true);
  v.setUint32(0x94, extra, true);
  if (rec.inline) out.set(rec.inline, INLINE_XATTR_START);
  const c = crc32c(seed, out.subarray(0, INODE_SIZE));
  v.setUint16(0x7c, c & 0xffff, true);
  v.setUint16(0x82, c >>> 16, true);
}

/** An empty jbd2 journal: a version 2 superblock saying there is nothing to replay. */
function journalSuperblock(blocks: number, uuid: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(BLOCK_SIZE);
  const v = new DataView(bytes.buffer);
  v.setUint32(0x0, 0xc03b3998); // big-endian, as all of jbd2
  v.setUint32(0x4, 4); // superblock v2
  v.setUint32(0xc, BLOCK_SIZE);
  v.setUint32(0x10, blocks);
  v.setUint32(0x14, 1); // first log block
  v.setUint32(0x18, 1); // first expected commit
  v.setUint32(0x1c, 0); // start 0: clean, nothing to replay
  bytes.set(uuid, 0x30);
  v.setUint32(0x40, 1); // users
  return bytes;
}
