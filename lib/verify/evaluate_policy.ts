/**
 * Evaluation of a signature policy for one image, as containers/image evaluates it
 * (`signature/policy_eval*.go`): the requirements of the most specific matching scope apply (the
 * image's identity, then its namespaces, then the transport's `""` scope, then the global
 * default); every one of them must be satisfied; `reject` rejects; a signature requirement is
 * satisfied by at least one signature that it accepts. Transport-free: the caller hands in the
 * image's name and digest, a provider of candidate signatures, and a verifier for sigstore
 * candidates; what comes back is a verdict with a reason per requirement and per signature.
 *
 * @module
 */

import { computeDigest } from "../reference/compute_digest.ts";
import { InvalidSignatureError } from "./invalid_signature_error.ts";
import { OpenPgpKeyring } from "./openpgp_keyring.ts";
import type {
  CertificateIdentity,
  KeySet,
  KeySource,
  Policy,
  Requirement,
  SigstoreSigner,
} from "./parse_policy.ts";
import { PolicyRejectedError } from "./policy_rejected_error.ts";
import type { PolicyVerdict, RequirementVerdict, SignatureVerdict } from "./policy_verdict.ts";

export type { PolicyVerdict, RequirementVerdict, SignatureVerdict } from "./policy_verdict.ts";
import {
  type DockerReference,
  matchesSignedIdentity,
  parseDockerReference,
  policyIdentity,
  policyNamespaces,
  type SignedIdentity,
} from "./signed_identity.ts";
import { verifySimpleSignature } from "./verify_simple_signature.ts";

/** The image being judged. */
export interface PolicyImage {
  /**
   * The transport whose scopes apply: `docker` for a registry image (and for an image of skiff's
   * store, by the name it was pulled as); `oci` / `oci-archive` for a layout directory or an OCI
   * archive (scopes are absolute paths); `docker-archive` (only the `""` scope).
   */
  transport: string;
  /**
   * `docker`: the reference (`registry/repository:tag` or `@digest`; with both, the digest is the
   * identity). `oci`, `oci-archive`: the absolute path of the directory or archive, symlinks
   * resolved. Others: ignored.
   */
  name: string;
  /** The digest of the manifest the signatures must sign (the index's, for an index). */
  manifestDigest: string;
  /**
   * The manifest's bytes, to check a claim made with another digest algorithm.
   * @default {undefined}
   */
  manifest?: Uint8Array | undefined;
}

/** A sigstore signature or attestation the caller found (a bundle referrer, a cosign `.sig` / `.att` layer). Opaque here. */
export interface SigstoreCandidate {
  /** A stable identity (e.g. the referrer manifest's or the layer's digest): duplicates count once. */
  readonly id: string;
  /** What to call it in a verdict, e.g. `bundle sha256:...` or `cosign signature layer 2`. */
  readonly label: string;
}

/** Where signatures come from; each is asked at most once per evaluation, and only when needed. */
export interface SignatureCandidates<C extends SigstoreCandidate = SigstoreCandidate> {
  /** GPG simple signatures (the lookaside's `signature-N` blobs). */
  gpg?: (() => Promise<readonly Uint8Array[]>) | undefined;
  /** Sigstore candidates (bundles, cosign signatures and attestations). */
  sigstore?: (() => Promise<readonly C[]>) | undefined;
}

