/**
 * Verification of an OpenPGP signed message as GnuPG makes it for `skopeo copy --sign-by` and
 * podman (`gpg --sign`, binary): a compressed data packet (ZIP, ZLIB or none) holding a one-pass
 * signature, the literal data and the signature; or the same without compression, or the older
 * signature-first order. Exactly one signature, made by a key of the trusted keyring that may sign
 * at the time of verification.
 *
 * @module
 */

import { inflate } from "./_inflate.ts";
import { algorithmName } from "./_openpgp_key_import.ts";
import {
  OpenPgpFormatError,
  type Packet,
  Reader,
  readPackets,
  Tag,
  toHex,
} from "./_openpgp_packets.ts";
import {
  hashName,
  parseSignature,
  type Signature,
  SigType,
  verifySignature,
} from "./_openpgp_signature.ts";
import { InvalidSignatureError } from "./invalid_signature_error.ts";
import { isoDate, type OpenPgpKeyring } from "./openpgp_keyring.ts";

/** The most bytes a signed message may have (containers/image reads at most 4 MiB). */
export const OPENPGP_MESSAGE_MAX_BYTES = 4 * 1024 * 1024;
/** The most bytes its content may decompress to. */
export const OPENPGP_CONTENT_MAX_BYTES = 1024 * 1024;
const MAX_PACKETS = 64;

/** Options for {@linkcode verifyOpenPgpMessage}. */
export interface VerifyOpenPgpMessageOptions {
  /**
   * The time of verification: keys and signatures must be valid then.
   * @default {new Date()}
   */
  now?: Date;
}

/** A message whose signature verified. */
export interface VerifiedOpenPgpMessage {
  /** The signed content (the literal data). */
  content: Uint8Array;
  /** The fingerprint of the key that signed (a subkey's, when a subkey signed). */
  signingKeyFingerprint: string;
  /** The fingerprint of its primary key (what a policy's keyring trusts). */
  primaryKeyFingerprint: string;
  /** When it was signed (the signature's creation time). */
  created: Date;
  /** The hash algorithm, e.g. `SHA-256`. */
  hash: string;
  /** The key algorithm, e.g. `RSA`, `ECDSA`, `EdDSA`, `Ed25519`. */
  algorithm: string;
}

/**
 * Verifies a signed OpenPGP message against trusted keys and returns what it signs.
 *
 * Checked, in this order: the framing (every length bounded, at most 4 MiB in, 1 MiB decompressed,
 * one level of compression, exactly one one-pass signature + literal data + signature, the one-pass
 * packet agreeing with the signature); a data signature (binary or text) with a creation time and
 * no unknown critical subpacket; a trusted key named by the signature's issuer fingerprint or key
 * ID; the hash (SHA-256/384/512; never SHA-1 or weaker) and the key's verification; then the key's
 * validity now (a valid self-signature, not revoked, not expired, allowed to sign; a subkey bound
 * both ways), the signature not made before the key nor in the future, and not expired.
 *
 * @param message The signature blob (binary OpenPGP).
 * @param keyring The trusted keys.
 * @param options The time of verification.
 * @returns The content and who signed it.
 * @throws {InvalidSignatureError} `Cannot verify signature: <why>` for anything that is not one
 *   valid signature by a trusted key.
 *
 * @example Verify a signature made by `gpg --sign`
 * ```ts ignore
 * import { OpenPgpKeyring } from "./openpgp_keyring.ts";
 * import { verifyOpenPgpMessage } from "./verify_openpgp_message.ts";
 *
 * const keyring = await OpenPgpKeyring.read([await Deno.readFile("trusted.gpg")]);
 * const verified = await verifyOpenPgpMessage(await Deno.readFile("signature-1"), keyring);
 * console.log(verified.primaryKeyFingerprint, new TextDecoder().decode(verified.content));
 * ```
 */
export async function verifyOpenPgpMessage(
  message: Uint8Array,
  keyring: OpenPgpKeyring,
  options: VerifyOpenPgpMessageOptions = {},
): Promise<VerifiedOpenPgpMessage> {
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const { literal, signature, onePass } = await readMessage(message);
  const sig = signature;
  if (sig.type !== SigType.Binary && sig.type !== SigType.Text) {
    throw new InvalidSignatureError(`it is not a data signature (type 0x${hex(sig.type)})`);
  }
  if (onePass) checkOnePass(onePass, sig);
  if (sig.unusable) {
    throw new InvalidSignatureError(`the signature cannot be used: ${sig.unusable}`);
  }
  const content = readLiteral(literal);
  const signed = sig.type === SigType.Text ? canonicalText(content) : content;

  const candidates = keyring.candidates(sig.issuerFingerprints, sig.issuerKeyIds);
  if (candidates.length === 0) {
    const who = sig.issuerFingerprints[0] ?? sig.issuerKeyIds[0];
    throw new InvalidSignatureError(
      who ? `it was made by key ${who}, which is not trusted` : "it names no key",
    );
  }
  const problems: string[] = [];
  for (const { cert, key } of candidates) {
    const bad = await verifySignature(sig, signed, key, { allowSha1: false });
    if (bad) {
      problems.push(candidates.length > 1 ? `${bad} with key ${key.fingerprint}` : bad);
      continue;
    }
    const keyProblem = await keyring.signingKeyProblem(cert, key, now);
    if (keyProblem) {
      problems.push(keyProblem);
      continue;
    }
    const created = sig.created!;
    if (created < key.created) {
      problems.push(`it was made before key ${key.fingerprint} existed`);
      continue;
    }
    if (created > now) {
      problems.push(`it was made in the future (${isoDate(created)})`);
      continue;
    }
    if (sig.expiresAfter && created + sig.expiresAfter <= now) {
      problems.push(`it expired on ${isoDate(created + sig.expiresAfter)}`);
      continue;
    }
    return {
      content,
      signingKeyFingerprint: key.fingerprint,
      primaryKeyFingerprint: cert.primary.fingerprint,
      created: new Date(created * 1000),
      hash: hashName(sig.hashAlgorithm),
      algorithm: algorithmName(sig.keyAlgorithm),
    };
  }
  throw new InvalidSignatureError(problems.join("; "));
}

