// The metadata half of an ext4 image: given the tree (metadata in memory, file content already in
// the data area as extents), it lays out and writes directories, long symlinks, xattr blocks,
// extent index blocks, the journal, bitmaps, inode tables, group descriptors and the superblock,
// in named steps (Ext4Image.write); every on-disk structure is encoded in _ext4_format.ts and
// _ext4_xattrs.ts.
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
import type { Ext4Data, Ext4Extent } from "./_ext4_data.ts";
import {
  BG_BLOCK_UNINIT,
  BG_INODE_UNINIT,
  BG_INODE_ZEROED,
  BLOCK_SIZE,
  BLOCKS_PER_GROUP,
  DESC_SIZE,
  DESCS_PER_BLOCK,
  DIR_TAIL_SIZE,
  direntSize,
  encodeDevice,
  encodeDirent,
  encodeDirTail,
  encodeExtent,
  encodeExtentBlock,
  encodeExtentHeader,
  encodeExtentIndex,
  encodeGroupDescriptor,
  encodeInode,
  encodeJournalSuperblock,
  encodeSuperblock,
  EXTENTS_FL,
  EXTENTS_IN_INODE,
  EXTENTS_PER_BLOCK,
  FIRST_INO,
  INODE_SIZE,
  JOURNAL_INO,
  LOST_FOUND_INO,
  MAX_EXTENT_BLOCKS,
  MAX_LINKS,
  ROOT_INO,
  setRecLen,
} from "./_ext4_format.ts";
import {
  inlineXattrs,
  sealXattrBlock,
  type SharedXattrBlock,
  splitXattrs,
  XATTR_REFCOUNT_MAX,
  xattrBlockBody,
  xattrEntries,
  type XattrEntry,
} from "./_ext4_xattrs.ts";
import { direntType } from "../linux_file_type.ts";
import { compareNames } from "../../layer/compare_names.ts";
import type { LayerNode } from "../../layer/layer_tree.ts";
import { nodeTime } from "../../layer/node_time.ts";

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

const utf8 = new TextEncoder();
const latin1 = new TextDecoder("latin1"); // one character a byte: a map key for a block's bytes
const NO_IBLOCK = new Uint8Array(0);

/** The largest image the group descriptors reserved at the start can describe, in bytes. */
export function gdtBlocksFor(maxSize: number): number {
  const groups = Math.ceil(maxSize / BLOCK_SIZE / BLOCKS_PER_GROUP);
  return Math.max(1, Math.ceil(groups / DESCS_PER_BLOCK));
}

/** One inode to write. */
interface Rec {
  ino: number;
  node: Ext4Node;
  links: number;
  parent: number;
  /** i_block (60 bytes): a view of one pooled buffer, once the inodes are counted. */
  iblock: Uint8Array;
  flags: number;
  size: number;
  /** Blocks this inode owns (data, directory, symlink, index and xattr blocks). */
  blocks: number;
  xattrBlock: number;
  /** The in-inode xattr area. */
  inline?: Uint8Array;
}

/** A block range to write at the end. */
interface Piece {
  block: number;
  bytes: Uint8Array;
}

/** The block groups: how many, their inodes, where their bitmaps and inode tables are. */
interface Groups {
  count: number;
  /** Inodes per group, and the blocks of a group's inode table. */
  ipg: number;
  itb: number;
  /** Blocks in the file system. */
  total: number;
  gdtBlocks: number;
  blockBitmaps: number;
  inodeBitmaps: number;
  inodeTables: number;
  /** The first block after all metadata. */
  metaEnd: number;
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
  return new Ext4Image(root, options).write(file);
}

