// RFC 3161 timestamps: a TimeStampResp (or a bare TimeStampToken), its CMS SignedData (RFC 5652)
// with the TSTInfo inside, checked against a timestamp authority of the trusted root.

import { bytesEqual, digest } from "./_bytes.ts";
import {
  children,
  DerError,
  type DerNode,
  expect,
  isContext,
  isUniversal,
  parseDer,
  readIntegerBytes,
  readOctets,
  readOid,
  readSmallInt,
  readTime,
  sequence,
  Tag,
} from "./_der.ts";
import {
  certificateKey,
  verifyAuthorityChain,
  verifyCertificatePath,
} from "./_certificate_path.ts";
import { hashOfOid, keyFits, readSignatureAlgorithm } from "./_signature_algorithm.ts";
import type { PublicKey, SignatureAlgorithm } from "./public_key.ts";
import type { TrustedAuthority } from "./trusted_root.ts";
import { X509Certificate } from "./x509_certificate.ts";

const OID_SIGNED_DATA = "1.2.840.113549.1.7.2";
const OID_TST_INFO = "1.2.840.113549.1.9.16.1.4";
const OID_CONTENT_TYPE = "1.2.840.113549.1.9.3";
const OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4";
const OID_SIGNING_CERTIFICATE = "1.2.840.113549.1.9.16.2.12";
const OID_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47";
const OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1";
const OID_RSA = "1.2.840.113549.1.1.1";

/** The largest timestamp read (with embedded certificates, a few KiB). */
export const MAX_TIMESTAMP_BYTES = 64 * 1024;

/** A verified timestamp. */
export interface VerifiedTimestamp {
  /** The TSTInfo's genTime. */
  readonly time: Date;
  /** The genTime as encoded. */
  readonly timeText: string;
  /** The authority whose chain signed it. */
  readonly authority: TrustedAuthority;
}

interface ParsedToken {
  tstInfo: Uint8Array;
  certificates: X509Certificate[];
  sidIssuer?: Uint8Array;
  sidSerial?: Uint8Array;
  sidKeyId?: Uint8Array;
  digestHash: "SHA-256" | "SHA-384" | "SHA-512";
  signedAttrs: DerNode;
  signatureAlgorithm: SignatureAlgorithm;
  signature: Uint8Array;
  essCertHash?: { hash: "SHA-1" | "SHA-256" | "SHA-384" | "SHA-512"; value: Uint8Array };
}

