/**
 * OpenPGP framing (RFC 4880 section 4, RFC 9580 section 4): packets in the old and the new format
 * (with partial body lengths), ASCII armor, multiprecision integers. Every length is checked
 * against the bytes that are there before anything is read: a packet that claims more than its
 * input, a partial chunk past the end, or more packets than the caller allows is an
 * `OpenPgpFormatError` of one line.
 *
 * @module
 */

/** Packet tags used by skiff (RFC 9580 section 5). */
export const Tag = {
  Signature: 2,
  OnePassSignature: 4,
  PublicKey: 6,
  CompressedData: 8,
  Marker: 10,
  LiteralData: 11,
  Trust: 12,
  UserId: 13,
  PublicSubkey: 14,
  UserAttribute: 17,
  Padding: 21,
} as const;

/** A malformed OpenPGP structure. */
export class OpenPgpFormatError extends Error {
  /** @param message What is wrong. */
  constructor(message: string) {
    super(message);
    this.name = "OpenPgpFormatError";
  }
}

/** One packet: its tag and its body (partial chunks already joined). */
export interface Packet {
  /** The packet tag. */
  tag: number;
  /** The body. */
  body: Uint8Array;
  /** Whether the body came in partial chunks (allowed for data packets only). */
  partial: boolean;
}

/** Tags that may use partial body lengths (RFC 9580 section 4.2.1.4). */
const PARTIAL_OK = new Set([8, 9, 11, 18, 20]);

/**
 * Splits bytes into packets.
 *
 * @param bytes The packets, back to back.
 * @param maxPackets The most packets accepted.
 * @returns The packets.
 * @throws {OpenPgpFormatError} On any malformed or truncated framing.
 */
export function readPackets(bytes: Uint8Array, maxPackets: number): Packet[] {
  const out: Packet[] = [];
  let at = 0;
  const need = (n: number, what: string) => {
    if (at + n > bytes.byteLength) {
      throw new OpenPgpFormatError(`Cannot read OpenPGP data: ${what} runs past the end`);
    }
  };
  while (at < bytes.byteLength) {
    if (out.length >= maxPackets) {
      throw new OpenPgpFormatError(`Cannot read OpenPGP data: more than ${maxPackets} packets`);
    }
    const head = bytes[at]!;
    if ((head & 0x80) === 0) {
      throw new OpenPgpFormatError(
        `Cannot read OpenPGP data: byte ${at} (0x${hex2(head)}) does not start a packet`,
      );
    }
    at++;
    if ((head & 0x40) === 0) {
      // old format: tag in bits 5..2, length type in bits 1..0
      const tag = (head >> 2) & 0x0f;
      const lengthType = head & 0x03;
      let length: number;
      if (lengthType === 3) {
        length = bytes.byteLength - at; // indeterminate: to the end
      } else {
        const n = [1, 2, 4][lengthType]!;
        need(n, "a packet length");
        length = 0;
        for (let i = 0; i < n; i++) length = length * 256 + bytes[at + i]!;
        at += n;
      }
      need(length, `a packet (tag ${tag}, ${length} bytes)`);
      out.push({ tag, body: bytes.subarray(at, at + length), partial: false });
      at += length;
      continue;
    }
    const tag = head & 0x3f;
    const chunks: Uint8Array[] = [];
    let partial = false;
    for (;;) {
      need(1, "a packet length");
      const first = bytes[at]!;
      let length: number;
      let more = false;
      if (first < 192) {
        length = first;
        at += 1;
      } else if (first < 224) {
        need(2, "a packet length");
        length = ((first - 192) << 8) + bytes[at + 1]! + 192;
        at += 2;
      } else if (first === 255) {
        need(5, "a packet length");
        length = bytes[at + 1]! * 0x1000000 + (bytes[at + 2]! << 16) + (bytes[at + 3]! << 8) +
          bytes[at + 4]!;
        at += 5;
      } else {
        length = 1 << (first & 0x1f);
        more = true;
        at += 1;
        if (!PARTIAL_OK.has(tag)) {
          throw new OpenPgpFormatError(
            `Cannot read OpenPGP data: a packet of tag ${tag} has a partial length`,
          );
        }
        partial = true;
      }
      need(length, `a packet (tag ${tag}, ${length} bytes)`);
      chunks.push(bytes.subarray(at, at + length));
      at += length;
      if (!more) break;
    }
    out.push({ tag, body: chunks.length === 1 ? chunks[0]! : concat(chunks), partial });
  }
  return out;
}

/** Concatenates byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.byteLength;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** A cursor over a packet body, every read bounds-checked. */
export class Reader {
  readonly #bytes: Uint8Array;
  readonly #what: string;
  /** The next byte's offset. */
  at = 0;

  /**
   * @param bytes The body.
   * @param what What it is, for messages.
   */
  constructor(bytes: Uint8Array, what: string) {
    this.#bytes = bytes;
    this.#what = what;
  }

  /** Bytes left. */
  get left(): number {
    return this.#bytes.byteLength - this.at;
  }

