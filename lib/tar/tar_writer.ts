/**
 * A streaming tar writer: ustar headers, a pax record for names longer than the header holds and
 * for sizes of 8 GiB and more, bodies streamed through as they are read.
 *
 * @module
 */

/** Where a {@linkcode TarWriter} writes: one call per chunk, awaited before the next. */
export interface TarSink {
  /**
   * Writes bytes (the writer does not touch `chunk` again once the promise resolves).
   *
   * @param chunk The next bytes of the archive.
   * @returns Resolves when they are written.
   */
  write(chunk: Uint8Array): Promise<void>;
}

/** Options for {@linkcode TarWriter.add}. */
export interface TarAddOptions {
  /**
   * Permission bits of the entry.
   * @default {0o644}
   */
  mode?: number;
  /** Aborts the copy of the body. */
  signal?: AbortSignal;
}

const BLOCK = 512;
/** The largest size the 12-byte octal field holds. */
const MAX_OCTAL_SIZE = 0o77777777777;
const encoder = new TextEncoder();

/**
 * Writes a tar archive entry by entry to a sink. Entries are regular files with owner 0:0 and
 * time 0 (archives of the same content are the same bytes); a body is a byte array or a stream
 * that must deliver exactly the declared size. Call {@linkcode TarWriter.end} once at the end.
 *
 * @example Write a one-file archive into memory
 * ```ts
 * import { TarWriter } from "./tar_writer.ts";
 * import assert from "node:assert/strict";
 *
 * const parts: Uint8Array[] = [];
 * const tar = new TarWriter({ write: (c) => Promise.resolve(void parts.push(c)) });
 * await tar.add("hello.txt", new TextEncoder().encode("hello"));
 * await tar.end();
 * assert.equal(tar.bytes, 512 + 512 + 1024);
 * ```
 */
export class TarWriter {
  #sink: TarSink;
  #bytes = 0;
  #busy = false;
  #ended = false;

