/**
 * Image identities as containers/image's policy sees them: the `docker` transport's policy
 * identity and scope namespaces (`docker/policyconfiguration/naming.go`), and the `signedIdentity`
 * rules that decide whether the identity a signature claims fits the image
 * (`signature/policy_reference_match.go`), with the same results.
 *
 * @module
 */

import { parseReference } from "../reference/parse_reference.ts";

/** A `signedIdentity` rule of a policy requirement (containers-policy.json(5)). */
export type SignedIdentity =
  | { readonly type: "matchExact" }
  | { readonly type: "matchRepoDigestOrExact" }
  | { readonly type: "matchRepository" }
  | { readonly type: "exactReference"; readonly dockerReference: string }
  | { readonly type: "exactRepository"; readonly dockerRepository: string }
  | { readonly type: "remapIdentity"; readonly prefix: string; readonly signedPrefix: string };

/**
 * A Docker reference in its fully expanded form, as `reference.ParseNormalizedNamed` gives it: no
 * tag is made up when none is written.
 */
export interface DockerReference {
  /** `registry/repository`, e.g. `docker.io/library/busybox`. */
  readonly name: string;
  /** The tag, when one is written. */
  readonly tag: string | undefined;
  /** The digest, when one is written. */
  readonly digest: string | undefined;
}

/**
 * Parses a Docker reference the way containers/image does (`docker.io/library/` added to short
 * names), without adding a tag.
 *
 * @param text The reference, e.g. `busybox`, `quay.io/ns/app:1`, `ghcr.io/a/b@sha256:...`.
 * @returns The reference, or `undefined` when it is not one.
 *
 * @example Short names are expanded, tags are not invented
 * ```ts
 * import { parseDockerReference } from "./signed_identity.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseDockerReference("busybox"), {
 *   name: "docker.io/library/busybox", tag: undefined, digest: undefined,
 * });
 * assert.equal(parseDockerReference("Not A Reference"), undefined);
 * ```
 */
export function parseDockerReference(text: string): DockerReference | undefined {
  if (typeof text !== "string" || text.length > 4096) return undefined;
  try {
    const ref = parseReference(text);
    const beforeDigest = text.includes("@") ? text.slice(0, text.indexOf("@")) : text;
    const explicitTag = beforeDigest.lastIndexOf(":") > beforeDigest.lastIndexOf("/");
    return { name: ref.name, tag: explicitTag ? ref.tag : undefined, digest: ref.digest };
  } catch {
    return undefined;
  }
}

/** The canonical string of a reference: `name[:tag][@digest]`. */
export function dockerReferenceString(ref: DockerReference): string {
  return ref.name + (ref.tag !== undefined ? `:${ref.tag}` : "") +
    (ref.digest !== undefined ? `@${ref.digest}` : "");
}

/**
 * The `docker` transport's policy identity of an image: `name:tag`, or `name@digest`. containers/image
 * refuses a reference with both; skiff fetches the digest of such a reference, so the digest is its
 * identity.
 *
 * @param ref The image's reference (with a tag or a digest).
 * @returns The identity, the most specific scope that can match it.
 *
 * @example
 * ```ts
 * import { policyIdentity } from "./signed_identity.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(policyIdentity({ name: "quay.io/ns/app", tag: "1", digest: undefined }), "quay.io/ns/app:1");
 * ```
 */
export function policyIdentity(ref: DockerReference): string {
  if (ref.digest !== undefined) return `${ref.name}@${ref.digest}`;
  return `${ref.name}:${ref.tag ?? "latest"}`;
}

/**
 * The less specific scopes of an image, most specific first: the repository, each namespace, the
 * registry (with its port), then `*.`-wildcards of the host's parent domains (port dropped).
 *
 * @param name `registry/repository`.
 * @returns The scopes, as containers/image's `DockerReferenceNamespaces` lists them.
 *
 * @example
 * ```ts
 * import { policyNamespaces } from "./signed_identity.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(policyNamespaces("a.b.example.com:5000/ns/app"), [
 *   "a.b.example.com:5000/ns/app", "a.b.example.com:5000/ns", "a.b.example.com:5000",
 *   "*.b.example.com", "*.example.com", "*.com",
 * ]);
 * ```
 */
export function policyNamespaces(name: string): string[] {
  const out: string[] = [];
  let n = name;
  for (;;) {
    out.push(n);
    const slash = n.lastIndexOf("/");
    if (slash === -1) break;
    n = n.slice(0, slash);
  }
  const colon = n.indexOf(":");
  if (colon !== -1) n = n.slice(0, colon);
  for (;;) {
    const dot = n.indexOf(".");
    if (dot === -1) break;
    n = n.slice(dot + 1);
    out.push(`*.${n}`);
  }
  return out;
}

