/**
 * The one tar writer: entries of every type (files, directories, symlinks, hardlinks, fifos,
 * devices) with their owners, modes, times and xattrs, bodies streamed through as they come, and
 * the one encoder of tar headers: ustar where ustar can say it (a long ASCII name split into the
 * prefix and name fields, as Go's `archive/tar` and GNU tar do), and a pax extended header before
 * it for what ustar cannot say: longer or non-ASCII names and link targets, ids above 0o7777777,
 * sizes of 8 GiB and more, times that are negative, fractional or past 11 octal digits (from the
 * exact nanoseconds when known), xattrs (`SCHILY.xattr.*`). Deterministic: the same entries give
 * the same bytes (a fixed pax header name, no clock).
 *
 * @module
 */

import { type TarHeader, TYPE_FLAGS } from "./tar_reader.ts";

/** Where a {@linkcode TarWriter} writes: one call per chunk, awaited before the next. */
export interface TarWriterSink {
  /**
   * Writes bytes (the writer does not touch `chunk` again once the promise resolves).
   *
   * @param chunk The next bytes of the archive.
   * @returns Resolves when they are written.
   */
  write(chunk: Uint8Array): Promise<void>;
}

/** Options for {@linkcode TarWriter}. */
export interface TarWriterOptions {
  /**
   * Headers and bodies smaller than a quarter of this are gathered into chunks of this size
   * before they go to the sink (a flattened root filesystem is mostly small entries); larger ones
   * go through as they are. 0: every header and body chunk is written as it comes.
   * @default {0}
   */
  bufferSize?: number;
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

/**
 * What one entry of an archive says: a `TarHeader`, whose exact time and xattrs may also be given
 * as `undefined` (absent).
 */
export interface TarEntry extends Omit<TarHeader, "mtimeNs" | "xattrs"> {
  /** The exact time in nanoseconds, when known: `mtime` is a double (about 0.2 µs near 2023). */
  mtimeNs?: bigint | undefined;
  /** Extended attributes, written as pax `SCHILY.xattr.NAME` records (sorted by name). */
  xattrs?: ReadonlyMap<string, Uint8Array> | undefined;
}

const BLOCK = 512;
const encoder = new TextEncoder();
const PAX_FLAG = 0x78; // 'x'
/** The name of every pax header block (what a reader without pax sees as a file's name). */
const PAX_NAME = encoder.encode("././@PaxHeader");
/** The largest id the 8-byte octal fields hold. */
const MAX_ID = 0o7777777;
/** The largest size or time the 12-byte octal fields hold. */
const MAX_NUMBER = 0o77777777777;

/**
 * Writes a tar archive entry by entry to a sink: {@linkcode TarWriter.add} for a regular file
 * with owner 0:0 and time 0 (archives of the same content are the same bytes), or
 * {@linkcode TarWriter.header} and {@linkcode TarWriter.body} for an entry of any type with its
 * own metadata. A body must have exactly the declared size. Call {@linkcode TarWriter.end} once
 * at the end.
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
 *
 * @example Write a directory and a symlink with their own owners and times
 * ```ts
 * import { TarWriter } from "./tar_writer.ts";
 * import { TarReader } from "./tar_reader.ts";
 * import assert from "node:assert/strict";
 *
 * const parts: Uint8Array[] = [];
 * const tar = new TarWriter({ write: (c) => Promise.resolve(void parts.push(c.slice())) });
 * const base = { size: 0, uid: 1000, gid: 1000, mtime: 1700000000, devmajor: 0, devminor: 0 };
 * await tar.header({ ...base, path: "etc/", type: "directory", mode: 0o755, linkname: "" });
 * await tar.header({ ...base, path: "etc/l", type: "symlink", mode: 0o777, linkname: "/x" });
 * await tar.end();
 * const reader = new TarReader();
 * const paths = parts.flatMap((p) => [...reader.push(p)])
 *   .flatMap((e) => e.kind === "entry" ? [e.header.path] : []);
 * assert.deepEqual(paths, ["etc/", "etc/l"]);
 * ```
 */
export class TarWriter {
  #sink: TarWriterSink;
  #bytes = 0;
  #busy = false;
  #ended = false;
  /** Bytes of the open entry's body still to come. */
  #left = 0;
  #pad = 0;
  #bodyOf = "";
  #buffer: Uint8Array | undefined;
  #used = 0;

