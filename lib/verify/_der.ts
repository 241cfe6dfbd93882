// A bounded DER reader (X.690 distinguished encoding) and the few writers the verifier needs.
//
// Everything read here is untrusted: certificates, timestamps, SCT extensions. The reader checks
// every length against the bytes that are there before it uses it, allows only definite minimal
// lengths, caps the input size, the nesting depth and the number of elements, and walks the tree
// with an explicit stack, so no input can overflow the call stack or make it allocate more than
// a small multiple of its own size (the nodes are views into the input, never copies).

/** Malformed or over-limit DER. The message names what was being read and why it stopped. */
export class DerError extends SyntaxError {
  /**
   * Makes the error.
   *
   * @param message What is wrong, e.g. `certificate: length 4294967295 runs past the end`.
   */
  constructor(message: string) {
    super(message);
    this.name = "DerError";
  }
}

/** Limits of one DER parse. */
export interface DerLimits {
  /** The largest input, in bytes. @default 65536 */
  maxBytes?: number;
  /** The deepest nesting of constructed elements. @default 32 */
  maxDepth?: number;
  /** The most elements in the whole tree. @default 10000 */
  maxNodes?: number;
}

/** The default limits: an X.509 certificate of Fulcio is about 1-3 KiB and 8 levels deep. */
export const DER_DEFAULTS: Required<DerLimits> = {
  maxBytes: 64 * 1024,
  maxDepth: 32,
  maxNodes: 10_000,
};

/** Tag classes. */
export const UNIVERSAL = 0, APPLICATION = 1, CONTEXT = 2, PRIVATE = 3;

/** Universal tag numbers the verifier reads. */
export const Tag = {
  Boolean: 1,
  Integer: 2,
  BitString: 3,
  OctetString: 4,
  Null: 5,
  Oid: 6,
  Enumerated: 10,
  Utf8String: 12,
  Sequence: 16,
  Set: 17,
  NumericString: 18,
  PrintableString: 19,
  T61String: 20,
  Ia5String: 22,
  UtcTime: 23,
  GeneralizedTime: 24,
  VisibleString: 26,
  UniversalString: 28,
  BmpString: 30,
} as const;

/** One element: its tag and views of its encoding and contents inside the input. */
export interface DerNode {
  /** Tag class: 0 universal, 1 application, 2 context-specific, 3 private. */
  readonly cls: number;
  /** Whether the contents are more elements. */
  readonly constructed: boolean;
  /** The tag number. */
  readonly tag: number;
  /** The whole encoding (identifier, length, contents). */
  readonly der: Uint8Array;
  /** The contents. */
  readonly value: Uint8Array;
  /** Nesting depth: 0 for the outermost element. */
  readonly depth: number;
}