/** What a sigstore verifier is asked to check: the mapping of a `sigstoreSigned` or `attested` requirement. */
export interface SigstoreRequirementOptions {
  /** `signature` for `sigstoreSigned`, `attestation` for the extension's `attested`. */
  kind: "signature" | "attestation";
  /** The predicate types accepted (`attestation` only; empty for signatures). */
  predicateTypes: readonly string[];
  /** Public keys, each as its file or `keyData` bytes (PEM or DER), from `keyPath`, `keyPaths`, `keyData`, `keyDatas`. */
  publicKeys: readonly Uint8Array[];
  /** `fulcio`: the CA certificates (PEM), the issuer and the email. */
  fulcio:
    | { caCertificates: Uint8Array; oidcIssuer: string; subjectEmail: string }
    | undefined;
  /** `pki`: root and intermediate CA certificates (PEM), the subject wanted. */
  pki:
    | {
      caRoots: Uint8Array;
      caIntermediates: Uint8Array | undefined;
      subjectEmail: string | undefined;
      subjectHostname: string | undefined;
    }
    | undefined;
  /** Rekor public keys (PEM), from `rekorPublicKey*`. */
  rekorPublicKeys: readonly Uint8Array[];
  /** skiff extension: a `trusted_root.json` (the file's bytes). */
  trustedRoot: Uint8Array | undefined;
  /** skiff extension: accepted certificate identities (any one). */
  identities: readonly CertificateIdentity[];
  /** The time of verification. */
  now: Date;
}

/** What a sigstore verifier says of one candidate. */
export type SigstoreVerification =
  | {
    accepted: true;
    /** The `docker-reference` the signed payload claims (simple signing), if it has one. */
    dockerReference: string | undefined;
    /** Who signed, for the verdict (a key's fingerprint, a certificate's identity). */
    signer: string;
    /** The attestation's predicate type, for attestations. */
    predicateType?: string | undefined;
  }
  | { accepted: false; reason: string };

/** Verifies one sigstore candidate against one requirement (the lead wires the sigstore side here). */
export type SigstoreVerifier<C extends SigstoreCandidate = SigstoreCandidate> = (
  candidate: C,
  requirement: SigstoreRequirementOptions,
  image: { manifestDigest: string; signal: AbortSignal | undefined },
) => Promise<SigstoreVerification>;

/** Options for {@linkcode evaluatePolicy}. */
export interface EvaluatePolicyOptions<C extends SigstoreCandidate = SigstoreCandidate> {
  /**
   * Reads key and certificate files the policy names (relative paths: policy.json's against the
   * working directory, as containers/image does; an extension's against its own directory).
   * @default {Deno.readFile}
   */
  readFile?: (path: string) => Promise<Uint8Array>;
  /**
   * Verifies sigstore candidates; without it, `sigstoreSigned` and `attested` are not satisfied.
   * @default {undefined}
   */
  verifySigstore?: SigstoreVerifier<C> | undefined;
  /**
   * The time of verification.
   * @default {new Date()}
   */
  now?: Date;
  /**
   * Stops the evaluation.
   * @default {undefined}
   */
  signal?: AbortSignal | undefined;
}

/** The most bytes of one key or certificate file. */
const KEY_FILE_MAX_BYTES = 16 * 1024 * 1024;
/** The most candidates of one kind considered (a registry can list thousands of referrers). */
export const MAX_CANDIDATES = 128;

/**
 * Finds the requirements that apply to an image: the most specific scope of its transport.
 *
 * @param policy The policy.
 * @param image The transport and name.
 * @returns The scope (`undefined`: the global default) and its requirements.
 *
 * @example
 * ```ts
 * import { parsePolicy } from "./parse_policy.ts";
 * import { requirementsFor } from "./evaluate_policy.ts";
 * import assert from "node:assert/strict";
 *
 * const policy = parsePolicy(new TextEncoder().encode(JSON.stringify({
 *   default: [{ type: "reject" }],
 *   transports: { docker: { "*.example.com": [{ type: "insecureAcceptAnything" }] } },
 * })));
 * assert.equal(requirementsFor(policy, { transport: "docker", name: "r.example.com/a:1" }).scope, "*.example.com");
 * assert.equal(requirementsFor(policy, { transport: "docker", name: "quay.io/a:1" }).scope, undefined);
 * ```
 */
export function requirementsFor(
  policy: Policy,
  image: Pick<PolicyImage, "transport" | "name">,
): { scope: string | undefined; requirements: readonly Requirement[] } {
  const scopes = policy.transports.get(image.transport);
  if (scopes) {
    for (const scope of scopesOf(image)) {
      const reqs = scopes.get(scope);
      if (reqs) return { scope, requirements: reqs };
    }
    const reqs = scopes.get("");
    if (reqs) return { scope: "", requirements: reqs };
  }
  return { scope: undefined, requirements: policy.default };
}

