/**
 * Image references: `[registry/]repository[:tag][@digest]`, normalized the way Docker does it.
 *
 * @module
 */

import { parseDigest } from "./parse_digest.ts";

/** The longest name (registry and repository, as written) that the distribution grammar allows. */
const NAME_TOTAL_LENGTH_MAX = 255;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const HEX64 = /^[a-f0-9]{64}$/;

/** The registry that names without a registry part belong to. */
export const DOCKER_HUB = "docker.io";

/**
 * A parsed, normalized image reference.
 *
 * Instances come from {@linkcode parseReference}; `toString()` gives the canonical form, for example
 * `docker.io/library/alpine:3.20`.
 */
export class Reference {
  /** The registry host and optional port, e.g. `docker.io`, `ghcr.io`, `127.0.0.1:5000`. */
  readonly registry: string;
  /** The repository path inside the registry, e.g. `library/alpine`. */
  readonly repository: string;
  /** The tag, or `undefined` when the reference names a digest only. */
  readonly tag: string | undefined;
  /** The manifest digest, or `undefined` when the reference names a tag only. */
  readonly digest: string | undefined;

  /**
   * Makes a reference from parts that are already valid; use {@linkcode parseReference} for input.
   *
   * @param registry The registry host and optional port.
   * @param repository The repository path.
   * @param tag The tag, if any.
   * @param digest The digest, if any.
   */
  constructor(
    registry: string,
    repository: string,
    tag: string | undefined,
    digest: string | undefined,
  ) {
    this.registry = registry;
    this.repository = repository;
    this.tag = tag;
    this.digest = digest;
  }

  /** The registry and repository without tag or digest, e.g. `docker.io/library/alpine`. */
  get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /**
   * What to ask the registry for: the digest when there is one (it is immutable), else the tag.
   *
   * @returns A digest or a tag.
   */
  get identifier(): string {
    return this.digest ?? this.tag ?? "latest";
  }

  /**
   * Returns a copy with another tag and digest.
   *
   * @param parts The new tag and digest (`undefined` removes them).
   * @returns The new reference.
   */
  with(parts: { tag?: string | undefined; digest?: string | undefined }): Reference {
    return new Reference(
      this.registry,
      this.repository,
      "tag" in parts ? parts.tag : this.tag,
      "digest" in parts ? parts.digest : this.digest,
    );
  }

  /**
   * The canonical form: `registry/repository[:tag][@digest]`.
   *
   * @returns The reference as a string.
   */
  toString(): string {
    let s = this.name;
    if (this.tag !== undefined) s += `:${this.tag}`;
    if (this.digest !== undefined) s += `@${this.digest}`;
    return s;
  }
}

/**
 * Parses an image reference and normalizes it the way Docker does.
 *
 * - The first path component is a registry only if it contains `.` or `:`, is `localhost`, or has
 *   upper-case letters; otherwise the registry is `docker.io`.
 * - One-component Docker Hub names get `library/`; `index.docker.io` becomes `docker.io`.
 * - The tag defaults to `latest` only when neither a tag nor a digest is given.
 * - `name:tag@digest` keeps both; the digest is what gets fetched.
 *
 * @param input A reference such as `alpine`, `alpine:3.20`, `ghcr.io/org/app@sha256:...` or
 *   `127.0.0.1:5000/team/app:1.2`.
 * @returns The normalized reference.
 * @throws {SyntaxError} With a message saying what is wrong when the input is not a valid reference.
 *
 * @example Normalize a Docker Hub name
 * ```ts
 * import { parseReference } from "./parse_reference.ts";
 * import assert from "node:assert/strict";
 *
 * const ref = parseReference("alpine:3.20");
 * assert.deepEqual(ref.registry, "docker.io");
 * assert.deepEqual(ref.repository, "library/alpine");
 * assert.deepEqual(ref.tag, "3.20");
 * assert.deepEqual(ref.digest, undefined);
 * assert.deepEqual(ref.toString(), "docker.io/library/alpine:3.20");
 * ```
 *
 * @example A local registry with a port
 * ```ts
 * import { parseReference } from "./parse_reference.ts";
 * import assert from "node:assert/strict";
 *
 * const ref = parseReference("127.0.0.1:5000/team/app");
 * assert.deepEqual(ref.registry, "127.0.0.1:5000");
 * assert.deepEqual(ref.tag, "latest");
 * ```
 */