interface Header {
  cls: number;
  constructed: boolean;
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

/** Reads one identifier and length at `at`, checking that the contents fit before `limit`. */
function readHeader(bytes: Uint8Array, at: number, limit: number, what: string): Header {
  const start = at;
  if (at >= limit) throw new DerError(`${what}: an element is cut off`);
  const id = bytes[at++]!;
  const cls = id >> 6;
  const constructed = (id & 0x20) !== 0;
  let tag = id & 0x1f;
  if (tag === 0x1f) {
    // high tag number form: base 128, at most 4 bytes, minimal, and >= 31
    tag = 0;
    for (let n = 0;; n++) {
      if (at >= limit) throw new DerError(`${what}: a tag is cut off`);
      if (n === 4) throw new DerError(`${what}: a tag number is too large`);
      const b = bytes[at++]!;
      if (n === 0 && b === 0x80) throw new DerError(`${what}: a tag number is not minimal`);
      tag = tag * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) break;
    }
    if (tag < 31) throw new DerError(`${what}: a tag number is not minimal`);
  }
  if (at >= limit) throw new DerError(`${what}: a length is cut off`);
  const first = bytes[at++]!;
  let length: number;
  if (first < 0x80) {
    length = first;
  } else if (first === 0x80) {
    throw new DerError(`${what}: an indefinite length (BER, not DER)`);
  } else {
    const count = first & 0x7f;
    if (count > 4) throw new DerError(`${what}: a length of ${count} bytes is too large`);
    if (at + count > limit) throw new DerError(`${what}: a length is cut off`);
    if (bytes[at] === 0) throw new DerError(`${what}: a length is not minimal`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[at++]!;
    if (length < 0x80) throw new DerError(`${what}: a length is not minimal`);
  }
  if (length > limit - at) {
    throw new DerError(`${what}: length ${length} runs past the end (${limit - at} bytes left)`);
  }
  return { cls, constructed, tag, start, contentStart: at, end: at + length };
}

function node(bytes: Uint8Array, h: Header, depth: number): DerNode {
  return {
    cls: h.cls,
    constructed: h.constructed,
    tag: h.tag,
    der: bytes.subarray(h.start, h.end),
    value: bytes.subarray(h.contentStart, h.end),
    depth,
  };
}

/**
 * Parses exactly one DER element spanning all of `bytes`, after checking the whole tree (every
 * constructed element's children, down to the depth cap) so that later reads cannot meet a
 * malformed length.
 *
 * @param bytes The encoding.
 * @param what What it is, for messages (`certificate`, `timestamp`).
 * @param limits Size, depth and element caps.
 * @returns The outermost element.
 * @throws {DerError} When the input is malformed or over a limit.
 */
export function parseDer(bytes: Uint8Array, what: string, limits: DerLimits = {}): DerNode {
  const maxBytes = limits.maxBytes ?? DER_DEFAULTS.maxBytes;
  const maxDepth = limits.maxDepth ?? DER_DEFAULTS.maxDepth;
  const maxNodes = limits.maxNodes ?? DER_DEFAULTS.maxNodes;
  if (bytes.byteLength > maxBytes) {
    throw new DerError(`${what}: ${bytes.byteLength} bytes is over the limit of ${maxBytes}`);
  }
  const top = readHeader(bytes, 0, bytes.byteLength, what);
  if (top.end !== bytes.byteLength) {
    throw new DerError(`${what}: ${bytes.byteLength - top.end} bytes follow the element`);
  }
  // iterative walk: each frame is the remaining range of one constructed element's contents
  let nodes = 1;
  const stack: { at: number; end: number; depth: number }[] = [];
  if (top.constructed) stack.push({ at: top.contentStart, end: top.end, depth: 1 });
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (frame.at >= frame.end) {
      stack.pop();
      continue;
    }
    if (frame.depth > maxDepth) throw new DerError(`${what}: nested deeper than ${maxDepth}`);
    const h = readHeader(bytes, frame.at, frame.end, what);
    frame.at = h.end;
    if (++nodes > maxNodes) throw new DerError(`${what}: more than ${maxNodes} elements`);
    if (h.constructed && h.end > h.contentStart) {
      stack.push({ at: h.contentStart, end: h.end, depth: frame.depth + 1 });
    }
  }
  return node(bytes, top, 0);
}

/**
 * The elements inside a constructed element (already checked by {@link parseDer}).
 *
 * @param n A constructed element.
 * @param what What it is, for messages.
 * @returns Its children, in order.
 */
export function children(n: DerNode, what: string): DerNode[] {
  if (!n.constructed) throw new DerError(`${what}: expected a constructed element`);
  const out: DerNode[] = [];
  const bytes = n.value;
  let at = 0;
  while (at < bytes.byteLength) {
    const h = readHeader(bytes, at, bytes.byteLength, what);
    out.push(node(bytes, h, n.depth + 1));
    at = h.end;
  }
  return out;
}

/** Whether `n` is the universal element `tag`. */
export function isUniversal(n: DerNode | undefined, tag: number): boolean {
  return n !== undefined && n.cls === UNIVERSAL && n.tag === tag;
}

/** Whether `n` is the context-specific element `[tag]`. */
export function isContext(n: DerNode | undefined, tag: number): boolean {
  return n !== undefined && n.cls === CONTEXT && n.tag === tag;
}