/** One image's metadata, laid out and written step by step. */
class Ext4Image {
  #root: Ext4Node;
  #options: Ext4ImageOptions;
  #uuid: Uint8Array;
  #fsSeed: number;
  /** By inode number. */
  #recs: Rec[] = [];
  #byNode = new Map<Ext4Node, Rec>();
  /** Each directory's entries, sorted (lost+found added to the root's). */
  #childrenOf = new Map<Ext4Node, [string, Ext4Node][]>();
  #maxIno = 0;
  /** The highest inode in use (the journal's when the tree has fewer). */
  #lastUsed = 0;
  #dirInos: number[] = [];
  #pieces: Piece[] = [];
  /** The xattr blocks, sealed once every inode that shares one is counted. */
  #xattrBlocks: SharedXattrBlock[] = [];
  /** The next free block of the tail. */
  #next: number;

  constructor(root: Ext4Node, options: Ext4ImageOptions) {
    if (root.type !== "directory") throw new Error("the root is not a directory");
    this.#root = root;
    this.#options = options;
    this.#uuid = options.seed.subarray(0, 16);
    this.#fsSeed = crc32c(0xffffffff, this.#uuid);
    this.#next = options.dataEnd;
  }

  /** The steps, in order; each one's result is what the next ones place around. */
  write(file: Deno.FsFile): Ext4ImageResult {
    this.#numberInodes();
    this.#layoutTail();
    if (this.#options.journal) this.#addJournal();
    const groups = this.#planGroups();
    this.#writeInodeTables(file, groups);
    const { freeBlocks, freeInodes } = this.#describeGroups(groups);
    this.#pieces.push({
      block: 0,
      bytes: this.#superblock(groups, freeBlocks, freeInodes),
    });
    this.#writePieces(file, groups.total);
    const total = groups.total;
    return { blocks: total, size: total * BLOCK_SIZE, inodes: this.#lastUsed, freeBlocks };
  }

