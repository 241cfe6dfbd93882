// The metadata half of an EROFS image: given the tree (metadata in memory, file content already
// in the image, tails kept to be inlined), it lays out and writes the shared xattrs, directory and
// long symlink blocks, the inodes with their xattrs and inline data, and block 0 (the superblock
// and the root inode), in named steps (ErofsImage.write); every on-disk structure is encoded in
// _erofs_format.ts.
//
//   block 0          the superblock (at byte 1024), the root inode right after it (nid 36)
//   1 ..             file content, streamed as the layers came (ErofsDataStore)
//   then             the shared xattrs, directory blocks and long symlinks, the inodes

import type { ErofsData } from "./_erofs_data.ts";
import {
  BLOCK,
  COMPACT_SIZE,
  DIRENT_SIZE,
  encodeDev,
  encodeInode,
  encodeSuperBlock,
  EXTENDED_SIZE,
  fitsCompact,
  LAYOUT_FLAT_INLINE,
  LAYOUT_FLAT_PLAIN,
  MAX_SHARED_XATTRS,
  MAX_XATTR_AREA,
  NAME_MAX,
  SLOT,
  SUPER_OFFSET,
  xattrArea,
  xattrCount,
  xattrEntries,
  type XattrEntry,
} from "./_erofs_format.ts";
import type { ImageFile } from "./_image_file.ts";
import { direntType } from "../linux_file_type.ts";
import { compareNames } from "../../layer/compare_names.ts";
import type { LayerNode, LayerTree } from "../../layer/layer_tree.ts";
import { nodeTime } from "../../layer/node_time.ts";

/** What {@linkcode writeErofsMetadata} made. */
export interface ErofsLayout {
  /** The image's size in bytes (a whole number of 4 KiB blocks). */
  size: number;
  /** Inodes in the image. */
  inodes: number;
  /** Inodes that needed the 64-byte (extended) form: their own mtime, large ids or sizes. */
  extendedInodes: number;
  /** Xattrs EROFS cannot name, left out. */
  skippedXattrs: number;
}

type Node = LayerNode<ErofsData>;

const enc = new TextEncoder();
const OPAQUE_YES = enc.encode("y");
/** Where the root inode goes: right after the superblock in block 0 (nid 36, as mkfs.erofs). */
const ROOT_OFFSET = SUPER_OFFSET + 128;
/** What the root's xattrs may take: block 0 beside it (its nid is 16 bits, it cannot move). */
const ROOT_ROOM = BLOCK - ROOT_OFFSET - EXTENDED_SIZE;

interface Inode {
  node: Node;
  parent: Node;
  nid: number;
  ino: number;
  compact: boolean;
  layout: number;
  size: number;
  iu: number;
  xattrs: Uint8Array | undefined;
  /** Inline data (file tail, symlink target, last directory block), or its length until made. */
  inline: Uint8Array | number | undefined;
  /** Bytes for blocks of its own after the file data (directories, long symlinks). */
  blocks: number;
  dir?: Directory;
  symlink?: Uint8Array;
}

interface Directory {
  names: Uint8Array[];
  nodes: Node[];
  /** Index of the first entry of each block. */
  starts: number[];
  lastUsed: number;
}

/**
 * Writes the metadata of an EROFS image whose file data is in `out` (block 0 reserved).
 *
 * @param tree The tree (its `finish()` is called).
 * @param out The image, positioned after the file data.
 * @param uuid The volume UUID.
 * @returns What was written.
 */
export async function writeErofsMetadata(
  tree: LayerTree<ErofsData>,
  out: ImageFile,
  uuid: Uint8Array,
): Promise<ErofsLayout> {
  return await new ErofsImage(tree, out, uuid).write();
}

/** One image's metadata, laid out and written step by step. */
class ErofsImage {
  #tree: LayerTree<ErofsData>;
  #out: ImageFile;
  #uuid: Uint8Array;
  #skipped = { count: 0 };
  /** Seconds and nanoseconds every compact inode's times are. */
  #epoch = 0;
  #epochNsec = 0;
  /** Each node's xattrs, as EROFS entries. */
  #xattrsOf = new Map<Node, XattrEntry[]>();
  /** How many nodes have each (name, value). */
  #uses = new Map<string, number>();
  #shared = new SharedXattrs();
  #inodes: Inode[] = [];
  #byNode = new Map<Node, Inode>();

  constructor(tree: LayerTree<ErofsData>, out: ImageFile, uuid: Uint8Array) {
    this.#tree = tree;
    this.#out = out;
    this.#uuid = uuid;
  }