/** An image's scopes in its transport, most specific first (the `""` scope not included). */
function scopesOf(image: Pick<PolicyImage, "transport" | "name">): string[] {
  switch (image.transport) {
    case "docker": {
      const ref = dockerIdentity(image.name);
      return ref ? [policyIdentity(ref), ...policyNamespaces(ref.name)] : [];
    }
    case "oci":
    case "oci-archive":
    case "dir":
    case "sif": {
      // the path, then each parent directory, never "/" (containers/image's PolicyConfigurationNamespaces)
      const out: string[] = [];
      let path = image.name.replace(/\/+$/, "");
      while (path.startsWith("/") && path !== "") {
        out.push(path);
        path = path.slice(0, path.lastIndexOf("/"));
      }
      return out;
    }
    default:
      return [];
  }
}

function dockerIdentity(name: string): DockerReference | undefined {
  const ref = parseDockerReference(name);
  if (!ref) return undefined;
  // with both a tag and a digest, the digest is what is fetched and verified
  return ref.digest !== undefined ? { name: ref.name, tag: undefined, digest: ref.digest } : ref;
}

/**
 * Evaluates a policy for an image: every requirement of the scope that applies, every signature
 * each one considers, and why. Signatures are fetched only when a requirement needs them, once.
 *
 * @param policy The policy (from {@linkcode loadPolicy} or {@linkcode parsePolicy}).
 * @param image The image: transport, name, manifest digest.
 * @param candidates Where its signatures come from.
 * @param options Key file reading, the sigstore verifier, the time, a signal.
 * @returns The verdict (`accepted` says whether every requirement is satisfied).
 * @throws {TypeError} When a docker reference does not parse or names another digest.
 *
 * @example An image under a policy that accepts anything from one registry
 * ```ts
 * import { parsePolicy } from "./parse_policy.ts";
 * import { evaluatePolicy } from "./evaluate_policy.ts";
 * import assert from "node:assert/strict";
 *
 * const policy = parsePolicy(new TextEncoder().encode(JSON.stringify({
 *   default: [{ type: "reject" }],
 *   transports: { docker: { "registry.example": [{ type: "insecureAcceptAnything" }] } },
 * })));
 * const digest = "sha256:" + "a".repeat(64);
 * const ok = await evaluatePolicy(policy, { transport: "docker", name: "registry.example/app:1", manifestDigest: digest }, {});
 * assert.ok(ok.accepted);
 * const no = await evaluatePolicy(policy, { transport: "docker", name: "quay.io/app:1", manifestDigest: digest }, {});
 * assert.ok(!no.accepted);
 * ```
 */
