/**
 * A push parser for tar streams: ustar, pax (per-entry records) and GNU long names, fed chunk by
 * chunk, yielding headers and body slices without copying file data.
 *
 * Why not an npm parser: `modern-tar` 0.8.6 (the likely one) does not read the device numbers
 * (ustar `devmajor`/`devminor`), turns unknown type flags (GNU sparse `S`, dump dir `D`) into
 * regular files without saying so, ends a truncated body silently unless `strict` is on, and with
 * `strict` refuses archives without the two end blocks (Go's `archive/tar`, and so containerd,
 * reads them); its push parser is not exported, so each entry also costs a `ReadableStream`.
 *
 * @module
 */

/** What an entry is. */
export type TarEntryType =
  | "file"
  | "directory"
  | "symlink"
  | "link"
  | "fifo"
  | "char"
  | "block";

/** One entry's header, after pax records and GNU long names are applied. */
export interface TarHeader {
  /** The path as written in the archive (not yet normalized). */
  path: string;
  /** The entry type. */
  type: TarEntryType;
  /** The body size in bytes (0 for every type but `file`). */
  size: number;
  /** Permission bits, with setuid, setgid and sticky (`0o7777` at most). */
  mode: number;
  /** Owner user id. */
  uid: number;
  /** Owner group id. */
  gid: number;
  /** Modification time in seconds since the epoch (pax times keep their fraction). */
  mtime: number;
  /**
   * The same time in nanoseconds, exactly, when a pax record gave it with a fraction (a double
   * holds today's times to about 0.2 µs only). Absent for whole seconds.
   */
  mtimeNs?: bigint;
  /** The target of a symlink or hardlink. */
  linkname: string;
  /** Device major number (`char` and `block`). */
  devmajor: number;
  /** Device minor number (`char` and `block`). */
  devminor: number;
  /**
   * Extended attributes from pax `SCHILY.xattr.NAME` records (GNU tar, Docker, BuildKit): name
   * (e.g. `security.capability`, `user.comment`) to raw value bytes. Absent when there are none.
   */
  xattrs?: Map<string, Uint8Array>;
}

/** What {@linkcode TarReader.push} yields. */
export type TarEvent =
  | { kind: "entry"; header: TarHeader }
  | { kind: "data"; bytes: Uint8Array }
  | { kind: "end" };

/** Options for {@linkcode TarReader}. */
export interface TarReaderOptions {
  /**
   * The largest pax record block or GNU long name accepted, in bytes.
   * @default {1048576}
   */
  maxMetaSize?: number;
}

/**
 * The type flag (byte 156 of a header) of each entry type, as ustar writes it (`'0'` to `'6'`).
 *
 * @example The flag of a directory
 * ```ts
 * import { TYPE_FLAGS } from "./tar_reader.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(String.fromCharCode(TYPE_FLAGS.directory), "5");
 * ```
 */
export const TYPE_FLAGS: Readonly<Record<TarEntryType, number>> = {
  file: 0x30,
  link: 0x31,
  symlink: 0x32,
  char: 0x33,
  block: 0x34,
  directory: 0x35,
  fifo: 0x36,
};

const BLOCK = 512;
/** Each flag's type, and the old spellings of a file: NUL (pre-POSIX) and `'7'` (contiguous). */
const TYPES: Record<number, TarEntryType> = {
  ...Object.fromEntries(Object.entries(TYPE_FLAGS).map(([type, flag]) => [flag, type])),
  0: "file",
  0x37: "file",
};
const PAX = 0x78; // 'x'
const PAX_GLOBAL = 0x67; // 'g'
const GNU_LONG_NAME = 0x4c; // 'L'
const GNU_LONG_LINK = 0x4b; // 'K'
const XATTR = "SCHILY.xattr.";

const utf8 = new TextDecoder("utf-8", { fatal: true });

interface Overrides {
  path?: string;
  linkname?: string;
  size?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  mtimeNs?: bigint;
  xattrs?: Map<string, Uint8Array>;
}