const UNIVERSAL_NAMES: Record<number, string> = {
  1: "BOOLEAN",
  2: "INTEGER",
  3: "BIT STRING",
  4: "OCTET STRING",
  5: "NULL",
  6: "OBJECT IDENTIFIER",
  16: "SEQUENCE",
  17: "SET",
  23: "UTCTime",
  24: "GeneralizedTime",
};

/**
 * Checks that `n` is the universal element `tag` and returns it.
 *
 * @param n The element, or undefined when it is missing.
 * @param tag The universal tag number.
 * @param what What it is, for messages.
 * @returns `n`.
 */
export function expect(n: DerNode | undefined, tag: number, what: string): DerNode {
  const name = UNIVERSAL_NAMES[tag] ?? `universal ${tag}`;
  if (n === undefined) throw new DerError(`${what}: missing (expected ${name})`);
  if (n.cls !== UNIVERSAL || n.tag !== tag) {
    throw new DerError(`${what}: expected ${name}, got ${describe(n)}`);
  }
  const constructed = tag === Tag.Sequence || tag === Tag.Set;
  if (n.constructed !== constructed) {
    throw new DerError(`${what}: ${name} must be ${constructed ? "constructed" : "primitive"}`);
  }
  return n;
}

/** Children of a SEQUENCE (checked to be one). */
export function sequence(n: DerNode | undefined, what: string): DerNode[] {
  return children(expect(n, Tag.Sequence, what), what);
}

function describe(n: DerNode): string {
  const cls = ["universal", "application", "context", "private"][n.cls]!;
  return n.cls === UNIVERSAL
    ? (UNIVERSAL_NAMES[n.tag] ?? `universal ${n.tag}`)
    : `${cls} [${n.tag}]`;
}