  /**
   * Makes a writer.
   *
   * @param sink Where the archive's bytes go.
   * @param options Buffering.
   */
  constructor(sink: TarWriterSink, options: TarWriterOptions = {}) {
    this.#sink = sink;
    const size = options.bufferSize ?? 0;
    if (size > 0) this.#buffer = new Uint8Array(size);
  }

  /** Bytes of the archive so far (written, or gathered to be written). */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Adds a regular file owned by 0:0 with time 0. Calls must not overlap (each awaits the
   * previous).
   *
   * @param path The entry's name (`/`-separated, relative).
   * @param body The content, whole or as a stream.
   * @param size The content's size; required for a stream, which must deliver exactly that many
   * bytes.
   * @param options Mode and abort signal.
   * @returns Resolves once the entry was written.
   * @throws {Error} When the stream delivers more or fewer bytes than `size`.
   */
  async add(
    path: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    size?: number,
    options: TarAddOptions = {},
  ): Promise<void> {
    if (this.#busy) throw new Error(`Cannot add ${path} to the archive: another entry is open`);
    const length = body instanceof Uint8Array ? body.byteLength : size;
    if (length === undefined || !Number.isSafeInteger(length) || length < 0) {
      throw new RangeError(`Cannot add ${path} to the archive: no valid size`);
    }
    this.#busy = true;
    try {
      await this.#header({
        path,
        type: "file",
        size: length,
        mode: options.mode ?? 0o644,
        uid: 0,
        gid: 0,
        mtime: 0,
        linkname: "",
        devmajor: 0,
        devminor: 0,
      });
      if (body instanceof Uint8Array) {
        if (body.byteLength > 0) await this.#body(body);
      } else {
        await this.#copy(path, body, length, options.signal);
      }
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Writes an entry's header (a pax header first when ustar cannot say all of it). A `file` with
   * a size opens its body: {@linkcode TarWriter.body} must give exactly `size` bytes before the
   * next entry; the padding follows the last byte.
   *
   * @param entry The entry.
   * @returns Resolves once the header was written (or gathered).
   * @throws {RangeError} When the path is empty, absolute or has `..`.
   * @throws {Error} When the body of the entry before is incomplete, or the archive is ended.
   */
  async header(entry: TarEntry): Promise<void> {
    if (this.#busy) {
      throw new Error(`Cannot add ${entry.path} to the archive: another entry is open`);
    }
    await this.#header(entry);
  }

  /**
   * Writes the next bytes of the open entry's body (the chunk is not kept after the promise
   * resolves, unless it is written as it is: then the sink holds it).
   *
   * @param chunk The bytes.
   * @returns Resolves once they were written (or gathered).
   * @throws {Error} When no body is open or the chunk passes its size.
   */
  async body(chunk: Uint8Array): Promise<void> {
    if (this.#busy) throw new Error("Cannot write a body: another entry is open");
    await this.#body(chunk);
  }

  /**
   * Writes the two zero blocks that end an archive and what is gathered.
   *
   * @returns Resolves once written.
   * @throws {Error} When an entry's body is incomplete.
   */
  async end(): Promise<void> {
    if (this.#ended) return;
    this.#checkClosed("end the archive");
    this.#ended = true;
    await this.#put(new Uint8Array(2 * BLOCK));
    await this.#flush();
  }

  async #header(entry: TarEntry): Promise<void> {
    if (this.#ended) throw new Error(`Cannot add ${entry.path} to the archive: it is ended`);
    const path = entry.path;
    if (path === "" || path.startsWith("/") || path.split("/").includes("..")) {
      throw new RangeError(`Cannot add "${path}" to the archive: not a relative path`);
    }
    this.#checkClosed(`add ${path} to the archive`);
    await this.#put(encodeTarHeader(entry));
    this.#left = entry.type === "file" ? entry.size : 0;
    this.#pad = -this.#left & (BLOCK - 1);
    this.#bodyOf = path;
  }

  async #body(chunk: Uint8Array): Promise<void> {
    if (chunk.byteLength > this.#left) {
      throw new Error(`Cannot add ${this.#bodyOf} to the archive: more than its size`);
    }
    this.#left -= chunk.byteLength;
    await this.#put(chunk);
    if (this.#left === 0 && this.#pad > 0) {
      const pad = this.#pad;
      this.#pad = 0;
      await this.#put(new Uint8Array(pad));
    }
  }

  #checkClosed(action: string): void {
    if (this.#left > 0) {
      throw new Error(
        `Cannot ${action}: ${this.#bodyOf} lacks ${this.#left} bytes of its body`,
      );
    }
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
        if (value.byteLength > 0) await this.#body(value);
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

  /** Hands bytes to the sink: gathered when small and a buffer is set, else as they are. */
  async #put(bytes: Uint8Array): Promise<void> {
    if (bytes.byteLength === 0) return;
    this.#bytes += bytes.byteLength;
    const size = this.#buffer?.byteLength ?? 0;
    const large = bytes.byteLength > size / 4;
    if (large || this.#used + bytes.byteLength > size) await this.#flush();
    if (large) {
      await this.#sink.write(bytes);
      return;
    }
    // the buffer after the flush: the one before went to the sink, which may still hold it
    this.#buffer!.set(bytes, this.#used);
    this.#used += bytes.byteLength;
  }

  async #flush(): Promise<void> {
    if (this.#used === 0) return;
    const chunk = this.#buffer!.subarray(0, this.#used);
    this.#buffer = new Uint8Array(this.#buffer!.byteLength); // the sink may keep the chunk
    this.#used = 0;
    await this.#sink.write(chunk);
  }
}

/** The header block(s) of an entry: a pax header first when ustar cannot say everything. */
function encodeTarHeader(h: TarEntry): Uint8Array {
  const path = encoder.encode(h.path);
  const link = encoder.encode(h.linkname);
  const records: [string, Uint8Array][] = [];
  let name: Uint8Array = path;
  let prefix: Uint8Array = new Uint8Array(0);
  if (path.byteLength > 100 || !isAscii(path)) {
    const split = isAscii(path) ? splitName(path) : undefined;
    if (split) [prefix, name] = split;
    else {
      records.push(["path", path]);
      name = asciiPrefix(path); // what a reader without pax sees; pax readers take the record
    }
  }
  let linkField: Uint8Array = link;
  if (link.byteLength > 100 || !isAscii(link)) {
    records.push(["linkpath", link]);
    linkField = asciiPrefix(link);
  }
  if (h.uid > MAX_ID) records.push(["uid", encoder.encode(String(h.uid))]);
  if (h.gid > MAX_ID) records.push(["gid", encoder.encode(String(h.gid))]);
  const size = h.type === "file" ? h.size : 0;
  if (size > MAX_NUMBER) records.push(["size", encoder.encode(String(size))]);
  const [whole, paxTime] = timeFields(h);
  if (paxTime !== undefined) records.push(["mtime", encoder.encode(paxTime)]);
  for (const key of [...(h.xattrs?.keys() ?? [])].sort()) {
    records.push([`SCHILY.xattr.${key}`, h.xattrs!.get(key)!]);
  }
  const ustar = ustarBlock({
    name,
    prefix,
    flag: TYPE_FLAGS[h.type],
    size: size > MAX_NUMBER ? 0 : size,
    mode: h.mode,
    uid: h.uid > MAX_ID ? 0 : h.uid,
    gid: h.gid > MAX_ID ? 0 : h.gid,
    mtime: whole < 0 || whole > MAX_NUMBER ? 0 : whole,
    link: linkField,
    devmajor: h.type === "char" || h.type === "block" ? h.devmajor : undefined,
    devminor: h.type === "char" || h.type === "block" ? h.devminor : undefined,
  });
  if (records.length === 0) return ustar;
  const body = paxRecords(records);
  const padded = Math.ceil(body.byteLength / BLOCK) * BLOCK;
  const out = new Uint8Array(BLOCK + padded + BLOCK);
  out.set(ustarBlock({
    name: PAX_NAME,
    prefix: new Uint8Array(0),
    flag: PAX_FLAG,
    size: body.byteLength,
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    link: new Uint8Array(0),
  }));
  out.set(body, BLOCK);
  out.set(ustar, BLOCK + padded);
  return out;
}

function isAscii(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b > 0x7f) return false;
  return true;
}

/** The first bytes of a name that fit ustar's field, ASCII only (readers take the pax record). */
function asciiPrefix(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice(0, 100);
  for (let i = 0; i < out.length; i++) if (out[i]! > 0x7f) out[i] = 0x5f;
  return out;
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

/**
 * The seconds for ustar's field (floored) and the time as pax writes it: the decimal number, its
 * fraction without trailing zeros (`-1.5`, `1700000000.123456789`), or undefined when ustar can
 * say it. From the exact nanoseconds when the entry has them: a double holds only about 0.2
 * microseconds of a time near 2023, so `1700000000.123456789` would come out as `.123456717`.
 */
function timeFields(h: TarEntry): [number, string | undefined] {
  let whole: number;
  let text: string;
  if (h.mtimeNs === undefined) {
    whole = Math.floor(h.mtime);
    text = h.mtime.toFixed(9);
  } else {
    const ns = h.mtimeNs;
    const abs = ns < 0n ? -ns : ns;
    const sec = abs / 1_000_000_000n;
    whole = Number(ns < 0n && abs % 1_000_000_000n !== 0n ? -sec - 1n : ns < 0n ? -sec : sec);
    text = `${ns < 0n ? "-" : ""}${sec}.${String(abs % 1_000_000_000n).padStart(9, "0")}`;
  }
  text = text.replace(/\.?0+$/, "");
  if (text === "-0") text = "0";
  const ustar = text === String(whole) && whole >= 0 && whole <= MAX_NUMBER;
  return [whole, ustar ? undefined : text];
}

/** `"%d %s=%s\n"`, the length counting the whole record, itself included. */
function paxRecords(records: [string, Uint8Array][]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [key, value] of records) {
    const rest = encoder.encode(` ${key}=`).byteLength + value.byteLength + 1;
    let length = rest + 1;
    while (String(length).length + rest !== length) length = String(length).length + rest;
    const record = new Uint8Array(length);
    const head = encoder.encode(`${length} ${key}=`);
    record.set(head);
    record.set(value, head.byteLength);
    record[length - 1] = 0x0a;
    parts.push(record);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** The ustar header block's fields (names as bytes, numbers that fit their fields). */
interface UstarFields {
  name: Uint8Array;
  prefix: Uint8Array;
  flag: number;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  link: Uint8Array;
  /** Written for devices only (other entries leave the fields empty). */
  devmajor?: number | undefined;
  devminor?: number | undefined;
}

function ustarBlock(f: UstarFields): Uint8Array {
  const b = new Uint8Array(BLOCK);
  b.set(f.name.subarray(0, 100), 0);
  octal(b, 100, 8, f.mode & 0o7777);
  octal(b, 108, 8, f.uid);
  octal(b, 116, 8, f.gid);
  octal(b, 124, 12, f.size);
  octal(b, 136, 12, f.mtime);
  b[156] = f.flag;
  b.set(f.link.subarray(0, 100), 157);
  b.set(encoder.encode("ustar\x0000"), 257);
  if (f.devmajor !== undefined) octal(b, 329, 8, f.devmajor);
  if (f.devminor !== undefined) octal(b, 337, 8, f.devminor);
  b.set(f.prefix.subarray(0, 155), 345);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of b) sum += c;
  octal(b, 148, 7, sum);
  b[155] = 0x20;
  return b;
}

/** `n` as zero-padded octal in `width - 1` digits and a NUL. */
function octal(b: Uint8Array, at: number, width: number, n: number): void {
  b.set(encoder.encode(n.toString(8).padStart(width - 1, "0")), at);
  b[at + width - 1] = 0;
}
