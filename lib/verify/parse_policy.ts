/**
 * The containers signature policy, `policy.json` (containers-policy.json(5)), read as strictly as
 * containers/image reads it (`signature/policy_config.go`, `policy_config_sigstore.go`): an unknown
 * field, a duplicated key, a wrong type, an empty requirement list, an invalid scope of a known
 * transport or an inconsistent set of key sources is refused, naming the field.
 *
 * The skiff extension (what policy.json cannot say: attestations, a sigstore trusted root,
 * certificate identities by regular expression, GitHub workflow claims) lives in separate files
 * that a policy names under the transport `skiff-policy-extension`, which skopeo and podman ignore
 * (containers/image tolerates transports it does not know, as long as their scopes hold valid
 * requirements):
 *
 * ```json
 * "transports": { "skiff-policy-extension": { "skiff-policy.json": [{ "type": "reject" }] } }
 * ```
 *
 * @module
 */

import { parseDigest } from "../reference/parse_digest.ts";
import {
  isJsonObject,
  type JsonObject,
  jsonType,
  type JsonValue,
  readStrictJson,
} from "./_strict_json.ts";
import { isRemapPrefix, parseDockerReference, type SignedIdentity } from "./signed_identity.ts";

/** The transport under which a policy names its skiff extension files. */
export const EXTENSION_TRANSPORT = "skiff-policy-extension";
/** The marker and version of a skiff policy extension file. */
export const EXTENSION_VERSION_KEY = "skiffPolicyExtension";
/** The largest policy or extension file read. */
export const POLICY_MAX_BYTES = 4 * 1024 * 1024;

/** Where key material comes from: a file, or bytes written in the policy (base64). */
export type KeySource =
  | { readonly path: string; readonly base: string | undefined }
  | { readonly data: Uint8Array };

/** A set of key sources and the field they were given in, for messages. */
export interface KeySet {
  /** `keyPath`, `keyPaths`, `keyData`, `keyDatas`, `rekorPublicKeyPath`, ... */
  readonly field: string;
  /** The sources (one for `keyPath` and `keyData`). */
  readonly sources: readonly KeySource[];
}

/** `fulcio` of a `sigstoreSigned` requirement. */
export interface FulcioTrust {
  /** The Fulcio CA certificates (PEM). */
  readonly ca: KeySource;
  /** The OIDC issuer the certificate must name. */
  readonly oidcIssuer: string;
  /** The email the certificate must be issued to. */
  readonly subjectEmail: string;
}

/** `pki` of a `sigstoreSigned` requirement. */
export interface PkiTrust {
  /** The root CA certificates (PEM). */
  readonly caRoots: KeySource;
  /** The intermediate CA certificates (PEM). */
  readonly caIntermediates: KeySource | undefined;
  /** The email the certificate must be issued to. */
  readonly subjectEmail: string | undefined;
  /** The host name the certificate must be issued to. */
  readonly subjectHostname: string | undefined;
}

/**
 * A certificate identity a keyless signature must have (skiff extension), as cosign's
 * `--certificate-identity[-regexp]`, `--certificate-oidc-issuer[-regexp]` and
 * `--certificate-github-workflow-*` flags say it. Regular expressions match the whole value.
 */
export interface CertificateIdentity {
  /** The OIDC issuer, exactly. */
  readonly issuer?: string | undefined;
  /** The OIDC issuer, by regular expression. */
  readonly issuerRegExp?: string | undefined;
  /** The subject (the certificate's SAN: an email or a URI), exactly. */
  readonly subject?: string | undefined;
  /** The subject, by regular expression. */
  readonly subjectRegExp?: string | undefined;
  /** Fulcio's GitHub workflow repository extension, e.g. `org/app`. */
  readonly githubWorkflowRepository?: string | undefined;
  /** Fulcio's GitHub workflow ref extension, e.g. `refs/heads/main`. */
  readonly githubWorkflowRef?: string | undefined;
  /** Fulcio's GitHub workflow name extension. */
  readonly githubWorkflowName?: string | undefined;
  /** Fulcio's GitHub workflow commit extension. */
  readonly githubWorkflowSha?: string | undefined;
  /** Fulcio's GitHub workflow trigger extension, e.g. `push`. */
  readonly githubWorkflowTrigger?: string | undefined;
}