export function parseReference(input: string): Reference {
  const fail = (why: string): never => {
    const shown = input.length > 300 ? input.slice(0, 297) + "..." : input;
    throw new SyntaxError(`Cannot parse reference "${shown}": ${why}`);
  };
  if (typeof input !== "string") throw new TypeError("Cannot parse reference: not a string");
  if (input === "") fail("it is empty");
  if (/\s/.test(input)) fail("it contains white space");
  if (HEX64.test(input)) {
    fail("a 64-character hexadecimal string is an image ID, not a repository name");
  }

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    const d = rest.slice(at + 1);
    rest = rest.slice(0, at);
    try {
      digest = parseDigest(d).digest;
    } catch (e) {
      fail(`invalid digest: ${(e as Error).message.replace(/^Cannot parse digest "[^"]*": /, "")}`);
    }
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      fail(
        tag === ""
          ? "the tag after ':' is empty"
          : `invalid tag "${tag}" (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')`,
      );
    }
  }

  if (rest === "") fail("the repository name is empty");
  if (rest.length > NAME_TOTAL_LENGTH_MAX) {
    fail(`the name is longer than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }

  let registry: string;
  let path: string;
  const slash = rest.indexOf("/");
  const first = slash === -1 ? "" : rest.slice(0, slash);
  if (
    slash === -1 ||
    (!/[.:]/.test(first) && first !== "localhost" && first.toLowerCase() === first)
  ) {
    registry = DOCKER_HUB;
    path = rest;
  } else {
    registry = first;
    path = rest.slice(slash + 1);
    const why = checkRegistry(registry);
    if (why) fail(why);
  }
  if (registry === "index.docker.io") registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !path.includes("/")) path = `library/${path}`;

  if (path === "") fail("the repository name is empty");
  for (const component of path.split("/")) {
    if (component === "") fail("the repository name has an empty path component");
    if (!PATH_COMPONENT.test(component)) {
      if (component.toLowerCase() !== component && PATH_COMPONENT.test(component.toLowerCase())) {
        fail("repository name must be lowercase");
      }
      fail(
        `invalid path component "${component}" (lowercase letters and digits, ` +
          `separated by '.', '_', '__' or '-')`,
      );
    }
  }

  if (tag === undefined && digest === undefined) tag = "latest";
  return new Reference(registry, path, tag, digest);
}

/**
 * Whether a text is a repository path by the distribution grammar: lowercase path components of
 * letters and digits separated by `.`, `_`, `__` or dashes, joined by `/`, at most 255 characters
 * (the path a registry serves under `/v2/<name>/`, without a registry host in front).
 *
 * @param path The path, e.g. `library/alpine`.
 * @returns `true` when it is one.
 *
 * @example Paths and not
 * ```ts
 * import { isRepositoryPath } from "./parse_reference.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isRepositoryPath("library/alpine"));
 * assert.ok(isRepositoryPath("ghcr.io/org/app"));
 * assert.ok(!isRepositoryPath("Library/alpine"));
 * assert.ok(!isRepositoryPath("a/../b"));
 * assert.ok(!isRepositoryPath("a%2Fb"));
 * ```
 */
export function isRepositoryPath(path: string): boolean {
  return path.length > 0 && path.length <= NAME_TOTAL_LENGTH_MAX &&
    path.split("/").every((c) => PATH_COMPONENT.test(c));
}

/**
 * Whether a text is a tag by the distribution grammar: letters, digits, `_`, `.` and `-`, at
 * most 128, not starting with `.` or `-`.
 *
 * @param tag The tag.
 * @returns `true` when it is one.
 *
 * @example Tags and not
 * ```ts
 * import { isTag } from "./parse_reference.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isTag("3.20"));
 * assert.ok(!isTag(".hidden"));
 * assert.ok(!isTag("sha256:abc"));
 * ```
 */
export function isTag(tag: string): boolean {
  return TAG.test(tag);
}

function checkRegistry(domain: string): string | undefined {
  let host = domain;
  let port: string | undefined;
  if (domain.startsWith("[")) {
    const end = domain.indexOf("]");
    if (end === -1) return `invalid registry "${domain}": unclosed '['`;
    host = domain.slice(0, end + 1);
    const after = domain.slice(end + 1);
    if (after !== "") {
      if (!after.startsWith(":")) return `invalid registry "${domain}"`;
      port = after.slice(1);
    }
    if (!isIPv6(host.slice(1, -1))) return `invalid IPv6 address in registry "${domain}"`;
  } else {
    const c = domain.lastIndexOf(":");
    if (c !== -1) {
      host = domain.slice(0, c);
      port = domain.slice(c + 1);
    }
    if (!IPV4.test(host) && !host.split(".").every((p) => DOMAIN_COMPONENT.test(p))) {
      return `invalid registry host "${host}"`;
    }
  }
  if (port !== undefined) {
    if (!/^[0-9]+$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
      return `invalid port "${port}" in registry "${domain}"`;
    }
  }
  return undefined;
}

/**
 * Whether a text is an IPv6 address as RFC 4291 (section 2.2) writes one: eight groups of one to
 * four hex digits, one `::` standing for one or more groups of zeros, and the last 32 bits
 * optionally as a dotted IPv4 address. No zone (`%eth0`): a reference names a host, not a link.
 */
function isIPv6(text: string): boolean {
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const groups = (part: string): string[] | undefined => part === "" ? [] : part.split(":");
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === undefined || tail === undefined) return false;
  const all = [...head, ...tail];
  let count = all.length;
  // the IPv4 part can only end the address (after "::" when there is one)
  const last = (halves.length === 2 ? tail : head).at(-1);
  if (last !== undefined && last.includes(".")) {
    if (!IPV4.test(last)) return false;
    all.pop();
    count += 1; // the IPv4 part is two groups
  }
  if (!all.every((g) => HEX_GROUP.test(g))) return false;
  return halves.length === 2 ? count <= 7 : count === 8;
}
