/**
 * OpenPGP public keys (RFC 4880 section 11.1, RFC 9580 section 10.1): a keyring file as `gpg
 * --export` writes it, binary or ASCII-armored, one or more certificates, each a primary key with
 * its user IDs, self-signatures, revocations and subkeys. Reading is structural; whether a key may
 * sign at a given moment (valid self-signature, not expired, not revoked, a signing subkey bound in
 * both directions) is decided by {@linkcode OpenPgpKeyring.signingKeyProblem}, with every
 * signature over a key verified.
 *
 * @module
 */

import { algorithmName, type KeyMaterial, readKeyMaterial } from "./_openpgp_key_import.ts";
import {
  concat,
  dearmor,
  isArmored,
  OpenPgpFormatError,
  Reader,
  readPackets,
  Tag,
  toHex,
} from "./_openpgp_packets.ts";
import {
  keyFraming,
  parseSignature,
  type Signature,
  SigType,
  userIdFraming,
  verifySignature,
} from "./_openpgp_signature.ts";

/** The most bytes of key data read from one source. */
export const KEYRING_MAX_BYTES = 16 * 1024 * 1024;
/** The most packets in one source (a large keyring with many signatures stays far below). */
const KEYRING_MAX_PACKETS = 100_000;
/** SHA-1 is accepted in signatures over keys made before this time (as sequoia's policy). */
const SHA1_KEY_SIGNATURES_UNTIL = Date.UTC(2023, 1, 1) / 1000;

/** One public key or subkey. */
export interface OpenPgpPublicKey {
  /** 4 or 6. */
  readonly version: number;
  /** The fingerprint, upper-case hex (40 digits for v4, 64 for v6). */
  readonly fingerprint: string;
  /** The key ID, upper-case hex (16 digits). */
  readonly keyId: string;
  /** The public key algorithm (RFC 9580 section 9.1). */
  readonly algorithm: number;
  /** When the key was made, in seconds since the epoch. */
  readonly created: number;
  /** The key material. */
  readonly material: KeyMaterial;
  /** The packet body (what fingerprints and key signatures hash). */
  readonly body: Uint8Array;
}

/** A primary key with what belongs to it. */
export interface OpenPgpCertificate {
  /** The primary key. */
  readonly primary: OpenPgpPublicKey;
  /** Direct-key signatures and key revocations. */
  readonly signatures: readonly Signature[];
  /** User IDs and attributes, each with its signatures. */
  readonly userIds: readonly {
    readonly attribute: boolean;
    readonly data: Uint8Array;
    readonly signatures: readonly Signature[];
  }[];
  /** Subkeys, each with its binding signatures and revocations. */
  readonly subkeys: readonly {
    readonly key: OpenPgpPublicKey;
    readonly signatures: readonly Signature[];
  }[];
}

/** Parses a public key packet body. */
async function readKey(body: Uint8Array): Promise<OpenPgpPublicKey | undefined> {
  const r = new Reader(body, "an OpenPGP public key");
  const version = r.u8();
  if (version !== 4 && version !== 6) return undefined; // v3 (gpg 2.1+ dropped it too), v5
  const created = r.u32();
  const algorithm = r.u8();
  let material: KeyMaterial;
  if (version === 6) {
    const n = r.u32();
    const m = new Reader(r.bytes(n), "OpenPGP key material");
    material = readKeyMaterial(algorithm, m);
    m.end();
  } else {
    material = readKeyMaterial(algorithm, r);
  }
  r.end();
  const framed = keyFraming(version, body);
  const fp = new Uint8Array(
    await crypto.subtle.digest(
      version === 6 ? "SHA-256" : "SHA-1",
      framed as Uint8Array<ArrayBuffer>,
    ),
  );
  const fingerprint = toHex(fp);
  const keyId = version === 6 ? fingerprint.slice(0, 16) : fingerprint.slice(-16);
  return { version, fingerprint, keyId, algorithm, created, material, body };
}

/**
 * A set of trusted OpenPGP certificates (the keys of a policy's `signedBy`).
 */
export class OpenPgpKeyring {
  /** The certificates, in the order read. */
  readonly certificates: readonly OpenPgpCertificate[];
  /** Why a certificate or key of the input was left out (an unsupported version, for example). */
  readonly skipped: readonly string[];

  private constructor(certificates: OpenPgpCertificate[], skipped: string[]) {
    this.certificates = certificates;
    this.skipped = skipped;
  }

