// bcrypt (Provos and Mazières, 1999: EksBlowfish) for `skiff serve --htpasswd`: the `$2a$`, `$2b$`
// and `$2y$` hashes `htpasswd -B` writes. Only verification is needed; `bcryptHash` is its core.
//
// Blowfish's initial state is the hexadecimal digits of pi (18 words of P-array, then 4 x 256
// S-box words). They are computed here, once, on the first use (Machin's formula in BigInt,
// about 33,400 bits: a few milliseconds), rather than written out as a table of 1,042 constants.
//
// The work (2^cost key expansions) runs on the serving thread, so it yields to the event loop
// between rounds: other requests are answered while a password is checked.

const ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HASH = /^\$2([aby])\$(\d\d)\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/;
/** "OrpheanBeholderScryDoubt", the text bcrypt encrypts 64 times. */
const MAGIC = new TextEncoder().encode("OrpheanBeholderScryDoubt");
/** How many rounds of the cost loop run between two yields to the event loop. */
const ROUNDS_PER_YIELD = 8;

let initial: Uint32Array | undefined;

/** The first 1,042 32-bit words of pi's fraction, in hexadecimal: Blowfish's P and S. */
function piWords(): Uint32Array {
  if (initial) return initial;
  const words = 18 + 4 * 256;
  const bits = BigInt(words * 32 + 64); // 64 guard bits
  const one = 1n << bits;
  // arctan(1/x) scaled by `one`, summed until the terms vanish
  const arctan = (x: bigint) => {
    let power = one / x;
    const x2 = x * x;
    let sum = power;
    for (let k = 1n; power !== 0n; k++) {
      power /= x2;
      const term = power / (2n * k + 1n);
      sum += k % 2n === 1n ? -term : term;
    }
    return sum;
  };
  const pi = 16n * arctan(5n) - 4n * arctan(239n);
  let fraction = (pi - 3n * one) >> 64n; // the fraction, words * 32 bits of it
  const out = new Uint32Array(words);
  for (let i = words - 1; i >= 0; i--) {
    out[i] = Number(fraction & 0xffffffffn);
    fraction >>= 32n;
  }
  return initial = out;
}

/** A Blowfish state: P (18 words) then S0..S3 (256 words each), one array. */
function encrypt(state: Uint32Array, block: Uint32Array, at: number): void {
  let l = block[at]!, r = block[at + 1]!;
  for (let i = 0; i < 16; i += 2) {
    l ^= state[i]!;
    r ^= ((state[18 + (l >>> 24)]! + state[274 + ((l >>> 16) & 0xff)]!) ^
      state[530 + ((l >>> 8) & 0xff)]!) + state[786 + (l & 0xff)]!;
    r ^= state[i + 1]!;
    l ^= ((state[18 + (r >>> 24)]! + state[274 + ((r >>> 16) & 0xff)]!) ^
      state[530 + ((r >>> 8) & 0xff)]!) + state[786 + (r & 0xff)]!;
  }
  block[at] = (r ^ state[17]!) >>> 0;
  block[at + 1] = (l ^ state[16]!) >>> 0;
}

/** The next 32-bit word of `bytes`, read cyclically from `cursor.at`. */
function streamWord(bytes: Uint8Array, cursor: { at: number }): number {
  let word = 0;
  for (let i = 0; i < 4; i++) {
    word = (word << 8) | bytes[cursor.at]!;
    cursor.at = (cursor.at + 1) % bytes.length;
  }
  return word >>> 0;
}

/** Blowfish's key schedule with a salt (EksBlowfish's ExpandKey); `salt` undefined: none. */
function expandKey(state: Uint32Array, key: Uint8Array, salt: Uint8Array | undefined): void {
  const keyCursor = { at: 0 };
  for (let i = 0; i < 18; i++) state[i] = (state[i]! ^ streamWord(key, keyCursor)) >>> 0;
  const block = new Uint32Array(2);
  const saltCursor = { at: 0 };
  for (let i = 0; i < state.length; i += 2) {
    if (salt) {
      block[0] = block[0]! ^ streamWord(salt, saltCursor);
      block[1] = block[1]! ^ streamWord(salt, saltCursor);
    }
    encrypt(state, block, 0);
    state[i] = block[0]!;
    state[i + 1] = block[1]!;
  }
}

/** bcrypt's base64: its own alphabet, no padding. */
function encode(bytes: Uint8Array, length: number): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i]!, b1 = bytes[i + 1] ?? 0, b2 = bytes[i + 2] ?? 0;
    out += ALPHABET[b0 >> 2]! + ALPHABET[((b0 & 3) << 4) | (b1 >> 4)]! +
      ALPHABET[((b1 & 15) << 2) | (b2 >> 6)]! + ALPHABET[b2 & 63]!;
  }
  return out.slice(0, length);
}