export async function evaluatePolicy<C extends SigstoreCandidate>(
  policy: Policy,
  image: PolicyImage,
  candidates: SignatureCandidates<C>,
  options: EvaluatePolicyOptions<C> = {},
): Promise<PolicyVerdict> {
  const signal = options.signal;
  signal?.throwIfAborted();
  const now = options.now ?? new Date();
  const readFile = options.readFile ?? ((p: string) => Deno.readFile(p));
  let identity: DockerReference | undefined;
  if (image.transport === "docker") {
    identity = dockerIdentity(image.name);
    if (!identity) {
      throw new TypeError(`Cannot evaluate policy: "${image.name}" is not a reference`);
    }
    if (identity.digest !== undefined && identity.digest !== image.manifestDigest) {
      throw new TypeError(
        `Cannot evaluate policy: ${image.name} names another digest than ${image.manifestDigest}`,
      );
    }
  }
  const shown = `${image.transport}://${
    image.transport === "docker" && identity ? policyIdentity(identity) : image.name
  }`;
  const { scope, requirements } = requirementsFor(policy, image);

  const gpg = once(async () => dedupe(await (candidates.gpg?.() ?? Promise.resolve([]))));
  const sigstore = once(async () => {
    const seen = new Set<string>();
    const out: C[] = [];
    for (const c of await (candidates.sigstore?.() ?? Promise.resolve([]))) {
      if (seen.has(c.id)) continue;
      seen.add(c.id);
      out.push(c);
    }
    return out;
  });
  const keyFiles = new Map<string, Promise<Uint8Array>>();
  const read = (source: KeySource): Promise<Uint8Array> => {
    if ("data" in source) return Promise.resolve(source.data);
    const path = source.base !== undefined && !source.path.startsWith("/")
      ? `${source.base.replace(/\/+$/, "")}/${source.path}`
      : source.path;
    let p = keyFiles.get(path);
    if (!p) {
      p = readFile(path).then((bytes) => {
        if (bytes.byteLength > KEY_FILE_MAX_BYTES) {
          throw new RangeError(`Cannot read ${path}: larger than ${KEY_FILE_MAX_BYTES} bytes`);
        }
        return bytes;
      }, (e) => {
        throw new Error(`Cannot read ${path}: ${(e as Error).message}`);
      });
      keyFiles.set(path, p);
    }
    return p;
  };

  const verdicts: RequirementVerdict[] = [];
  for (const req of requirements) {
    signal?.throwIfAborted();
    switch (req.type) {
      case "insecureAcceptAnything":
        verdicts.push({
          type: req.type,
          satisfied: true,
          reason: "accepted without signatures",
          signatures: [],
        });
        break;
      case "reject":
        verdicts.push({
          type: req.type,
          satisfied: false,
          reason: "the policy rejects it",
          signatures: [],
        });
        break;
      case "signedBaseLayer":
        verdicts.push({
          type: req.type,
          satisfied: false,
          reason: "signedBaseLayer is not implemented (nor is it in containers/image)",
          signatures: [],
        });
        break;
      case "signedBy":
        verdicts.push(await signedBy(req, image, identity, gpg, read, now));
        break;
      case "sigstoreSigned":
      case "attested":
        verdicts.push(
          await sigstoreRequirement(
            req,
            image,
            identity,
            sigstore,
            read,
            now,
            options.verifySigstore,
            signal,
          ),
        );
        break;
    }
  }
  return {
    accepted: verdicts.every((v) => v.satisfied),
    image: shown,
    policy: policy.source,
    transport: image.transport,
    scope,
    requirements: verdicts,
  };
}

/**
 * {@linkcode evaluatePolicy}, failing when the image is not accepted.
 *
 * @param policy The policy.
 * @param image The image.
 * @param candidates Where its signatures come from.
 * @param options As for {@linkcode evaluatePolicy}.
 * @returns The verdict of an accepted image.
 * @throws {PolicyRejectedError} One line naming the scope, the requirement and the reasons.
 *
 * @example
 * ```ts
 * import { parsePolicy } from "./parse_policy.ts";
 * import { assertPolicy } from "./evaluate_policy.ts";
 * import { PolicyRejectedError } from "./policy_rejected_error.ts";
import type { PolicyVerdict, RequirementVerdict, SignatureVerdict } from "./policy_verdict.ts";

export type { PolicyVerdict, RequirementVerdict, SignatureVerdict } from "./policy_verdict.ts";
 * import assert from "node:assert/strict";
 *
 * const policy = parsePolicy(new TextEncoder().encode('{"default":[{"type":"reject"}]}'));
 * await assert.rejects(
 *   assertPolicy(policy, { transport: "docker", name: "quay.io/a:1", manifestDigest: "sha256:" + "0".repeat(64) }, {}),
 *   PolicyRejectedError,
 * );
 * ```
 */
export async function assertPolicy<C extends SigstoreCandidate>(
  policy: Policy,
  image: PolicyImage,
  candidates: SignatureCandidates<C>,
  options: EvaluatePolicyOptions<C> = {},
): Promise<PolicyVerdict> {
  const verdict = await evaluatePolicy(policy, image, candidates, options);
  if (!verdict.accepted) throw new PolicyRejectedError(verdict);
  return verdict;
}

