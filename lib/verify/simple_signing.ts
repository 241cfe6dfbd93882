/**
 * The "simple signing" payload: the JSON document a GPG simple signature (`skopeo copy --sign-by`,
 * podman, Red Hat's lookaside) and a cosign v2 signature sign. It claims one manifest digest and
 * one image identity:
 *
 * ```json
 * {"critical": {"type": "atomic container signature",
 *               "image": {"docker-manifest-digest": "sha256:..."},
 *               "identity": {"docker-reference": "registry.example/app:1.0"}},
 *  "optional": {"creator": "...", "timestamp": 1700000000}}
 * ```
 *
 * Read as strictly as containers/image reads it (`signature/simple.go`,
 * `signature/internal/sigstore_payload.go`): exactly the keys `critical` and `optional` at the top,
 * exactly `type`, `image` and `identity` in `critical`, exactly `docker-manifest-digest` in `image`
 * and `docker-reference` in `identity`; any other key there, a duplicated key, a wrong type, an
 * unknown `type` or an invalid digest is refused. `optional` may hold anything besides `creator`
 * (a string) and `timestamp` (an integer); cosign writes `"optional": null`, which only the cosign
 * type may.
 *
 * @module
 */

import { parseDigest } from "../reference/parse_digest.ts";
import { isJsonObject, type JsonObject, jsonType, readStrictJson } from "./_strict_json.ts";

/** `critical.type` of a GPG simple signature (containers/image, skopeo, podman, Red Hat). */
export const ATOMIC_SIGNATURE_TYPE = "atomic container signature";
/** `critical.type` of a cosign v2 signature payload. */
export const COSIGN_SIGNATURE_TYPE = "cosign container image signature";

/** The two kinds of simple-signing payload. */
export type SimpleSigningType = typeof ATOMIC_SIGNATURE_TYPE | typeof COSIGN_SIGNATURE_TYPE;

/**
 * The most bytes a payload may have. Real ones are a few hundred bytes; cosign annotations add
 * some. A payload comes out of a decompressed OpenPGP message or a registry blob, both capped.
 */
export const SIMPLE_SIGNING_MAX_BYTES = 256 * 1024;

/** A parsed simple-signing payload. Every value is what the signer claims: check before use. */
export interface SimpleSigning {
  /** `critical.type`. */
  readonly type: SimpleSigningType;
  /** `critical.image.docker-manifest-digest`: a valid digest (sha256 or sha512). */
  readonly manifestDigest: string;
  /**
   * `critical.identity.docker-reference`, as written (not parsed: a policy's `signedIdentity`
   * decides how it must match; cosign writes a repository without a tag).
   */
  readonly dockerReference: string;
  /** `optional.creator`, when present. */
  readonly creator: string | undefined;
  /** `optional.timestamp` (seconds since the epoch), when present. */
  readonly timestamp: number | undefined;
  /** `optional` as written (cosign: `null` or the annotations given to `cosign sign -a`). */
  readonly optional: Readonly<JsonObject> | null;
}

/** Options for {@linkcode parseSimpleSigning}. */
export interface ParseSimpleSigningOptions {
  /**
   * The only `critical.type` accepted; both types when undefined.
   * @default {undefined}
   */
  type?: SimpleSigningType | undefined;
}

/**
 * Parses and validates a simple-signing payload.
 *
 * @param bytes The payload, exactly as signed.
 * @param options Which `critical.type` to accept.
 * @returns The claims.
 * @throws {SyntaxError} `Cannot parse simple signing payload: <why>`, naming the field.
 *
 * @example Read what a GPG simple signature claims
 * ```ts
 * import { parseSimpleSigning } from "./simple_signing.ts";
 * import assert from "node:assert/strict";
 *
 * const digest = "sha256:" + "a".repeat(64);
 * const payload = new TextEncoder().encode(JSON.stringify({
 *   critical: {
 *     type: "atomic container signature",
 *     image: { "docker-manifest-digest": digest },
 *     identity: { "docker-reference": "registry.example/app:1.0" },
 *   },
 *   optional: { creator: "skopeo", timestamp: 1700000000 },
 * }));
 * const claims = parseSimpleSigning(payload);
 * assert.equal(claims.manifestDigest, digest);
 * assert.equal(claims.dockerReference, "registry.example/app:1.0");
 * assert.equal(claims.timestamp, 1700000000);
 * ```
 */
