// Byte helpers of the verify layer: base64 and hex that refuse what is not theirs, PEM blocks,
// comparison, concatenation and Web Crypto digests.

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;
const B64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/**
 * Decodes base64 (standard or URL-safe alphabet, padding optional, as protobuf JSON allows),
 * refusing anything else. The caller checks the string's length against its cap first.
 *
 * @param text The base64 text.
 * @param what What it is, for the message.
 * @returns The bytes.
 * @throws {SyntaxError} When the text is not base64.
 */
export function fromBase64(text: string, what: string): Uint8Array {
  const clean = text.endsWith("=") ? text.replace(/=+$/, "") : text;
  if ((!B64.test(text) && !B64URL.test(text)) || clean.length % 4 === 1) {
    throw new SyntaxError(`${what} is not base64`);
  }
  const standard = clean.replace(/-/g, "+").replace(/_/g, "/");
  const padded = standard + "=".repeat((4 - (standard.length % 4)) % 4);
  const bin = atob(padded);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Encodes bytes as standard base64 with padding. */
export function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.byteLength; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/** Lowercase hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/**
 * Decodes hex (either case).
 *
 * @param text The hex text.
 * @param what What it is, for the message.
 * @returns The bytes.
 * @throws {SyntaxError} When the text is not an even number of hex digits.
 */
export function fromHex(text: string, what: string): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new SyntaxError(`${what} is not hex`);
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Whether two byte arrays hold the same bytes. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < a.byteLength; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** The bytes of several arrays, one after the other. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** A hash the verifier computes, by its Web Crypto name. */
export type HashName = "SHA-256" | "SHA-384" | "SHA-512";

/** The digest of bytes with Web Crypto. */
export async function digest(hash: HashName, ...parts: Uint8Array[]): Promise<Uint8Array> {
  const data = parts.length === 1 ? parts[0]! : concat(...parts);
  return new Uint8Array(await crypto.subtle.digest(hash, data as Uint8Array<ArrayBuffer>));
}

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/**
 * Decodes UTF-8, refusing invalid sequences.
 *
 * @param bytes The bytes.
 * @param what What they are, for the message.
 * @returns The text.
 * @throws {SyntaxError} When the bytes are not UTF-8.
 */
export function fromUtf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new SyntaxError(`${what} is not UTF-8`);
  }
}

/** One PEM block: its label and its decoded bytes. */
export interface PemBlock {
  /** The label, e.g. `CERTIFICATE` or `PUBLIC KEY`. */
  readonly label: string;
  /** The decoded contents. */
  readonly der: Uint8Array;
}

const PEM = /-----BEGIN ([A-Z0-9 ]{1,64})-----([\s\S]*?)-----END \1-----/g;

/**
 * The PEM blocks of a text, in order (RFC 7468; headers such as `Proc-Type` are refused).
 *
 * @param text The text (one or more blocks; text between them is ignored).
 * @param what What it is, for messages.
 * @param maxBlocks The most blocks read.
 * @returns The blocks.
 * @throws {SyntaxError} When there is no block, too many, or one is not base64.
 */
export function parsePem(text: string, what: string, maxBlocks = 16): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(PEM)) {
    if (out.length === maxBlocks) {
      throw new SyntaxError(`${what} has more than ${maxBlocks} blocks`);
    }
    const body = m[2]!.replace(/[\r\n\t ]/g, "");
    out.push({ label: m[1]!, der: fromBase64(body, `${what} (${m[1]!})`) });
  }
  if (out.length === 0) throw new SyntaxError(`${what} holds no PEM block`);
  return out;
}

/** Encodes DER as one PEM block. */
export function toPem(label: string, der: Uint8Array): string {
  const b64 = toBase64(der);
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
