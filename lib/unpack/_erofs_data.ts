// EROFS's FsDataStore: file content goes to the image as it streams, each file from a block
// boundary, contiguous (FLAT_PLAIN). The last partial block of a file (its tail) is kept in memory
// when it can be inlined beside the inode later (FLAT_INLINE), within a budget; otherwise it is
// written and padded with zeros to a full block.

import { BLOCK, encodeXattrs, EXTENDED_SIZE } from "./_erofs_format.ts";
import type { ImageFile } from "./_image_file.ts";
import type { FsDataStore, FsNode } from "./fs_tree.ts";

/** Where a file's content is in an EROFS image. */
export interface ErofsData {
  /** The first block of the full blocks (0 when there are none). */
  blkaddr: number;
  /** How many blocks at `blkaddr` (the tail's included unless it is inline). */
  blocks: number;
  /** The tail, to be written inline after the inode; absent for FLAT_PLAIN. */
  tail?: Uint8Array;
}

/** Writes file content into an image, tails kept for inlining within `budget` bytes. */
export class ErofsDataStore implements FsDataStore<ErofsData> {
  #out: ImageFile;
  #budget: number;
  #cur: { data: ErofsData; received: number; inlineFrom: number } | undefined;

  /**
   * @param out The image, positioned on a block boundary past the reserved header block.
   * @param budget The most bytes of tails kept in memory at once.
   */
  constructor(out: ImageFile, budget: number) {
    this.#out = out;
    this.#budget = budget;
  }

  begin(size: number, node: FsNode<ErofsData>): void {
    const tail = size % BLOCK;
    const xattrs = encodeXattrs(node.xattrs, { count: 0 })?.length ?? 0;
    const inline = tail > 0 && EXTENDED_SIZE + xattrs + tail <= BLOCK && tail <= this.#budget;
    const blocks = inline ? Math.floor(size / BLOCK) : Math.ceil(size / BLOCK);
    const data: ErofsData = { blkaddr: blocks === 0 ? 0 : this.#out.pos / BLOCK, blocks };
    if (inline) {
      data.tail = new Uint8Array(tail);
      this.#budget -= tail;
    }
    this.#cur = { data, received: 0, inlineFrom: size - tail };
  }

  write(chunk: Uint8Array): void | Promise<void> {
    const cur = this.#cur!;
    const tail = cur.data.tail;
    const at = cur.received;
    cur.received += chunk.length;
    if (!tail || cur.received <= cur.inlineFrom) return this.#out.put(chunk);
    const before = Math.max(0, cur.inlineFrom - at);
    tail.set(before === 0 ? chunk : chunk.subarray(before), at + before - cur.inlineFrom);
    if (before > 0) return this.#out.put(chunk.subarray(0, before));
  }

  end(): ErofsData {
    const data = this.#cur!.data;
    this.#cur = undefined;
    this.#out.pad();
    return data;
  }

  discard(data: ErofsData): void {
    if (data.tail) this.#budget += data.tail.length;
    delete data.tail;
  }
}