function isNameOnly(ref: DockerReference): boolean {
  return ref.tag === undefined && ref.digest === undefined;
}

/** `matchRepoDigestOrExact`'s comparison (containers/image `matchRepoDigestOrExactReferenceValues`). */
function repoDigestOrExact(intended: DockerReference, signed: DockerReference): boolean {
  if (isNameOnly(signed)) return false;
  if (intended.tag !== undefined) {
    return dockerReferenceString(signed) === dockerReferenceString(intended);
  }
  if (intended.digest !== undefined) return signed.name === intended.name;
  return false;
}

/**
 * Whether the identity a signature claims is accepted for an image under a `signedIdentity` rule.
 * `matchExact`, `matchRepoDigestOrExact`, `matchRepository` and `remapIdentity` need the image's own
 * Docker reference (images from a directory or an archive have none, and fail them); a claim that
 * is not a valid reference never matches.
 *
 * @param rule The rule.
 * @param image The image's reference, if it has one.
 * @param signed The signature's `docker-reference` claim.
 * @returns Whether it is accepted.
 *
 * @example A digest pull accepts a signature for any tag of the same repository
 * ```ts
 * import { matchesSignedIdentity } from "./signed_identity.ts";
 * import assert from "node:assert/strict";
 *
 * const image = { name: "quay.io/ns/app", tag: undefined, digest: "sha256:" + "a".repeat(64) };
 * assert.ok(matchesSignedIdentity({ type: "matchRepoDigestOrExact" }, image, "quay.io/ns/app:1"));
 * assert.ok(!matchesSignedIdentity({ type: "matchRepoDigestOrExact" }, image, "quay.io/ns/other:1"));
 * ```
 */
export function matchesSignedIdentity(
  rule: SignedIdentity,
  image: DockerReference | undefined,
  signed: string,
): boolean {
  const claim = parseDockerReference(signed);
  if (!claim) return false;
  switch (rule.type) {
    case "matchExact":
      if (!image || isNameOnly(image) || isNameOnly(claim)) return false;
      return dockerReferenceString(claim) === dockerReferenceString(image);
    case "matchRepoDigestOrExact":
      return image !== undefined && repoDigestOrExact(image, claim);
    case "matchRepository":
      return image !== undefined && claim.name === image.name;
    case "exactReference": {
      const intended = parseDockerReference(rule.dockerReference);
      if (!intended || isNameOnly(intended) || isNameOnly(claim)) return false;
      return dockerReferenceString(claim) === dockerReferenceString(intended);
    }
    case "exactRepository": {
      const intended = parseDockerReference(rule.dockerRepository);
      return intended !== undefined && claim.name === intended.name;
    }
    case "remapIdentity": {
      if (!image) return false;
      const remapped = remap(image, rule.prefix, rule.signedPrefix);
      return remapped !== undefined && repoDigestOrExact(remapped, claim);
    }
  }
}

/** containers/image `remapReferencePrefix`: the prefix of the name replaced, once. */
function remap(
  ref: DockerReference,
  prefix: string,
  signedPrefix: string,
): DockerReference | undefined {
  const name = ref.name;
  const matches = name === prefix || (name.startsWith(prefix) && name[prefix.length] === "/");
  if (!matches) return ref;
  const text = dockerReferenceString(ref).replace(prefix, signedPrefix);
  // reference.ParseNamed: the result must already be in its fully expanded form
  const parsed = parseDockerReference(text);
  if (!parsed || dockerReferenceString(parsed) !== text) return undefined;
  return parsed;
}

const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
const REMAP_DOMAIN = new RegExp(`^${DOMAIN}$`);
const REMAP_NAME_WITH_DOMAIN = new RegExp(`^${DOMAIN}/${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);

/**
 * Whether a `remapIdentity` prefix is valid: a `host[:port]`, or a repository or namespace that
 * starts with a host (containers/image `validateIdentityRemappingPrefix`).
 *
 * @param prefix The prefix.
 * @returns Whether containers/image accepts it.
 *
 * @example
 * ```ts
 * import { isRemapPrefix } from "./signed_identity.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isRemapPrefix("docker.io/library"));
 * assert.ok(!isRemapPrefix("docker.io/library/busybox:latest"));
 * ```
 */
export function isRemapPrefix(prefix: string): boolean {
  return prefix.length <= 255 && (REMAP_DOMAIN.test(prefix) || REMAP_NAME_WITH_DOMAIN.test(prefix));
}