  /** The steps, in order. */
  async write(): Promise<ErofsLayout> {
    this.#tree.finish();
    this.#collect();
    this.#share();
    this.#layoutInodes();
    const { xattrBlkaddr, end } = this.#place();
    const extended = await this.#writeMetadata(end);
    await this.#writeHead(xattrBlkaddr, end);
    return {
      size: end,
      inodes: this.#inodes.length,
      extendedInodes: extended,
      skippedXattrs: this.#skipped.count,
    };
  }

  /** The epoch (the time of every compact inode): the most common mtime, the earliest on ties;
   * and each node's xattrs, with how many nodes have each (name, value). */
  #collect(): void {
    const times = new Map<string, number>();
    for (const [path, node] of this.#tree.walk()) {
      const [sec, nsec] = nodeTime(node);
      if (sec >= 0) {
        const key = `${sec}.${String(nsec).padStart(9, "0")}`;
        times.set(key, (times.get(key) ?? 0) + 1);
      }
      if (!node.xattrs?.size && !node.opaque) continue;
      let entries: XattrEntry[];
      try {
        entries = xattrEntries(
          node.opaque
            ? new Map([...node.xattrs ?? [], ["trusted.overlay.opaque", OPAQUE_YES]])
            : node.xattrs,
          this.#skipped,
        );
      } catch (e) {
        throw new Error(`"${path || "/"}": ${(e as Error).message}`, { cause: e });
      }
      if (entries.length === 0) continue;
      this.#xattrsOf.set(node, entries);
      for (const e of entries) this.#uses.set(e.key, (this.#uses.get(e.key) ?? 0) + 1);
    }
    let best = "0.000000000";
    let bestCount = 0;
    for (const [t, n] of times) {
      if (n > bestCount || (n === bestCount && Number(t) < Number(best))) {
        [best, bestCount] = [t, n];
      }
    }
    this.#epoch = Number(best.split(".")[0]);
    this.#epochNsec = Number(best.split(".")[1]);
  }

  /**
   * The shared xattrs: each (name, value) that two or more nodes have is written once; and a node
   * whose xattrs exceed what it can hold inline shares its largest ones until they fit (the
   * root's must fit block 0 beside it).
   */
  #share(): void {
    const shared = this.#shared;
    for (const [key, n] of this.#uses) if (n > 1) shared.add(key);
    for (const [node, entries] of this.#xattrsOf) {
      const limit = node === this.#tree.root ? ROOT_ROOM : MAX_XATTR_AREA;
      const largest = [...entries].sort((a, b) => b.bytes.length - a.bytes.length);
      for (const e of largest) {
        if ((shared.area(entries)?.length ?? 0) <= limit) break;
        shared.add(e.key);
      }
    }
    for (const entries of this.#xattrsOf.values()) {
      for (const e of entries) shared.place(e);
    }
  }

  /** Each inode's size, layout and what it inlines (inline data never crosses a block). */
  #layoutInodes(): void {
    const tree = this.#tree;
    for (const [path, node, parent] of tree.walk()) {
      const isRoot = node === tree.root;
      const xattrs = this.#shared.area(this.#xattrsOf.get(node) ?? []);
      const xsize = xattrs?.length ?? 0;
      if (isRoot ? xsize > ROOT_ROOM : xsize > MAX_XATTR_AREA) {
        throw new Error(
          `the xattrs of "${path || "/"}" take ${xsize} bytes, more than EROFS holds ` +
            `(${isRoot ? ROOT_ROOM : MAX_XATTR_AREA} for ${isRoot ? "the root" : "an inode"}, ` +
            `with up to ${MAX_SHARED_XATTRS} shared)`,
        );
      }
      // inline data must not cross a block boundary: none when the inode and xattrs fill it
      const room = (isRoot ? BLOCK - ROOT_OFFSET : BLOCK) - EXTENDED_SIZE - xsize;
      const inode: Inode = {
        node,
        parent,
        nid: 0,
        ino: this.#inodes.length + 1,
        compact: false,
        layout: LAYOUT_FLAT_PLAIN,
        size: 0,
        iu: 0,
        xattrs,
        inline: undefined,
        blocks: 0,
      };
      switch (node.type) {
        case "file": {
          const data = node.data!;
          inode.size = node.size;
          inode.iu = data.blkaddr;
          if (data.tail && data.tail.length > room) {
            // the data store inlined it counting every xattr inline: sharing only makes room
            throw new Error(`the tail of "${path}" no longer fits beside its inode`);
          }
          if (data.tail) {
            inode.layout = LAYOUT_FLAT_INLINE;
            inode.inline = data.tail;
          }
          break;
        }
        case "symlink": {
          const target = enc.encode(node.target);
          inode.size = target.length;
          if (target.length > 0 && target.length <= room) {
            inode.layout = LAYOUT_FLAT_INLINE;
            inode.inline = target;
          } else if (target.length > 0) {
            inode.symlink = target;
            inode.blocks = Math.ceil(target.length / BLOCK);
          }
          break;
        }
        case "directory": {
          const dir = layoutDirectory(path, node, parent, tree.children(node));
          const count = dir.starts.length;
          inode.dir = dir;
          inode.size = (count - 1) * BLOCK + dir.lastUsed;
          if (dir.lastUsed < BLOCK && dir.lastUsed <= room) {
            inode.layout = LAYOUT_FLAT_INLINE;
            inode.inline = dir.lastUsed;
            inode.blocks = count - 1;
          } else inode.blocks = count;
          break;
        }
        case "char":
        case "block":
          inode.iu = encodeDev(node.devmajor, node.devminor);
          break;
        case "fifo":
          break;
      }
      inode.compact = fitsCompact(node, inode.size, this.#epoch, this.#epochNsec);
      this.#inodes.push(inode);
      this.#byNode.set(node, inode);
    }
  }

  /**
   * Where everything goes after the file data: the shared xattrs, blocks for directories and long
   * symlinks, then the inodes, each in one block (an inode whose xattrs take more than a block
   * starts where its own 32 or 64 bytes fit, and its xattrs run on into the next blocks).
   */
  #place(): { xattrBlkaddr: number; end: number } {
    this.#out.pad();
    let block = this.#out.pos / BLOCK;
    const xattrBlkaddr = this.#shared.size > 0 ? block : 0;
    block += Math.ceil(this.#shared.size / BLOCK);
    for (const inode of this.#inodes) {
      if (inode.blocks === 0) continue;
      inode.iu = block;
      block += inode.blocks;
    }
    let pos = block * BLOCK;
    for (const inode of this.#inodes) {
      const total = inodeBytes(inode);
      if (inode.node === this.#tree.root) {
        inode.nid = ROOT_OFFSET / SLOT;
        continue;
      }
      // in one block; an inode whose xattrs take more (it has no inline data) starts where its
      // own 32 or 64 bytes fit, and its xattrs run on into the next blocks
      const whole = total > BLOCK ? (inode.compact ? COMPACT_SIZE : EXTENDED_SIZE) : total;
      if ((pos % BLOCK) + whole > BLOCK) pos += -pos & (BLOCK - 1);
      inode.nid = pos / SLOT;
      pos += total + (-total & (SLOT - 1));
    }
    const end = pos + (-pos & (BLOCK - 1));
    if (end / BLOCK > 0xffffffff) throw new Error("the image would pass 16 TiB");
    return { xattrBlkaddr, end };
  }

  /** The root inode's bytes, for block 0. */
  #root: Uint8Array | undefined;

  /** The shared xattrs, directory and symlink blocks, then the inodes, in that order.
   * @returns How many inodes are extended. */
  async #writeMetadata(end: number): Promise<number> {
    if (this.#shared.size > 0) {
      for (const part of this.#shared.parts) await this.#out.put(part);
      this.#out.pad();
    }
    for (const inode of this.#inodes) {
      if (inode.blocks === 0) continue;
      if (inode.symlink) {
        await this.#out.put(inode.symlink);
        this.#out.pad();
        continue;
      }
      const dir = inode.dir!;
      for (let b = 0; b < inode.blocks; b++) {
        await this.#out.put(directoryBlock(dir, b, this.#byNode));
        this.#out.pad();
      }
    }
    for (const inode of this.#inodes) {
      if (inode.dir && typeof inode.inline === "number") {
        inode.inline = directoryBlock(inode.dir, inode.dir.starts.length - 1, this.#byNode);
      }
    }
    let extended = 0;
    for (const inode of this.#inodes) {
      if (!inode.compact) extended++;
      const bytes = encodeInodeArea(inode);
      if (inode.node === this.#tree.root) {
        this.#root = bytes;
        continue;
      }
      await this.#out.zerosTo(inode.nid * SLOT);
      await this.#out.put(bytes);
    }
    await this.#out.zerosTo(end);
    await this.#out.flush();
    return extended;
  }

  /** Block 0, written last: the superblock, the root inode. */
  async #writeHead(xattrBlkaddr: number, end: number): Promise<void> {
    const head = new Uint8Array(BLOCK);
    head.set(
      encodeSuperBlock({
        rootNid: ROOT_OFFSET / SLOT,
        inodes: this.#inodes.length,
        epoch: this.#epoch,
        epochNsec: this.#epochNsec,
        blocks: end / BLOCK,
        metaBlkaddr: 0,
        xattrBlkaddr,
        uuid: this.#uuid,
        volumeName: new Uint8Array(16),
      }),
      SUPER_OFFSET,
    );
    head.set(this.#root!, ROOT_OFFSET);
    await this.#out.writeAt(0, head);
  }
}

