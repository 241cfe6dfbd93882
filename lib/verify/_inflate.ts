/**
 * Bounded decompression of an OpenPGP compressed data packet's body (RFC 9580 section 5.6): ZIP
 * (raw deflate) and ZLIB through the web's `DecompressionStream` (no `node:zlib` to load), reading
 * at most `maxBytes` of output so a small packet cannot expand into gigabytes.
 *
 * Deno's `DecompressionStream` does not fail on a truncated stream (measured on 2.9: a ZLIB stream
 * missing its last two checksum bytes decompresses without an error), so the ZLIB trailer's
 * Adler-32 is checked here against the output.
 *
 * @module
 */

import { concat, OpenPgpFormatError } from "./_openpgp_packets.ts";

/**
 * Decompresses deflate data.
 *
 * @param data The compressed bytes.
 * @param format `deflate-raw` (OpenPGP ZIP) or `deflate` (OpenPGP ZLIB).
 * @param maxBytes The most output bytes accepted.
 * @returns The output.
 * @throws {OpenPgpFormatError} On corrupt or oversized data.
 */
export async function inflate(
  data: Uint8Array,
  format: "deflate-raw" | "deflate",
  maxBytes: number,
): Promise<Uint8Array> {
  const stream = new DecompressionStream(format);
  const writer = stream.writable.getWriter();
  writer.write(data as Uint8Array<ArrayBuffer>).catch(() => {});
  writer.close().catch(() => {});
  const reader = stream.readable.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        throw new OpenPgpFormatError(
          `Cannot decompress OpenPGP data: it expands to more than ${maxBytes} bytes`,
        );
      }
      chunks.push(value);
    }
  } catch (e) {
    if (e instanceof OpenPgpFormatError) throw e;
    throw new OpenPgpFormatError(`Cannot decompress OpenPGP data: ${(e as Error).message}`);
  }
  const out = concat(chunks);
  if (format === "deflate") {
    const n = data.byteLength;
    const trailer = n >= 6
      ? (data[n - 4]! * 0x1000000 + (data[n - 3]! << 16) + (data[n - 2]! << 8) + data[n - 1]!)
      : -1;
    if (trailer !== adler32(out)) {
      throw new OpenPgpFormatError(
        "Cannot decompress OpenPGP data: the ZLIB stream is truncated or corrupt",
      );
    }
  }
  return out;
}

function adler32(bytes: Uint8Array): number {
  let a = 1, b = 0;
  for (let i = 0; i < bytes.byteLength;) {
    const end = Math.min(i + 3800, bytes.byteLength);
    for (; i < end; i++) {
      a += bytes[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return (b * 65536 + a) >>> 0;
}
