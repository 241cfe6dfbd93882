// Transparency log (Rekor) entries of a bundle: the signed entry timestamp (an inclusion promise),
// the inclusion proof (an RFC 6962 Merkle audit path) with its signed checkpoint (C2SP
// signed-note and tlog-checkpoint), and the comparison of the logged body with the bundle.

import {
  bytesEqual,
  concat,
  digest,
  fromBase64,
  fromUtf8,
  parsePem,
  toBase64,
  toHex,
  utf8,
} from "./_bytes.ts";
import {
  asObject,
  field,
  type JsonObject,
  optArray,
  optObject,
  optString,
  parseJsonObject,
  reqObject,
  reqString,
} from "./_json.ts";
import type { TlogEntry } from "./sigstore_bundle.ts";
import { inWindow, type TrustedLog } from "./trusted_root.ts";

/** The logs that may hold an entry: those whose ID is the entry's log ID. */
function logsFor(entry: TlogEntry, tlogs: readonly TrustedLog[]): TrustedLog[] {
  return tlogs.filter((l) =>
    bytesEqual(l.logId, entry.logId) ||
    (l.checkpointKeyId !== undefined && bytesEqual(l.checkpointKeyId, entry.logId))
  );
}

/**
 * Verifies the signed entry timestamp: the log's signature over the canonical JSON of
 * `{body, integratedTime, logID, logIndex}`.
 *
 * @returns The log that signed it.
 */
export async function verifySignedEntryTimestamp(
  entry: TlogEntry,
  tlogs: readonly TrustedLog[],
): Promise<TrustedLog> {
  const time = new Date(Number(entry.integratedTime) * 1000);
  const logs = logsFor(entry, tlogs);
  if (logs.length === 0) {
    throw new Error(`its log ${toHex(entry.logId)} is not in the trusted root`);
  }
  const candidates = logs.filter((l) => inWindow(l.validFor, time));
  if (candidates.length === 0) {
    throw new Error(`its log's key was not valid at the integrated time ${time.toISOString()}`);
  }
  // canonical JSON (RFC 8785) of four fields: keys sorted, integers, strings that need no escape
  const payload = utf8(
    `{"body":"${toBase64(entry.canonicalizedBody)}","integratedTime":${entry.integratedTime},` +
      `"logID":"${toHex(entry.logId)}","logIndex":${entry.logIndex}}`,
  );
  for (const log of candidates) {
    if (log.key && (await log.key.verify(payload, entry.inclusionPromise!, log.keyOptions))) {
      return log;
    }
  }
  throw new Error("its signed entry timestamp does not verify with the log's key");
}

/** A checkpoint: the note's lines, and the signature lines. */
interface SignedCheckpoint {
  text: string;
  origin: string;
  size: bigint;
  rootHash: Uint8Array;
  signatures: { name: string; hint: Uint8Array; signature: Uint8Array }[];
}

const MAX_CHECKPOINT = 64 * 1024;

/** Parses a signed note holding a checkpoint (C2SP signed-note, tlog-checkpoint). */
export function parseCheckpoint(envelope: string): SignedCheckpoint {
  if (envelope.length > MAX_CHECKPOINT) throw new Error("its checkpoint is too large");
  const split = envelope.indexOf("\n\n");
  if (split < 0) throw new Error("its checkpoint has no signature block");
  const text = envelope.slice(0, split + 1);
  const sigBlock = envelope.slice(split + 2);
  if (!sigBlock.endsWith("\n")) {
    throw new Error("its checkpoint's signatures do not end with a newline");
  }
  const signatures: SignedCheckpoint["signatures"] = [];
  for (const line of sigBlock.slice(0, -1).split("\n")) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
    if (!m) throw new Error("its checkpoint has a malformed signature line");
    const bytes = fromBase64(m[2]!, "checkpoint signature");
    if (bytes.byteLength < 5) throw new Error("its checkpoint has a malformed signature line");
    if (signatures.length === 100) throw new Error("its checkpoint has too many signatures");
    signatures.push({ name: m[1]!, hint: bytes.subarray(0, 4), signature: bytes.subarray(4) });
  }
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw new Error("its checkpoint has fewer than three lines");
  if (lines.some((l) => l.length === 0)) throw new Error("its checkpoint has an empty line");
  const [origin, size, hash] = lines as [string, string, string];
  if (!/^(0|[1-9][0-9]{0,19})$/.test(size)) {
    throw new Error("its checkpoint's tree size is not a number");
  }
  return {
    text,
    origin,
    size: BigInt(size),
    rootHash: fromBase64(hash, "checkpoint root hash"),
    signatures,
  };
}

