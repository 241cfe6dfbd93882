// CRC-32C (Castagnoli), the checksum of ext4's metadata_csum: table-driven, one byte at a time
// (metadata only; file data is never checksummed).

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * Continues a raw CRC-32C over `bytes` from `crc`, without the final inversion: the kernel's
 * `ext4_chksum(sbi, crc, bytes, len)` (start from `0xffffffff`).
 *
 * @returns The new running value.
 */
export function crc32c(crc: number, bytes: Uint8Array): number {
  let c = crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** {@linkcode crc32c} over a little-endian 32-bit number. */
export function crc32cU32(crc: number, n: number): number {
  let c = crc >>> 0;
  for (let i = 0; i < 4; i++) c = TABLE[(c ^ (n >>> (8 * i))) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}
