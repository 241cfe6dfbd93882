/**
 * X.509 certificates (RFC 5280) as sigstore uses them: Fulcio's short-lived signing certificates,
 * their CA chains, and the certificates of timestamp authorities. Parsing is bounded (see
 * `_der.ts`), strict about DER, and reads the extensions a verifier needs: basic constraints, key
 * usage, extended key usage, subject alternative names, key identifiers, Fulcio's OIDs
 * (1.3.6.1.4.1.57264.1.*), the SCT list and the precertificate poison. An unknown critical
 * extension is kept and flagged, and path validation refuses it.
 *
 * @module
 */

import { digest, fromUtf8, parsePem, toHex } from "./_bytes.ts";
import {
  children,
  DER_DEFAULTS,
  DerError,
  type DerNode,
  expect,
  isContext,
  isUniversal,
  parseDer,
  readBitString,
  readBoolean,
  readIntegerBytes,
  readOctets,
  readOid,
  readSmallInt,
  readString,
  readTime,
  sequence,
  Tag,
} from "./_der.ts";
import { readSignatureAlgorithm } from "./_signature_algorithm.ts";
import type { SignatureAlgorithm } from "./public_key.ts";

/** The largest certificate read, in bytes (Fulcio's are 1-3 KiB). */
export const MAX_CERTIFICATE_BYTES: number = DER_DEFAULTS.maxBytes;

/** One extension, as encoded. */
export interface CertificateExtension {
  /** The extension's OID. */
  readonly oid: string;
  /** Whether it is marked critical. */
  readonly critical: boolean;
  /** The contents of its OCTET STRING. */
  readonly value: Uint8Array;
}

/** One subject alternative name. */
export interface SubjectAltName {
  /** `email` (rfc822Name), `uri`, `dns`, `ip` or `other` (otherName). */
  readonly type: "email" | "uri" | "dns" | "ip" | "other";
  /** The name as text (an IP address in its usual notation). */
  readonly value: string;
  /** The type OID of an otherName. */
  readonly oid?: string;
}

/**
 * The identity claims Fulcio writes into a certificate (OIDs 1.3.6.1.4.1.57264.1.*). The
 * GitHub-specific ones (.2 to .6) are the deprecated raw-string form; .8 onward are DER UTF8Strings.
 */
export interface FulcioClaims {
  /** The OIDC issuer (.8, or the deprecated .1). */
  issuer?: string;
  /** GitHub workflow trigger, e.g. `push` (.2). */
  githubWorkflowTrigger?: string;
  /** GitHub workflow commit SHA (.3). */
  githubWorkflowSha?: string;
  /** GitHub workflow name (.4). */
  githubWorkflowName?: string;
  /** GitHub workflow repository, `owner/repo` (.5). */
  githubWorkflowRepository?: string;
  /** GitHub workflow ref, e.g. `refs/heads/main` (.6). */
  githubWorkflowRef?: string;
  /** The build signer, e.g. the reusable workflow's URI (.9). */
  buildSignerUri?: string;
  /** The build signer's digest (.10). */
  buildSignerDigest?: string;
  /** `github-hosted` or `self-hosted` (.11). */
  runnerEnvironment?: string;
  /** The source repository's URI (.12). */
  sourceRepositoryUri?: string;
  /** The source commit digest (.13). */
  sourceRepositoryDigest?: string;
  /** The source ref (.14). */
  sourceRepositoryRef?: string;
  /** The source repository's immutable identifier (.15). */
  sourceRepositoryIdentifier?: string;
  /** The repository owner's URI (.16). */
  sourceRepositoryOwnerUri?: string;
  /** The repository owner's immutable identifier (.17). */
  sourceRepositoryOwnerIdentifier?: string;
  /** The build configuration's URI, e.g. the workflow file at its ref (.18). */
  buildConfigUri?: string;
  /** The build configuration's digest (.19). */
  buildConfigDigest?: string;
  /** What triggered the build, e.g. `push` (.20). */
  buildTrigger?: string;
  /** The run's URI (.21). */
  runInvocationUri?: string;
  /** `public` or `private` at signing time (.22). */
  sourceRepositoryVisibilityAtSigning?: string;
}