  /**
   * Makes a writer.
   *
   * @param sink Where the archive's bytes go.
   */
  constructor(sink: TarSink) {
    this.#sink = sink;
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Adds a regular file. Calls must not overlap (each awaits the previous).
   *
   * @param path The entry's name (`/`-separated, relative).
   * @param body The content, whole or as a stream.
   * @param size The content's size; required for a stream, which must deliver exactly that many
   * bytes.
   * @param options Mode and abort signal.
   * @throws {Error} When the stream delivers more or fewer bytes than `size`.
   */
  async add(
    path: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    size?: number,
    options: TarAddOptions = {},
  ): Promise<void> {
    if (this.#busy) throw new Error(`Cannot add ${path} to the archive: another entry is open`);
    if (this.#ended) throw new Error(`Cannot add ${path} to the archive: it is ended`);
    const length = body instanceof Uint8Array ? body.byteLength : size;
    if (length === undefined || !Number.isSafeInteger(length) || length < 0) {
      throw new RangeError(`Cannot add ${path} to the archive: no valid size`);
    }
    if (path === "" || path.startsWith("/") || path.split("/").includes("..")) {
      throw new RangeError(`Cannot add "${path}" to the archive: not a relative path`);
    }
    this.#busy = true;
    try {
      await this.#write(header(path, length, options.mode ?? 0o644));
      if (body instanceof Uint8Array) {
        if (body.byteLength > 0) await this.#write(body);
      } else {
        await this.#copy(path, body, length, options.signal);
      }
      const pad = -length & (BLOCK - 1);
      if (pad > 0) await this.#write(new Uint8Array(pad));
    } finally {
      this.#busy = false;
    }
  }

  /** Writes the two zero blocks that end an archive. */
  async end(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    await this.#write(new Uint8Array(2 * BLOCK));
  }

  async #copy(
    path: string,
    body: ReadableStream<Uint8Array>,
    size: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const reader = body.getReader();
    let written = 0;
    try {
      for (;;) {
        signal?.throwIfAborted();
        const { done, value } = await reader.read();
        if (done) break;
        if (written + value.byteLength > size) {
          throw new Error(`Cannot add ${path} to the archive: more than its ${size} bytes`);
        }
        written += value.byteLength;
        if (value.byteLength > 0) await this.#write(value);
      }
    } catch (e) {
      await reader.cancel(e).catch(() => {});
      throw e;
    } finally {
      reader.releaseLock();
    }
    if (written !== size) {
      throw new Error(
        `Cannot add ${path} to the archive: it ended after ${written} of ${size} bytes`,
      );
    }
  }

  async #write(chunk: Uint8Array): Promise<void> {
    await this.#sink.write(chunk);
    this.#bytes += chunk.byteLength;
  }
}

/** The header block(s) of a regular file: a pax header first when the ustar fields cannot hold
 * the name or the size. */
function header(path: string, size: number, mode: number): Uint8Array {
  const name = encoder.encode(path);
  const records: string[] = [];
  let ustarName: Uint8Array = name;
  let prefix: Uint8Array = new Uint8Array(0);
  if (name.byteLength > 100 || !isAscii(name)) {
    const split = splitName(name);
    if (split && isAscii(name)) {
      [prefix, ustarName] = split;
    } else {
      records.push(paxRecord("path", path));
      // a reader without pax sees this fallback; pax readers take the record's path
      ustarName = isAscii(name) ? name.subarray(name.byteLength - 100) : encoder.encode("pax-path");
    }
  }
  if (size > MAX_OCTAL_SIZE) records.push(paxRecord("size", String(size)));
  const blocks: Uint8Array[] = [];
  if (records.length > 0) {
    const body = encoder.encode(records.join(""));
    blocks.push(
      ustarBlock(
        encoder.encode("PaxHeaders/entry"),
        new Uint8Array(0),
        body.byteLength,
        0o644,
        0x78,
      ),
    );
    const padded = new Uint8Array(Math.ceil(body.byteLength / BLOCK) * BLOCK);
    padded.set(body);
    blocks.push(padded);
  }
  blocks.push(ustarBlock(ustarName, prefix, size > MAX_OCTAL_SIZE ? 0 : size, mode, 0x30));
  if (blocks.length === 1) return blocks[0]!;
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.byteLength, 0));
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.byteLength;
  }
  return out;
}

function ustarBlock(
  name: Uint8Array,
  prefix: Uint8Array,
  size: number,
  mode: number,
  type: number,
): Uint8Array {
  const block = new Uint8Array(BLOCK);
  block.set(name, 0);
  octal(block, 100, 8, mode & 0o7777);
  octal(block, 108, 8, 0);
  octal(block, 116, 8, 0);
  octal(block, 124, 12, size);
  octal(block, 136, 12, 0);
  block[156] = type;
  block.set(encoder.encode("ustar\x0000"), 257);
  block.set(prefix, 345);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += block[i]!;
  octal(block, 148, 7, sum);
  block[155] = 0x20;
  return block;
}

/** Writes `value` as zero-padded octal in `width - 1` digits and a NUL. */
function octal(block: Uint8Array, at: number, width: number, value: number): void {
  const digits = value.toString(8).padStart(width - 1, "0");
  block.set(encoder.encode(digits), at);
  block[at + width - 1] = 0;
}

/** A pax record, `"<len> <key>=<value>\n"`, the length counting itself. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  const restLength = encoder.encode(rest).byteLength;
  let length = restLength + 1;
  while (String(length).length + restLength > length) length++;
  return `${length}${rest}`;
}

/** ustar's prefix/name split of a long name at a `/`, when both halves fit. */
function splitName(name: Uint8Array): [Uint8Array, Uint8Array] | undefined {
  if (name.byteLength > 256) return undefined;
  for (let i = Math.min(155, name.byteLength - 1); i > 0; i--) {
    if (name[i] !== 0x2f) continue;
    if (name.byteLength - i - 1 > 100 || name.byteLength - i - 1 === 0) return undefined;
    return [name.subarray(0, i), name.subarray(i + 1)];
  }
  return undefined;
}

function isAscii(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b > 0x7f) return false;
  return true;
}