/** An OBJECT IDENTIFIER in dotted form (at most 64 arcs, each below 2^53, minimally encoded). */
export function readOid(n: DerNode | undefined, what: string): string {
  const v = expect(n, Tag.Oid, what).value;
  if (v.byteLength === 0 || v.byteLength > 256) throw new DerError(`${what}: bad OID length`);
  const arcs: number[] = [];
  let value = 0;
  let started = false;
  for (let i = 0; i < v.byteLength; i++) {
    const b = v[i]!;
    if (!started && b === 0x80) throw new DerError(`${what}: OID arc not minimal`);
    started = true;
    value = value * 128 + (b & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new DerError(`${what}: OID arc too large`);
    if ((b & 0x80) === 0) {
      if (arcs.length === 0) {
        const first = value < 40 ? 0 : value < 80 ? 1 : 2;
        arcs.push(first, value - first * 40);
      } else arcs.push(value);
      if (arcs.length > 64) throw new DerError(`${what}: OID has too many arcs`);
      value = 0;
      started = false;
    }
  }
  if (started) throw new DerError(`${what}: OID is cut off`);
  return arcs.join(".");
}

/** The two's-complement bytes of an INTEGER, checked to be minimally encoded. */
export function readIntegerBytes(n: DerNode | undefined, what: string): Uint8Array {
  const v = expect(n, Tag.Integer, what).value;
  if (v.byteLength === 0) throw new DerError(`${what}: empty INTEGER`);
  if (
    v.byteLength > 1 &&
    ((v[0] === 0x00 && (v[1]! & 0x80) === 0) || (v[0] === 0xff && (v[1]! & 0x80) !== 0))
  ) {
    throw new DerError(`${what}: INTEGER is not minimally encoded`);
  }
  return v;
}

/** A small non-negative INTEGER (versions, path lengths): at most 2^31. */
export function readSmallInt(n: DerNode | undefined, what: string): number {
  const v = readIntegerBytes(n, what);
  if ((v[0]! & 0x80) !== 0) throw new DerError(`${what}: negative`);
  if (v.byteLength > 5 || (v.byteLength === 5 && v[0] !== 0)) {
    throw new DerError(`${what}: too large`);
  }
  let x = 0;
  for (const b of v) x = x * 256 + b;
  if (x > 2 ** 31) throw new DerError(`${what}: too large`);
  return x;
}

/** A non-negative INTEGER's magnitude, without the sign byte (RSA moduli, ECDSA r and s). */
export function readUnsigned(n: DerNode | undefined, what: string): Uint8Array {
  const v = readIntegerBytes(n, what);
  if ((v[0]! & 0x80) !== 0) throw new DerError(`${what}: negative`);
  return v[0] === 0 && v.byteLength > 1 ? v.subarray(1) : v;
}

/** A BIT STRING's bytes and count of unused bits in the last byte. */
export function readBitString(
  n: DerNode | undefined,
  what: string,
): { bytes: Uint8Array; unused: number } {
  const v = expect(n, Tag.BitString, what).value;
  if (v.byteLength === 0) throw new DerError(`${what}: empty BIT STRING`);
  const unused = v[0]!;
  if (unused > 7 || (unused > 0 && v.byteLength === 1)) {
    throw new DerError(`${what}: bad unused-bit count`);
  }
  if (unused > 0 && (v[v.byteLength - 1]! & ((1 << unused) - 1)) !== 0) {
    throw new DerError(`${what}: unused bits are not zero`);
  }
  return { bytes: v.subarray(1), unused };
}

/** A BOOLEAN (DER: 0x00 or 0xff). */
export function readBoolean(n: DerNode | undefined, what: string): boolean {
  const v = expect(n, Tag.Boolean, what).value;
  if (v.byteLength !== 1 || (v[0] !== 0 && v[0] !== 0xff)) {
    throw new DerError(`${what}: BOOLEAN must be one byte 00 or FF`);
  }
  return v[0] === 0xff;
}

/** An OCTET STRING's contents. */
export function readOctets(n: DerNode | undefined, what: string): Uint8Array {
  return expect(n, Tag.OctetString, what).value;
}

/** A time: UTCTime or GeneralizedTime. */
export interface DerTime {
  /** The instant, to the millisecond (fractions beyond are truncated). */
  readonly date: Date;
  /** The text as encoded, e.g. `20240102030405.123456789Z`. */
  readonly text: string;
}

const UTC_TIME = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;
// GeneralizedTime in UTC with 0 to 9 fraction digits: RFC 3161 allows a fraction of any
// precision (2.4.2: "the encoding MUST terminate with a Z"), and sigstore's timestamp authorities
// write 0 to 9 digits. RFC 5280 forbids fractions in certificates, but nothing is gained by
// refusing them there.
const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,9}))?Z$/;

/**
 * Reads a UTCTime (`YYMMDDHHMMSSZ`, years 1950-2049 as RFC 5280 says) or a GeneralizedTime
 * (`YYYYMMDDHHMMSS[.f]Z`, 0 to 9 fraction digits).
 *
 * @param n The element.
 * @param what What it is, for messages.
 * @returns The instant and the text.
 */