/**
 * Parses a tar stream pushed to it in chunks of any size.
 *
 * For each entry it yields `entry` (the header), then the body as `data` slices of the pushed
 * chunks (valid until the next push), then `end`. Headers are checked (checksum, numbers, UTF-8
 * names); a stream that stops inside a header or a body is refused by {@linkcode TarReader.end}.
 * Entry types other than files, directories, links, fifos and devices (GNU sparse files, dump
 * dirs, volume headers) are refused. pax global headers are read and ignored, as Go's
 * `archive/tar` callers (containerd) do.
 *
 * @example Read a one-file archive
 * ```ts
 * import { TarReader } from "./tar_reader.ts";
 * import assert from "node:assert/strict";
 *
 * const header = new Uint8Array(512);
 * const put = (at: number, s: string) => header.set(new TextEncoder().encode(s), at);
 * put(0, "hello.txt");
 * put(100, "0000644\0");
 * put(108, "0000000\0");
 * put(116, "0000000\0");
 * put(124, "00000000005\0");
 * put(136, "00000000000\0");
 * put(156, "0");
 * put(257, "ustar\x0000");
 * put(148, "        ");
 * const sum = header.reduce((a, b) => a + b, 0);
 * put(148, sum.toString(8).padStart(6, "0") + "\0 ");
 * const body = new Uint8Array(512);
 * body.set(new TextEncoder().encode("hello"));
 *
 * const reader = new TarReader();
 * const events = [...reader.push(header), ...reader.push(body), ...reader.push(new Uint8Array(1024))];
 * reader.end();
 * assert.equal(events[0]?.kind === "entry" && events[0].header.path, "hello.txt");
 * assert.equal(events[1]?.kind === "data" && new TextDecoder().decode(events[1].bytes), "hello");
 * assert.equal(events[2]?.kind, "end");
 * ```
 */
export class TarReader {
  #state: "header" | "meta" | "body" | "padding" | "done" = "header";
  #block = new Uint8Array(BLOCK);
  #blockFill = 0;
  #remaining = 0;
  #padding = 0;
  #offset = 0;
  #zeroBlock = false;
  #entry: TarHeader | undefined;
  #meta: { type: number; bytes: Uint8Array; fill: number } | undefined;
  #overrides: Overrides = {};
  #maxMeta: number;

  /**
   * Makes a reader.
   *
   * @param options Limits.
   */
  constructor(options: TarReaderOptions = {}) {
    this.#maxMeta = options.maxMetaSize ?? 1024 * 1024;
  }

  /**
   * Whether the end-of-archive blocks (two zero blocks) were read. What follows is not looked at:
   * a reader of a stream stops there, as GNU tar does (`load` cancels the rest, so a stream that
   * goes on sending cannot keep it reading); a layer's blob is still read to its end, for its
   * digest.
   */
  get done(): boolean {
    return this.#state === "done";
  }

