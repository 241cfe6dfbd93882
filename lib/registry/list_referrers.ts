/**
 * What refers to an image: signatures, SBOMs, attestations and other artifacts, found the three
 * ways registries and tools keep them.
 *
 * @module
 */

import { parseDigest } from "../reference/parse_digest.ts";
import { parseReference, type Reference } from "../reference/parse_reference.ts";
import {
  type Descriptor,
  MANIFEST_SIZE_LIMIT,
  ManifestError,
  parseDescriptor,
} from "../oci/parse_manifest.ts";
import type { RegistrySource } from "./mirrored_registry.ts";
import { clientFor, type RemoteOptions } from "./remote_options.ts";
import { resolveDigest } from "./resolve_digest.ts";
import { RegistryError } from "../transport/registry_error.ts";
import { readCapped } from "../transport/fetcher.ts";

/** How a referrer was found. */
export type ReferrerSource =
  /** The OCI 1.1 referrers API, `GET /v2/<name>/referrers/<digest>`. */
  | "referrers-api"
  /** The referrers tag schema: an index tagged `sha256-<hex>` (OCI 1.1's fallback). */
  | "referrers-tag"
  /** A cosign-style tag: `sha256-<hex>.sig`, `.att` or `.sbom`. */
  | "cosign-tag";

/** One manifest that refers to the subject. */
export interface Referrer extends Descriptor {
  /** How it was found. */
  source: ReferrerSource;
  /** The tag it was found under (cosign-style tags only). */
  tag?: string;
}

/** Options for {@linkcode listReferrers}. */
export interface ListReferrersOptions extends RemoteOptions {
  /**
   * Only referrers of this artifact type (the registry filters when it can, skiff otherwise).
   * @default {undefined (all)}
   */
  artifactType?: string;
  /**
   * Look for cosign-style tags too (`sha256-<hex>.sig`, `.att`, `.sbom`: one `HEAD` each).
   * @default {true}
   */
  cosignTags?: boolean;
  /**
   * Every tag the repository has, when the caller listed them already (`sync` does): the
   * fallback index and the cosign-style tags are then asked for only when their tag is in the
   * list, which for most images means no request at all.
   * @default {undefined (each is asked for)}
   */
  knownTags?: ReadonlySet<string>;
  /**
   * Whether the registry has the referrers API, when the caller knows it (a 404 from it earlier
   * in the run: OCI 1.1 says a registry with the API never answers 404 there); `false` skips the
   * API request and reads the fallback index.
   * @default {undefined (asked)}
   */
  referrersApi?: boolean;
}

/** What {@linkcode listReferrers} returns. */
export interface ReferrersResult {
  /** The canonical reference asked about. */
  reference: string;
  /** The digest of the subject (the manifest or index the reference points at). */
  subject: string;
  /**
   * Whether the registry answered the referrers API (`true`), or skiff read the tag schema's
   * index instead (`false`: the registry has no referrers API).
   */
  api: boolean;
  /** The referrers, API or tag-schema entries first, then cosign-style tags; each digest once. */
  referrers: Referrer[];
  /**
   * The tag schema's index (tag `sha256-<hex>`) as the registry has it, when it was read: its
   * descriptor and exact bytes (copying it keeps its digest).
   */
  fallbackIndex?: { descriptor: Descriptor; bytes: Uint8Array };
}

/** The most referrer descriptors taken from one registry, across pages. */
const MAX_REFERRERS = 10_000;
/** The most pages of a paginated referrers answer. */
const MAX_PAGES = 100;
const COSIGN_SUFFIXES = ["sig", "att", "sbom"] as const;