  /**
   * Reads keyrings: binary or armored, one or more certificates each, as `gpg --export [--armor]`
   * writes them (GnuPG 1's `pubring.gpg`, with trust packets, too).
   *
   * @param sources The keyring files' contents.
   * @returns The keyring.
   * @throws {SyntaxError} `Cannot read OpenPGP keys: <why>` when a source is malformed or holds
   *   no certificate.
   *
   * @example Read a key exported by gpg
   * ```ts ignore
   * import { OpenPgpKeyring } from "./openpgp_keyring.ts";
   *
   * const keyring = await OpenPgpKeyring.read([await Deno.readFile("key.gpg")]);
   * console.log(keyring.certificates.map((c) => c.primary.fingerprint));
   * ```
   */
  static async read(sources: Uint8Array[]): Promise<OpenPgpKeyring> {
    const certificates: OpenPgpCertificate[] = [];
    const skipped: string[] = [];
    for (const source of sources) {
      if (source.byteLength > KEYRING_MAX_BYTES) {
        throw new SyntaxError(`Cannot read OpenPGP keys: more than ${KEYRING_MAX_BYTES} bytes`);
      }
      let packets;
      try {
        const binary = isArmored(source) ? dearmor(source, "PUBLIC KEY BLOCK") : source;
        packets = readPackets(binary, KEYRING_MAX_PACKETS);
      } catch (e) {
        if (e instanceof OpenPgpFormatError) {
          throw new SyntaxError(`Cannot read OpenPGP keys: ${e.message.replace(/^Cannot /, "")}`);
        }
        throw e;
      }
      let cert: {
        primary: OpenPgpPublicKey;
        signatures: Signature[];
        userIds: { attribute: boolean; data: Uint8Array; signatures: Signature[] }[];
        subkeys: { key: OpenPgpPublicKey; signatures: Signature[] }[];
      } | undefined;
      // where the next signatures belong: the key, the last user ID, the last subkey, or nowhere
      let target: Signature[] | undefined;
      for (const p of packets) {
        try {
          switch (p.tag) {
            case Tag.PublicKey: {
              if (cert) certificates.push(cert);
              cert = undefined;
              target = undefined;
              const primary = await readKey(p.body);
              if (!primary) {
                skipped.push(`a version ${p.body[0]} key`);
                break;
              }
              cert = { primary, signatures: [], userIds: [], subkeys: [] };
              target = cert.signatures;
              break;
            }
            case Tag.UserId:
            case Tag.UserAttribute:
              if (!cert) break;
              cert.userIds.push({
                attribute: p.tag === Tag.UserAttribute,
                data: p.body,
                signatures: [],
              });
              target = cert.userIds.at(-1)!.signatures;
              break;
            case Tag.PublicSubkey: {
              if (!cert) break;
              const key = await readKey(p.body);
              if (!key) {
                skipped.push(`a version ${p.body[0]} subkey of ${cert.primary.fingerprint}`);
                target = undefined;
                break;
              }
              cert.subkeys.push({ key, signatures: [] });
              target = cert.subkeys.at(-1)!.signatures;
              break;
            }
            case Tag.Signature:
              if (!target) break;
              try {
                target.push(parseSignature(p.body));
              } catch (e) {
                // an unknown signature version is skipped, as GnuPG does
                if (!(e instanceof OpenPgpFormatError)) throw e;
                skipped.push(`a signature (${e.message.replace(/^Cannot /, "")})`);
              }
              break;
            case Tag.Trust:
            case Tag.Marker:
            case Tag.Padding:
              break;
            default:
              if (!cert) {
                throw new OpenPgpFormatError(
                  `Cannot read the keyring: a packet of tag ${p.tag} where a public key was expected`,
                );
              }
              target = undefined; // an unknown packet: its signatures are not ours
          }
        } catch (e) {
          if (e instanceof OpenPgpFormatError) {
            throw new SyntaxError(
              `Cannot read OpenPGP keys: ${e.message.replace(/^Cannot /, "")}`,
            );
          }
          throw e;
        }
      }
      if (cert) certificates.push(cert);
    }
    if (certificates.length === 0) {
      throw new SyntaxError("Cannot read OpenPGP keys: no public key found");
    }
    return new OpenPgpKeyring(certificates, skipped);
  }