/** The name of one Fulcio claim. */
export type FulcioClaimName = keyof FulcioClaims;

const FULCIO = "1.3.6.1.4.1.57264.1.";
/** Claims in the deprecated raw form: the extension value is the text itself. */
const RAW_CLAIMS: Record<string, FulcioClaimName> = {
  "1": "issuer",
  "2": "githubWorkflowTrigger",
  "3": "githubWorkflowSha",
  "4": "githubWorkflowName",
  "5": "githubWorkflowRepository",
  "6": "githubWorkflowRef",
};
/** Claims as DER UTF8Strings. */
const DER_CLAIMS: Record<string, FulcioClaimName> = {
  "8": "issuer",
  "9": "buildSignerUri",
  "10": "buildSignerDigest",
  "11": "runnerEnvironment",
  "12": "sourceRepositoryUri",
  "13": "sourceRepositoryDigest",
  "14": "sourceRepositoryRef",
  "15": "sourceRepositoryIdentifier",
  "16": "sourceRepositoryOwnerUri",
  "17": "sourceRepositoryOwnerIdentifier",
  "18": "buildConfigUri",
  "19": "buildConfigDigest",
  "20": "buildTrigger",
  "21": "runInvocationUri",
  "22": "sourceRepositoryVisibilityAtSigning",
};

/** Extension OIDs. */
export const Ext = {
  SubjectKeyId: "2.5.29.14",
  KeyUsage: "2.5.29.15",
  SubjectAltName: "2.5.29.17",
  BasicConstraints: "2.5.29.19",
  AuthorityKeyId: "2.5.29.35",
  ExtKeyUsage: "2.5.29.37",
  SctList: "1.3.6.1.4.1.11129.2.4.2",
  PrecertPoison: "1.3.6.1.4.1.11129.2.4.3",
} as const;

/** Extended key usage OIDs. */
export const Eku = {
  CodeSigning: "1.3.6.1.5.5.7.3.3",
  TimeStamping: "1.3.6.1.5.5.7.3.8",
  Any: "2.5.29.37.0",
} as const;

/** The key usage bits the verifier looks at. */
export interface KeyUsage {
  /** Bit 0. */
  readonly digitalSignature: boolean;
  /** Bit 5. */
  readonly keyCertSign: boolean;
  /** Bit 6. */
  readonly cRLSign: boolean;
}

const NAME_ATTRIBUTES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "1.2.840.113549.1.9.1": "emailAddress",
};

/**
 * One parsed X.509 v3 certificate. Byte fields are views of the input.
 *
 * @example Read a certificate and its identity
 * ```ts ignore
 * import { X509Certificate } from "./x509_certificate.ts";
 *
 * const cert = X509Certificate.fromPem(await Deno.readTextFile("leaf.pem"))[0]!;
 * console.log(cert.subjectAltNames, cert.claims.issuer, cert.notAfter);
 * ```
 */
export class X509Certificate {
  /** The whole encoding. */
  readonly der: Uint8Array;
  /** The encoding of tbsCertificate: what the issuer signed. */
  readonly tbs: Uint8Array;
  /** The version: 1, 2 or 3. */
  readonly version: number;
  /** The serial number's bytes (two's complement, as encoded). */
  readonly serial: Uint8Array;
  /** The issuer Name, as encoded. */
  readonly issuer: Uint8Array;
  /** The subject Name, as encoded. */
  readonly subject: Uint8Array;
  /** The issuer as text (`CN=...,O=...`), for messages. */
  readonly issuerText: string;
  /** The subject as text. */
  readonly subjectText: string;
  /** Start of validity. */
  readonly notBefore: Date;
  /** End of validity (inclusive). */
  readonly notAfter: Date;
  /** The DER SubjectPublicKeyInfo. */
  readonly spki: Uint8Array;
  /** The algorithm the issuer signed with. */
  readonly signatureAlgorithm: SignatureAlgorithm;
  /** The issuer's signature over {@link tbs}. */
  readonly signature: Uint8Array;
  /** Every extension, in order. */
  readonly extensions: readonly CertificateExtension[];
  /** Basic constraints, when present. */
  readonly basicConstraints?: { readonly ca: boolean; readonly pathLength?: number };
  /** Key usage, when present. */
  readonly keyUsage?: KeyUsage;
  /** Extended key usage OIDs, when present. */
  readonly extKeyUsage?: readonly string[];
  /** Subject alternative names. */
  readonly subjectAltNames: readonly SubjectAltName[];
  /** The subject key identifier, when present. */
  readonly subjectKeyId?: Uint8Array;
  /** The authority key identifier's keyIdentifier, when present. */
  readonly authorityKeyId?: Uint8Array;
  /** Fulcio's identity claims. */
  readonly claims: FulcioClaims;
  /** The SCT list extension's contents (the TLS-encoded list), when present. */
  readonly sctList?: Uint8Array;
  /** Whether the certificate carries the CT precertificate poison (then it is no certificate). */
  readonly precertificatePoison: boolean;
  /** OIDs of critical extensions this parser does not know. */
  readonly unknownCritical: readonly string[];