function decode(text: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let bits = 0, value = 0, at = 0;
  for (const ch of text) {
    value = (value << 6) | ALPHABET.indexOf(ch);
    bits += 6;
    if (bits >= 8 && at < length) {
      bits -= 8;
      out[at++] = (value >> bits) & 0xff;
    }
  }
  return out;
}

/** Options for {@linkcode bcryptHash}. */
export interface BcryptOptions {
  /** Called between rounds of the cost loop: a promise to wait for (a yield), or nothing. */
  pause?: () => Promise<void> | void;
}

/**
 * The bcrypt hash of a password with a cost and a salt, in the `$2b$` form (the version letter
 * given is kept): the password's UTF-8 bytes and a NUL, cycled, at most 72 bytes.
 *
 * @param password The password.
 * @param cost The cost, 4 to 31 (2^cost rounds).
 * @param salt 16 bytes.
 * @param version `a`, `b` or `y` (the same computation for passwords up to 72 bytes).
 * @param options What to do between rounds.
 * @returns The hash, 60 characters.
 */
export async function bcryptHash(
  password: string,
  cost: number,
  salt: Uint8Array,
  version: "a" | "b" | "y" = "b",
  options: BcryptOptions = {},
): Promise<string> {
  if (!Number.isInteger(cost) || cost < 4 || cost > 31) {
    throw new RangeError(`Cannot hash with bcrypt: the cost ${cost} is not from 4 to 31`);
  }
  if (salt.length !== 16) throw new RangeError("Cannot hash with bcrypt: the salt is not 16 bytes");
  const utf8 = new TextEncoder().encode(password);
  const key = new Uint8Array(Math.min(utf8.length + 1, 72));
  key.set(utf8.subarray(0, key.length));
  const state = piWords().slice();
  expandKey(state, key, salt);
  const rounds = 2 ** cost;
  for (let i = 0; i < rounds; i++) {
    expandKey(state, key, undefined);
    expandKey(state, salt, undefined);
    if (options.pause && i % ROUNDS_PER_YIELD === ROUNDS_PER_YIELD - 1) await options.pause();
  }
  const text = new Uint32Array(6);
  for (let i = 0; i < 6; i++) {
    text[i] = ((MAGIC[4 * i]! << 24) | (MAGIC[4 * i + 1]! << 16) | (MAGIC[4 * i + 2]! << 8) |
      MAGIC[4 * i + 3]!) >>> 0;
  }
  for (let i = 0; i < 64; i++) for (let j = 0; j < 6; j += 2) encrypt(state, text, j);
  const out = new Uint8Array(24);
  for (let i = 0; i < 6; i++) {
    out[4 * i] = text[i]! >>> 24;
    out[4 * i + 1] = (text[i]! >>> 16) & 0xff;
    out[4 * i + 2] = (text[i]! >>> 8) & 0xff;
    out[4 * i + 3] = text[i]! & 0xff;
  }
  return `$2${version}$${String(cost).padStart(2, "0")}$${encode(salt, 22)}${
    encode(out.subarray(0, 23), 31)
  }`;
}

/**
 * Whether a text is a bcrypt hash this module verifies (`$2a$`, `$2b$`, `$2y$`, cost 4 to 31).
 *
 * @param hash The text.
 * @returns `true` when it is one.
 */
export function isBcryptHash(hash: string): boolean {
  const m = HASH.exec(hash);
  return m !== null && Number(m[2]) >= 4 && Number(m[2]) <= 31;
}

/**
 * Checks a password against a bcrypt hash, in constant time over the hash's characters.
 *
 * @param password The password given.
 * @param hash The stored hash.
 * @param options What to do between rounds (yield to other work).
 * @returns `true` when the password is the one hashed.
 */
export async function bcryptVerify(
  password: string,
  hash: string,
  options: BcryptOptions = {},
): Promise<boolean> {
  const m = HASH.exec(hash);
  if (!m || !isBcryptHash(hash)) return false;
  const salt = decode(m[3]!, 16);
  const again = await bcryptHash(password, Number(m[2]), salt, m[1] as "a" | "b" | "y", options);
  // the hash part only: a salt written with stray low bits in its last character is the same salt
  const want = m[4]!, got = again.slice(-31);
  let diff = 0;
  for (let i = 0; i < 31; i++) diff |= got.charCodeAt(i) ^ want.charCodeAt(i);
  return diff === 0;
}