export function readTime(n: DerNode | undefined, what: string): DerTime {
  if (n === undefined) throw new DerError(`${what}: missing time`);
  if (n.cls !== UNIVERSAL || n.constructed) throw new DerError(`${what}: expected a time`);
  const text = ascii(n.value);
  let m: RegExpExecArray | null;
  let year: number;
  if (n.tag === Tag.UtcTime) {
    m = UTC_TIME.exec(text);
    if (!m) throw new DerError(`${what}: malformed UTCTime`);
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (n.tag === Tag.GeneralizedTime) {
    m = GENERALIZED_TIME.exec(text);
    if (!m) throw new DerError(`${what}: malformed GeneralizedTime`);
    year = Number(m[1]);
  } else {
    throw new DerError(`${what}: expected UTCTime or GeneralizedTime, got ${describe(n)}`);
  }
  const [month, day, hour, minute, second] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = m[7] ? Number(m[7].padEnd(3, "0").slice(0, 3)) : 0;
  const t = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  const d = new Date(t);
  if (
    month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59 ||
    d.getUTCDate() !== day || d.getUTCMonth() !== month - 1
  ) {
    throw new DerError(`${what}: not a real date and time`);
  }
  return { date: d, text };
}

/**
 * A directory string or other text element: UTF8String, PrintableString, IA5String,
 * VisibleString, NumericString, T61String (as Latin-1), BMPString, UniversalString.
 *
 * @param n The element.
 * @param what What it is, for messages.
 * @returns The text (invalid UTF-8 is refused).
 */
export function readString(n: DerNode | undefined, what: string): string {
  if (n === undefined) throw new DerError(`${what}: missing string`);
  if (n.cls !== UNIVERSAL || n.constructed) throw new DerError(`${what}: expected a string`);
  const v = n.value;
  switch (n.tag) {
    case Tag.Utf8String:
      try {
        return new TextDecoder("utf-8", { fatal: true }).decode(v);
      } catch {
        throw new DerError(`${what}: invalid UTF-8`);
      }
    case Tag.PrintableString:
    case Tag.Ia5String:
    case Tag.VisibleString:
    case Tag.NumericString:
      for (const b of v) if (b > 0x7f) throw new DerError(`${what}: non-ASCII byte in a string`);
      return ascii(v);
    case Tag.T61String:
      return ascii(v);
    case Tag.BmpString: {
      if (v.byteLength % 2 !== 0) throw new DerError(`${what}: odd BMPString`);
      let s = "";
      for (let i = 0; i < v.byteLength; i += 2) s += String.fromCharCode(v[i]! << 8 | v[i + 1]!);
      return s;
    }
    case Tag.UniversalString: {
      if (v.byteLength % 4 !== 0) throw new DerError(`${what}: bad UniversalString`);
      let s = "";
      for (let i = 0; i < v.byteLength; i += 4) {
        const c = ((v[i]! << 24) >>> 0) + (v[i + 1]! << 16) + (v[i + 2]! << 8) + v[i + 3]!;
        if (c > 0x10ffff) throw new DerError(`${what}: bad UniversalString`);
        s += String.fromCodePoint(c);
      }
      return s;
    }
    default:
      throw new DerError(`${what}: expected a string, got ${describe(n)}`);
  }
}

function ascii(v: Uint8Array): string {
  let s = "";
  for (const b of v) s += String.fromCharCode(b);
  return s;
}

// ---- writing ----

/**
 * Encodes one element from its identifier byte (class, constructed bit and a tag number below
 * 31) and its contents.
 *
 * @param id The identifier byte, e.g. `0x30` for SEQUENCE.
 * @param parts The contents, concatenated.
 * @returns The encoding.
 */
export function encode(id: number, ...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.byteLength;
  const lengthBytes: number[] = [];
  if (length < 0x80) lengthBytes.push(length);
  else {
    const b: number[] = [];
    for (let x = length; x > 0; x = Math.floor(x / 256)) b.unshift(x % 256);
    lengthBytes.push(0x80 | b.length, ...b);
  }
  const out = new Uint8Array(1 + lengthBytes.length + length);
  out[0] = id;
  out.set(lengthBytes, 1);
  let at = 1 + lengthBytes.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Encodes an OBJECT IDENTIFIER from its dotted form. */
export function encodeOid(oid: string): Uint8Array {
  const arcs = oid.split(".").map(Number);
  const bytes: number[] = [];
  const push = (x: number) => {
    const b: number[] = [x % 128];
    for (x = Math.floor(x / 128); x > 0; x = Math.floor(x / 128)) b.unshift(0x80 | (x % 128));
    bytes.push(...b);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return encode(Tag.Oid, new Uint8Array(bytes));
}

/** Encodes a non-negative INTEGER from its big-endian magnitude. */
export function encodeUnsigned(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.byteLength - 1 && magnitude[start] === 0) start++;
  const m = magnitude.subarray(start);
  return (m[0]! & 0x80) !== 0
    ? encode(Tag.Integer, new Uint8Array([0]), m)
    : encode(Tag.Integer, m);
}