  /**
   * Parses the next bytes of the stream.
   *
   * @param chunk The bytes.
   * @returns The events these bytes complete, in order.
   * @throws {Error} When the stream is not a valid tar.
   */
  *push(chunk: Uint8Array): Generator<TarEvent> {
    let at = 0;
    const length = chunk.byteLength;
    while (at < length) {
      switch (this.#state) {
        case "header": {
          let block: Uint8Array;
          if (this.#blockFill === 0 && length - at >= BLOCK) {
            block = chunk.subarray(at, at + BLOCK);
            at += BLOCK;
          } else {
            const take = Math.min(BLOCK - this.#blockFill, length - at);
            this.#block.set(chunk.subarray(at, at + take), this.#blockFill);
            this.#blockFill += take;
            at += take;
            if (this.#blockFill < BLOCK) return;
            this.#blockFill = 0;
            block = this.#block;
          }
          const header = this.#header(block);
          this.#offset += BLOCK;
          if (header) {
            yield { kind: "entry", header };
            if (header.size === 0) yield { kind: "end" };
          }
          break;
        }
        case "meta": {
          const meta = this.#meta!;
          const take = Math.min(this.#remaining, length - at);
          meta.bytes.set(chunk.subarray(at, at + take), meta.fill);
          meta.fill += take;
          at += take;
          this.#remaining -= take;
          this.#offset += take;
          if (this.#remaining === 0) {
            this.#applyMeta(meta.type, meta.bytes);
            this.#meta = undefined;
            this.#state = this.#padding > 0 ? "padding" : "header";
          }
          break;
        }
        case "body": {
          const take = Math.min(this.#remaining, length - at);
          const bytes = chunk.subarray(at, at + take);
          at += take;
          this.#remaining -= take;
          this.#offset += take;
          yield { kind: "data", bytes };
          if (this.#remaining === 0) {
            this.#entry = undefined;
            this.#state = this.#padding > 0 ? "padding" : "header";
            yield { kind: "end" };
          }
          break;
        }
        case "padding": {
          const take = Math.min(this.#padding, length - at);
          at += take;
          this.#padding -= take;
          this.#offset += take;
          if (this.#padding === 0) this.#state = "header";
          break;
        }
        case "done":
          // what follows the end blocks (record padding) is not looked at
          this.#offset += length - at;
          return;
      }
    }
  }

  /**
   * Says the stream ended.
   *
   * @throws {Error} When it stopped inside a header, a body or its padding. A stream that stops
   * between entries without the end blocks is accepted, as Go's `archive/tar` does.
   */
  end(): void {
    if (this.#state === "done") return;
    if (this.#state === "header" && this.#blockFill === 0 && !this.#meta) return;
    const what = this.#entry
      ? `entry "${this.#entry.path}" declares ${this.#entry.size} bytes, ${this.#remaining} are missing`
      : this.#state === "meta"
      ? "inside an extended header"
      : this.#state === "padding"
      ? "inside the padding after an entry"
      : "inside a header";
    throw new Error(`Cannot read tar: the stream is truncated at byte ${this.#offset} (${what})`);
  }

  #fail(message: string): never {
    throw new Error(`Cannot read tar: ${message} (header at byte ${this.#offset})`);
  }

  /** Parses a header block; returns the entry's header, or undefined for meta and end blocks. */
  #header(block: Uint8Array): TarHeader | undefined {
    if (isZero(block)) {
      if (this.#zeroBlock) this.#state = "done";
      this.#zeroBlock = true;
      return undefined;
    }
    if (this.#zeroBlock) this.#fail("a zero block is followed by a header");
    if (!checksumOk(block)) this.#fail("header checksum mismatch");
    const typeflag = block[156]!;
    const size = this.#number(block, 124, 12, "size");

    if (
      typeflag === PAX || typeflag === PAX_GLOBAL || typeflag === GNU_LONG_NAME ||
      typeflag === GNU_LONG_LINK
    ) {
      if (size > this.#maxMeta) {
        this.#fail(`an extended header of ${size} bytes is larger than ${this.#maxMeta}`);
      }
      this.#meta = { type: typeflag, bytes: new Uint8Array(size), fill: 0 };
      this.#remaining = size;
      this.#padding = -size & (BLOCK - 1);
      this.#state = size > 0 ? "meta" : this.#padding > 0 ? "padding" : "header";
      if (size === 0) {
        this.#applyMeta(typeflag, this.#meta.bytes);
        this.#meta = undefined;
      }
      return undefined;
    }

    let type = TYPES[typeflag];
    if (type === undefined) {
      const flag = String.fromCharCode(typeflag);
      this.#fail(
        typeflag === 0x53
          ? "GNU sparse files are not supported"
          : `entry type '${flag}' is not supported`,
      );
    }
    const magic = block.subarray(257, 263);
    const ustar = magic[0] === 0x75 && magic[1] === 0x73 && magic[2] === 0x74 &&
      magic[3] === 0x61 && magic[4] === 0x72;
    const posix = ustar && magic[5] === 0; // "ustar\0": the prefix field holds a path prefix
    let path = this.#string(block, 0, 100, "name");
    if (posix && block[345] !== 0) path = `${this.#string(block, 345, 155, "prefix")}/${path}`;
    const o = this.#overrides;
    this.#overrides = {};
    if (o.path !== undefined) path = o.path;
    if (type === "file" && path.endsWith("/")) type = "directory"; // old tars mark dirs so
    const header: TarHeader = {
      path,
      type,
      size: type === "file" ? o.size ?? size : 0,
      mode: this.#number(block, 100, 8, "mode") & 0o7777,
      uid: o.uid ?? this.#number(block, 108, 8, "uid"),
      gid: o.gid ?? this.#number(block, 116, 8, "gid"),
      mtime: o.mtime ?? this.#number(block, 136, 12, "mtime"),
      linkname: o.linkname ?? this.#string(block, 157, 100, "link name"),
      devmajor: 0,
      devminor: 0,
    };
    if (o.xattrs) header.xattrs = o.xattrs;
    if (o.mtimeNs !== undefined) header.mtimeNs = o.mtimeNs;
    if (ustar && (type === "char" || type === "block")) {
      header.devmajor = this.#number(block, 329, 8, "devmajor");
      header.devminor = this.#number(block, 337, 8, "devminor");
    }
    if (path === "") this.#fail("an entry has an empty name");
    if (!Number.isSafeInteger(header.size)) this.#fail(`entry "${path}" has a bad size`);
    this.#remaining = header.size;
    this.#padding = -header.size & (BLOCK - 1);
    if (header.size > 0) {
      this.#entry = header;
      this.#state = "body";
    } else {
      this.#state = "header"; // no body, no padding
    }
    return header;
  }

  #applyMeta(type: number, bytes: Uint8Array): void {
    if (type === GNU_LONG_NAME || type === GNU_LONG_LINK) {
      const end = bytes.indexOf(0);
      const value = this.#decode(end === -1 ? bytes : bytes.subarray(0, end), "GNU long name");
      if (type === GNU_LONG_NAME) this.#overrides.path = value;
      else this.#overrides.linkname = value;
      return;
    }
    const records = parsePax(bytes, (m) => this.#fail(m));
    if (type === PAX_GLOBAL) return;
    for (const [key, raw] of records) {
      if (key.startsWith("GNU.sparse.")) this.#fail("GNU sparse files are not supported");
      if (key.startsWith(XATTR)) {
        // the value is raw bytes (a capability is binary): kept as is, never decoded
        const name = key.slice(XATTR.length);
        if (name === "") this.#fail("a pax xattr record has no name");
        (this.#overrides.xattrs ??= new Map()).set(name, raw.slice());
        continue;
      }
      if (raw.length === 0) continue; // an empty record unsets the key: the header's value stands
      let value: string;
      try {
        value = utf8.decode(raw);
      } catch {
        this.#fail(`the pax record ${key} is not valid UTF-8`);
      }
      switch (key) {
        case "path":
          this.#overrides.path = value;
          break;
        case "linkpath":
          this.#overrides.linkname = value;
          break;
        case "size":
        case "uid":
        case "gid": {
          const n = /^\d+$/.test(value) ? Number(value) : NaN;
          if (!Number.isSafeInteger(n)) this.#fail(`pax record ${key}="${value}" is not a number`);
          this.#overrides[key] = n;
          break;
        }
        case "mtime": {
          const n = /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
          if (!Number.isFinite(n)) this.#fail(`pax record mtime="${value}" is not a time`);
          this.#overrides.mtime = n;
          const dot = value.indexOf(".");
          if (dot !== -1) {
            const whole = BigInt(value.slice(0, dot));
            const fraction = BigInt(value.slice(dot + 1, dot + 10).padEnd(9, "0"));
            this.#overrides.mtimeNs = value.startsWith("-")
              ? whole * 1_000_000_000n - fraction
              : whole * 1_000_000_000n + fraction;
          }
          break;
        }
      }
    }
  }

  #string(block: Uint8Array, at: number, size: number, what: string): string {
    let end = at;
    const limit = at + size;
    while (end < limit && block[end] !== 0) end++;
    return this.#decode(block.subarray(at, end), what);
  }

  #decode(bytes: Uint8Array, what: string): string {
    let ascii = bytes.length <= 256; // short ASCII fields skip the decoder
    for (let i = 0; ascii && i < bytes.length; i++) {
      if (bytes[i]! > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode(...bytes);
    try {
      return utf8.decode(bytes);
    } catch {
      this.#fail(`the ${what} is not valid UTF-8`);
    }
  }

  /** An octal number (spaces and NULs around it), or GNU's base-256 for large values. */
  #number(block: Uint8Array, at: number, size: number, what: string): number {
    const first = block[at]!;
    if (first & 0x80) {
      if (first === 0xff) this.#fail(`the ${what} field is negative`);
      let n = first & 0x7f;
      for (let i = at + 1; i < at + size; i++) n = n * 256 + block[i]!;
      if (!Number.isSafeInteger(n)) this.#fail(`the ${what} field is too large`);
      return n;
    }
    let i = at;
    const end = at + size;
    while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
    let n = 0;
    for (; i < end; i++) {
      const c = block[i]!;
      if (c === 0x20 || c === 0) break;
      if (c < 0x30 || c > 0x37) this.#fail(`the ${what} field is not an octal number`);
      n = n * 8 + (c - 0x30);
    }
    for (; i < end; i++) {
      if (block[i] !== 0x20 && block[i] !== 0) {
        this.#fail(`the ${what} field is not an octal number`);
      }
    }
    return n;
  }
}

function isZero(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** The header checksum: the sum of the bytes with the checksum field as spaces (unsigned, or
 * signed as some old tars computed it). */
function checksumOk(block: Uint8Array): boolean {
  let stored = 0;
  let i = 148;
  while (i < 156 && (block[i] === 0x20 || block[i] === 0)) i++;
  for (; i < 156; i++) {
    const c = block[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) return false;
    stored = stored * 8 + (c - 0x30);
  }
  let unsigned = 0;
  let signed = 0;
  for (let j = 0; j < BLOCK; j++) {
    const b = j >= 148 && j < 156 ? 0x20 : block[j]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

/** pax records: `"%d %s=%s\n"`, the length counting the whole record; values as raw bytes. */
function parsePax(bytes: Uint8Array, fail: (message: string) => never): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes[at] === 0) break; // some writers pad with NULs
    const space = bytes.indexOf(0x20, at);
    if (space === -1) fail("a pax record has no length");
    const digits = space - at <= 20 ? String.fromCharCode(...bytes.subarray(at, space)) : "";
    const length = /^[1-9]\d*$/.test(digits) ? Number(digits) : NaN;
    if (!Number.isSafeInteger(length) || length <= space - at + 1 || at + length > bytes.length) {
      fail("a pax record has a bad length");
    }
    const record = bytes.subarray(space + 1, at + length);
    if (record[record.length - 1] !== 0x0a) fail("a pax record does not end with a newline");
    const eq = record.indexOf(0x3d);
    if (eq <= 0) fail("a pax record has no key");
    const key = new TextDecoder().decode(record.subarray(0, eq));
    out.push([key, record.subarray(eq + 1, record.length - 1)]);
    at += length;
  }
  return out;
}