  private constructor(der: Uint8Array) {
    this.der = der;
    const top = sequence(parseDer(der, "certificate"), "certificate");
    if (top.length !== 3) throw new DerError("certificate: expected 3 elements");
    const tbsNode = expect(top[0], Tag.Sequence, "tbsCertificate");
    this.tbs = tbsNode.der;
    this.signatureAlgorithm = readSignatureAlgorithm(top[1], "certificate signature algorithm");
    const sig = readBitString(top[2], "certificate signature");
    if (sig.unused !== 0) throw new DerError("certificate signature: unused bits");
    this.signature = sig.bytes;

    const f = children(tbsNode, "tbsCertificate");
    let i = 0;
    this.version = 1;
    if (isContext(f[0], 0)) {
      this.version = readSmallInt(children(f[0]!, "version")[0], "version") + 1;
      if (this.version !== 3 && this.version !== 2) throw new DerError("certificate: bad version");
      i++;
    }
    this.serial = readIntegerBytes(f[i++], "serial number");
    if (this.serial.byteLength > 20 + 1) throw new DerError("serial number: over 20 bytes");
    const inner = readSignatureAlgorithm(f[i++], "tbsCertificate signature algorithm");
    if (inner.oid !== this.signatureAlgorithm.oid) {
      throw new DerError("certificate: the two signature algorithms differ");
    }
    const issuer = expect(f[i++], Tag.Sequence, "issuer");
    this.issuer = issuer.der;
    this.issuerText = nameText(issuer);
    const validity = sequence(f[i++], "validity");
    if (validity.length !== 2) throw new DerError("validity: expected two times");
    this.notBefore = readTime(validity[0], "notBefore").date;
    this.notAfter = readTime(validity[1], "notAfter").date;
    const subject = expect(f[i++], Tag.Sequence, "subject");
    this.subject = subject.der;
    this.subjectText = nameText(subject);
    this.spki = expect(f[i++], Tag.Sequence, "subjectPublicKeyInfo").der;
    // issuerUniqueID [1] and subjectUniqueID [2] are skipped; extensions are [3]
    while (isContext(f[i], 1) || isContext(f[i], 2)) i++;
    const extensions: CertificateExtension[] = [];
    if (isContext(f[i], 3)) {
      if (this.version !== 3) throw new DerError("certificate: extensions in a v1/v2 certificate");
      const list = sequence(children(f[i]!, "extensions")[0], "extensions");
      if (list.length === 0) throw new DerError("extensions: empty");
      for (const e of list) {
        const parts = sequence(e, "extension");
        const oid = readOid(parts[0], "extension id");
        let critical = false;
        let at = 1;
        if (isUniversal(parts[1], Tag.Boolean)) {
          critical = readBoolean(parts[1], "extension critical");
          if (!critical) throw new DerError(`extension ${oid}: critical FALSE must be omitted`);
          at = 2;
        }
        if (parts.length !== at + 1) throw new DerError(`extension ${oid}: malformed`);
        if (extensions.some((x) => x.oid === oid)) {
          throw new DerError(`certificate: extension ${oid} appears twice`);
        }
        extensions.push({ oid, critical, value: readOctets(parts[at], `extension ${oid}`) });
      }
      i++;
    }
    if (i !== f.length) throw new DerError("tbsCertificate: unexpected trailing elements");
    this.extensions = extensions;

    const unknownCritical: string[] = [];
    const claims: FulcioClaims = {};
    let issuerV1: string | undefined;
    let sans: SubjectAltName[] = [];
    let poison = false;
    for (const e of extensions) {
      const what = `extension ${e.oid}`;
      switch (e.oid) {
        case Ext.BasicConstraints: {
          const bc = sequence(parseDer(e.value, what), what);
          let ca = false;
          let at = 0;
          if (isUniversal(bc[0], Tag.Boolean)) {
            ca = readBoolean(bc[0], "cA");
            at = 1;
          }
          const pathLength = bc[at] ? readSmallInt(bc[at], "pathLenConstraint") : undefined;
          if (bc.length > at + (pathLength === undefined ? 0 : 1)) {
            throw new DerError(`${what}: malformed`);
          }
          this.basicConstraints = pathLength === undefined ? { ca } : { ca, pathLength };
          break;
        }
        case Ext.KeyUsage: {
          const { bytes } = readBitString(parseDer(e.value, what), what);
          const bit = (n: number) => ((bytes[n >> 3] ?? 0) & (0x80 >> (n & 7))) !== 0;
          this.keyUsage = { digitalSignature: bit(0), keyCertSign: bit(5), cRLSign: bit(6) };
          break;
        }
        case Ext.ExtKeyUsage: {
          const list = sequence(parseDer(e.value, what), what);
          if (list.length === 0) throw new DerError(`${what}: empty`);
          this.extKeyUsage = list.map((o) => readOid(o, what));
          break;
        }
        case Ext.SubjectAltName:
          sans = readGeneralNames(parseDer(e.value, what), what);
          break;
        case Ext.SubjectKeyId:
          this.subjectKeyId = readOctets(parseDer(e.value, what), what);
          break;
        case Ext.AuthorityKeyId: {
          const aki = sequence(parseDer(e.value, what), what);
          const id = aki.find((x) => isContext(x, 0));
          if (id) {
            if (id.constructed) throw new DerError(`${what}: keyIdentifier must be primitive`);
            this.authorityKeyId = id.value;
          }
          break;
        }
        case Ext.SctList:
          this.sctList = readOctets(parseDer(e.value, what), what);
          break;
        case Ext.PrecertPoison:
          expect(parseDer(e.value, what), Tag.Null, what);
          poison = true;
          break;
        default:
          if (e.oid.startsWith(FULCIO)) {
            const arc = e.oid.slice(FULCIO.length);
            const raw = RAW_CLAIMS[arc];
            const named = DER_CLAIMS[arc];
            if (raw === "issuer") issuerV1 = fromUtf8(e.value, what);
            else if (raw) claims[raw] = fromUtf8(e.value, what);
            else if (named) claims[named] = readString(parseDer(e.value, what), what);
            else if (e.critical) unknownCritical.push(e.oid);
          } else if (e.critical) unknownCritical.push(e.oid);
      }
    }
    if (issuerV1 !== undefined) {
      if (claims.issuer !== undefined && claims.issuer !== issuerV1) {
        throw new DerError("certificate: the two OIDC issuer extensions differ");
      }
      claims.issuer ??= issuerV1;
    }
    this.claims = claims;
    this.subjectAltNames = sans;
    this.precertificatePoison = poison;
    this.unknownCritical = unknownCritical;
  }