function parseToken(der: Uint8Array): ParsedToken {
  const top = sequence(parseDer(der, "timestamp", { maxBytes: MAX_TIMESTAMP_BYTES }), "timestamp");
  let contentInfo: DerNode[];
  if (isUniversal(top[0], Tag.Sequence)) {
    // TimeStampResp: status, then the token
    const status = sequence(top[0], "timestamp status");
    const code = readSmallInt(status[0], "timestamp status");
    if (code !== 0 && code !== 1) throw new DerError(`timestamp: status ${code} is not granted`);
    contentInfo = sequence(top[1], "timestamp token");
  } else contentInfo = top;
  if (readOid(contentInfo[0], "timestamp content type") !== OID_SIGNED_DATA) {
    throw new DerError("timestamp: the token is not CMS SignedData");
  }
  if (!isContext(contentInfo[1], 0) || contentInfo.length !== 2) {
    throw new DerError("timestamp: malformed ContentInfo");
  }
  const sd = sequence(children(contentInfo[1]!, "SignedData")[0], "SignedData");
  let i = 0;
  readSmallInt(sd[i++], "SignedData version");
  expect(sd[i++], Tag.Set, "SignedData digest algorithms");
  const encap = sequence(sd[i++], "encapsulated content");
  if (readOid(encap[0], "encapsulated content type") !== OID_TST_INFO) {
    throw new DerError("timestamp: the signed content is not a TSTInfo");
  }
  if (!isContext(encap[1], 0)) throw new DerError("timestamp: no TSTInfo");
  const tstInfo = readOctets(children(encap[1]!, "eContent")[0], "eContent");
  const certificates: X509Certificate[] = [];
  if (isContext(sd[i], 0)) {
    for (const c of children(sd[i]!, "certificates")) {
      if (isUniversal(c, Tag.Sequence) && certificates.length < 8) {
        certificates.push(X509Certificate.parse(c.der));
      }
    }
    i++;
  }
  if (isContext(sd[i], 1)) i++; // CRLs
  const signers = children(expect(sd[i], Tag.Set, "signerInfos"), "signerInfos");
  if (signers.length !== 1) throw new DerError(`timestamp: ${signers.length} signers, expected 1`);
  const si = sequence(signers[0], "SignerInfo");
  let j = 0;
  readSmallInt(si[j++], "SignerInfo version");
  const sid = si[j++];
  const out: Partial<ParsedToken> = { tstInfo, certificates };
  if (isUniversal(sid, Tag.Sequence)) {
    const ias = sequence(sid, "signer id");
    out.sidIssuer = expect(ias[0], Tag.Sequence, "signer issuer").der;
    out.sidSerial = readIntegerBytes(ias[1], "signer serial");
  } else if (sid && isContext(sid, 0) && !sid.constructed) {
    out.sidKeyId = sid.value;
  } else throw new DerError("timestamp: malformed signer id");
  const digestAlg = sequence(si[j++], "signer digest algorithm");
  const digestHash = hashOfOid(readOid(digestAlg[0], "signer digest algorithm"));
  if (!digestHash) throw new DerError("timestamp: unsupported digest algorithm");
  out.digestHash = digestHash;
  if (!isContext(si[j], 0)) throw new DerError("timestamp: no signed attributes");
  out.signedAttrs = si[j++]!;
  const sigAlg = sequence(si[j], "signer signature algorithm");
  const sigOid = readOid(sigAlg[0], "signer signature algorithm");
  if (sigOid === OID_EC_PUBLIC_KEY) {
    out.signatureAlgorithm = {
      oid: sigOid,
      key: "ecdsa",
      options: { hash: digestHash, ecdsaFormat: "der" },
    };
  } else if (sigOid === OID_RSA) {
    out.signatureAlgorithm = {
      oid: sigOid,
      key: "rsa",
      options: { hash: digestHash, rsaPadding: "pkcs1" },
    };
  } else out.signatureAlgorithm = readSignatureAlgorithm(si[j], "signer signature algorithm");
  j++;
  out.signature = readOctets(si[j++], "signer signature");

  // the signed attributes: each type once, each with one value
  const seen = new Set<string>();
  let contentType: string | undefined;
  let messageDigest: Uint8Array | undefined;
  for (const attr of children(out.signedAttrs, "signed attributes")) {
    const parts = sequence(attr, "signed attribute");
    const type = readOid(parts[0], "signed attribute type");
    if (seen.has(type)) throw new DerError(`timestamp: signed attribute ${type} appears twice`);
    seen.add(type);
    const values = children(
      expect(parts[1], Tag.Set, "signed attribute values"),
      "signed attribute",
    );
    if (values.length !== 1) {
      throw new DerError(`timestamp: signed attribute ${type} has ${values.length} values`);
    }
    const v = values[0]!;
    if (type === OID_CONTENT_TYPE) contentType = readOid(v, "content-type attribute");
    else if (type === OID_MESSAGE_DIGEST) messageDigest = readOctets(v, "message-digest attribute");
    else if (type === OID_SIGNING_CERTIFICATE_V2 || type === OID_SIGNING_CERTIFICATE) {
      const certs = sequence(sequence(v, "signing certificate")[0], "signing certificate ids");
      const id = sequence(certs[0], "signing certificate id");
      if (type === OID_SIGNING_CERTIFICATE) {
        out.essCertHash = { hash: "SHA-1", value: readOctets(id[0], "certHash") };
      } else {
        let hash: ParsedToken["digestHash"] = "SHA-256";
        let k = 0;
        if (isUniversal(id[0], Tag.Sequence)) {
          const h = hashOfOid(readOid(sequence(id[0], "hash algorithm")[0], "hash algorithm"));
          if (!h) throw new DerError("timestamp: unsupported ESSCertIDv2 hash");
          hash = h;
          k = 1;
        }
        out.essCertHash = { hash, value: readOctets(id[k], "certHash") };
      }
    }
  }
  if (contentType !== OID_TST_INFO) {
    throw new DerError("timestamp: the content-type attribute is not TSTInfo");
  }
  if (!messageDigest) throw new DerError("timestamp: no message-digest attribute");
  (out as { messageDigest?: Uint8Array }).messageDigest = messageDigest;
  return out as ParsedToken & { messageDigest: Uint8Array };
}

interface TstInfo {
  imprintHash: "SHA-256" | "SHA-384" | "SHA-512";
  imprint: Uint8Array;
  genTime: { date: Date; text: string };
}

