/**
 * Layers into an EROFS image file, written by skiff itself: no mkfs, no mount, no root. Owners,
 * modes, times, device numbers and xattrs are what the layers say, whoever runs it.
 *
 * @module
 */

import { type ErofsData, ErofsDataStore } from "./_erofs_data.ts";
import {
  BLOCK,
  COMPACT_SIZE,
  DIRENT_SIZE,
  encodeDev,
  encodeInode,
  encodeSuperBlock,
  EXTENDED_SIZE,
  fileType,
  fitsCompact,
  LAYOUT_FLAT_INLINE,
  LAYOUT_FLAT_PLAIN,
  MAX_SHARED_XATTRS,
  MAX_XATTR_AREA,
  NAME_MAX,
  SLOT,
  splitTime,
  SUPER_OFFSET,
  xattrArea,
  xattrCount,
  xattrEntries,
  type XattrEntry,
} from "./_erofs_format.ts";
import { compareNames } from "../../layer/compare_names.ts";
import { imageDigest } from "../file_digest.ts";
import { ImageFile } from "./_image_file.ts";
import { applyLayer } from "../../layer/apply_layer.ts";
import { type LayerNode, LayerTree, overlayWhiteouts } from "../../layer/layer_tree.ts";

/** Options for {@linkcode ErofsWriter}. */
export interface ErofsWriterOptions {
  /**
   * The most entries (whiteouts included) all layers together may have.
   * @default {1000000}
   */
  maxEntries?: number;
  /**
   * The volume UUID (16 bytes); derive it from the image (e.g. its manifest digest) so that the
   * same image gives the same bytes.
   * @default {16 zero bytes}
   */
  uuid?: Uint8Array;
  /**
   * The most bytes of file tails (the last partial block of each file) held in memory to be
   * inlined beside their inodes; past it, tails take a whole block in the data area.
   * @default {33554432}
   */
  inlineBudget?: number;
  /**
   * `apply`: a flattened root filesystem. `overlay`: whiteouts kept as overlayfs reads them
   * (0:0 character devices, `trusted.overlay.opaque=y`), for one image per layer.
   * @default {"apply"}
   */
  whiteouts?: "apply" | "overlay";
  /**
   * An open file to write into (readable too, at its start) instead of creating `path`, e.g. an
   * output's temporary or a block device (`OutputFile.file`). It is left open: its owner closes
   * it.
   * @default {`path`, created}
   */
  file?: Deno.FsFile;
}

/** Options for {@linkcode ErofsWriter.applyLayer}. */
export interface ErofsApplyOptions {
  /** Stops between chunks; the file is left for the caller to remove. */
  signal?: AbortSignal;
}

/** What {@linkcode ErofsWriter.finish} made. */
export interface ErofsImage {
  /** The image's size in bytes (a whole number of 4 KiB blocks). */
  size: number;
  /** The image's SHA-256, `sha256:<hex>`. */
  digest: string;
  /** Inodes in the image. */
  inodes: number;
  /** Inodes that needed the 64-byte (extended) form: their own mtime, large ids or sizes. */
  extendedInodes: number;
}

const enc = new TextEncoder();
const OPAQUE_YES = enc.encode("y");
/** Where the root inode goes: right after the superblock in block 0 (nid 36, as mkfs.erofs). */
const ROOT_OFFSET = SUPER_OFFSET + 128;

interface Inode {
  node: LayerNode<ErofsData>;
  parent: LayerNode<ErofsData>;
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
  nodes: LayerNode<ErofsData>[];
  /** Index of the first entry of each block. */
  starts: number[];
  lastUsed: number;
}

