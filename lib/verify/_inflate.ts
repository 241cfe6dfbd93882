/**
 * Bounded, exact decompression of an OpenPGP compressed data packet's body (RFC 9580 section
 * 5.6): ZIP (raw deflate) and ZLIB. At most `maxBytes` come out, so a small packet cannot expand
 * into gigabytes; a stream that is cut short, or followed by bytes it does not use, is refused.
 *
 * Why `node:zlib` and not the web's `DecompressionStream`: Deno 2.9's stream does not fail on a
 * truncated stream (a raw deflate stream missing its last byte decompressed without an error, and
 * a ZLIB one missing two checksum bytes too), and it cannot say how much input it used. The module
 * is imported here, on the first compressed signature, so nothing else pays its start-up.
 *
 * @module
 */

import { OpenPgpFormatError } from "./_openpgp_packets.ts";

/**
 * Decompresses deflate data.
 *
 * @param data The compressed bytes.
 * @param format `deflate-raw` (OpenPGP ZIP) or `deflate` (OpenPGP ZLIB).
 * @param maxBytes The most output bytes accepted.
 * @returns The output.
 * @throws {OpenPgpFormatError} On corrupt, truncated, trailed or oversized data.
 */
export async function inflate(
  data: Uint8Array,
  format: "deflate-raw" | "deflate",
  maxBytes: number,
): Promise<Uint8Array> {
  const zlib = await import("node:zlib");
  const run = format === "deflate-raw" ? zlib.inflateRawSync : zlib.inflateSync;
  let result: { buffer: Uint8Array; engine: { bytesWritten: number } };
  try {
    // `info: true` returns the engine too, whose bytesWritten is the input it consumed
    result = run(data, { maxOutputLength: maxBytes, info: true }) as unknown as typeof result;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ERR_BUFFER_TOO_LARGE") {
      throw new OpenPgpFormatError(
        `Cannot decompress OpenPGP data: it expands to more than ${maxBytes} bytes`,
      );
    }
    throw new OpenPgpFormatError(`Cannot decompress OpenPGP data: ${(e as Error).message}`);
  }
  if (result.engine.bytesWritten !== data.byteLength) {
    throw new OpenPgpFormatError(
      `Cannot decompress OpenPGP data: ${
        data.byteLength - result.engine.bytesWritten
      } bytes after the end of the compressed stream`,
    );
  }
  return new Uint8Array(result.buffer.buffer, result.buffer.byteOffset, result.buffer.byteLength);
}