function logName(log: TrustedLog): string {
  try {
    const u = new URL(log.baseUrl);
    return u.host + u.pathname.replace(/\/+$/, "");
  } catch {
    return log.baseUrl;
  }
}

/**
 * Verifies the inclusion proof: the checkpoint is signed by the entry's log (its key hint and
 * name), names that log as its origin, and has the proof's tree size and root hash; the audit
 * path leads from the hash of the canonicalized body to that root.
 *
 * @returns The log.
 */
export async function verifyInclusionProof(
  entry: TlogEntry,
  tlogs: readonly TrustedLog[],
): Promise<TrustedLog> {
  const proof = entry.inclusionProof!;
  const logs = logsFor(entry, tlogs);
  if (logs.length === 0) {
    throw new Error(`its log ${toHex(entry.logId)} is not in the trusted root`);
  }
  const cp = parseCheckpoint(proof.checkpoint);
  let signer: TrustedLog | undefined;
  for (const log of logs) {
    const hint = (log.checkpointKeyId ?? log.logId).subarray(0, 4);
    const name = logName(log);
    if (cp.origin !== name && !cp.origin.startsWith(`${name} - `)) continue;
    for (const s of cp.signatures) {
      if (s.name !== name || !bytesEqual(s.hint, hint) || !log.key) continue;
      if (await log.key.verify(utf8(cp.text), s.signature, log.keyOptions)) {
        signer = log;
        break;
      }
    }
    if (signer) break;
  }
  if (!signer) throw new Error("its checkpoint is not signed by its log");
  if (cp.size !== proof.treeSize || !bytesEqual(cp.rootHash, proof.rootHash)) {
    throw new Error("its inclusion proof is not for the signed checkpoint's tree");
  }
  const leaf = await digest("SHA-256", new Uint8Array([0]), entry.canonicalizedBody);
  const root = await rootFromAuditPath(proof.logIndex, proof.treeSize, leaf, proof.hashes);
  if (!root || !bytesEqual(root, cp.rootHash)) {
    throw new Error("its inclusion proof does not lead to the checkpoint's root hash");
  }
  return signer;
}

/**
 * The root hash an audit path leads to (RFC 9162 section 2.1.3.2), or undefined when the path
 * does not fit the index and size.
 */