  /** Fails unless `n` more bytes are there. */
  need(n: number): void {
    if (n < 0 || this.at + n > this.#bytes.byteLength) {
      throw new OpenPgpFormatError(`Cannot read ${this.#what}: it is truncated`);
    }
  }

  /** One byte. */
  u8(): number {
    this.need(1);
    return this.#bytes[this.at++]!;
  }

  /** A big-endian 16-bit number. */
  u16(): number {
    this.need(2);
    const v = (this.#bytes[this.at]! << 8) | this.#bytes[this.at + 1]!;
    this.at += 2;
    return v;
  }

  /** A big-endian 32-bit number. */
  u32(): number {
    this.need(4);
    const b = this.#bytes;
    const v = b[this.at]! * 0x1000000 + (b[this.at + 1]! << 16) + (b[this.at + 2]! << 8) +
      b[this.at + 3]!;
    this.at += 4;
    return v;
  }

  /** `n` bytes (a view). */
  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.#bytes.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }

  /** The rest (a view). */
  rest(): Uint8Array {
    return this.bytes(this.left);
  }

  /**
   * A multiprecision integer (RFC 9580 section 3.2): a 16-bit bit count, then the bytes, big
   * endian. The value is returned as its bytes, leading zeros removed.
   */
  mpi(): Uint8Array {
    const bits = this.u16();
    const n = (bits + 7) >> 3;
    const v = this.bytes(n);
    let i = 0;
    while (i < v.byteLength && v[i] === 0) i++;
    return v.subarray(i);
  }

  /** Fails unless every byte was read. */
  end(): void {
    if (this.left !== 0) {
      throw new OpenPgpFormatError(`Cannot read ${this.#what}: ${this.left} bytes too many`);
    }
  }
}

const ARMOR_BEGIN = /^-----BEGIN PGP ([A-Z0-9 ,/]+)-----[ \t]*$/;

/**
 * Whether bytes look like ASCII armor (a `-----BEGIN PGP` line, possibly after other text).
 *
 * @param bytes The data.
 * @returns `true` for armor.
 */
export function isArmored(bytes: Uint8Array): boolean {
  const head = new TextDecoder("latin1").decode(bytes.subarray(0, 4096));
  return /(^|\n)-----BEGIN PGP /.test(head);
}

/**
 * Decodes every ASCII-armored block of a text (RFC 9580 section 6) and joins their packets. The
 * CRC-24 line is ignored, as RFC 9580 says it must be (section 6.1).
 *
 * @param bytes The armored text.
 * @param kind The block kind expected (`PUBLIC KEY BLOCK`, `SIGNATURE`, `MESSAGE`).
 * @returns The binary packets of all blocks.
 * @throws {OpenPgpFormatError} When there is no such block or one is malformed.
 */
export function dearmor(bytes: Uint8Array, kind: string): Uint8Array {
  const text = new TextDecoder("latin1").decode(bytes);
  const lines = text.split(/\r?\n/);
  const parts: Uint8Array[] = [];
  let i = 0;
  while (i < lines.length) {
    const begin = ARMOR_BEGIN.exec(lines[i]!);
    i++;
    if (!begin) continue;
    const label = begin[1]!;
    if (label !== kind) {
      throw new OpenPgpFormatError(
        `Cannot read OpenPGP armor: a "${label.slice(0, 40)}" block where a "${kind}" was expected`,
      );
    }
    // armor headers ("Version: ...", "Comment: ..."), up to the blank line
    while (i < lines.length && lines[i]!.trim() !== "") {
      if (!/^[A-Za-z0-9-]+: /.test(lines[i]!)) break; // no headers: the data starts
      i++;
    }
    if (i < lines.length && lines[i]!.trim() === "") i++;
    let b64 = "";
    let ended = false;
    for (; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === `-----END PGP ${kind}-----`) {
        ended = true;
        i++;
        break;
      }
      if (line.startsWith("=") && line.length === 5) continue; // CRC-24: ignored (RFC 9580)
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(line)) {
        throw new OpenPgpFormatError("Cannot read OpenPGP armor: a line is not base64");
      }
      b64 += line;
    }
    if (!ended) throw new OpenPgpFormatError(`Cannot read OpenPGP armor: no END line`);
    parts.push(fromBase64(b64));
  }
  if (parts.length === 0) throw new OpenPgpFormatError(`Cannot read OpenPGP armor: no ${kind}`);
  return concat(parts);
}

/** Decodes standard base64 (padding optional). */
export function fromBase64(b64: string): Uint8Array {
  try {
    return Uint8Array.fromBase64(b64);
  } catch {
    throw new OpenPgpFormatError("Cannot read OpenPGP armor: invalid base64");
  }
}

/** Bytes as upper-case hex (how GnuPG and containers/image write fingerprints). */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += hex2(b);
  return s.toUpperCase();
}

function hex2(b: number): string {
  return b.toString(16).padStart(2, "0");
}