  /** The inode number of every node: root 2, lost+found 11, the tree depth first in name order;
   * hardlinks share theirs. */
  #numberInodes(): void {
    const root = this.#root;
    const rootChildren = sorted(root);
    let lostFound = rootChildren.find(([name]) => name === "lost+found")?.[1];
    if (!lostFound || lostFound.type !== "directory") {
      if (lostFound) throw new Error(`"lost+found" is a ${lostFound.type}, not a directory`);
      lostFound = emptyNode("directory", 0o700, root.mtime, 2);
      lostFound.children = new Map();
      rootChildren.push(["lost+found", lostFound]);
      rootChildren.sort((a, b) => compareNames(a[0], b[0]));
    }
    this.#newRec(ROOT_INO, root, ROOT_INO);
    this.#newRec(LOST_FOUND_INO, lostFound, ROOT_INO);
    let nextIno = FIRST_INO + 1;
    this.#childrenOf.set(root, rootChildren);
    const stack: Ext4Node[] = [root];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      const dirRec = this.#byNode.get(dir)!;
      let kids = this.#childrenOf.get(dir);
      if (!kids) this.#childrenOf.set(dir, kids = sorted(dir));
      const subdirs: Ext4Node[] = [];
      for (const [name, child] of kids) {
        checkName(name);
        const seen = this.#byNode.get(child);
        if (seen && child !== lostFound) {
          if (child.type === "directory") throw new Error(`the directory "${name}" has two names`);
          if (++seen.links > MAX_LINKS) {
            throw new Error(`more than ${MAX_LINKS} links to "${name}"`);
          }
          continue;
        }
        if (!seen) this.#newRec(nextIno++, child, dirRec.ino);
        if (child.type === "directory") subdirs.push(child);
      }
      for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
    }
    this.#maxIno = nextIno - 1;
    this.#lastUsed = Math.max(this.#maxIno, this.#options.journal ? JOURNAL_INO : 0);
    // every inode's i_block: a view of one buffer (60 bytes each, not an array each)
    const iblocks = new Uint8Array(60 * (this.#maxIno + 1));
    for (const rec of this.#recs) {
      if (rec) rec.iblock = iblocks.subarray(60 * rec.ino, 60 * rec.ino + 60);
    }
  }

  #newRec(ino: number, node: Ext4Node, parent: number): Rec {
    const rec: Rec = {
      ino,
      node,
      links: 1,
      parent,
      iblock: NO_IBLOCK,
      flags: 0,
      size: 0,
      blocks: 0,
      xattrBlock: 0,
    };
    this.#recs[ino] = rec;
    this.#byNode.set(node, rec);
    return rec;
  }

  /** The tail after the data: directory blocks, long symlinks, xattr blocks, extent index
   * blocks; and what goes into each inode's i_block. */
  #layoutTail(): void {
    const sharedBlocks = new Map<string, SharedXattrBlock>();
    for (const rec of this.#recs) {
      if (!rec) continue;
      const node = rec.node;
      if (node.type === "directory") this.#layoutDirectory(rec);
      else if (node.type === "file") {
        const data = node.data ?? { size: 0, extents: [], blocks: 0 };
        rec.size = data.size;
        rec.blocks = data.blocks;
        this.#setExtents(rec, data.extents);
      } else if (node.type === "symlink") this.#layoutSymlink(rec);
      else if (node.type === "char" || node.type === "block") {
        encodeDevice(rec.iblock, node.devmajor, node.devminor);
      }
      if (node.xattrs && node.xattrs.size > 0) this.#placeXattrs(rec, sharedBlocks);
    }
    // their refcounts known: the shared xattr blocks sealed
    for (const shared of this.#xattrBlocks) {
      this.#pieces.push({ block: shared.block, bytes: sealXattrBlock(shared, this.#fsSeed) });
    }
  }

  #layoutDirectory(rec: Rec): void {
    this.#dirInos.push(rec.ino);
    const kids = this.#childrenOf.get(rec.node)!;
    let subdirs = 0;
    for (const [, child] of kids) if (child.type === "directory") subdirs++;
    rec.links = 2 + subdirs > MAX_LINKS ? 1 : 2 + subdirs; // dir_nlink: 1 is "many"
    const bytes = dirBlocks(
      rec,
      kids,
      (node) => this.#byNode.get(node)!.ino,
      rec.ino === LOST_FOUND_INO ? 4 : 1, // room for e2fsck to reconnect files without allocating
      this.#inoSeed(rec.ino),
    );
    const n = bytes.byteLength / BLOCK_SIZE;
    const start = this.#alloc(n);
    this.#pieces.push({ block: start, bytes });
    rec.size = bytes.byteLength;
    rec.blocks = n;
    this.#setExtents(rec, contiguous(start, n));
  }

  /** A target under 60 bytes in i_block ("fast"), a longer one in a block of its own. */
  #layoutSymlink(rec: Rec): void {
    const target = utf8.encode(rec.node.target ?? "");
    if (target.byteLength === 0) throw new Error("a symlink has an empty target");
    if (target.byteLength >= BLOCK_SIZE) {
      throw new Error(`a symlink target of ${target.byteLength} bytes is too long`);
    }
    rec.size = target.byteLength;
    if (target.byteLength < 60) {
      rec.iblock.set(target);
      return;
    }
    const block = this.#alloc(1);
    const bytes = new Uint8Array(BLOCK_SIZE);
    bytes.set(target);
    this.#pieces.push({ block, bytes });
    rec.blocks = 1;
    this.#setExtents(rec, [{ logical: 0, physical: block, length: 1 }]);
  }

  /** Xattrs into the inode and one xattr block; inodes whose block would be the same bytes share
   * it (its refcount), as the kernel does. */
  #placeXattrs(rec: Rec, sharedBlocks: Map<string, SharedXattrBlock>): void {
    let split: [XattrEntry[], XattrEntry[]];
    try {
      split = splitXattrs(xattrEntries(rec.node.xattrs!));
    } catch (e) {
      throw new Error(`"${this.#pathOf(rec)}": ${(e as Error).message}`, { cause: e });
    }
    const [inInode, inBlock] = split;
    if (inInode.length > 0) rec.inline = inlineXattrs(inInode);
    if (inBlock.length === 0) return;
    const body = xattrBlockBody(inBlock);
    const key = latin1.decode(body);
    let shared = sharedBlocks.get(key);
    if (!shared || shared.refs === XATTR_REFCOUNT_MAX) {
      shared = { block: this.#alloc(1), body, refs: 0 };
      sharedBlocks.set(key, shared);
      this.#xattrBlocks.push(shared);
    }
    shared.refs++;
    rec.xattrBlock = shared.block;
    rec.blocks++;
  }

  /** An empty journal, sized like mke2fs's default for the size so far, as inode 8. */
  #addJournal(): void {
    const sofar = this.#next;
    const blocks = sofar < 32768 ? 1024 : sofar < 262144 ? 4096 : sofar < 524288 ? 8192 : 16384;
    const start = this.#alloc(blocks);
    const rec = this.#newRec(JOURNAL_INO, emptyNode("file", 0o600, 0, 1), 0);
    rec.iblock = new Uint8Array(60);
    rec.size = blocks * BLOCK_SIZE;
    rec.blocks = blocks;
    this.#setExtents(rec, contiguous(start, blocks));
    this.#pieces.push({ block: start, bytes: encodeJournalSuperblock(blocks, this.#uuid) });
  }

  /**
   * How many groups and inodes per group (the tree's inodes, plus one per 16 KiB of free space,
   * in multiples of 16), the image's size in blocks; then the bitmaps and inode tables placed
   * behind the tail.
   *
   * @throws {Error} When the tree does not fit the size asked for, or the reserved descriptors.
   */
  #planGroups(): Groups {
    const options = this.#options;
    const before = this.#next;
    const wantFree = Math.floor((options.free ?? 0) / BLOCK_SIZE);
    const fixed = options.size === undefined ? undefined : Math.floor(options.size / BLOCK_SIZE);
    let count = 1;
    let ipg = 16;
    let itb = 1;
    let total = 0;
    for (let round = 0; round < 64; round++) {
      const freeGuess = fixed === undefined ? wantFree : Math.max(0, fixed - before);
      const wantInodes = this.#maxIno + Math.floor((freeGuess * BLOCK_SIZE) / 16384);
      count = Math.max(count, Math.ceil(wantInodes / BLOCKS_PER_GROUP));
      ipg = Math.ceil(Math.ceil(wantInodes / count) / 16) * 16;
      itb = (ipg * INODE_SIZE) / BLOCK_SIZE;
      const needed = before + 2 * count + count * itb;
      total = fixed ?? needed + wantFree;
      if (total < needed) {
        throw new Error(
          `the image needs ${needed * BLOCK_SIZE} bytes, more than the size ${options.size}`,
        );
      }
      const g = Math.ceil(total / BLOCKS_PER_GROUP);
      if (g <= count) {
        if (g < count) {
          // more groups than blocks need (for inodes): make the last group whole enough
          if (fixed !== undefined) throw new Error(`the size ${options.size} holds too few inodes`);
          total = Math.max(total, (count - 1) * BLOCKS_PER_GROUP + 1024);
        }
        break;
      }
      count = g;
    }
    const gdtBlocks = Math.ceil(count / DESCS_PER_BLOCK);
    if (1 + gdtBlocks > options.dataStart) {
      throw new Error(`an image of ${total * BLOCK_SIZE} bytes is larger than reserved for`);
    }
    if (total >= 2 ** 32) throw new Error("the image would exceed 2^32 blocks");
    const blockBitmaps = this.#alloc(count);
    const inodeBitmaps = this.#alloc(count);
    const inodeTables = this.#alloc(count * itb);
    return {
      count,
      ipg,
      itb,
      total,
      gdtBlocks,
      blockBitmaps,
      inodeBitmaps,
      inodeTables,
      metaEnd: this.#next,
    };
  }

  /** Each group's inode table, up to its last inode in use (the rest is a hole: zeros). */
  #writeInodeTables(file: Deno.FsFile, groups: Groups): void {
    const { ipg, itb } = groups;
    for (let g = 0; g < groups.count; g++) {
      const first = g * ipg + 1;
      const last = Math.min(this.#lastUsed, (g + 1) * ipg);
      if (last < first) continue;
      const table = new Uint8Array((last - first + 1) * INODE_SIZE);
      for (let ino = first; ino <= last; ino++) {
        const rec = this.#recs[ino];
        if (rec) this.#encodeInode(table.subarray((ino - first) * INODE_SIZE), rec);
      }
      writeAt(file, groups.inodeTables + g * itb, table); // now: a group's table is up to 8 MiB
    }
  }

  #encodeInode(out: Uint8Array, rec: Rec): void {
    const node = rec.node;
    const [sec, nsec] = nodeTime(node);
    encodeInode(out, {
      type: node.type,
      mode: node.mode,
      uid: node.uid,
      gid: node.gid,
      size: rec.size,
      sec,
      nsec,
      links: rec.links,
      blocks: rec.blocks,
      flags: rec.flags,
      iblock: rec.iblock,
      xattrBlock: rec.xattrBlock,
      inlineXattrs: rec.inline,
    }, this.#inoSeed(rec.ino));
  }

  /**
   * The block and inode bitmaps and the group descriptors.
   *
   * In use: the superblock and descriptors, the content of files still in the tree (a file a later
   * layer deleted or replaced was written already: its blocks are free space), the tail. All of it
   * lies before metaEnd: the groups past it are empty space, BLOCK_UNINIT (the kernel makes their
   * bitmap when it first allocates there) with no bitmap written, as mke2fs does, so that the time
   * and the bytes written grow with the content, not with --size or --free.
   */
  #describeGroups(groups: Groups): { freeBlocks: number; freeInodes: number } {
    const { count, ipg, total, metaEnd } = groups;
    const usedGroups = Math.ceil(metaEnd / BLOCKS_PER_GROUP);
    const inUseMap = new Uint8Array(usedGroups * (BLOCKS_PER_GROUP / 8));
    setBits(inUseMap, 0, 1 + groups.gdtBlocks);
    for (const rec of this.#recs) {
      const data = rec?.node.type === "file" ? rec.node.data : undefined;
      if (rec?.ino === JOURNAL_INO || !data) continue;
      for (const e of data.extents) setBits(inUseMap, e.physical, e.physical + e.length);
    }
    setBits(inUseMap, this.#options.dataEnd, metaEnd);
    // the checksums of the bitmaps the kernel makes for an uninitialised group: all free
    const emptyBlockBitmapCsum = crc32c(this.#fsSeed, new Uint8Array(BLOCK_SIZE)) & 0xffff;
    const emptyInodeBitmapCsum = crc32c(this.#fsSeed, new Uint8Array(ipg / 8)) & 0xffff;
    const usedDirs = new Uint32Array(count);
    for (const ino of this.#dirInos) usedDirs[Math.floor((ino - 1) / ipg)]!++;
    const gdt = new Uint8Array(groups.gdtBlocks * BLOCK_SIZE);
    let freeBlocks = 0;
    let freeInodes = 0;
    for (let g = 0; g < count; g++) {
      const first = g * BLOCKS_PER_GROUP;
      const blocks = Math.min(BLOCKS_PER_GROUP, total - first);
      // the inode tables are holes: zeros; on a device (old bytes), the kernel's to zero (lazy
      // init, as mke2fs -E lazy_itable_init): itable_unused tells e2fsck and the kernel not to
      // read the unused inodes meanwhile
      let flags = this.#options.zeroed === false ? 0 : BG_INODE_ZEROED;
      let groupFree = blocks;
      let blockBitmapCsum = emptyBlockBitmapCsum;
      // the last group's bitmap is always written (e2fsck wants it initialised)
      if (g < usedGroups || g === count - 1) {
        const bb = g < usedGroups
          ? inUseMap.slice(first / 8, first / 8 + BLOCK_SIZE)
          : new Uint8Array(BLOCK_SIZE);
        setBits(bb, blocks, BLOCKS_PER_GROUP);
        groupFree = blocks - countBits(bb, blocks);
        blockBitmapCsum = crc32c(this.#fsSeed, bb) & 0xffff;
        this.#pieces.push({ block: groups.blockBitmaps + g, bytes: bb });
      } else flags |= BG_BLOCK_UNINIT;
      const inUse = Math.max(0, Math.min(this.#lastUsed - g * ipg, ipg));
      let inodeBitmapCsum = emptyInodeBitmapCsum;
      if (inUse > 0) {
        const ib = new Uint8Array(BLOCK_SIZE);
        setBits(ib, 0, inUse);
        setBits(ib, ipg, BLOCK_SIZE * 8);
        inodeBitmapCsum = crc32c(this.#fsSeed, ib.subarray(0, ipg / 8)) & 0xffff;
        this.#pieces.push({ block: groups.inodeBitmaps + g, bytes: ib });
      } else flags |= BG_INODE_UNINIT;
      freeBlocks += groupFree;
      freeInodes += ipg - inUse;
      encodeGroupDescriptor(gdt, g * DESC_SIZE, g, {
        blockBitmap: groups.blockBitmaps + g,
        inodeBitmap: groups.inodeBitmaps + g,
        inodeTable: groups.inodeTables + g * groups.itb,
        freeBlocks: groupFree,
        freeInodes: ipg - inUse,
        usedDirs: usedDirs[g]!,
        flags,
        blockBitmapCsum,
        inodeBitmapCsum,
        itableUnused: ipg - inUse, // never read past the used ones
      }, this.#fsSeed);
    }
    this.#pieces.push({ block: 1, bytes: gdt });
    return { freeBlocks, freeInodes };
  }

  /** Block 0: the superblock at byte 1024. */
  #superblock(groups: Groups, freeBlocks: number, freeInodes: number): Uint8Array {
    const block = new Uint8Array(BLOCK_SIZE);
    const journal = this.#options.journal ? this.#recs[JOURNAL_INO]! : undefined;
    block.set(
      encodeSuperblock({
        inodesCount: groups.ipg * groups.count,
        blocksCount: groups.total,
        freeBlocks,
        freeInodes,
        inodesPerGroup: groups.ipg,
        uuid: this.#uuid,
        hashSeed: this.#options.seed.subarray(16, 32),
        volumeName: "skiff",
        ...(journal ? { journal: { iblock: journal.iblock, size: journal.size } } : {}),
      }),
      1024,
    );
    return block;
  }

  /** Everything, in block order; the rest of the image stays a hole (zeros). */
  #writePieces(file: Deno.FsFile, total: number): void {
    if (this.#options.zeroed === false) {
      const room = file.seekSync(0, Deno.SeekMode.End);
      if (room < total * BLOCK_SIZE) {
        throw new Error(
          `the image needs ${total * BLOCK_SIZE} bytes, more than the ${room} it is given`,
        );
      }
    }
    this.#pieces.sort((a, b) => a.block - b.block);
    for (const piece of this.#pieces) writeAt(file, piece.block, piece.bytes);
    if (this.#options.zeroed !== false) file.truncateSync(total * BLOCK_SIZE);
  }

  /** An extent tree: in i_block when 4 extents or fewer, else index levels in blocks of the tail. */
  #setExtents(rec: Rec, extents: Ext4Extent[]): void {
    rec.flags |= EXTENTS_FL;
    const seed = this.#inoSeed(rec.ino);
    let depth = 0;
    let entries = extents.map((e) => encodeExtent(e.logical, e.length, e.physical));
    let firsts = extents.map((e) => e.logical);
    while (entries.length > EXTENTS_IN_INODE) {
      const upper: Uint8Array[] = [];
      const upperFirsts: number[] = [];
      for (let i = 0; i < entries.length; i += EXTENTS_PER_BLOCK) {
        const block = this.#alloc(1);
        const bytes = encodeExtentBlock(entries.slice(i, i + EXTENTS_PER_BLOCK), depth, seed);
        this.#pieces.push({ block, bytes });
        rec.blocks++;
        upper.push(encodeExtentIndex(firsts[i]!, block));
        upperFirsts.push(firsts[i]!);
      }
      entries = upper;
      firsts = upperFirsts;
      depth++;
    }
    encodeExtentHeader(rec.iblock, entries.length, EXTENTS_IN_INODE, depth);
    entries.forEach((e, j) => rec.iblock.set(e, 12 + 12 * j));
  }

  #alloc(n: number): number {
    const at = this.#next;
    this.#next += n;
    return at;
  }

  /** An inode's checksum seed: the file system's, then its number and generation (0). */
  #inoSeed(ino: number): number {
    return crc32cU32(crc32cU32(this.#fsSeed, ino), 0);
  }

  /** A node's path, for messages (the first name of a hardlinked one). */
  #pathOf(rec: Rec): string {
    const parts: string[] = [];
    for (let r = rec; r.ino !== ROOT_INO && this.#recs[r.parent];) {
      const parent = this.#recs[r.parent]!;
      parts.unshift(this.#childrenOf.get(parent.node)?.find(([, n]) => n === r.node)?.[0] ?? "?");
      r = parent;
    }
    return parts.length > 0 ? parts.join("/") : "/";
  }
}

function sorted(dir: Ext4Node): [string, Ext4Node][] {
  return [...(dir.children ?? [])].sort((x, y) => compareNames(x[0], y[0]));
}

/** A node the tree does not have (lost+found, the journal): owned by 0:0. */
function emptyNode(type: "file" | "directory", mode: number, mtime: number, nlink: number) {
  const node: Ext4Node = {
    type,
    mode,
    uid: 0,
    gid: 0,
    mtime,
    devmajor: 0,
    devminor: 0,
    size: 0,
    nlink,
    layer: -1,
    entry: -1,
  };
  return node;
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

/** Linear directory blocks (at least `minBlocks`), each ending in the checksum tail. */
function dirBlocks(
  rec: Rec,
  kids: ReadonlyArray<readonly [string, Ext4Node]>,
  inoOf: (node: Ext4Node) => number,
  minBlocks: number,
  seed: number,
): Uint8Array {
  const limit = BLOCK_SIZE - DIR_TAIL_SIZE;
  const blocks: Uint8Array[] = [];
  const name = new Uint8Array(1024); // one name's UTF-8 bytes (255 at most)
  let cur = new Uint8Array(BLOCK_SIZE);
  let off = 0;
  let last = -1;
  const close = () => {
    // the last entry reaches the tail (an empty block: one unused entry, inode 0)
    setRecLen(cur, last < 0 ? 0 : last, last < 0 ? limit : limit - last);
    encodeDirTail(cur, seed);
    blocks.push(cur);
    cur = new Uint8Array(BLOCK_SIZE);
    off = 0;
    last = -1;
  };
  const add = (length: number, ino: number, type: number) => {
    const size = direntSize(length);
    if (off + size > limit) close();
    encodeDirent(cur, off, { ino, recLen: size, name: name.subarray(0, length), type });
    last = off;
    off += size;
  };
  name[0] = 0x2e;
  add(1, rec.ino, direntType("directory")); // .
  name[1] = 0x2e;
  add(2, rec.parent, direntType("directory")); // ..
  for (const [text, child] of kids) {
    add(utf8.encodeInto(text, name).written, inoOf(child), direntType(child.type));
  }
  close();
  while (blocks.length < minBlocks) close();
  const out = new Uint8Array(blocks.length * BLOCK_SIZE);
  blocks.forEach((b, i) => out.set(b, i * BLOCK_SIZE));
  return out;
}