/**
 * Writes an uncompressed EROFS image (4 KiB blocks) from layers applied in order.
 *
 * The layers go into an in-memory {@linkcode LayerTree} (the layer rules every sink follows); file content streams into the image as it arrives, each file contiguous from a block
 * boundary, its last partial block kept to be inlined after its inode when it fits. At
 * {@linkcode ErofsWriter.finish} the metadata follows the data: directory blocks (sorted entries,
 * as many blocks as they need), then the inodes (compact when the node has the image's most common
 * mtime and small ids, else extended), each with its xattrs and inline data in one block, then the
 * superblock and root inode in block 0.
 *
 * Output is deterministic: the same layers and options give the same bytes.
 *
 * @example Write an image from one layer
 * ```ts
 * import { ErofsWriter } from "./erofs_writer.ts";
 * import assert from "node:assert/strict";
 *
 * const header = new Uint8Array(512);
 * const put = (at: number, s: string) => header.set(new TextEncoder().encode(s), at);
 * put(0, "etc/");
 * put(100, "0000755\0");
 * put(124, "00000000000\0");
 * put(136, "00000000000\0");
 * put(156, "5");
 * put(257, "ustar\x0000");
 * put(148, "        ");
 * put(148, header.reduce((a, b) => a + b, 0).toString(8).padStart(6, "0") + "\0 ");
 *
 * const dir = await Deno.makeTempDir();
 * const writer = new ErofsWriter(`${dir}/rootfs.erofs`);
 * await writer.applyLayer((async function* () {
 *   yield header;
 * })());
 * await writer.finish();
 * assert.equal(writer.image?.size, 8192); // block 0 (superblock, root), one block of inodes
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class ErofsWriter {
  /** The image file. */
  readonly path: string;
  /** Device nodes skipped: always 0 (an image holds them whoever runs skiff). */
  readonly skippedDevices = 0;
  /** Xattrs EROFS cannot name (not user., trusted., security. or a POSIX ACL), left out. */
  skippedXattrs = 0;
  /** The image, once {@linkcode ErofsWriter.finish} made it. */
  image: ErofsImage | undefined;

  #file: Deno.FsFile | undefined;
  /** Whether the writer created the file (and closes it). */
  #owned: boolean;
  #out: ImageFile;
  #tree: LayerTree<ErofsData>;
  #store: ErofsDataStore;
  #uuid: Uint8Array;

  /**
   * Creates the image file (it must not exist), or takes `options.file`, and reserves its first
   * block.
   *
   * @param path The file to create (with `options.file`: its name, for messages).
   * @param options Limits, UUID, inline budget, an open file.
   * @throws {Deno.errors.AlreadyExists} When the file exists.
   */
  constructor(path: string, options: ErofsWriterOptions = {}) {
    this.path = path;
    this.#uuid = options.uuid ?? new Uint8Array(16);
    if (this.#uuid.length !== 16) throw new RangeError("Cannot use the uuid: expected 16 bytes");
    this.#owned = options.file === undefined;
    this.#file = options.file ??
      Deno.openSync(path, { read: true, write: true, createNew: true, mode: 0o644 });
    this.#out = new ImageFile(this.#file, BLOCK);
    void this.#out.put(new Uint8Array(BLOCK)); // block 0: superblock and root, written last
    this.#store = new ErofsDataStore(this.#out, options.inlineBudget ?? 32 * 1024 * 1024);
    this.#tree = new LayerTree(
      options.whiteouts === "overlay"
        ? { ...limit(options), convertWhiteout: overlayWhiteouts, scope: "layer" }
        : limit(options),
    );
  }

  /** Entries read so far (whiteouts included). */
  get entries(): number {
    return this.#tree.entries;
  }

  /** Whiteouts applied so far. */
  get whiteouts(): number {
    return this.#tree.whiteouts;
  }

  /** Bytes of file content written so far. */
  get bytes(): number {
    return this.#store.bytes;
  }

  /**
   * Applies one layer's tar stream (uncompressed) on top of what is there.
   *
   * @param tar The tar bytes, in chunks.
   * @param options Abort signal.
   * @throws {Error} When the tar is malformed or truncated, an entry is hostile, a limit is
   * passed, or the file cannot be written.
   */
  applyLayer(tar: AsyncIterable<Uint8Array>, options: ErofsApplyOptions = {}): Promise<void> {
    if (!this.#file) throw new Error(`Cannot write ${this.path}: the writer is closed`);
    return applyLayer(tar, this.#tree, this.#store, options);
  }

  /**
   * Writes the metadata (directories, inodes, superblock), hashes the image (read back: its
   * first block is written last) and closes the file it created.
   *
   * @throws {Error} When a name or xattr does not fit EROFS, or the file cannot be written.
   */
  async finish(): Promise<void> {
    if (!this.#file) throw new Error(`Cannot write ${this.path}: the writer is closed`);
    try {
      const made = await this.#writeMetadata();
      // only the image's bytes: a block device goes on after them
      this.image = { ...made, digest: await imageDigest(this.#file, made.size) };
    } finally {
      this.close();
    }
  }

  /**
   * Closes the file it created (after a failure; the caller removes it); one it was given stays
   * open. Safe to call twice.
   */
  close(): void {
    try {
      if (this.#owned) this.#file?.close();
    } catch {
      // closed already
    }
    this.#file = undefined;
  }

  async #writeMetadata(): Promise<Omit<ErofsImage, "digest">> {
    const tree = this.#tree;
    const out = this.#out;
    tree.finish();
    const skipped = { count: 0 };

    // the epoch (the time of every compact inode): the most common mtime, the earliest on ties;
    // and each node's xattrs, with how many nodes have each (name, value)
    const times = new Map<string, number>();
    const xattrsOf = new Map<LayerNode<ErofsData>, XattrEntry[]>();
    const uses = new Map<string, number>();
    for (const [path, node] of tree.walk()) {
      const [sec, nsec] = splitTime(node);
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
          skipped,
        );
      } catch (e) {
        throw new Error(`"${path || "/"}": ${(e as Error).message}`, { cause: e });
      }
      if (entries.length === 0) continue;
      xattrsOf.set(node, entries);
      for (const e of entries) uses.set(e.key, (uses.get(e.key) ?? 0) + 1);
    }
    let best = "0.000000000";
    let bestCount = 0;
    for (const [t, n] of times) {
      if (n > bestCount || (n === bestCount && Number(t) < Number(best))) {
        [best, bestCount] = [t, n];
      }
    }
    const epoch = Number(best.split(".")[0]);
    const epochNsec = Number(best.split(".")[1]);

    // the shared xattrs: each (name, value) that two or more nodes have is written once; and a
    // node whose xattrs exceed what it can hold inline shares its largest ones until they fit
    // (the root's must fit block 0 beside it: its nid is 16 bits, it cannot move)
    const shared = new SharedXattrs();
    for (const [key, n] of uses) if (n > 1) shared.add(key);
    const rootRoom = BLOCK - ROOT_OFFSET - EXTENDED_SIZE;
    for (const [node, entries] of xattrsOf) {
      const limit = node === tree.root ? rootRoom : MAX_XATTR_AREA;
      const largest = [...entries].sort((a, b) => b.bytes.length - a.bytes.length);
      for (const e of largest) {
        if ((shared.area(entries)?.length ?? 0) <= limit) break;
        shared.add(e.key);
      }
    }
    for (const entries of xattrsOf.values()) {
      for (const e of entries) shared.place(e);
    }

    // pass 1: each inode's size, layout and what it inlines
    const inodes: Inode[] = [];
    const byNode = new Map<LayerNode<ErofsData>, Inode>();
    for (const [path, node, parent] of tree.walk()) {
      const isRoot = node === tree.root;
      const xattrs = shared.area(xattrsOf.get(node) ?? []);
      const xsize = xattrs?.length ?? 0;
      if (isRoot ? xsize > rootRoom : xsize > MAX_XATTR_AREA) {
        throw new Error(
          `the xattrs of "${path || "/"}" take ${xsize} bytes, more than EROFS holds ` +
            `(${isRoot ? rootRoom : MAX_XATTR_AREA} for ${isRoot ? "the root" : "an inode"}, ` +
            `with up to ${MAX_SHARED_XATTRS} shared)`,
        );
      }
      // inline data must not cross a block boundary: none when the inode and xattrs fill it
      const room = (isRoot ? BLOCK - ROOT_OFFSET : BLOCK) - EXTENDED_SIZE - xsize;
      const inode: Inode = {
        node,
        parent,
        nid: 0,
        ino: inodes.length + 1,
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
      inode.compact = fitsCompact(node, inode.size, epoch, epochNsec);
      inodes.push(inode);
      byNode.set(node, inode);
    }
    this.skippedXattrs = skipped.count;

    // pass 2: after the file data, the shared xattrs, blocks for directories and long symlinks,
    // then the inodes
    out.pad();
    let block = out.pos / BLOCK;
    const xattrBlkaddr = shared.size > 0 ? block : 0;
    block += Math.ceil(shared.size / BLOCK);
    for (const inode of inodes) {
      if (inode.blocks === 0) continue;
      inode.iu = block;
      block += inode.blocks;
    }
    let pos = block * BLOCK;
    for (const inode of inodes) {
      const total = inodeBytes(inode);
      if (inode.node === tree.root) {
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

    // pass 3: write them, in that order
    if (shared.size > 0) {
      for (const part of shared.parts) await out.put(part);
      out.pad();
    }
    for (const inode of inodes) {
      if (inode.blocks === 0) continue;
      if (inode.symlink) {
        await out.put(inode.symlink);
        out.pad();
        continue;
      }
      const dir = inode.dir!;
      for (let b = 0; b < inode.blocks; b++) {
        await out.put(directoryBlock(dir, b, byNode));
        out.pad();
      }
    }
    for (const inode of inodes) {
      if (inode.dir && typeof inode.inline === "number") {
        inode.inline = directoryBlock(inode.dir, inode.dir.starts.length - 1, byNode);
      }
    }
    let root: Uint8Array | undefined;
    let extended = 0;
    for (const inode of inodes) {
      if (!inode.compact) extended++;
      const bytes = encodeInodeArea(inode);
      if (inode.node === tree.root) {
        root = bytes;
        continue;
      }
      await out.zerosTo(inode.nid * SLOT);
      await out.put(bytes);
    }
    await out.zerosTo(end);
    await out.flush();

    const head = new Uint8Array(BLOCK);
    head.set(
      encodeSuperBlock({
        rootNid: ROOT_OFFSET / SLOT,
        inodes: inodes.length,
        epoch,
        epochNsec,
        blocks: end / BLOCK,
        metaBlkaddr: 0,
        xattrBlkaddr,
        uuid: this.#uuid,
        volumeName: new Uint8Array(16),
      }),
      SUPER_OFFSET,
    );
    head.set(root!, ROOT_OFFSET);
    await out.writeAt(0, head);
    return { size: end, inodes: inodes.length, extendedInodes: extended };
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
  node: LayerNode<ErofsData>,
  parent: LayerNode<ErofsData>,
  children: [string, LayerNode<ErofsData>][],
): Directory {
  // "." and ".." sort among the names by their bytes too (after "!" or "-", before "0")
  const all: [string, LayerNode<ErofsData>][] = [[".", node], ["..", parent], ...children];
  all.sort((a, b) => compareNames(a[0], b[0]));
  const names: Uint8Array[] = [];
  const nodes: LayerNode<ErofsData>[] = [];
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
  byNode: Map<LayerNode<ErofsData>, Inode>,
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
    out[at + 10] = fileType(child.type);
    out.set(dir.names[i]!, nameoff);
    nameoff += dir.names[i]!.length;
  }
  return out;
}

function limit(options: ErofsWriterOptions): { maxEntries?: number } {
  return options.maxEntries === undefined ? {} : { maxEntries: options.maxEntries };
}