function parseTstInfo(der: Uint8Array): TstInfo {
  const f = sequence(parseDer(der, "TSTInfo"), "TSTInfo");
  if (readSmallInt(f[0], "TSTInfo version") !== 1) throw new DerError("TSTInfo: version is not 1");
  readOid(f[1], "TSTInfo policy");
  const mi = sequence(f[2], "message imprint");
  const hash = hashOfOid(readOid(sequence(mi[0], "imprint algorithm")[0], "imprint algorithm"));
  if (!hash) throw new DerError("TSTInfo: unsupported message imprint hash");
  const imprint = readOctets(mi[1], "hashed message");
  readIntegerBytes(f[3], "TSTInfo serial");
  const genTime = f[4];
  if (!isUniversal(genTime, Tag.GeneralizedTime)) {
    throw new DerError("TSTInfo: genTime is not a GeneralizedTime");
  }
  return { imprintHash: hash, imprint, genTime: readTime(genTime, "genTime") };
}

/**
 * Verifies an RFC 3161 timestamp over `signed` (the bundle's signature bytes) against the
 * trusted timestamp authorities.
 *
 * @param der The TimeStampResp or TimeStampToken.
 * @param signed The bytes whose hash the timestamp must carry.
 * @param authorities The trusted timestamp authorities.
 * @returns The time and the authority.
 * @throws {Error} Saying why it does not verify.
 */
export async function verifyTimestamp(
  der: Uint8Array,
  signed: Uint8Array,
  authorities: readonly TrustedAuthority[],
): Promise<VerifiedTimestamp> {
  const token = parseToken(der) as ParsedToken & { messageDigest: Uint8Array };
  const info = parseTstInfo(token.tstInfo);
  if (!bytesEqual(await digest(info.imprintHash, signed), info.imprint)) {
    throw new Error("its message imprint is not the hash of the signature");
  }
  if (!bytesEqual(await digest(token.digestHash, token.tstInfo), token.messageDigest)) {
    throw new Error("its signed message digest is not the TSTInfo's");
  }
  const time = info.genTime.date;
  const matches = (c: X509Certificate) =>
    token.sidKeyId
      ? c.subjectKeyId !== undefined && bytesEqual(c.subjectKeyId, token.sidKeyId)
      : bytesEqual(c.issuer, token.sidIssuer!) && bytesEqual(c.serial, token.sidSerial!);

  // the signer: the first certificate of a trusted authority's chain, or a certificate in the
  // token that chains to one. Names and serials can repeat (two authorities of one operator), so
  // every candidate is tried to the end: chain, signing-certificate attribute, signature.
  const signedAttrs = token.signedAttrs.der.slice();
  signedAttrs[0] = 0x31; // [0] IMPLICIT becomes the SET OF it was signed as
  const trySigner = async (signer: X509Certificate): Promise<string | undefined> => {
    if (token.essCertHash) {
      const h = new Uint8Array(
        await crypto.subtle.digest(token.essCertHash.hash, signer.der as Uint8Array<ArrayBuffer>),
      );
      if (!bytesEqual(h, token.essCertHash.value)) {
        return "its signing-certificate attribute names another certificate";
      }
    }
    let key: PublicKey;
    try {
      key = await certificateKey(signer);
    } catch (e) {
      return `its signer's key is unusable: ${(e as Error).message}`;
    }
    if (!keyFits(key, token.signatureAlgorithm)) {
      return "its signature algorithm does not fit the key";
    }
    if (!(await key.verify(signedAttrs, token.signature, token.signatureAlgorithm.options))) {
      return "its signature does not verify";
    }
    return undefined;
  };
  let why = "no timestamp authority of the trusted root signed it";
  for (const a of authorities) {
    const leaf = a.chain[0]!;
    if (!matches(leaf)) continue;
    try {
      await verifyAuthorityChain(a, [time], "timeStamping");
    } catch (e) {
      why = `its authority's signing certificate ${(e as Error).message}`;
      continue;
    }
    const problem = await trySigner(leaf);
    if (problem === undefined) return { time, timeText: info.genTime.text, authority: a };
    why = problem;
  }
  for (const c of token.certificates.filter(matches)) {
    let authority: TrustedAuthority;
    try {
      authority = (await verifyCertificatePath(c, authorities, [time], "timeStamping")).authority;
    } catch (e) {
      why = `its signing certificate ${(e as Error).message}`;
      continue;
    }
    const problem = await trySigner(c);
    if (problem === undefined) return { time, timeText: info.genTime.text, authority };
    why = problem;
  }
  throw new Error(why);
}