/**
 * Lists what refers to an image.
 *
 * First the OCI 1.1 referrers API (`GET /v2/<name>/referrers/<digest>`, with `artifactType`
 * passed on, `Link` pagination followed on the registry's origin). A registry without the API
 * answers 404; then the tag schema's fallback is read: an index tagged `sha256-<hex>` whose
 * entries are the referrers. Cosign-style tags (`sha256-<hex>.sig`, `.att`, `.sbom`) are looked
 * up with `HEAD` either way. Every descriptor the registry sends is validated; a malformed one
 * fails the call rather than being shown.
 *
 * @param reference The subject, e.g. `ghcr.io/org/app:1` or `...@sha256:...`.
 * @param options An artifact type to filter by, whether to look for cosign tags, and how to
 * reach the registry.
 * @returns The subject's digest and its referrers.
 * @throws {SyntaxError} When the reference is malformed.
 * @throws {RegistryError} When the registry refuses (404: no such image).
 * @throws {ManifestError} When the registry's answer is not a valid index.
 *
 * @example The signatures and SBOMs of an image
 * ```ts ignore
 * import { listReferrers } from "./list_referrers.ts";
 *
 * const { subject, referrers } = await listReferrers("ghcr.io/org/app:1");
 * for (const r of referrers) console.log(subject, r.artifactType, r.digest, r.source);
 * ```
 */
export async function listReferrers(
  reference: string | Reference,
  options: ListReferrersOptions = {},
): Promise<ReferrersResult> {
  const ref = typeof reference === "string" ? parseReference(reference) : reference;
  const client = await clientFor(ref, options);
  const subject = ref.digest ?? (await resolveDigest(ref, { ...options, client })).digest;
  const { algorithm, hex } = parseDigest(subject);
  const signal = options.signal;
  const want = options.artifactType;
  const referrers: Referrer[] = [];
  const seen = new Set<string>();
  const add = (d: Descriptor, source: ReferrerSource, tag?: string) => {
    if (seen.has(d.digest)) return;
    if (referrers.length >= MAX_REFERRERS) {
      throw new Error(
        `Cannot list referrers of ${ref}: the registry lists more than ${MAX_REFERRERS}`,
      );
    }
    seen.add(d.digest);
    referrers.push({ ...d, source, ...(tag !== undefined ? { tag } : {}) });
  };

  const known = options.knownTags;
  let fallbackIndex: ReferrersResult["fallbackIndex"];
  // the cosign-style tags are asked for while the API (or the fallback index) is: one round trip
  const cosign = options.cosignTags ?? true
    ? Promise.all(
      COSIGN_SUFFIXES.map((suffix) => `${algorithm}-${hex}.${suffix}`)
        .filter((tag) => !known || known.has(tag))
        .map(async (tag) => ({
          tag,
          head: await client.headManifest(ref.repository, tag, signal ? { signal } : {}),
        })),
    )
    : Promise.resolve([]);
  // a failure of the first is the one reported: the others' must not go unhandled meanwhile
  cosign.catch(() => {});
  const fromApi = options.referrersApi === false
    ? undefined
    : await referrersApi(client, ref, subject, want, signal);
  if (fromApi !== undefined) {
    for (const d of fromApi) {
      if (want === undefined || d.artifactType === want) add(d, "referrers-api");
    }
  } else {
    const tag = `${algorithm}-${hex}`;
    const index = known && !known.has(tag)
      ? undefined
      : await optionalManifest(client, ref, tag, signal);
    if (index !== undefined) {
      if (index.kind !== "index") {
        throw new ManifestError(
          `Cannot list referrers of ${ref}: the tag ${tag} holds a manifest, not an index`,
        );
      }
      for (const d of index.index.manifests) {
        if (want === undefined || d.artifactType === want) add(d, "referrers-tag");
      }
      fallbackIndex = {
        descriptor: {
          mediaType: index.mediaType ?? "application/vnd.oci.image.index.v1+json",
          digest: index.digest,
          size: index.bytes.byteLength,
        },
        bytes: index.bytes,
      };
    }
  }

  for (const { tag, head } of await cosign) {
    if (head === undefined) continue;
    // HEAD tells the digest, type and size; the artifact type needs the manifest itself
    const m = await client.getManifest(ref.repository, tag, signal ? { signal } : {});
    const artifactType = m.kind === "manifest"
      ? manifestArtifactType(m.bytes) ?? m.manifest.config.mediaType
      : undefined;
    if (want !== undefined && artifactType !== want) continue;
    add(
      {
        mediaType: m.mediaType ?? head.mediaType ?? "application/octet-stream",
        digest: m.digest,
        size: m.bytes.byteLength,
        ...(artifactType !== undefined ? { artifactType } : {}),
      },
      "cosign-tag",
      tag,
    );
  }
  return {
    reference: ref.toString(),
    subject,
    api: fromApi !== undefined,
    referrers,
    ...(fallbackIndex ? { fallbackIndex } : {}),
  };
}

