// Certificate path validation (RFC 5280 section 6, the part sigstore needs): a leaf certificate
// to a chain of the trusted root, every link's signature, names, CA constraints, path lengths,
// key usage and validity at every trusted time.

import { bytesEqual } from "./_bytes.ts";
import { keyFits } from "./_signature_algorithm.ts";
import { PublicKey } from "./public_key.ts";
import { inWindow, type TrustedAuthority } from "./trusted_root.ts";
import { Eku, type X509Certificate } from "./x509_certificate.ts";

const keys = new WeakMap<X509Certificate, Promise<PublicKey>>();

/** The certificate's public key, read once. */
export function certificateKey(cert: X509Certificate): Promise<PublicKey> {
  let k = keys.get(cert);
  if (!k) {
    k = PublicKey.fromSpki(cert.spki);
    keys.set(cert, k);
  }
  return k;
}

/** Whether `issuer`'s key made `cert`'s signature. */
export async function signedBy(cert: X509Certificate, issuer: X509Certificate): Promise<boolean> {
  let key: PublicKey;
  try {
    key = await certificateKey(issuer);
  } catch {
    return false;
  }
  if (!keyFits(key, cert.signatureAlgorithm)) return false;
  return await key.verify(cert.tbs, cert.signature, cert.signatureAlgorithm.options);
}

/** What a leaf must be good for. */
export type LeafPurpose = "codeSigning" | "timeStamping";

/** A verified path: the authority it ends in and the certificates, leaf first. */
export interface VerifiedPath {
  /** The trusted authority whose chain the leaf reaches. */
  readonly authority: TrustedAuthority;
  /** Leaf, then the authority's certificates up to its root. */
  readonly path: readonly X509Certificate[];
}

/**
 * Finds a path from `leaf` to one of `authorities` valid at every one of `times`, or throws an
 * Error whose message is a predicate about the certificate ("was not valid at ..."), saying why
 * the last candidate failed.
 *
 * @param leaf The untrusted leaf.
 * @param authorities The trusted authorities.
 * @param times The trusted times; the leaf and every certificate of the path must be valid at
 * each, and so must the authority's window.
 * @param purpose The extended key usage the leaf needs.
 * @returns The path.
 */
export async function verifyCertificatePath(
  leaf: X509Certificate,
  authorities: readonly TrustedAuthority[],
  times: readonly Date[],
  purpose: LeafPurpose,
): Promise<VerifiedPath> {
  checkLeaf(leaf, purpose);
  let why = "is not issued by a certificate authority of the trusted root";
  for (const authority of authorities) {
    const chain = authority.chain;
    for (let k = 0; k < chain.length; k++) {
      const issuer = chain[k]!;
      if (!bytesEqual(issuer.subject, leaf.issuer)) continue;
      if (
        leaf.authorityKeyId && issuer.subjectKeyId &&
        !bytesEqual(leaf.authorityKeyId, issuer.subjectKeyId)
      ) {
        continue;
      }
      if (!(await signedBy(leaf, issuer))) {
        why = `does not verify with the key of ${issuer.subjectText}`;
        continue;
      }
      const path = [leaf, ...chain.slice(k)];
      const problem = await checkPath(path) ??
        timeProblem(path, authority, times);
      if (problem) {
        why = problem;
        continue;
      }
      return { authority, path };
    }
  }
  throw new Error(why);
}

/**
 * Verifies a chain that is itself trusted (a timestamp authority's, its signing certificate
 * first): the same checks as a path, without searching for one.
 *
 * @param authority The authority.
 * @param times The trusted times.
 * @param purpose The extended key usage the first certificate needs.
 * @returns The path.
 */
export async function verifyAuthorityChain(
  authority: TrustedAuthority,
  times: readonly Date[],
  purpose: LeafPurpose,
): Promise<VerifiedPath> {
  const path = [...authority.chain];
  checkLeaf(path[0]!, purpose);
  const problem = await checkPath(path) ?? timeProblem(path, authority, times);
  if (problem) throw new Error(problem);
  return { authority, path };
}

function checkLeaf(leaf: X509Certificate, purpose: LeafPurpose): void {
  if (leaf.precertificatePoison) throw new Error("is a CT precertificate, not a certificate");
  if (leaf.basicConstraints?.ca) throw new Error("is a CA certificate");
  if (leaf.keyUsage && !leaf.keyUsage.digitalSignature) {
    throw new Error("has a key usage that does not allow digital signatures");
  }
  const eku = purpose === "codeSigning" ? Eku.CodeSigning : Eku.TimeStamping;
  if (!leaf.extKeyUsage?.includes(eku)) {
    throw new Error(
      `is not a ${purpose === "codeSigning" ? "code signing" : "timestamping"} certificate`,
    );
  }
  if (leaf.unknownCritical.length > 0) {
    throw new Error(`has an unknown critical extension ${leaf.unknownCritical[0]}`);
  }
}

async function checkPath(path: X509Certificate[]): Promise<string | undefined> {
  for (let i = 1; i < path.length; i++) {
    const cert = path[i]!;
    if (!cert.basicConstraints?.ca) return `chains through ${cert.subjectText}, which is not a CA`;
    if (cert.keyUsage && !cert.keyUsage.keyCertSign) {
      return `chains through ${cert.subjectText}, which may not sign certificates`;
    }
    const below = i - 1; // intermediates between this CA and the leaf
    if (
      cert.basicConstraints.pathLength !== undefined && below > cert.basicConstraints.pathLength
    ) {
      return `exceeds the path length constraint of ${cert.subjectText}`;
    }
    if (cert.unknownCritical.length > 0) {
      return `chains through ${cert.subjectText}, which has an unknown critical extension ${
        cert.unknownCritical[0]
      }`;
    }
    if (i + 1 < path.length) {
      const up = path[i + 1]!;
      if (!bytesEqual(cert.issuer, up.subject) || !(await signedBy(cert, up))) {
        return `chains to a trusted chain that is broken at ${cert.subjectText}`;
      }
    } else if (cert.selfIssued && !(await signedBy(cert, cert))) {
      return `chains to ${cert.subjectText}, whose self-signature does not verify`;
    }
  }
  return undefined;
}

function timeProblem(
  path: X509Certificate[],
  authority: TrustedAuthority,
  times: readonly Date[],
): string | undefined {
  for (const t of times) {
    if (!inWindow(authority.validFor, t)) {
      return `chains to the authority ${
        authority.uri || path[path.length - 1]!.subjectText
      }, which was not trusted at ${t.toISOString()}`;
    }
    for (const cert of path) {
      if (!cert.validAt(t)) {
        const span = `valid ${cert.notBefore.toISOString()} to ${cert.notAfter.toISOString()}`;
        return cert === path[0]
          ? `was not valid at ${t.toISOString()} (${span})`
          : `chains through ${cert.subjectText}, which was not valid at ${t.toISOString()} (${span})`;
      }
    }
  }
  return undefined;
}
