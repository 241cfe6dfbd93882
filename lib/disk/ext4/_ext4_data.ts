// File data of an ext4 image, streamed: each file's content goes to the next free blocks of the
// data area, in order, written once through a 1 MiB buffer. All-zero blocks are left as holes
// (they take no space and need no write), so a file's blocks come as a list of extents.

import { BLOCK_SIZE, MAX_EXTENT_BLOCKS } from "./_ext4_format.ts";
import type { LayerHandler, LayerNode } from "../../layer/layer_tree.ts";

/** One extent: `length` blocks of the file from `logical` on are at block `physical`. */
export interface Ext4Extent {
  /** The first file block. */
  logical: number;
  /** The first disk block. */
  physical: number;
  /** The number of blocks (at most {@linkcode MAX_EXTENT_BLOCKS}). */
  length: number;
}

/** Where a file's content went. */
export interface Ext4Data {
  /** The content's size in bytes. */
  size: number;
  /** The blocks holding it, in file order; what they leave out reads as zeros. */
  extents: Ext4Extent[];
  /** The number of disk blocks used (holes excluded). */
  blocks: number;
}

const BUFFER_BLOCKS = 256;

/**
 * Puts file content into consecutive blocks from `firstBlock` on, as the layer tree's handler for
 * files: `create` starts a file, `content` adds its bytes, `contentEnd` gives the node its
 * extents. The file handle's position is owned by the store until
 * {@linkcode Ext4DataStore.flush}.
 */
export class Ext4DataStore implements LayerHandler<Ext4Data> {
  /** The next free block. */
  next: number;
  /** Bytes of file content received. */
  bytes = 0;
  #file: Deno.FsFile;
  #buffer = new Uint8Array(BUFFER_BLOCKS * BLOCK_SIZE);
  #words = new Int32Array(this.#buffer.buffer);
  /** Whole blocks kept in the buffer, in bytes: [0, settled) are to be written. */
  #settled = 0;
  /** The current file's block being filled is [settled, fill). */
  #fill = 0;
  #current: { size: number; written: number; logical: number; data: Ext4Data } | undefined;

  /**
   * @param file The image, positioned at `firstBlock`.
   * @param firstBlock The first block of the data area.
   */
  constructor(file: Deno.FsFile, firstBlock: number) {
    this.#file = file;
    this.next = firstBlock;
  }

  /** A file starts (other nodes take no data). */
  create(_path: string, node: LayerNode<Ext4Data>): void {
    if (node.type === "file") this.begin(node.size);
  }

  /** The next bytes of the current file. */
  content(chunk: Uint8Array): void {
    this.bytes += chunk.byteLength;
    this.write(chunk);
  }

  /** The current file is complete: its extents go to the node. */
  contentEnd(node: LayerNode<Ext4Data>): void {
    node.data = this.end();
  }

  /** Starts a file of `size` bytes. */
  begin(size: number): void {
    if (this.#current) throw new Error("a file is already being written");
    this.#current = { size, written: 0, logical: 0, data: { size, extents: [], blocks: 0 } };
  }

  /** Adds content to the current file. */
  write(chunk: Uint8Array): void {
    const cur = this.#current;
    if (!cur) throw new Error("no file is being written");
    if (cur.written + chunk.byteLength > cur.size) throw new Error("more content than its size");
    cur.written += chunk.byteLength;
    let at = 0;
    while (at < chunk.byteLength) {
      const n = Math.min(chunk.byteLength - at, BLOCK_SIZE - (this.#fill - this.#settled));
      this.#buffer.set(chunk.subarray(at, at + n), this.#fill);
      this.#fill += n;
      at += n;
      if (this.#fill - this.#settled === BLOCK_SIZE) this.#settle();
    }
  }

  /** Ends the current file (its content must have been its size): the extents. */
  end(): Ext4Data {
    const cur = this.#current;
    if (!cur) throw new Error("no file is being written");
    if (cur.written !== cur.size) throw new Error(`${cur.written} of ${cur.size} bytes written`);
    if (this.#fill > this.#settled) {
      this.#buffer.fill(0, this.#fill, this.#settled + BLOCK_SIZE);
      this.#fill = this.#settled + BLOCK_SIZE;
      this.#settle();
    }
    this.#current = undefined;
    return cur.data;
  }

  /** Writes what is buffered; the data area ends at {@linkcode Ext4DataStore.next}. */
  flush(): void {
    if (this.#current) throw new Error("a file is still being written");
    this.#flushBuffer();
  }

  /** The block being filled is complete: a hole when all zero (dropped), else the next block. */
  #settle(): void {
    const cur = this.#current!;
    const words = this.#words;
    const start = this.#settled;
    let zero = true;
    for (let i = start >> 2, end = (start + BLOCK_SIZE) >> 2; i < end; i++) {
      if (words[i] !== 0) {
        zero = false;
        break;
      }
    }
    const logical = cur.logical++;
    if (zero) {
      this.#fill = start;
      return;
    }
    this.#settled = this.#fill;
    const physical = this.next++;
    const extents = cur.data.extents;
    const last = extents[extents.length - 1];
    if (
      last && last.logical + last.length === logical && last.physical + last.length === physical &&
      last.length < MAX_EXTENT_BLOCKS
    ) {
      last.length++;
    } else extents.push({ logical, physical, length: 1 });
    cur.data.blocks++;
    if (this.#settled === this.#buffer.byteLength) this.#flushBuffer();
  }

  #flushBuffer(): void {
    const whole = this.#settled;
    let at = 0;
    while (at < whole) at += this.#file.writeSync(this.#buffer.subarray(at, whole));
    this.#buffer.copyWithin(0, whole, this.#fill);
    this.#fill -= whole;
    this.#settled = 0;
  }
}