/** The referrers API's answer, every page; `undefined` when the registry has no such API. */
async function referrersApi(
  client: RegistrySource,
  ref: Reference,
  subject: string,
  artifactType: string | undefined,
  signal: AbortSignal | undefined,
): Promise<Descriptor[] | undefined> {
  if (!client.request) return undefined;
  const out: Descriptor[] = [];
  const query = artifactType === undefined
    ? ""
    : `?artifactType=${encodeURIComponent(artifactType)}`;
  let path: string | undefined = `/v2/${ref.repository}/referrers/${subject}${query}`;
  const what = `list referrers of ${ref}`;
  const read = new Set<string>();
  for (let page = 0; path !== undefined; page++) {
    if (page >= MAX_PAGES) throw new Error(`Cannot ${what}: more than ${MAX_PAGES} pages`);
    if (read.has(path)) {
      throw new Error(
        `Cannot ${what}: the registry's Link header leads back to a page already read`,
      );
    }
    read.add(path);
    const res: Response = await client.request(
      "GET",
      path,
      { accept: "application/vnd.oci.image.index.v1+json" },
      signal,
    );
    if (res.status === 404 && page === 0) {
      await res.body?.cancel();
      return undefined; // no referrers API: the tag schema is the fallback
    }
    if (res.status !== 200) throw await RegistryError.fromResponse(res, "GET", undefined, what);
    let doc: unknown;
    try {
      // a page is an index: the manifest cap applies
      const body = await readCapped(res, MANIFEST_SIZE_LIMIT, what);
      doc = JSON.parse(new TextDecoder().decode(body));
    } catch (e) {
      if (e instanceof SyntaxError) {
        throw new ManifestError(`Cannot ${what}: the registry's answer is not JSON`);
      }
      throw e;
    }
    const manifests = (doc as { manifests?: unknown } | null)?.manifests;
    if (typeof doc !== "object" || doc === null || !Array.isArray(manifests)) {
      throw new ManifestError(`Cannot ${what}: the registry's answer is not an image index`);
    }
    for (const [i, m] of manifests.entries()) {
      if (out.length >= MAX_REFERRERS) {
        throw new Error(`Cannot ${what}: the registry lists more than ${MAX_REFERRERS}`);
      }
      try {
        out.push(parseDescriptor(m, `referrers manifests[${i}]`));
      } catch (e) {
        if (!(e instanceof ManifestError)) throw e;
        // say whose referrers: the descriptor's own message names only its position
        throw new ManifestError(
          `Cannot ${what}: ${e.message.replace(/^Cannot parse manifest: /, "")}`,
          { cause: e },
        );
      }
    }
    path = nextPage(res.headers.get("link"), res.url);
  }
  return out;
}

/** The manifest tagged `tag`, or `undefined` when the registry has no such tag. */
async function optionalManifest(
  client: RegistrySource,
  ref: Reference,
  tag: string,
  signal: AbortSignal | undefined,
) {
  try {
    return await client.getManifest(ref.repository, tag, signal ? { signal } : {});
  } catch (e) {
    if (e instanceof RegistryError && e.status === 404) return undefined;
    throw e;
  }
}

/** A manifest's own `artifactType` field, when it has a valid one. */
function manifestArtifactType(bytes: Uint8Array): string | undefined {
  try {
    const doc = JSON.parse(new TextDecoder().decode(bytes)) as { artifactType?: unknown };
    return typeof doc.artifactType === "string" && doc.artifactType !== ""
      ? doc.artifactType
      : undefined;
  } catch {
    return undefined;
  }
}

/** The next page's path from a `Link` header: relative, or absolute on the same origin. */
function nextPage(header: string | null, current: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(",")) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (!m || !/rel="?next"?/.test(m[2]!)) continue;
    const link = m[1]!;
    if (link.startsWith("/") && !link.startsWith("//")) return link;
    if (current === "") return undefined;
    const url = new URL(link, current);
    if (url.origin !== new URL(current).origin) return undefined;
    return url.pathname + url.search;
  }
  return undefined;
}