  /**
   * The keys a signature may come from: those whose fingerprint the signature names, else those
   * whose key ID it names, else (a signature naming no issuer) every key.
   *
   * @param issuerFingerprints The fingerprints the signature names.
   * @param issuerKeyIds The key IDs it names.
   * @returns The candidate keys with their certificates.
   */
  candidates(
    issuerFingerprints: readonly string[],
    issuerKeyIds: readonly string[],
  ): { cert: OpenPgpCertificate; key: OpenPgpPublicKey }[] {
    const all = this.certificates.flatMap((cert) => [
      { cert, key: cert.primary },
      ...cert.subkeys.map((s) => ({ cert, key: s.key })),
    ]);
    if (issuerFingerprints.length > 0) {
      return all.filter(({ key }) => issuerFingerprints.includes(key.fingerprint));
    }
    if (issuerKeyIds.length > 0) return all.filter(({ key }) => issuerKeyIds.includes(key.keyId));
    return all;
  }

  /**
   * Whether a key of this keyring may make a data signature at `now`: the certificate has a valid
   * self-signature, is not revoked and not expired; the key is the primary key (with the sign flag,
   * or no flags) or a subkey with a valid binding signature that has the sign flag and a valid
   * back-signature by the subkey, not revoked, not expired. GnuPG's rules: a key that expired or
   * was revoked after it signed is refused all the same.
   *
   * @param cert The certificate.
   * @param key The primary key or one of its subkeys.
   * @param now The time of verification, in seconds since the epoch.
   * @returns `undefined` when it may sign, else why not.
   */
  async signingKeyProblem(
    cert: OpenPgpCertificate,
    key: OpenPgpPublicKey,
    now: number,
  ): Promise<string | undefined> {
    const primary = cert.primary;
    const state = await certificateState(cert, now);
    if (state.problem) return state.problem;
    if (key === primary) {
      if (state.flags !== undefined && (state.flags & 0x02) === 0) {
        return `key ${primary.fingerprint} is not allowed to sign data (key flags)`;
      }
      return undefined;
    }
    const sub = cert.subkeys.find((s) => s.key === key);
    if (!sub) return `key ${key.fingerprint} is not part of ${primary.fingerprint}`;
    if (key.created > now) return `subkey ${key.fingerprint} was made in the future`;
    let binding: Signature | undefined;
    for (const sig of sub.signatures) {
      if (sig.type !== SigType.SubkeyBinding) continue;
      if (!(await keySignatureValid(sig, primary, [primary, key], now, key.created))) continue;
      if (!binding || sig.created! > binding.created!) binding = sig;
    }
    if (!binding) return `subkey ${key.fingerprint} has no valid binding signature`;
    for (const sig of sub.signatures) {
      if (sig.type !== SigType.SubkeyRevocation) continue;
      if (await keySignatureValid(sig, primary, [primary, key], now, primary.created)) {
        return `subkey ${key.fingerprint} is revoked`;
      }
    }
    if (binding.keyExpiresAfter && key.created + binding.keyExpiresAfter <= now) {
      return `subkey ${key.fingerprint} expired on ${
        isoDate(key.created + binding.keyExpiresAfter)
      }`;
    }
    if (binding.keyFlags === undefined || (binding.keyFlags & 0x02) === 0) {
      return `subkey ${key.fingerprint} is not allowed to sign data (key flags)`;
    }
    // a signing subkey must bind itself back to the primary (RFC 9580 section 5.2.1: 0x19)
    for (const body of binding.embedded) {
      let back: Signature;
      try {
        back = parseSignature(body);
      } catch {
        continue;
      }
      if (back.type !== SigType.PrimaryKeyBinding) continue;
      if (await keySignatureValid(back, key, [primary, key], now, key.created)) return undefined;
    }
    return `subkey ${key.fingerprint} has no valid back-signature (primary key binding)`;
  }
}

/** What a certificate's self-signatures say at a time, cached per certificate and time. */
interface CertificateState {
  problem: string | undefined;
  flags: number | undefined;
}
const states = new WeakMap<OpenPgpCertificate, Map<number, Promise<CertificateState>>>();

function certificateState(cert: OpenPgpCertificate, now: number): Promise<CertificateState> {
  let byTime = states.get(cert);
  if (!byTime) states.set(cert, byTime = new Map());
  let state = byTime.get(now);
  if (!state) {
    state = computeCertificateState(cert, now);
    byTime.set(now, state);
  }
  return state;
}