export function parseSimpleSigning(
  bytes: Uint8Array,
  options: ParseSimpleSigningOptions = {},
): SimpleSigning {
  const what = "simple signing payload";
  const fail = (why: string): never => {
    throw new SyntaxError(`Cannot parse ${what}: ${why}`);
  };
  const doc = readStrictJson(bytes, { what, maxBytes: SIMPLE_SIGNING_MAX_BYTES, maxDepth: 32 });
  const top = exactObject(doc, ["critical", "optional"], "the document", fail);
  const critical = exactObject(top.critical, ["type", "image", "identity"], "critical", fail);
  const type = critical.type;
  if (typeof type !== "string") fail(`critical.type is ${jsonType(type)}, not a string`);
  if (type !== ATOMIC_SIGNATURE_TYPE && type !== COSIGN_SIGNATURE_TYPE) {
    fail(`critical.type ${quote(type as string)} is not a known signature type`);
  }
  const kind = type as SimpleSigningType;
  if (options.type !== undefined && kind !== options.type) {
    fail(`critical.type ${quote(kind)} is not ${quote(options.type)}`);
  }
  const image = exactObject(critical.image, ["docker-manifest-digest"], "critical.image", fail);
  const digest = image["docker-manifest-digest"];
  if (typeof digest !== "string") {
    fail(`critical.image.docker-manifest-digest is ${jsonType(digest)}, not a string`);
  }
  try {
    parseDigest(digest as string);
  } catch (e) {
    fail(
      `critical.image.docker-manifest-digest is not a valid digest (${
        (e as Error).message.replace(/^Cannot parse digest "[^"]*": /, "")
      })`,
    );
  }
  const identity = exactObject(
    critical.identity,
    ["docker-reference"],
    "critical.identity",
    fail,
  );
  const ref = identity["docker-reference"];
  if (typeof ref !== "string") {
    fail(`critical.identity.docker-reference is ${jsonType(ref)}, not a string`);
  }

  let optional: JsonObject | null = null;
  let creator: string | undefined;
  let timestamp: number | undefined;
  if (top.optional === null) {
    // cosign writes null when there are no annotations; containers/image refuses it for GPG
    if (kind !== COSIGN_SIGNATURE_TYPE) fail("optional is null, not an object");
  } else if (!isJsonObject(top.optional)) {
    fail(`optional is ${jsonType(top.optional)}, not an object`);
  } else {
    optional = top.optional;
    if (optional.creator !== undefined) {
      if (typeof optional.creator !== "string") {
        fail(`optional.creator is ${jsonType(optional.creator)}, not a string`);
      }
      creator = optional.creator as string;
    }
    if (optional.timestamp !== undefined) {
      const t = optional.timestamp;
      if (typeof t !== "number" || !Number.isSafeInteger(t)) {
        fail(`optional.timestamp is ${typeof t === "number" ? "not an integer" : jsonType(t)}`);
      }
      timestamp = t as number;
    }
  }
  return {
    type: kind,
    manifestDigest: digest as string,
    dockerReference: ref as string,
    creator,
    timestamp,
    optional,
  };
}

/**
 * Why a payload does not sign a manifest digest, or `undefined` when it does. The digest claimed
 * must be the digest of the manifest being verified, byte for byte (an index's digest for an
 * index; a platform's manifest for that platform).
 *
 * @param signing The parsed payload.
 * @param manifestDigest The digest of the manifest being verified.
 * @returns `undefined` when the claim matches, else one line saying why not.
 *
 * @example A signature for another manifest
 * ```ts
 * import { simpleSigningDigestMismatch } from "./simple_signing.ts";
 * import assert from "node:assert/strict";
 *
 * const a = "sha256:" + "a".repeat(64), b = "sha256:" + "b".repeat(64);
 * const claims = { manifestDigest: a };
 * assert.equal(simpleSigningDigestMismatch(claims, a), undefined);
 * assert.match(simpleSigningDigestMismatch(claims, b)!, /signs manifest sha256:a+, not sha256:b+/);
 * ```
 */
export function simpleSigningDigestMismatch(
  signing: Pick<SimpleSigning, "manifestDigest">,
  manifestDigest: string,
): string | undefined {
  if (signing.manifestDigest === manifestDigest) return undefined;
  return `the signature signs manifest ${signing.manifestDigest}, not ${manifestDigest}`;
}

function exactObject(
  value: JsonObject[string] | undefined,
  keys: string[],
  where: string,
  fail: (why: string) => never,
): JsonObject {
  if (!isJsonObject(value)) return fail(`${where} is ${jsonType(value)}, not an object`);
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) {
      fail(`${where} has an unknown field ${quote(key)}`);
    }
  }
  for (const key of keys) {
    if (value[key] === undefined) {
      fail(`${where === "the document" ? key : `${where}.${key}`} is missing`);
    }
  }
  return value;
}

function quote(s: string): string {
  return JSON.stringify(s.length > 100 ? s.slice(0, 97) + "..." : s);
}