function once<T>(f: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => p ??= f();
}

async function dedupe(blobs: readonly Uint8Array[]): Promise<Uint8Array[]> {
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  for (const b of blobs) {
    const d = await computeDigest(b);
    if (seen.has(d)) continue;
    seen.add(d);
    out.push(b);
  }
  return out;
}

async function readKeys(
  set: KeySet,
  read: (s: KeySource) => Promise<Uint8Array>,
): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const s of set.sources) out.push(await read(s));
  return out;
}

function summary(signatures: SignatureVerdict[], none: string): string {
  if (signatures.length === 0) return none;
  if (signatures.length === 1) return signatures[0]!.reason;
  return `none of ${signatures.length} signatures is accepted: ` +
    signatures.map((s) => `${s.label}: ${s.reason}`).join("; ");
}

function verdictOf(
  type: Requirement["type"],
  signatures: SignatureVerdict[],
  none: string,
): RequirementVerdict {
  const accepted = signatures.find((s) => s.accepted);
  if (accepted) {
    return { type, satisfied: true, reason: `${accepted.label} ${accepted.reason}`, signatures };
  }
  return { type, satisfied: false, reason: summary(signatures, none), signatures };
}

/** A verified signature judged by `signedIdentity` (when it claims an identity and a rule applies). */
function judged(
  label: string,
  signer: string,
  claim: string | undefined,
  rule: SignedIdentity | undefined,
  image: PolicyImage,
  identity: DockerReference | undefined,
  note = "",
): SignatureVerdict {
  if (rule && claim !== undefined && !matchesSignedIdentity(rule, identity, claim)) {
    return {
      label,
      accepted: false,
      reason: `it signs identity ${JSON.stringify(claim)}, which ${
        identityRule(rule)
      } does not accept for ${identityShown(image, identity)}`,
      signer,
      dockerReference: claim,
    };
  }
  const as = claim !== undefined ? ` as ${claim}` : "";
  return {
    label,
    accepted: true,
    reason: `signed by ${signer}${as}${note}`,
    signer,
    dockerReference: claim,
  };
}

async function signedBy(
  req: Extract<Requirement, { type: "signedBy" }>,
  image: PolicyImage,
  identity: DockerReference | undefined,
  gpg: () => Promise<Uint8Array[]>,
  read: (s: KeySource) => Promise<Uint8Array>,
  now: Date,
): Promise<RequirementVerdict> {
  const fail = (reason: string) => ({ type: req.type, satisfied: false, reason, signatures: [] });
  if (req.keyType !== "GPGKeys") return fail(`keyType "${req.keyType}" is not implemented`);
  let keyring: OpenPgpKeyring;
  try {
    const sources = await readKeys(req.keys, read);
    if (sources.length === 0 || sources.every((s) => s.byteLength === 0)) {
      return fail(`no public keys in ${req.keys.field}`);
    }
    keyring = await OpenPgpKeyring.read(sources.filter((s) => s.byteLength > 0));
  } catch (e) {
    return fail((e as Error).message);
  }
  const signatures: SignatureVerdict[] = [];
  for (const [i, blob] of (await gpg()).entries()) {
    const label = `gpg signature ${i + 1}`;
    try {
      const { signing, message } = await verifySimpleSignature(blob, keyring, {
        manifestDigest: image.manifestDigest,
        manifest: image.manifest,
        now,
      });
      const signer = `key ${message.primaryKeyFingerprint}`;
      signatures.push(
        judged(label, signer, signing.dockerReference, req.signedIdentity, image, identity),
      );
    } catch (e) {
      if (!(e instanceof InvalidSignatureError)) throw e;
      signatures.push({ label, accepted: false, reason: e.reason });
    }
  }
  return verdictOf(req.type, signatures, "a signature was required, but there is none");
}