/** Who must have signed, for `sigstoreSigned` and `attested`. */
export interface SigstoreSigner {
  /** Public keys (`keyPath`, `keyPaths`, `keyData`, `keyDatas`). */
  readonly keys: KeySet | undefined;
  /** A Fulcio CA with an issuer and an email. */
  readonly fulcio: FulcioTrust | undefined;
  /** A CA of one's own. */
  readonly pki: PkiTrust | undefined;
  /** Rekor public keys (`rekorPublicKey*`). */
  readonly rekorPublicKeys: KeySet | undefined;
  /** skiff extension: a sigstore `trusted_root.json` (Fulcio CAs, Rekor, CT logs, TSAs). */
  readonly trustedRoot: KeySource | undefined;
  /** skiff extension: accepted certificate identities (keyless through `trustedRoot`). */
  readonly identities: readonly CertificateIdentity[] | undefined;
}

/** One requirement of a policy scope. */
export type Requirement =
  | { readonly type: "insecureAcceptAnything" }
  | { readonly type: "reject" }
  | {
    readonly type: "signedBy";
    /** `GPGKeys` (the only one containers/image implements), or a reserved value. */
    readonly keyType: "GPGKeys" | "signedByGPGKeys" | "X509Certificates" | "signedByX509CAs";
    /** The keyrings. */
    readonly keys: KeySet;
    /** How the signed identity must match. */
    readonly signedIdentity: SignedIdentity;
  }
  | { readonly type: "signedBaseLayer"; readonly baseLayerIdentity: SignedIdentity }
  | ({ readonly type: "sigstoreSigned"; readonly signedIdentity: SignedIdentity } & SigstoreSigner)
  | ({
    /** skiff extension: an in-toto attestation of one of `predicateTypes`, about this digest. */
    readonly type: "attested";
    /** The predicate types accepted. */
    readonly predicateTypes: readonly string[];
  } & SigstoreSigner);

/** A parsed policy. */
export interface Policy {
  /** Where it was read from, for messages. */
  readonly source: string;
  /** The global default requirements. */
  readonly default: readonly Requirement[];
  /** Per transport, per scope: the requirements (extension scopes merged in by the loader). */
  readonly transports: ReadonlyMap<string, ReadonlyMap<string, readonly Requirement[]>>;
  /** Extension files the policy names (paths as written, relative to the policy's directory). */
  readonly extensions: readonly string[];
}

/** A parsed skiff policy extension file. */
export interface PolicyExtension {
  /** Where it was read from. */
  readonly source: string;
  /** Per transport, per scope: the requirements. */
  readonly transports: ReadonlyMap<string, ReadonlyMap<string, readonly Requirement[]>>;
}

/** Options for {@linkcode parsePolicy}. */
export interface ParsePolicyOptions {
  /**
   * Where the bytes come from, for messages.
   * @default {"policy"}
   */
  source?: string;
}

/** Transports containers/image registers (skopeo 1.9 and later), with their scope rules. */
const KNOWN_TRANSPORTS: Record<string, (scope: string) => string | undefined> = {
  "docker": () => undefined,
  // atomic (OpenShift) validates its scopes in containers/image, but Debian's skopeo 1.9 has no
  // such transport and accepts any: skiff never uses them, so it accepts any too
  "atomic": () => undefined,
  "containers-storage": storageScope,
  "dir": pathScope,
  "oci": pathScope,
  "oci-archive": pathScope,
  "sif": pathScope,
  "docker-archive": () => `is a scope; docker-archive has only the default scope ""`,
  "tarball": () => `is a scope; tarball has only the default scope ""`,
  "docker-daemon": (s) => {
    try {
      parseDigest(s);
      return "is a digest, which docker-daemon cannot use as a scope";
    } catch {
      return undefined;
    }
  },
  "ostree": () => undefined,
};