  /**
   * Parses a DER certificate.
   *
   * @param der The encoding (at most {@link MAX_CERTIFICATE_BYTES}).
   * @returns The certificate.
   * @throws {SyntaxError} A `DerError` naming what is malformed.
   *
   * @example Refuse what is not a certificate
   * ```ts
   * import { X509Certificate } from "./x509_certificate.ts";
   * import assert from "node:assert/strict";
   *
   * assert.throws(() => X509Certificate.parse(new Uint8Array([0x30, 0x84, 0xff, 0xff, 0xff, 0xff])), SyntaxError);
   * ```
   */
  static parse(der: Uint8Array): X509Certificate {
    return new X509Certificate(der);
  }

  /**
   * Parses every `CERTIFICATE` block of a PEM text, in order.
   *
   * @param pem The text.
   * @param maxCertificates The most certificates read.
   * @returns The certificates.
   * @throws {SyntaxError} When there is none, or one is malformed.
   *
   * @example No certificate in the text
   * ```ts
   * import { X509Certificate } from "./x509_certificate.ts";
   * import assert from "node:assert/strict";
   *
   * assert.throws(() => X509Certificate.fromPem("hello"), SyntaxError);
   * ```
   */
  static fromPem(pem: string, maxCertificates = 16): X509Certificate[] {
    const blocks = parsePem(pem, "certificate PEM", maxCertificates)
      .filter((b) => b.label === "CERTIFICATE");
    if (blocks.length === 0) throw new SyntaxError("certificate PEM holds no CERTIFICATE block");
    return blocks.map((b) => X509Certificate.parse(b.der));
  }