async function computeCertificateState(
  cert: OpenPgpCertificate,
  now: number,
): Promise<CertificateState> {
  const primary = cert.primary;
  const fail = (problem: string): CertificateState => ({ problem, flags: undefined });
  if (primary.created > now) return fail(`key ${primary.fingerprint} was made in the future`);
  for (const sig of cert.signatures) {
    if (sig.type !== SigType.KeyRevocation) continue;
    if (await keySignatureValid(sig, primary, [primary], now, primary.created)) {
      return fail(`key ${primary.fingerprint} is revoked`);
    }
  }
  // the self-signatures that speak for the key: the newest valid one of the primary user ID (or
  // of any user ID when none is marked primary), and the newest valid direct-key signature (where
  // RFC 9580 puts a v6 key's properties); for each property the newer of the two that has it,
  // the direct-key signature when both are of the same second
  let best: Signature | undefined;
  let bestPrimary = false;
  for (const uid of cert.userIds) {
    let latest: Signature | undefined;
    let revokedAt: number | undefined;
    for (const sig of uid.signatures) {
      const isCert = sig.type >= SigType.CertGeneric && sig.type <= SigType.CertPositive;
      if (!isCert && sig.type !== SigType.CertRevocation) continue;
      const framed = [primary, userIdFraming(uid.attribute, uid.data)] as const;
      if (!(await keySignatureValid(sig, primary, framed, now, primary.created))) continue;
      if (isCert) {
        if (!latest || sig.created! > latest.created!) latest = sig;
      } else if (revokedAt === undefined || sig.created! > revokedAt) revokedAt = sig.created!;
    }
    if (!latest || uid.attribute) continue;
    if (revokedAt !== undefined && revokedAt >= latest.created!) continue;
    const better = !best || (latest.primaryUserId && !bestPrimary) ||
      (latest.primaryUserId === bestPrimary && latest.created! > best.created!);
    if (better) {
      best = latest;
      bestPrimary = latest.primaryUserId;
    }
  }
  let direct: Signature | undefined;
  for (const sig of cert.signatures) {
    if (sig.type !== SigType.DirectKey) continue;
    if (!(await keySignatureValid(sig, primary, [primary], now, primary.created))) continue;
    if (!direct || sig.created! > direct.created!) direct = sig;
  }
  if (!best && !direct) return fail(`key ${primary.fingerprint} has no valid self-signature`);
  const ordered = [best, direct].filter((s) => s !== undefined)
    .sort((a, b) => b.created! - a.created! || (a === direct ? -1 : 1));
  const expiresAfter = ordered.find((s) => s.keyExpiresAfter !== undefined)?.keyExpiresAfter;
  const flags = ordered.find((s) => s.keyFlags !== undefined)?.keyFlags;
  if (expiresAfter && primary.created + expiresAfter <= now) {
    return fail(`key ${primary.fingerprint} expired on ${isoDate(primary.created + expiresAfter)}`);
  }
  return { problem: undefined, flags };
}

/**
 * Whether a signature over keys (and a user ID) is valid at `now`: made by `signer`, not before
 * `notBefore` nor after `now`, not expired, and cryptographically good.
 */
async function keySignatureValid(
  sig: Signature,
  signer: OpenPgpPublicKey,
  framed: readonly (OpenPgpPublicKey | Uint8Array)[],
  now: number,
  notBefore: number,
): Promise<boolean> {
  if (sig.version === 3) return false;
  if (sig.issuerFingerprints.length > 0 && !sig.issuerFingerprints.includes(signer.fingerprint)) {
    return false;
  }
  if (sig.issuerKeyIds.length > 0 && !sig.issuerKeyIds.includes(signer.keyId)) return false;
  const created = sig.created;
  if (created === undefined || created > now || created < notBefore) return false;
  if (sig.expiresAfter && created + sig.expiresAfter <= now) return false;
  const content = concat(
    framed.map((f) => f instanceof Uint8Array ? f : keyFraming(f.version, f.body)),
  );
  const problem = await verifySignature(sig, content, signer, {
    allowSha1: created < SHA1_KEY_SIGNATURES_UNTIL,
  });
  return problem === undefined;
}

/** A time in seconds as an ISO 8601 date and time (UTC). */
export function isoDate(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.000Z$/, "Z");
}

export { algorithmName };
export type { KeyMaterial } from "./_openpgp_key_import.ts";
export type { Signature as OpenPgpSignature } from "./_openpgp_signature.ts";
