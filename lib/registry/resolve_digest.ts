/**
 * A reference's manifest digest, as cheaply as the registry allows: `HEAD` first (Docker Hub does
 * not count it against the pull rate limit), `GET` when `HEAD` does not tell.
 *
 * @module
 */

import { parseReference, type Reference } from "../reference/parse_reference.ts";
import { RegistryError } from "../transport/registry_error.ts";
import { clientFor } from "./remote_options.ts";
import { resolveManifest, type ResolveManifestOptions } from "./resolve_manifest.ts";

/** What {@linkcode resolveDigest} returns. */
export interface ResolvedDigest {
  /** The canonical reference asked for. */
  reference: string;
  /** The manifest (or index) digest. */
  digest: string;
  /** Its media type, when the registry said. */
  mediaType: string | undefined;
  /** Its size in bytes, when the registry said. */
  size: number | undefined;
  /**
   * How it was found: `HEAD` (the registry's `Docker-Content-Digest` header) or `GET` (the
   * manifest's bytes, hashed and checked).
   */
  method: "HEAD" | "GET";
}

/**
 * Finds the digest of the manifest (or index) a reference points at.
 *
 * A `HEAD` request is tried first; the registry's `Docker-Content-Digest` answer is taken as is
 * (there is no body to check it against). When the `HEAD` fails or carries no digest, or when a
 * `platform` is asked for, the manifest is fetched with `GET` and its digest computed from its
 * bytes. A reference by digest is checked against the registry all the same.
 *
 * @param reference The image, e.g. `alpine:3.20`.
 * @param options With `platform`, the digest of that platform's manifest in an index.
 * @returns The digest, and its media type and size when known.
 * @throws {SyntaxError} When the reference or platform is malformed.
 * @throws {RegistryError} When the registry refuses (404: not found).
 *
 * @example The digest a tag points at
 * ```ts ignore
 * import { resolveDigest } from "./resolve_digest.ts";
 *
 * const { digest } = await resolveDigest("alpine:3.20");
 * console.log(digest); // sha256:...
 * ```
 */
export async function resolveDigest(
  reference: string | Reference,
  options: ResolveManifestOptions = {},
): Promise<ResolvedDigest> {
  const ref = typeof reference === "string" ? parseReference(reference) : reference;
  const name = ref.toString();
  if (options.platform === undefined) {
    const client = await clientFor(ref, options);
    let head;
    try {
      head = await client.headManifest(
        ref.repository,
        ref.identifier,
        options.signal ? { signal: options.signal } : {},
      );
    } catch (e) {
      // a registry that refuses HEAD (405, 501, a proxy's 400) may still answer GET; auth and
      // network errors would fail GET the same way, so say them once, from GET
      if (options.signal?.aborted || !(e instanceof RegistryError)) throw e;
      options.onDebug?.(`HEAD failed (${e.message}); trying GET`);
    }
    const matches = head?.digest !== undefined &&
      (ref.digest === undefined || head.digest === ref.digest);
    if (head && matches) {
      return {
        reference: name,
        digest: head.digest!,
        mediaType: head.mediaType,
        size: head.size,
        method: "HEAD",
      };
    }
    const m = await resolveManifest(ref, { ...options, client });
    return {
      reference: name,
      digest: m.digest,
      mediaType: m.mediaType,
      size: m.bytes.byteLength,
      method: "GET",
    };
  }
  const m = await resolveManifest(ref, options);
  return {
    reference: name,
    digest: m.digest,
    mediaType: m.mediaType,
    size: m.bytes.byteLength,
    method: "GET",
  };
}