/**
 * The shared xattr area: each entry written once, named in an inode by its offset / 4. An inode
 * names at most 255; the rest of its entries stay inline.
 */
class SharedXattrs {
  /** Bytes of the area so far. */
  size = 0;
  /** Its entries, in order. */
  readonly parts: Uint8Array[] = [];
  /** Each shared entry's id, -1 until placed. */
  #ids = new Map<string, number>();

  /** Shares the entry with this key. */
  add(key: string): void {
    if (!this.#ids.has(key)) this.#ids.set(key, -1);
  }

  /** Gives a shared entry its place (the first time it is seen). */
  place(e: XattrEntry): void {
    if (this.#ids.get(e.key) !== -1) return;
    this.#ids.set(e.key, this.size / 4);
    this.parts.push(e.bytes);
    this.size += e.bytes.length;
  }

  /** An inode's xattr area with these entries: the shared ones by id, the others inline. */
  area(entries: XattrEntry[]): Uint8Array | undefined {
    const ids: number[] = [];
    const inline: XattrEntry[] = [];
    for (const e of entries) {
      const id = this.#ids.get(e.key);
      if (id !== undefined && ids.length < MAX_SHARED_XATTRS) ids.push(id);
      else inline.push(e);
    }
    return xattrArea(ids, inline);
  }
}

/** The bytes an inode takes: itself, its xattrs, its inline data. */
function inodeBytes(inode: Inode): number {
  const inline = inode.inline === undefined
    ? 0
    : typeof inode.inline === "number"
    ? inode.inline
    : inode.inline.length;
  return (inode.compact ? COMPACT_SIZE : EXTENDED_SIZE) + (inode.xattrs?.length ?? 0) + inline;
}

function encodeInodeArea(inode: Inode): Uint8Array {
  const head = encodeInode(inode.node, {
    compact: inode.compact,
    layout: inode.layout,
    xattrCount: xattrCount(inode.xattrs?.length ?? 0),
    size: inode.size,
    iu: inode.iu,
    ino: inode.ino,
    nlink: inode.node.nlink,
  });
  const inline = inode.inline instanceof Uint8Array ? inode.inline : undefined;
  const out = new Uint8Array(inodeBytes(inode));
  out.set(head);
  if (inode.xattrs) out.set(inode.xattrs, head.length);
  if (inline) out.set(inline, head.length + (inode.xattrs?.length ?? 0));
  return out;
}

/** Sorts a directory's entries (with `.` and `..`) and splits them into blocks. */
function layoutDirectory(
  path: string,
  node: Node,
  parent: Node,
  children: [string, Node][],
): Directory {
  // "." and ".." sort among the names by their bytes too (after "!" or "-", before "0")
  const all: [string, Node][] = [[".", node], ["..", parent], ...children];
  all.sort((a, b) => compareNames(a[0], b[0]));
  const names: Uint8Array[] = [];
  const nodes: Node[] = [];
  const starts: number[] = [0];
  let used = 0;
  for (const [name, child] of all) {
    const bytes = enc.encode(name);
    if (bytes.length > NAME_MAX) {
      throw new Error(`the name "${path}/${name.slice(0, 40)}..." is longer than 255 bytes`);
    }
    if (used + DIRENT_SIZE + bytes.length > BLOCK) {
      starts.push(names.length);
      used = 0;
    }
    used += DIRENT_SIZE + bytes.length;
    names.push(bytes);
    nodes.push(child);
  }
  return { names, nodes, starts, lastUsed: used };
}

/** Block `b` of a directory: dirents, then names; not padded. */
function directoryBlock(
  dir: Directory,
  b: number,
  byNode: Map<Node, Inode>,
): Uint8Array {
  const from = dir.starts[b]!;
  const to = b + 1 < dir.starts.length ? dir.starts[b + 1]! : dir.names.length;
  let size = (to - from) * DIRENT_SIZE;
  for (let i = from; i < to; i++) size += dir.names[i]!.length;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  let nameoff = (to - from) * DIRENT_SIZE;
  for (let i = from; i < to; i++) {
    const at = (i - from) * DIRENT_SIZE;
    const child = dir.nodes[i]!;
    v.setBigUint64(at, BigInt(byNode.get(child)!.nid), true);
    v.setUint16(at + 8, nameoff, true);
    out[at + 10] = direntType(child.type);
    out.set(dir.names[i]!, nameoff);
    nameoff += dir.names[i]!.length;
  }
  return out;
}
