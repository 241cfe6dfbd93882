// EROFS's file data, the layer tree's handler for files: content goes to the image as it streams,
// each file from a block boundary, contiguous (FLAT_PLAIN). The last partial block of a file (its
// tail) is kept in memory when it can be inlined beside the inode later (FLAT_INLINE), within a
// budget; otherwise it is written and padded with zeros to a full block.
//
// Blocks of a file that a later layer deleted or replaced are reused: a new file that fits into
// such a run of dead blocks is written there (the lowest that fits), else appended. A layer that
// replaces a 128 MiB file leaves no 128 MiB of dead space, and the page cache absorbs the rewrite.

import { BLOCK, EXTENDED_SIZE, xattrArea, xattrEntries } from "./_erofs_format.ts";
import type { ImageFile } from "./_image_file.ts";
import type { LayerHandler, LayerNode } from "../../layer/layer_tree.ts";

/** Where a file's content is in an EROFS image. */
export interface ErofsData {
  /** The first block of the full blocks (0 when there are none). */
  blkaddr: number;
  /** How many blocks at `blkaddr` (the tail's included unless it is inline). */
  blocks: number;
  /** The tail, to be written inline after the inode; absent for FLAT_PLAIN. */
  tail?: Uint8Array;
}

interface Extent {
  start: number;
  count: number;
}

interface Current {
  data: ErofsData;
  received: number;
  /** Where the inline tail starts in the file (its size when nothing is inlined). */
  inlineFrom: number;
  /** The byte offset of the next write when the file goes into reused blocks. */
  at?: number;
}

/**
 * Writes file content into an image, tails kept for inlining within `budget` bytes: the layer
 * tree's handler for files (each file's content as it streams, one file at a time).
 */
export class ErofsDataStore implements LayerHandler<ErofsData> {
  /** Bytes of file content received. */
  bytes = 0;
  /** Dead blocks (of files no name keeps) the next files may take. */
  readonly free: Extent[] = [];
  #out: ImageFile;
  #budget: number;
  #cur: Current | undefined;

  /**
   * @param out The image, positioned on a block boundary past the reserved header block.
   * @param budget The most bytes of tails kept in memory at once.
   */
  constructor(out: ImageFile, budget: number) {
    this.#out = out;
    this.#budget = budget;
  }

  /** A file starts (other nodes take no data). */
  create(_path: string, node: LayerNode<ErofsData>): void {
    if (node.type === "file") this.#begin(node.size, node);
  }

  /** The next bytes of the current file. */
  content(chunk: Uint8Array): void | Promise<void> {
    this.bytes += chunk.byteLength;
    return this.#write(chunk);
  }

  /** The current file is complete: where its content is goes to the node. */
  contentEnd(node: LayerNode<ErofsData>): void {
    node.data = this.#end();
  }

  /** A file left the tree: its tail's memory and its blocks are free again. */
  release(node: LayerNode<ErofsData>): void {
    if (node.type === "file" && node.data !== undefined) this.#discard(node.data);
  }

  #begin(size: number, node: LayerNode<ErofsData>): void {
    const tail = size % BLOCK;
    // all inline: the most they can take (sharing some at the end only makes the area smaller)
    const xattrs = xattrArea([], xattrEntries(node.xattrs, { count: 0 }))?.length ?? 0;
    const inline = tail > 0 && EXTENDED_SIZE + xattrs + tail <= BLOCK && tail <= this.#budget;
    const blocks = inline ? Math.floor(size / BLOCK) : Math.ceil(size / BLOCK);
    const data: ErofsData = { blkaddr: 0, blocks };
    const cur: Current = { data, received: 0, inlineFrom: inline ? size - tail : size };
    if (blocks > 0) {
      const i = this.free.findIndex((e) => e.count >= blocks);
      if (i === -1) data.blkaddr = this.#out.pos / BLOCK;
      else {
        const e = this.free[i]!;
        data.blkaddr = e.start;
        cur.at = e.start * BLOCK;
        e.start += blocks;
        e.count -= blocks;
        if (e.count === 0) this.free.splice(i, 1);
      }
    }
    if (inline) {
      data.tail = new Uint8Array(tail);
      this.#budget -= tail;
    }
    this.#cur = cur;
  }

  #write(chunk: Uint8Array): void | Promise<void> {
    const cur = this.#cur!;
    const at = cur.received;
    cur.received += chunk.length;
    if (cur.received <= cur.inlineFrom) return this.#emit(cur, chunk);
    const before = Math.max(0, cur.inlineFrom - at);
    cur.data.tail!.set(before === 0 ? chunk : chunk.subarray(before), at + before - cur.inlineFrom);
    if (before > 0) return this.#emit(cur, chunk.subarray(0, before));
  }

  #end(): ErofsData {
    const cur = this.#cur!;
    this.#cur = undefined;
    if (cur.at === undefined) this.#out.pad(); // reused blocks were padded by their last write
    return cur.data;
  }

  #discard(data: ErofsData): void {
    if (data.tail) this.#budget += data.tail.length;
    delete data.tail;
    if (data.blocks > 0) this.#release({ start: data.blkaddr, count: data.blocks });
  }

  /** The file's bytes before its tail: appended, or written into its reused blocks. */
  #emit(cur: Current, bytes: Uint8Array): void | Promise<void> {
    if (cur.at === undefined) return this.#out.put(bytes);
    const offset = cur.at;
    cur.at += bytes.length;
    const done = cur.received >= cur.inlineFrom;
    const pad = done ? -cur.at & (BLOCK - 1) : 0;
    return (async () => {
      await this.#out.writeAt(offset, bytes);
      // the last block's rest: zeros, not what the dead file had there
      if (pad > 0) await this.#out.writeAt(offset + bytes.length, new Uint8Array(pad));
    })();
  }

  /** Adds dead blocks to the free list, kept sorted and merged with its neighbours. */
  #release(extent: Extent): void {
    const free = this.free;
    let i = 0;
    while (i < free.length && free[i]!.start < extent.start) i++;
    free.splice(i, 0, extent);
    const next = free[i + 1];
    if (next && extent.start + extent.count === next.start) {
      extent.count += next.count;
      free.splice(i + 1, 1);
    }
    const prev = free[i - 1];
    if (prev && prev.start + prev.count === extent.start) {
      prev.count += extent.count;
      free.splice(i, 1);
    }
  }
}