function pathScope(s: string): string | undefined {
  if (!s.startsWith("/")) return "is not an absolute path";
  if (s === "/") return `is "/"; use the default scope ""`;
  if (cleanPath(s) !== s) return `is not in canonical form (${cleanPath(s)})`;
  return undefined;
}

function storageScope(s: string): string | undefined {
  const close = s.indexOf("]");
  if (!s.startsWith("[") || close < 2) return "is not a valid containers-storage scope";
  const spec = s.slice(1, close);
  const at = spec.indexOf("@");
  const root = at === -1 ? spec : spec.slice(at + 1);
  if ((at !== -1 && (at === 0 || root === "")) || !root.startsWith("/")) {
    return "is not a valid containers-storage scope";
  }
  return undefined;
}

/** Go's `filepath.Clean` for absolute paths. */
function cleanPath(p: string): string {
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

/** A reader of one JSON object's fields that refuses unknown ones and names each field. */
class Fields {
  readonly #obj: JsonObject;
  readonly #path: string;
  readonly #fail: (path: string, why: string) => never;
  readonly #allowed: Set<string>;

  constructor(
    value: JsonValue | undefined,
    path: string,
    allowed: string[],
    fail: (path: string, why: string) => never,
  ) {
    this.#path = path;
    this.#fail = fail;
    if (!isJsonObject(value)) fail(path, `is ${jsonType(value)}, not an object`);
    this.#obj = value as JsonObject;
    this.#allowed = new Set(allowed);
    for (const key of Object.keys(this.#obj)) {
      if (!this.#allowed.has(key)) fail(path, `has an unknown field ${JSON.stringify(key)}`);
    }
  }

  path(key: string): string {
    return fieldPath(this.#path, key);
  }

  has(key: string): boolean {
    return Object.hasOwn(this.#obj, key);
  }

  raw(key: string): JsonValue | undefined {
    return this.has(key) ? this.#obj[key] : undefined;
  }

  string(key: string): string | undefined {
    if (!this.has(key)) return undefined;
    const v = this.#obj[key]!;
    if (typeof v !== "string") this.#fail(this.path(key), `is ${jsonType(v)}, not a string`);
    return v as string;
  }

  strings(key: string): string[] | undefined {
    if (!this.has(key)) return undefined;
    const v = this.#obj[key]!;
    if (!Array.isArray(v)) this.#fail(this.path(key), `is ${jsonType(v)}, not an array`);
    return (v as JsonValue[]).map((item, i) => {
      if (typeof item !== "string") {
        this.#fail(`${this.path(key)}[${i}]`, `is ${jsonType(item)}, not a string`);
      }
      return item as string;
    });
  }

  bytes(key: string): Uint8Array | undefined {
    const s = this.string(key);
    return s === undefined ? undefined : base64(s, this.path(key), this.#fail);
  }

  bytesList(key: string): Uint8Array[] | undefined {
    const list = this.strings(key);
    return list?.map((s, i) => base64(s, `${this.path(key)}[${i}]`, this.#fail));
  }
}

function fieldPath(base: string, key: string): string {
  const k = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
  return base === "" ? k.replace(/^\./, "") : base + k;
}

/** Base64 as Go's `encoding/json` decodes `[]byte`: standard alphabet, padded, CR/LF ignored. */
function base64(s: string, path: string, fail: (path: string, why: string) => never): Uint8Array {
  const clean = s.replace(/[\r\n]/g, "");
  if (clean.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) {
    fail(path, "is not valid base64");
  }
  try {
    return Uint8Array.fromBase64(clean);
  } catch {
    return fail(path, "is not valid base64");
  }
}

/**
 * Parses a containers `policy.json`.
 *
 * @param bytes The file's content.
 * @param options Where it comes from, for messages.
 * @returns The policy.
 * @throws {SyntaxError} `Cannot parse policy <source>: <field>: <why>` for anything containers/image
 *   refuses (and a few things it lets through that can only be mistakes: `null` where a value is
 *   expected).
 *
 * @example Reject everything but one registry
 * ```ts
 * import { parsePolicy } from "./parse_policy.ts";
 * import assert from "node:assert/strict";
 *
 * const policy = parsePolicy(new TextEncoder().encode(JSON.stringify({
 *   default: [{ type: "reject" }],
 *   transports: { docker: { "registry.example": [{ type: "insecureAcceptAnything" }] } },
 * })));
 * assert.equal(policy.default[0]!.type, "reject");
 * assert.equal(policy.transports.get("docker")!.get("registry.example")![0]!.type,
 *   "insecureAcceptAnything");
 * assert.throws(() => parsePolicy(new TextEncoder().encode('{"default":[],"x":1}')), SyntaxError);
 * ```
 */
export function parsePolicy(bytes: Uint8Array, options: ParsePolicyOptions = {}): Policy {
  const source = options.source ?? "policy";
  const fail = failFor(`policy ${source}`);
  const doc = readStrictJson(bytes, { what: `policy ${source}`, maxBytes: POLICY_MAX_BYTES });
  const top = new Fields(doc, "", ["default", "transports"], fail);
  if (!top.has("default")) fail("default", "is missing (the global default is required)");
  const def = requirements(top.raw("default"), "default", false, undefined, fail);
  const { transports, extensions } = readTransports(top, false, undefined, fail);
  return { source, default: def, transports, extensions };
}

/** Options for {@linkcode parsePolicyExtension}. */
export interface ParsePolicyExtensionOptions {
  /**
   * Where the bytes come from, for messages.
   * @default {"policy extension"}
   */
  source?: string;
  /**
   * The directory relative paths in the file are resolved against (the file's own).
   * @default {undefined}
   */
  base?: string | undefined;
}

/**
 * Parses a skiff policy extension file:
 *
 * ```json
 * { "skiffPolicyExtension": 1,
 *   "transports": { "docker": { "SCOPE": [REQUIREMENT, ...] } } }
 * ```
 *
 * Its requirements are those of policy.json, `sigstoreSigned` with the extension fields
 * (`trustedRootPath` / `trustedRootData`, `identities`), and `attested`. The loader merges its
 * scopes into the policy's: a scope here replaces the same scope there.
 *
 * @param bytes The file's content.
 * @param options Where it comes from, and the directory its relative paths are relative to.
 * @returns The extension.
 * @throws {SyntaxError} `Cannot parse policy extension <source>: <field>: <why>`.
 *
 * @example Require a SLSA provenance attestation from a GitHub workflow
 * ```ts
 * import { parsePolicyExtension } from "./parse_policy.ts";
 * import assert from "node:assert/strict";
 *
 * const ext = parsePolicyExtension(new TextEncoder().encode(JSON.stringify({
 *   skiffPolicyExtension: 1,
 *   transports: { docker: { "ghcr.io/org/app": [{
 *     type: "attested",
 *     predicateType: "https://slsa.dev/provenance/v1",
 *     trustedRootPath: "trusted_root.json",
 *     identities: [{
 *       issuer: "https://token.actions.githubusercontent.com",
 *       subjectRegExp: "^https://github\\.com/org/app/\\.github/workflows/release\\.yml@.*$",
 *     }],
 *   }] } },
 * })), { base: "/etc/skiff" });
 * const req = ext.transports.get("docker")!.get("ghcr.io/org/app")![0]!;
 * assert.equal(req.type, "attested");
 * ```
 */
export function parsePolicyExtension(
  bytes: Uint8Array,
  options: ParsePolicyExtensionOptions = {},
): PolicyExtension {
  const source = options.source ?? "policy extension";
  const fail = failFor(`policy extension ${source}`);
  const doc = readStrictJson(bytes, {
    what: `policy extension ${source}`,
    maxBytes: POLICY_MAX_BYTES,
  });
  const top = new Fields(doc, "", [EXTENSION_VERSION_KEY, "transports"], fail);
  const version = top.raw(EXTENSION_VERSION_KEY);
  if (version !== 1) {
    fail(EXTENSION_VERSION_KEY, version === undefined ? "is missing" : "is not 1");
  }
  const { transports } = readTransports(top, true, options.base, fail);
  return { source, transports };
}

function failFor(what: string): (path: string, why: string) => never {
  return (path, why) => {
    throw new SyntaxError(`Cannot parse ${what}: ${path === "" ? "" : `${path} `}${why}`);
  };
}

function readTransports(
  top: Fields,
  extension: boolean,
  base: string | undefined,
  fail: (path: string, why: string) => never,
): { transports: Map<string, Map<string, Requirement[]>>; extensions: string[] } {
  const transports = new Map<string, Map<string, Requirement[]>>();
  const extensions: string[] = [];
  if (!top.has("transports")) return { transports, extensions };
  const t = top.raw("transports");
  if (!isJsonObject(t)) fail("transports", `is ${jsonType(t)}, not an object`);
  for (const [name, scopesValue] of Object.entries(t as JsonObject)) {
    const tPath = fieldPath("transports", name);
    if (!isJsonObject(scopesValue)) fail(tPath, `is ${jsonType(scopesValue)}, not an object`);
    if (extension && name === EXTENSION_TRANSPORT) {
      fail(tPath, "is only allowed in policy.json, not in an extension");
    }
    const scopes = new Map<string, Requirement[]>();
    for (const [scope, reqs] of Object.entries(scopesValue as JsonObject)) {
      const sPath = fieldPath(tPath, scope);
      if (name === EXTENSION_TRANSPORT) {
        // a pointer to an extension file; its requirements are a fixed, fail-safe filler
        const filler = Array.isArray(reqs) && reqs.length === 1 && isJsonObject(reqs[0]) &&
          Object.keys(reqs[0]).length === 1 && reqs[0].type === "reject";
        if (!filler) fail(sPath, `must be [{"type": "reject"}] (it names an extension file)`);
        if (scope === "") fail(sPath, "names no extension file");
        extensions.push(scope);
        continue;
      }
      if (scope !== "") {
        const why = KNOWN_TRANSPORTS[name]?.(scope);
        if (why) fail(sPath, why);
      }
      scopes.set(scope, requirements(reqs, sPath, extension, base, fail));
    }
    if (name !== EXTENSION_TRANSPORT) transports.set(name, scopes);
  }
  return { transports, extensions };
}

function requirements(
  value: JsonValue | undefined,
  path: string,
  extension: boolean,
  base: string | undefined,
  fail: (path: string, why: string) => never,
): Requirement[] {
  if (!Array.isArray(value)) fail(path, `is ${jsonType(value)}, not an array of requirements`);
  const list = value as JsonValue[];
  if (list.length === 0) fail(path, "is empty (a requirement list must not be empty)");
  return list.map((item, i) => requirement(item, `${path}[${i}]`, extension, base, fail));
}

const SIGSTORE_FIELDS = [
  "type",
  "keyPath",
  "keyPaths",
  "keyData",
  "keyDatas",
  "fulcio",
  "rekorPublicKeyPath",
  "rekorPublicKeyPaths",
  "rekorPublicKeyData",
  "rekorPublicKeyDatas",
  "pki",
];
const EXTENSION_SIGNER_FIELDS = ["trustedRootPath", "trustedRootData", "identities"];

function requirement(
  value: JsonValue,
  path: string,
  extension: boolean,
  base: string | undefined,
  fail: (path: string, why: string) => never,
): Requirement {
  if (!isJsonObject(value)) fail(path, `is ${jsonType(value)}, not an object`);
  const type = (value as JsonObject).type;
  if (typeof type !== "string") {
    fail(
      fieldPath(path, "type"),
      type === undefined ? "is missing" : `is ${jsonType(type)}, not a string`,
    );
  }
  switch (type) {
    case "insecureAcceptAnything":
    case "reject":
      new Fields(value, path, ["type"], fail);
      return { type };
    case "signedBy": {
      const f = new Fields(value, path, [
        "type",
        "keyType",
        "keyPath",
        "keyPaths",
        "keyData",
        "signedIdentity",
      ], fail);
      const keyType = f.string("keyType");
      const valid = ["GPGKeys", "signedByGPGKeys", "X509Certificates", "signedByX509CAs"];
      if (keyType === undefined || !valid.includes(keyType)) {
        fail(
          f.path("keyType"),
          keyType === undefined
            ? "is missing"
            : `${JSON.stringify(keyType)} is not a known key type`,
        );
      }
      const keys = keySet(f, ["keyPath", "keyPaths", "keyData"], base, path, fail, true);
      if (!keys) fail(path, "needs exactly one of keyPath, keyPaths and keyData");
      return {
        type,
        keyType: keyType as "GPGKeys",
        keys: keys!,
        signedIdentity: signedIdentity(f, "signedIdentity", fail),
      };
    }
    case "signedBaseLayer": {
      const f = new Fields(value, path, ["type", "baseLayerIdentity"], fail);
      if (!f.has("baseLayerIdentity")) fail(f.path("baseLayerIdentity"), "is missing");
      return { type, baseLayerIdentity: signedIdentity(f, "baseLayerIdentity", fail) };
    }
    case "sigstoreSigned": {
      const fields = [
        ...SIGSTORE_FIELDS,
        "signedIdentity",
        ...(extension ? EXTENSION_SIGNER_FIELDS : []),
      ];
      const f = new Fields(value, path, fields, fail);
      return {
        type,
        ...sigstoreSigner(f, path, base, fail),
        signedIdentity: signedIdentity(f, "signedIdentity", fail),
      };
    }
    case "attested": {
      if (!extension) {
        fail(
          fieldPath(path, "type"),
          `"attested" is a skiff extension: it belongs in an extension file`,
        );
      }
      const f = new Fields(value, path, [
        ...SIGSTORE_FIELDS,
        ...EXTENSION_SIGNER_FIELDS,
        "predicateType",
        "predicateTypes",
      ], fail);
      const one = f.string("predicateType");
      const many = f.strings("predicateTypes");
      if ((one === undefined) === (many === undefined)) {
        fail(path, "needs exactly one of predicateType and predicateTypes");
      }
      const predicateTypes = one !== undefined ? [one] : many!;
      if (predicateTypes.length === 0 || predicateTypes.some((p) => p === "")) {
        fail(f.path(one !== undefined ? "predicateType" : "predicateTypes"), "is empty");
      }
      return { type, predicateTypes, ...sigstoreSigner(f, path, base, fail) };
    }
    default:
      return fail(
        fieldPath(path, "type"),
        `${JSON.stringify(type)} is not a known requirement type`,
      );
  }
}

/** Exactly one (or, for sigstore, at most one) of a group of key fields. */
function keySet(
  f: Fields,
  names: string[],
  base: string | undefined,
  path: string,
  fail: (path: string, why: string) => never,
  required: boolean,
): KeySet | undefined {
  const present = names.filter((n) => f.has(n));
  if (present.length > 1) fail(path, `has ${present.join(" and ")}; only one may be given`);
  if (present.length === 0) {
    if (required) fail(path, `needs one of ${names.join(", ")}`);
    return undefined;
  }
  const field = present[0]!;
  const at = f.path(field);
  if (field.endsWith("Paths")) {
    const paths = f.strings(field)!;
    // signedBy's keyPaths may be empty (containers/image then finds no key); sigstore's may not
    if (paths.length === 0 && !required) fail(at, "is empty");
    paths.forEach((p, i) => {
      if (p === "") fail(`${at}[${i}]`, "is empty");
    });
    return { field, sources: paths.map((p) => ({ path: p, base })) };
  }
  if (field.endsWith("Path")) {
    const p = f.string(field)!;
    if (p === "") fail(at, "is empty");
    return { field, sources: [{ path: p, base }] };
  }
  if (field.endsWith("Datas")) {
    const list = f.bytesList(field)!;
    if (list.length === 0) fail(at, "is empty");
    return { field, sources: list.map((data) => ({ data })) };
  }
  return { field, sources: [{ data: f.bytes(field)! }] };
}

function singleSource(
  f: Fields,
  pathKey: string,
  dataKey: string,
  base: string | undefined,
  path: string,
  fail: (path: string, why: string) => never,
): KeySource | undefined {
  const p = f.string(pathKey), d = f.bytes(dataKey);
  if (p !== undefined && d !== undefined) {
    fail(path, `has ${pathKey} and ${dataKey}; only one may be given`);
  }
  if (p === "") fail(f.path(pathKey), "is empty");
  if (p !== undefined) return { path: p, base };
  if (d !== undefined) return { data: d };
  return undefined;
}

function sigstoreSigner(
  f: Fields,
  path: string,
  base: string | undefined,
  fail: (path: string, why: string) => never,
): SigstoreSigner {
  const keys = keySet(f, ["keyPath", "keyPaths", "keyData", "keyDatas"], base, path, fail, false);
  let fulcio: FulcioTrust | undefined;
  if (f.has("fulcio")) {
    const ff = new Fields(f.raw("fulcio"), f.path("fulcio"), [
      "caPath",
      "caData",
      "oidcIssuer",
      "subjectEmail",
    ], fail);
    const ca = singleSource(ff, "caPath", "caData", base, f.path("fulcio"), fail);
    if (!ca) fail(f.path("fulcio"), "needs one of caPath and caData");
    const oidcIssuer = ff.string("oidcIssuer"), subjectEmail = ff.string("subjectEmail");
    if (!oidcIssuer) fail(ff.path("oidcIssuer"), "is missing");
    if (!subjectEmail) fail(ff.path("subjectEmail"), "is missing");
    fulcio = { ca: ca!, oidcIssuer: oidcIssuer!, subjectEmail: subjectEmail! };
  }
  let pki: PkiTrust | undefined;
  if (f.has("pki")) {
    const pf = new Fields(f.raw("pki"), f.path("pki"), [
      "caRootsPath",
      "caRootsData",
      "caIntermediatesPath",
      "caIntermediatesData",
      "subjectEmail",
      "subjectHostname",
    ], fail);
    const caRoots = singleSource(pf, "caRootsPath", "caRootsData", base, f.path("pki"), fail);
    if (!caRoots) fail(f.path("pki"), "needs one of caRootsPath and caRootsData");
    const caIntermediates = singleSource(
      pf,
      "caIntermediatesPath",
      "caIntermediatesData",
      base,
      f.path("pki"),
      fail,
    );
    const subjectEmail = pf.string("subjectEmail") || undefined;
    const subjectHostname = pf.string("subjectHostname") || undefined;
    if (!subjectEmail && !subjectHostname) {
      fail(f.path("pki"), "needs subjectEmail or subjectHostname");
    }
    pki = { caRoots: caRoots!, caIntermediates, subjectEmail, subjectHostname };
  }
  const rekorPublicKeys = keySet(
    f,
    ["rekorPublicKeyPath", "rekorPublicKeyPaths", "rekorPublicKeyData", "rekorPublicKeyDatas"],
    base,
    path,
    fail,
    false,
  );
  const trustedRoot = singleSource(f, "trustedRootPath", "trustedRootData", base, path, fail);
  let identities: CertificateIdentity[] | undefined;
  if (f.has("identities")) {
    const list = f.raw("identities");
    if (!Array.isArray(list)) fail(f.path("identities"), `is ${jsonType(list)}, not an array`);
    if ((list as JsonValue[]).length === 0) fail(f.path("identities"), "is empty");
    identities = (list as JsonValue[]).map((item, i) =>
      certificateIdentity(item, `${f.path("identities")}[${i}]`, fail)
    );
  }
  const sources = [keys, fulcio, pki, identities].filter((x) => x !== undefined).length;
  if (sources !== 1) {
    fail(
      path,
      `needs exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, pki${
        f.has("identities") || f.has("trustedRootPath") || f.has("trustedRootData")
          ? " and identities"
          : ""
      } (${sources === 0 ? "none" : sources} given)`,
    );
  }
  if (identities && !trustedRoot) {
    fail(path, "has identities but no trustedRootPath or trustedRootData");
  }
  if (fulcio && !rekorPublicKeys && !trustedRoot) {
    fail(
      path,
      "uses fulcio, which needs rekorPublicKeyPath, rekorPublicKeyPaths, rekorPublicKeyData or rekorPublicKeyDatas",
    );
  }
  if (pki && rekorPublicKeys) fail(path, "uses pki, which does not take rekor public keys");
  return { keys, fulcio, pki, rekorPublicKeys, trustedRoot, identities };
}

const IDENTITY_FIELDS = [
  "issuer",
  "issuerRegExp",
  "subject",
  "subjectRegExp",
  "githubWorkflowRepository",
  "githubWorkflowRef",
  "githubWorkflowName",
  "githubWorkflowSha",
  "githubWorkflowTrigger",
];

function certificateIdentity(
  value: JsonValue,
  path: string,
  fail: (path: string, why: string) => never,
): CertificateIdentity {
  const f = new Fields(value, path, IDENTITY_FIELDS, fail);
  const id: Record<string, string | undefined> = {};
  for (const key of IDENTITY_FIELDS) {
    const v = f.string(key);
    if (v === "") fail(f.path(key), "is empty");
    id[key] = v;
  }
  if ((id.issuer === undefined) === (id.issuerRegExp === undefined)) {
    fail(path, "needs exactly one of issuer and issuerRegExp");
  }
  if ((id.subject === undefined) === (id.subjectRegExp === undefined)) {
    fail(path, "needs exactly one of subject and subjectRegExp");
  }
  for (const key of ["issuerRegExp", "subjectRegExp"]) {
    if (id[key] === undefined) continue;
    try {
      new RegExp(id[key]!, "u");
    } catch (e) {
      fail(f.path(key), `is not a valid regular expression (${(e as Error).message})`);
    }
  }
  return id as CertificateIdentity;
}

function signedIdentity(
  f: Fields,
  key: string,
  fail: (path: string, why: string) => never,
): SignedIdentity {
  if (!f.has(key)) return { type: "matchRepoDigestOrExact" };
  const path = f.path(key);
  const v = f.raw(key);
  if (!isJsonObject(v)) fail(path, `is ${jsonType(v)}, not an object`);
  const type = (v as JsonObject).type;
  switch (type) {
    case "matchExact":
    case "matchRepoDigestOrExact":
    case "matchRepository":
      new Fields(v, path, ["type"], fail);
      return { type };
    case "exactReference": {
      const g = new Fields(v, path, ["type", "dockerReference"], fail);
      const ref = g.string("dockerReference");
      if (ref === undefined) fail(g.path("dockerReference"), "is missing");
      const parsed = parseDockerReference(ref!);
      if (!parsed) {
        fail(g.path("dockerReference"), `${JSON.stringify(ref)} is not a valid reference`);
      }
      if (parsed!.tag === undefined && parsed!.digest === undefined) {
        fail(g.path("dockerReference"), `${JSON.stringify(ref)} has neither a tag nor a digest`);
      }
      return { type, dockerReference: ref! };
    }
    case "exactRepository": {
      const g = new Fields(v, path, ["type", "dockerRepository"], fail);
      const repo = g.string("dockerRepository");
      if (repo === undefined) fail(g.path("dockerRepository"), "is missing");
      if (!parseDockerReference(repo!)) {
        fail(g.path("dockerRepository"), `${JSON.stringify(repo)} is not a valid repository`);
      }
      return { type, dockerRepository: repo! };
    }
    case "remapIdentity": {
      const g = new Fields(v, path, ["type", "prefix", "signedPrefix"], fail);
      const prefix = g.string("prefix"), signedPrefix = g.string("signedPrefix");
      for (const [k, p] of [["prefix", prefix], ["signedPrefix", signedPrefix]] as const) {
        if (p === undefined) fail(g.path(k), "is missing");
        if (!isRemapPrefix(p!)) fail(g.path(k), `${JSON.stringify(p)} is not a valid prefix`);
      }
      return { type, prefix: prefix!, signedPrefix: signedPrefix! };
    }
    default:
      return fail(
        fieldPath(path, "type"),
        typeof type === "string"
          ? `${JSON.stringify(type)} is not a known identity type`
          : type === undefined
          ? "is missing"
          : `is ${jsonType(type)}, not a string`,
      );
  }
}