export async function rootFromAuditPath(
  index: bigint,
  size: bigint,
  leaf: Uint8Array,
  path: readonly Uint8Array[],
): Promise<Uint8Array | undefined> {
  if (index < 0n || index >= size || path.length > 64) return undefined;
  let fn = index, sn = size - 1n, r = leaf;
  for (const p of path) {
    if (p.byteLength !== 32 || sn === 0n) return undefined;
    if ((fn & 1n) === 1n || fn === sn) {
      r = await digest("SHA-256", new Uint8Array([1]), p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await digest("SHA-256", new Uint8Array([1]), r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n ? r : undefined;
}

/** What the bundle says was signed, to compare with a log entry's body. */
export type LoggedContent =
  | {
    readonly type: "message";
    readonly signature: Uint8Array;
    readonly digestAlgorithm: "sha256" | "sha384" | "sha512";
    readonly digest: Uint8Array;
  }
  | {
    readonly type: "dsse";
    readonly signature: Uint8Array;
    readonly payload: Uint8Array;
    readonly payloadType: string;
  };

/** The signer as the bundle gives it: a certificate's DER or a key's SPKI. */
export type LoggedSigner = { readonly certificate: Uint8Array } | { readonly spki: Uint8Array };

const MAX_BODY = 8 * 1024 * 1024;

/**
 * Checks that the log entry's body is the bundle's: kind and version, the signature, the digest
 * (message) or payload hash (DSSE), and the certificate or key.
 */
export async function verifyLoggedBody(
  entry: TlogEntry,
  content: LoggedContent,
  signer: LoggedSigner,
): Promise<void> {
  if (entry.canonicalizedBody.byteLength > MAX_BODY) throw new Error("its body is too large");
  let body: JsonObject;
  try {
    body = parseJsonObject(entry.canonicalizedBody, "its body");
  } catch (e) {
    throw new Error((e as Error).message);
  }
  const kind = field(body, "kind"), version = field(body, "apiVersion");
  if (kind !== entry.kind || version !== entry.version) {
    throw new Error(
      `its body is ${String(kind)} ${
        String(version)
      }, the entry says ${entry.kind} ${entry.version}`,
    );
  }
  try {
    const spec = reqObject(body, "spec", "body");
    const key = `${entry.kind} ${entry.version}`;
    switch (key) {
      case "hashedrekord 0.0.1":
        return hashedRekord001(spec, content, signer);
      case "hashedrekord 0.0.2":
        return hashedRekord002(spec, content, signer);
      case "dsse 0.0.1":
        return await dsse001(spec, content, signer);
      case "dsse 0.0.2":
        return await dsse002(spec, content, signer);
      case "intoto 0.0.2":
        return await intoto002(spec, content, signer);
      default:
        throw new Error(`its kind ${entry.kind} ${entry.version} is not supported`);
    }
  } catch (e) {
    if (e instanceof SyntaxError) throw new Error(`its body is malformed: ${e.message}`);
    throw e;
  }
}

function mismatch(what: string): never {
  throw new Error(`its logged ${what} is not the bundle's`);
}

/** The bytes of a logged PEM (a certificate or a public key), base64 of the PEM text. */
function loggedPem(b64: string, what: string): Uint8Array {
  const pem = fromUtf8(fromBase64(b64, what), what);
  return parsePem(pem, what, 4)[0]!.der;
}

function sameSigner(logged: Uint8Array, signer: LoggedSigner): boolean {
  return "certificate" in signer
    ? bytesEqual(logged, signer.certificate)
    : bytesEqual(logged, signer.spki);
}

function needMessage(content: LoggedContent): Extract<LoggedContent, { type: "message" }> {
  if (content.type !== "message") {
    throw new Error("it logs a message signature, the bundle holds DSSE");
  }
  return content;
}

function needDsse(content: LoggedContent): Extract<LoggedContent, { type: "dsse" }> {
  if (content.type !== "dsse") {
    throw new Error("it logs DSSE, the bundle holds a message signature");
  }
  return content;
}

function hashedRekord001(spec: JsonObject, content: LoggedContent, signer: LoggedSigner): void {
  const c = needMessage(content);
  const sig = reqObject(spec, "signature", "spec");
  if (
    !bytesEqual(
      fromBase64(reqString(sig, "content", "spec.signature", 8192), "signature"),
      c.signature,
    )
  ) {
    mismatch("signature");
  }
  const hash = reqObject(reqObject(spec, "data", "spec"), "hash", "spec.data");
  if (reqString(hash, "algorithm", "spec.data.hash") !== c.digestAlgorithm) {
    mismatch("digest algorithm");
  }
  if (reqString(hash, "value", "spec.data.hash", 256).toLowerCase() !== toHex(c.digest)) {
    mismatch("digest");
  }
  const pk = reqObject(sig, "publicKey", "spec.signature");
  if (
    !sameSigner(
      loggedPem(reqString(pk, "content", "spec.signature.publicKey", 65536), "logged key"),
      signer,
    )
  ) {
    mismatch("certificate or key");
  }
}

const HASH_NAMES: Record<string, string> = {
  SHA2_256: "sha256",
  SHA2_384: "sha384",
  SHA2_512: "sha512",
};

function verifierBytes(v: JsonObject, path: string): Uint8Array {
  const cert = optObject(v, "x509Certificate", path);
  const key = optObject(v, "publicKey", path);
  const raw = cert ?? key;
  if (!raw) throw new SyntaxError(`${path}: no certificate or key`);
  return fromBase64(reqString(raw, "rawBytes", path, 65536 * 2), "logged verifier");
}

function hashedRekord002(spec: JsonObject, content: LoggedContent, signer: LoggedSigner): void {
  const c = needMessage(content);
  const s = reqObject(spec, "hashedRekordV002", "spec");
  const data = reqObject(s, "data", "spec.hashedRekordV002");
  if (HASH_NAMES[String(field(data, "algorithm"))] !== c.digestAlgorithm) {
    mismatch("digest algorithm");
  }
  if (!bytesEqual(fromBase64(reqString(data, "digest", "data", 256), "digest"), c.digest)) {
    mismatch("digest");
  }
  const sig = reqObject(s, "signature", "spec.hashedRekordV002");
  if (
    !bytesEqual(fromBase64(reqString(sig, "content", "signature", 8192), "signature"), c.signature)
  ) {
    mismatch("signature");
  }
  if (!sameSigner(verifierBytes(reqObject(sig, "verifier", "signature"), "verifier"), signer)) {
    mismatch("certificate or key");
  }
}

async function payloadHashMatches(
  hash: JsonObject,
  payload: Uint8Array,
  hex: boolean,
): Promise<boolean> {
  const alg = String(field(hash, "algorithm"));
  const name = hex ? alg : HASH_NAMES[alg];
  const web = name === "sha256"
    ? "SHA-256"
    : name === "sha384"
    ? "SHA-384"
    : name === "sha512"
    ? "SHA-512"
    : undefined;
  if (!web) return false;
  const want = await digest(web, payload);
  return hex
    ? reqString(hash, "value", "payloadHash", 256).toLowerCase() === toHex(want)
    : bytesEqual(fromBase64(reqString(hash, "digest", "payloadHash", 256), "payload hash"), want);
}

async function dsse001(spec: JsonObject, content: LoggedContent, signer: LoggedSigner) {
  const c = needDsse(content);
  const sigs = optArray(spec, "signatures", "spec", 16) ?? [];
  if (sigs.length !== 1) throw new Error(`its body has ${sigs.length} signatures, expected 1`);
  const s = asObject(sigs[0], "spec.signatures[0]");
  if (
    !bytesEqual(fromBase64(reqString(s, "signature", "signature", 8192), "signature"), c.signature)
  ) {
    mismatch("signature");
  }
  if (!(await payloadHashMatches(reqObject(spec, "payloadHash", "spec"), c.payload, true))) {
    mismatch("payload hash");
  }
  if (
    !sameSigner(loggedPem(reqString(s, "verifier", "signature", 65536), "logged verifier"), signer)
  ) {
    mismatch("certificate or key");
  }
}

async function dsse002(spec: JsonObject, content: LoggedContent, signer: LoggedSigner) {
  const c = needDsse(content);
  const d = reqObject(spec, "dsseV002", "spec");
  const sigs = optArray(d, "signatures", "spec.dsseV002", 16) ?? [];
  if (sigs.length !== 1) throw new Error(`its body has ${sigs.length} signatures, expected 1`);
  const s = asObject(sigs[0], "signatures[0]");
  if (
    !bytesEqual(fromBase64(reqString(s, "content", "signature", 8192), "signature"), c.signature)
  ) {
    mismatch("signature");
  }
  if (!(await payloadHashMatches(reqObject(d, "payloadHash", "spec.dsseV002"), c.payload, false))) {
    mismatch("payload hash");
  }
  if (!sameSigner(verifierBytes(reqObject(s, "verifier", "signature"), "verifier"), signer)) {
    mismatch("certificate or key");
  }
}

async function intoto002(spec: JsonObject, content: LoggedContent, signer: LoggedSigner) {
  const c = needDsse(content);
  const inner = reqObject(spec, "content", "spec");
  const env = reqObject(inner, "envelope", "spec.content");
  const type = optString(env, "payloadType", "envelope", 1024);
  if (type !== undefined && type !== c.payloadType) mismatch("payload type");
  const sigs = optArray(env, "signatures", "envelope", 16) ?? [];
  if (sigs.length !== 1) throw new Error(`its body has ${sigs.length} signatures, expected 1`);
  const s = asObject(sigs[0], "signatures[0]");
  // the signature is base64 twice in this kind
  const once = fromUtf8(
    fromBase64(reqString(s, "sig", "signature", 16384), "signature"),
    "signature",
  );
  if (!bytesEqual(fromBase64(once, "signature"), c.signature)) mismatch("signature");
  if (
    !(await payloadHashMatches(reqObject(inner, "payloadHash", "spec.content"), c.payload, true))
  ) {
    mismatch("payload hash");
  }
  if (!sameSigner(loggedPem(reqString(s, "publicKey", "signature", 65536), "logged key"), signer)) {
    mismatch("certificate or key");
  }
}

/** The entry's body hash as a Rekor leaf (for messages and duplicate checks). */
export async function leafHash(entry: TlogEntry): Promise<string> {
  return toHex(await digest("SHA-256", concat(new Uint8Array([0]), entry.canonicalizedBody)));
}