/** The packets of a signed message, after one level of decompression. */
async function readMessage(
  message: Uint8Array,
): Promise<{ literal: Packet; signature: Signature; onePass: Uint8Array | undefined }> {
  if (message.byteLength > OPENPGP_MESSAGE_MAX_BYTES) {
    throw new InvalidSignatureError(`it is larger than ${OPENPGP_MESSAGE_MAX_BYTES} bytes`);
  }
  try {
    let packets = readPackets(message, MAX_PACKETS).filter(notFiller);
    if (packets.length === 1 && packets[0]!.tag === Tag.CompressedData) {
      packets = readPackets(await decompress(packets[0]!.body), MAX_PACKETS).filter(notFiller);
    }
    const tags = packets.map((p) => p.tag);
    const shape = tags.join(",");
    if (shape === `${Tag.OnePassSignature},${Tag.LiteralData},${Tag.Signature}`) {
      return {
        onePass: packets[0]!.body,
        literal: packets[1]!,
        signature: parseSignature(packets[2]!.body),
      };
    }
    if (shape === `${Tag.Signature},${Tag.LiteralData}`) {
      return {
        onePass: undefined,
        literal: packets[1]!,
        signature: parseSignature(packets[0]!.body),
      };
    }
    const signatures = tags.filter((t) => t === Tag.Signature).length;
    if (signatures > 1) {
      throw new InvalidSignatureError(`it holds ${signatures} signatures, not one`);
    }
    throw new InvalidSignatureError(
      `it is not a signed message (packets: ${tags.slice(0, 8).join(", ")}${
        tags.length > 8 ? ", ..." : ""
      })`,
    );
  } catch (e) {
    if (e instanceof OpenPgpFormatError) {
      throw new InvalidSignatureError(e.message.replace(/^Cannot /, "cannot "));
    }
    throw e;
  }
}

function notFiller(p: Packet): boolean {
  return p.tag !== Tag.Marker && p.tag !== Tag.Padding;
}

async function decompress(body: Uint8Array): Promise<Uint8Array> {
  const r = new Reader(body, "an OpenPGP compressed data packet");
  const algorithm = r.u8();
  const data = r.rest();
  switch (algorithm) {
    case 0:
      return data;
    case 1:
      return await inflate(data, "deflate-raw", OPENPGP_CONTENT_MAX_BYTES + 64 * 1024);
    case 2:
      return await inflate(data, "deflate", OPENPGP_CONTENT_MAX_BYTES + 64 * 1024);
    default:
      throw new InvalidSignatureError(
        `it is compressed with ${algorithm === 3 ? "BZip2" : `algorithm ${algorithm}`}, ` +
          "which skiff does not read",
      );
  }
}

/** The one-pass signature packet must announce the signature that follows. */
function checkOnePass(body: Uint8Array, sig: Signature): void {
  const r = new Reader(body, "an OpenPGP one-pass signature");
  try {
    const version = r.u8();
    const type = r.u8(), hash = r.u8(), algorithm = r.u8();
    let issuer: string;
    if (version === 3) {
      issuer = toHex(r.bytes(8));
    } else if (version === 6) {
      r.bytes(r.u8()); // the salt, checked by the signature's own
      issuer = toHex(r.bytes(32));
    } else {
      throw new InvalidSignatureError(`its one-pass signature has version ${version}`);
    }
    r.u8();
    r.end();
    const named = version === 3
      ? [...sig.issuerKeyIds, ...sig.issuerFingerprints.map((f) => f.slice(-16))]
      : sig.issuerFingerprints;
    if (
      type !== sig.type || hash !== sig.hashAlgorithm || algorithm !== sig.keyAlgorithm ||
      (version === 6) !== (sig.version === 6) || !named.includes(issuer)
    ) {
      throw new InvalidSignatureError("its one-pass signature does not announce its signature");
    }
  } catch (e) {
    if (e instanceof OpenPgpFormatError) {
      throw new InvalidSignatureError("a malformed one-pass signature");
    }
    throw e;
  }
}

function readLiteral(packet: Packet): Uint8Array {
  try {
    const r = new Reader(packet.body, "an OpenPGP literal data packet");
    r.u8(); // format: b, t, u, ... (the signature type says how the data was hashed)
    r.bytes(r.u8()); // file name
    r.u32(); // date
    const content = r.rest();
    if (content.byteLength > OPENPGP_CONTENT_MAX_BYTES) {
      throw new InvalidSignatureError(
        `its content is larger than ${OPENPGP_CONTENT_MAX_BYTES} bytes`,
      );
    }
    return content;
  } catch (e) {
    if (e instanceof OpenPgpFormatError) {
      throw new InvalidSignatureError("a malformed literal data packet");
    }
    throw e;
  }
}

/** Text signatures hash lines ending in CR LF (RFC 9580 section 5.2.1.2). */
function canonicalText(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < bytes.byteLength; i++) {
    const b = bytes[i]!;
    if (b === 0x0a && (i === 0 || bytes[i - 1] !== 0x0d)) out.push(0x0d);
    out.push(b);
  }
  return new Uint8Array(out);
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}