async function sigstoreRequirement<C extends SigstoreCandidate>(
  req: Extract<Requirement, { type: "sigstoreSigned" | "attested" }>,
  image: PolicyImage,
  identity: DockerReference | undefined,
  candidates: () => Promise<C[]>,
  read: (s: KeySource) => Promise<Uint8Array>,
  now: Date,
  verify: SigstoreVerifier<C> | undefined,
  signal: AbortSignal | undefined,
): Promise<RequirementVerdict> {
  const fail = (reason: string) => ({ type: req.type, satisfied: false, reason, signatures: [] });
  if (!verify) return fail("sigstore verification is not available here");
  let options: SigstoreRequirementOptions;
  try {
    options = await sigstoreOptions(req, read, now);
  } catch (e) {
    return fail((e as Error).message);
  }
  const all = await candidates();
  const list = all.slice(0, MAX_CANDIDATES);
  const signatures: SignatureVerdict[] = [];
  for (const candidate of list) {
    signal?.throwIfAborted();
    let result: SigstoreVerification;
    try {
      result = await verify(candidate, options, { manifestDigest: image.manifestDigest, signal });
    } catch (e) {
      if (signal?.aborted) throw e;
      result = { accepted: false, reason: (e as Error).message };
    }
    if (!result.accepted) {
      signatures.push({ label: candidate.label, accepted: false, reason: result.reason });
      continue;
    }
    const rule = req.type === "sigstoreSigned" ? req.signedIdentity : undefined;
    const note = result.predicateType ? ` (${result.predicateType})` : "";
    signatures.push(
      judged(candidate.label, result.signer, result.dockerReference, rule, image, identity, note),
    );
  }
  const noun = req.type === "attested" ? "attestation" : "signature";
  const v = verdictOf(req.type, signatures, `a sigstore ${noun} was required, but there is none`);
  if (!v.satisfied && all.length > list.length) {
    v.reason += ` (${all.length - list.length} more not considered)`;
  }
  return v;
}

async function sigstoreOptions(
  req: Extract<Requirement, { type: "sigstoreSigned" | "attested" }>,
  read: (s: KeySource) => Promise<Uint8Array>,
  now: Date,
): Promise<SigstoreRequirementOptions> {
  const signer: SigstoreSigner = req;
  return {
    kind: req.type === "attested" ? "attestation" : "signature",
    predicateTypes: req.type === "attested" ? req.predicateTypes : [],
    publicKeys: signer.keys ? await readKeys(signer.keys, read) : [],
    fulcio: signer.fulcio
      ? {
        caCertificates: await read(signer.fulcio.ca),
        oidcIssuer: signer.fulcio.oidcIssuer,
        subjectEmail: signer.fulcio.subjectEmail,
      }
      : undefined,
    pki: signer.pki
      ? {
        caRoots: await read(signer.pki.caRoots),
        caIntermediates: signer.pki.caIntermediates
          ? await read(signer.pki.caIntermediates)
          : undefined,
        subjectEmail: signer.pki.subjectEmail,
        subjectHostname: signer.pki.subjectHostname,
      }
      : undefined,
    rekorPublicKeys: signer.rekorPublicKeys ? await readKeys(signer.rekorPublicKeys, read) : [],
    trustedRoot: signer.trustedRoot ? await read(signer.trustedRoot) : undefined,
    identities: signer.identities ?? [],
    now,
  };
}

function identityRule(rule: SignedIdentity): string {
  switch (rule.type) {
    case "exactReference":
      return `exactReference ${JSON.stringify(rule.dockerReference)}`;
    case "exactRepository":
      return `exactRepository ${JSON.stringify(rule.dockerRepository)}`;
    case "remapIdentity":
      return `remapIdentity ${JSON.stringify(rule.prefix)} -> ${JSON.stringify(rule.signedPrefix)}`;
    default:
      return rule.type;
  }
}

function identityShown(image: PolicyImage, identity: DockerReference | undefined): string {
  return identity
    ? policyIdentity(identity)
    : `${image.transport}:${image.name} (no Docker identity)`;
}