  /** Whether the certificate is self-issued (subject and issuer are the same name). */
  get selfIssued(): boolean {
    return bytesSame(this.subject, this.issuer);
  }

  /** The serial number in hex, for messages. */
  get serialHex(): string {
    return toHex(this.serial);
  }

  /** The SHA-256 of the certificate's DER, hex. */
  async fingerprint(): Promise<string> {
    return toHex(await digest("SHA-256", this.der));
  }

  /** Whether `time` is inside the validity period. */
  validAt(time: Date): boolean {
    return this.notBefore.getTime() <= time.getTime() && time.getTime() <= this.notAfter.getTime();
  }
}

function bytesSame(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A Name (RDNSequence) as text: `CN=x,O=y` in encoding order. */
function nameText(name: DerNode): string {
  const out: string[] = [];
  for (const rdn of children(name, "name")) {
    for (const atv of children(expect(rdn, Tag.Set, "name"), "name")) {
      const parts = sequence(atv, "name attribute");
      const oid = readOid(parts[0], "name attribute");
      let value: string;
      try {
        value = readString(parts[1], "name attribute");
      } catch {
        value = `#${toHex(parts[1]?.der ?? new Uint8Array())}`;
      }
      out.push(`${NAME_ATTRIBUTES[oid] ?? oid}=${value}`);
    }
  }
  return out.join(",");
}

/** GeneralNames: the names sigstore uses (email, URI, DNS, IP, otherName with a UTF8String). */
function readGeneralNames(n: DerNode, what: string): SubjectAltName[] {
  const out: SubjectAltName[] = [];
  const list = sequence(n, what);
  if (list.length === 0) throw new DerError(`${what}: empty`);
  const text = (v: Uint8Array) => {
    for (const b of v) if (b > 0x7e || b < 0x20) throw new DerError(`${what}: non-ASCII IA5String`);
    return String.fromCharCode(...v);
  };
  for (const g of list) {
    if (g.cls !== 2) throw new DerError(`${what}: not a GeneralName`);
    switch (g.tag) {
      case 0: {
        const parts = children(g, what);
        const oid = readOid(parts[0], what);
        const explicit = parts[1];
        if (!isContext(explicit, 0)) throw new DerError(`${what}: otherName without a value`);
        let value: string;
        try {
          value = readString(children(explicit!, what)[0], what);
        } catch {
          continue; // an otherName of a form skiff does not read matches nothing
        }
        out.push({ type: "other", value, oid });
        break;
      }
      case 1:
        out.push({ type: "email", value: text(g.value) });
        break;
      case 2:
        out.push({ type: "dns", value: text(g.value) });
        break;
      case 6:
        out.push({ type: "uri", value: text(g.value) });
        break;
      case 7:
        if (g.value.byteLength === 4) out.push({ type: "ip", value: [...g.value].join(".") });
        else if (g.value.byteLength === 16) {
          const groups: string[] = [];
          for (let i = 0; i < 16; i += 2) {
            groups.push(((g.value[i]! << 8) | g.value[i + 1]!).toString(16));
          }
          out.push({ type: "ip", value: groups.join(":") });
        } else throw new DerError(`${what}: bad IP address`);
        break;
      default:
        // x400Address, directoryName, ediPartyName, registeredID: not identities sigstore issues
        break;
    }
  }
  return out;
}
