// An image file written front to back through one buffer: appends, zero padding to a block
// boundary (synchronous, so a data store's `end` can pad), and one write at an offset for the
// header block written last.

/** Appends to a file through a buffer whose size is a multiple of the block size. */
export class ImageFile {
  /** Bytes appended so far (buffered ones included): the offset of the next byte. */
  pos = 0;
  #file: Deno.FsFile;
  #buf: Uint8Array;
  #fill = 0;
  #block: number;

  /**
   * @param file The file, open for writing, positioned at 0.
   * @param block The block size (the buffer is a multiple of it).
   * @param bufferSize The buffer size.
   */
  constructor(file: Deno.FsFile, block: number, bufferSize = 1024 * 1024) {
    this.#file = file;
    this.#block = block;
    this.#buf = new Uint8Array(Math.max(block, bufferSize - (bufferSize % block)));
  }

  /** Appends bytes (copied); returns a promise only when the buffer had to be written out. */
  put(bytes: Uint8Array): void | Promise<void> {
    if (this.#fill < this.#buf.length && bytes.length <= this.#buf.length - this.#fill) {
      this.#buf.set(bytes, this.#fill);
      this.#fill += bytes.length;
      this.pos += bytes.length;
      return;
    }
    return this.#putSlow(bytes);
  }

  async #putSlow(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) {
      if (this.#fill === this.#buf.length) await this.flush();
      const take = Math.min(bytes.length - at, this.#buf.length - this.#fill);
      this.#buf.set(bytes.subarray(at, at + take), this.#fill);
      this.#fill += take;
      this.pos += take;
      at += take;
    }
  }

  /**
   * Zeros up to the next block boundary. Never needs a write: the buffer starts on a block
   * boundary and is a multiple of the block size, so the padding always fits.
   */
  pad(): void {
    const n = -this.pos & (this.#block - 1);
    if (n === 0) return;
    this.#buf.fill(0, this.#fill, this.#fill + n);
    this.#fill += n;
    this.pos += n;
  }

  /** Zeros up to `offset` (not before `pos`). */
  async zerosTo(offset: number): Promise<void> {
    while (this.pos < offset) {
      if (this.#fill === this.#buf.length) await this.flush();
      const n = Math.min(offset - this.pos, this.#buf.length - this.#fill);
      this.#buf.fill(0, this.#fill, this.#fill + n);
      this.#fill += n;
      this.pos += n;
    }
  }

  /** Writes out what is buffered. */
  async flush(): Promise<void> {
    let at = 0;
    while (at < this.#fill) at += await this.#file.write(this.#buf.subarray(at, this.#fill));
    this.#fill = 0;
  }

  /** Writes bytes at an offset before `pos` (after a flush), then returns to the end. */
  async writeAt(offset: number, bytes: Uint8Array): Promise<void> {
    await this.flush();
    await this.#file.seek(offset, Deno.SeekMode.Start);
    let at = 0;
    while (at < bytes.length) at += await this.#file.write(bytes.subarray(at));
    await this.#file.seek(this.pos, Deno.SeekMode.Start);
  }
}
