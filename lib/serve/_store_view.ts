// What `skiff serve` sees of the store, and the one place it reads it: the names in index.json as
// repositories and tags, what each repository reaches (its manifests, configs, layers, and the
// referrers among them), and the verified bytes of a manifest. The store can change while it is
// served (a pull, an rm, a gc): every request compares index.json's identity with the one the view
// was made from, and a new view is made when it changed.
//
// Names. A stored name `HOST/REPO:TAG` (canonical, as skiff writes them) is served as repository
// `REPO`, tag `TAG`: the form in which a mirror is asked. A name with a digest (`HOST/REPO@D`)
// adds its image to `REPO` without a tag. Names that are not canonical references (a bare `1` as
// `skopeo copy ... oci:DIR:1` writes) are not served: they name no repository.

import { type Descriptor, ManifestError, parseDescriptor } from "../oci/parse_manifest.ts";
import { INDEX_MEDIA_TYPES } from "../oci/media_types.ts";
import { isDigest } from "../reference/parse_digest.ts";
import { DOCKER_HUB, parseReference } from "../reference/parse_reference.ts";
import { DigestMismatchError } from "../reference/digest_mismatch_error.ts";
import { fileIdentity } from "./_file_identity.ts";
import {
  INDEX_DIGEST_ANNOTATION,
  SOURCE_DIGEST_ANNOTATION,
  type Store,
  type StoredDocument,
} from "../store/store.ts";

/** A repository of one registry, as stored: `registry/repository`. */
export interface RepositoryKey {
  /** The registry host (and port) of the stored names, e.g. `docker.io`. */
  registry: string;
  /** The repository path, e.g. `library/alpine`. */
  repository: string;
}

/** A manifest to answer with: its digest, media type and verified bytes. */
export interface ServedManifest {
  /** The digest of `bytes`. */
  digest: string;
  /** Its media type. */
  mediaType: string;
  /** The exact bytes, verified against the digest. */
  bytes: Uint8Array;
}

/** What a repository reaches from its names. */
export interface RepositoryContent {
  /** Manifests and indexes present and intact, by digest: their media types. */
  manifests: Map<string, string>;
  /** Every blob the repository may serve (configs, layers, and the manifests), by digest: the
   * size its descriptor says. */
  blobs: Map<string, number>;
  /** Referrers present in the store, by the subject digest they refer to. */
  referrers: Map<string, Descriptor[]>;
}

type Entry = Awaited<ReturnType<Store["readEntries"]>>[number];

/** The names of one repository of one registry. */
interface Named {
  key: RepositoryKey;
  /** Tag -> index.json entry. */
  tags: Map<string, Descriptor>;
  /** Every entry named in it (tags and digests). */
  roots: Descriptor[];
}

/** One reading of index.json. */
interface Snapshot {
  stamp: string;
  /** Repository path -> registry -> its names. */
  repositories: Map<string, Map<string, Named>>;
  /** `registry/repository` -> what it reaches, made on first use. */
  content: Map<string, Promise<RepositoryContent>>;
}

/** The store as repositories, tags and manifests. */
export class StoreView {
  readonly #store: Store;
  #current: { stamp: string; snapshot: Promise<Snapshot> } | undefined;

  /**
   * @param store The store served.
   */
  constructor(store: Store) {
    this.#store = store;
  }

  /** The store's directory. */
  get path(): string {
    return this.#store.path;
  }

  /**
   * The repository a request names. With `ns` (containerd's mirror parameter: the registry the
   * client wants), the names of that registry only. Without, the stored repositories of that path
   * from any registry: Docker Hub's when it has one, else the registry that sorts first. When no
   * registry has that path, the full form `HOST/REPO` (the host dropped, the rest looked up), and a
   * one-component name as Docker Hub's `library/NAME`.
   *
   * @param name The repository path of the request (valid by the grammar).
   * @param ns The `ns` query parameter, if any.
   * @returns The repository, or `undefined` when the store has none by that name.
   */
  async resolve(name: string, ns: string | undefined): Promise<RepositoryKey | undefined> {
    const { repositories } = await this.#snapshot();
    const pick = (path: string, registry?: string): RepositoryKey | undefined => {
      const byRegistry = repositories.get(path);
      if (!byRegistry) return undefined;
      if (registry !== undefined) return byRegistry.get(registry)?.key;
      if (byRegistry.has(DOCKER_HUB)) return byRegistry.get(DOCKER_HUB)!.key;
      return byRegistry.get([...byRegistry.keys()].sort()[0]!)?.key;
    };
    if (ns !== undefined) {
      const registry = normalizeRegistry(ns);
      return pick(name, registry) ??
        (registry === DOCKER_HUB && !name.includes("/")
          ? pick(`library/${name}`, registry)
          : undefined);
    }
    const bare = pick(name);
    if (bare) return bare;
    const slash = name.indexOf("/");
    if (slash > 0) {
      // HOST/REPO: only a first component that is a host by the reference grammar (it has a dot,
      // or is localhost); what parseReference makes of it is the stored form (docker.io/alpine is
      // docker.io/library/alpine)
      const first = name.slice(0, slash);
      if (first.includes(".") || first === "localhost") {
        try {
          const ref = parseReference(name);
          const full = pick(ref.repository, normalizeRegistry(ref.registry));
          if (full) return full;
        } catch {
          // not a registry host (a_b.io): nothing by that name
        }
      }
    }
    if (!name.includes("/")) return pick(`library/${name}`, DOCKER_HUB);
    return undefined;
  }

  /**
   * The repository paths served, sorted: each stored `HOST/REPO` as `REPO`, once.
   *
   * @returns The names.
   */
  async catalog(): Promise<string[]> {
    return [...(await this.#snapshot()).repositories.keys()].sort(compare);
  }

  /**
   * A repository's tags, sorted.
   *
   * @param key The repository.
   * @returns The tags.
   */
  async tags(key: RepositoryKey): Promise<string[]> {
    return [...(this.#named(await this.#snapshot(), key)?.tags.keys() ?? [])].sort(compare);
  }

  /**
   * The manifest a tag is answered with: what the tag named at its registry, as far as the store
   * keeps it. In order of preference: the index a platform was pulled from (an entry of one
   * platform with `dev.skiff.index.digest`: a client picks its platform from it, and one the store
   * lacks answers 404, which sends a mirror's client on to the registry itself), the registry's
   * own bytes of a converted Docker manifest or list (`dev.skiff.source.digest`), the stored form.
   * The first form whose media type the request's `Accept` names is the answer (none named, or no
   * `Accept`: the first form).
   *
   * @param key The repository.
   * @param tag The tag.
   * @param accept The request's `Accept` header.
   * @returns The manifest, or `undefined` when the tag is not there (or its manifest is missing
   *   or damaged).
   */
  async manifestForTag(
    key: RepositoryKey,
    tag: string,
    accept: string | null,
  ): Promise<ServedManifest | undefined> {
    const snapshot = await this.#snapshot();
    const entry = this.#named(snapshot, key)?.tags.get(tag);
    if (!entry) return undefined;
    const content = await this.#content(snapshot, key);
    const form = (digest: string | undefined) =>
      digest !== undefined && content.manifests.has(digest)
        ? { digest, mediaType: content.manifests.get(digest)! }
        : undefined;
    const index = INDEX_MEDIA_TYPES.has(entry.mediaType)
      ? undefined // an index already (a cut one keeps what it was cut from out of sight)
      : form(entry.annotations?.[INDEX_DIGEST_ANNOTATION]);
    const stored = form(entry.digest);
    const forms = [index, form(entry.annotations?.[SOURCE_DIGEST_ANNOTATION]), stored]
      .filter((f) => f !== undefined);
    const accepted = acceptedTypes(accept);
    const chosen = forms.find((f) => accepted === undefined || accepted.has(f.mediaType)) ??
      forms[0];
    return chosen && await this.#served(chosen.digest, chosen.mediaType);
  }

  /**
   * A manifest by digest, when the repository reaches it.
   *
   * @param key The repository.
   * @param digest The digest.
   * @returns The manifest, or `undefined`.
   */
  async manifestByDigest(key: RepositoryKey, digest: string): Promise<ServedManifest | undefined> {
    const content = await this.content(key);
    const mediaType = content.manifests.get(digest);
    return mediaType === undefined ? undefined : await this.#served(digest, mediaType);
  }

  /**
   * What a repository reaches (computed once per reading of index.json).
   *
   * @param key The repository.
   * @returns Its manifests, blobs and referrers.
   */
  async content(key: RepositoryKey): Promise<RepositoryContent> {
    return await this.#content(await this.#snapshot(), key);
  }

  /**
   * The path of a blob's file (whether or not it exists).
   *
   * @param digest A valid digest.
   * @returns `<store>/blobs/<alg>/<hex>`.
   */
  blobPath(digest: string): string {
    return this.#store.blobPath(digest);
  }

  /** A manifest's bytes, verified; `undefined` when missing or damaged. */
  async #served(digest: string, mediaType: string): Promise<ServedManifest | undefined> {
    const read = await this.#readManifest(digest, mediaType);
    return read && { digest, mediaType, bytes: read.bytes };
  }

  /**
   * A stored manifest or index through the store's one reader of them (verified against its
   * digest, at most 4 MiB, parsed); missing, damaged or not a manifest: `undefined`.
   */
  async #readManifest(digest: string, mediaType?: string): Promise<StoredDocument | undefined> {
    try {
      return await this.#store.readManifestOrIndex({ digest, ...(mediaType ? { mediaType } : {}) });
    } catch (e) {
      if (
        e instanceof Deno.errors.NotFound || e instanceof DigestMismatchError ||
        e instanceof RangeError || e instanceof ManifestError
      ) {
        return undefined;
      }
      throw e;
    }
  }

  #named(snapshot: Snapshot, key: RepositoryKey): Named | undefined {
    return snapshot.repositories.get(key.repository)?.get(key.registry);
  }

  /** The current reading of index.json, made again when the file changed. */
  async #snapshot(): Promise<Snapshot> {
    const info = await Deno.stat(`${this.#store.path}/index.json`);
    const stamp = fileIdentity(info);
    if (this.#current?.stamp !== stamp) {
      const snapshot = this.#read(stamp);
      this.#current = { stamp, snapshot };
      snapshot.catch(() => {
        if (this.#current?.snapshot === snapshot) this.#current = undefined;
      });
    }
    return await this.#current.snapshot;
  }

  async #read(stamp: string): Promise<Snapshot> {
    const repositories = new Map<string, Map<string, Named>>();
    for (const entry of await this.#store.readEntries()) {
      const ref = servedName(entry);
      if (!ref) continue;
      let byRegistry = repositories.get(ref.repository);
      if (!byRegistry) repositories.set(ref.repository, byRegistry = new Map());
      let named = byRegistry.get(ref.registry);
      if (!named) {
        named = {
          key: { registry: ref.registry, repository: ref.repository },
          tags: new Map(),
          roots: [],
        };
        byRegistry.set(ref.registry, named);
      }
      named.roots.push(entry.descriptor);
      if (ref.tag !== undefined && !named.tags.has(ref.tag)) {
        named.tags.set(ref.tag, entry.descriptor);
      }
    }
    return { stamp, repositories, content: new Map() };
  }

  #content(snapshot: Snapshot, key: RepositoryKey): Promise<RepositoryContent> {
    const id = `${key.registry}/${key.repository}`;
    let content = snapshot.content.get(id);
    if (!content) {
      const named = this.#named(snapshot, key);
      content = this.#walk(named);
      snapshot.content.set(id, content);
      content.catch(() => snapshot.content.delete(id));
    }
    return content;
  }

  /** Follows a repository's names to every manifest, config and layer, and the referrers. */
  async #walk(named: Named | undefined): Promise<RepositoryContent> {
    const content: RepositoryContent = {
      manifests: new Map(),
      blobs: new Map(),
      referrers: new Map(),
    };
    if (!named) return content;
    const referrers = new Map<string, Map<string, Descriptor>>();
    const addReferrer = (subject: string, d: Descriptor) => {
      let list = referrers.get(subject);
      if (!list) referrers.set(subject, list = new Map());
      if (!list.has(d.digest)) list.set(d.digest, d);
    };
    const visit = async (digest: string, mediaType: string | undefined): Promise<void> => {
      if (content.manifests.has(digest)) return;
      const read = await this.#readManifest(digest, mediaType);
      if (!read) return; // absent, damaged, or no manifest: it names nothing, and is not served
      const { bytes, parsed } = read;
      const type = mediaType || read.descriptor.mediaType;
      content.manifests.set(digest, type);
      content.blobs.set(digest, bytes.byteLength);
      // what the parsed document leaves out: the referrer's fields
      const doc = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
      const subject = descriptorOf(doc.subject);
      if (subject) {
        const artifactType = typeof doc.artifactType === "string" && doc.artifactType !== ""
          ? doc.artifactType
          : parsed.kind === "manifest"
          ? parsed.manifest.config.mediaType
          : undefined;
        const annotations = stringsOf(doc.annotations);
        addReferrer(subject.digest, {
          mediaType: type,
          digest,
          size: bytes.byteLength,
          ...(artifactType !== undefined ? { artifactType } : {}),
          ...(annotations ? { annotations } : {}),
        });
      }
      if (parsed.kind === "index") {
        for (const child of parsed.index.manifests) {
          await visit(child.digest, child.mediaType);
          const original = child.annotations?.[SOURCE_DIGEST_ANNOTATION];
          if (original !== undefined && isDigest(original)) await visit(original, undefined);
        }
        return;
      }
      const { config, layers } = parsed.manifest;
      for (const blob of [config, ...layers]) content.blobs.set(blob.digest, blob.size);
    };
    for (const root of named.roots) {
      await visit(root.digest, root.mediaType || undefined);
      for (const key of [SOURCE_DIGEST_ANNOTATION, INDEX_DIGEST_ANNOTATION]) {
        const digest = root.annotations?.[key];
        if (digest !== undefined && isDigest(digest)) await visit(digest, undefined);
      }
    }
    for (const [subject, list] of referrers) content.referrers.set(subject, [...list.values()]);
    return content;
  }
}

/** The name an entry is served under, when it is a canonical reference. */
function servedName(
  entry: Entry,
): { registry: string; repository: string; tag?: string } | undefined {
  if (entry.name === undefined || entry.problems.length > 0 || entry.kind === "other") {
    return undefined;
  }
  try {
    const ref = parseReference(entry.name);
    if (ref.toString() !== entry.name) return undefined;
    return {
      registry: ref.registry,
      repository: ref.repository,
      ...(ref.tag !== undefined ? { tag: ref.tag } : {}),
    };
  } catch {
    return undefined;
  }
}

/** Docker Hub's other names, which stored names never use. */
const DOCKER_HUB_ALIASES = new Set(["index.docker.io", "registry-1.docker.io"]);

/** A registry as stored names write it (`index.docker.io` is `docker.io`). */
function normalizeRegistry(host: string): string {
  return DOCKER_HUB_ALIASES.has(host) ? DOCKER_HUB : host;
}

/** The media types an `Accept` header names (parameters and weights dropped); none: anything. */
function acceptedTypes(accept: string | null): Set<string> | undefined {
  if (!accept) return undefined;
  const types = new Set(
    accept.split(",").map((t) => t.split(";")[0]!.trim().toLowerCase()).filter((t) => t !== ""),
  );
  return types.size === 0 || types.has("*/*") ? undefined : types;
}

/** A descriptor as the manifest parser reads one; what it refuses names nothing here. */
function descriptorOf(value: unknown): Descriptor | undefined {
  try {
    return parseDescriptor(value, "a descriptor");
  } catch {
    return undefined;
  }
}

/** A document's annotations, when they are what the spec says (strings only). */
function stringsOf(value: unknown): Record<string, string> | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const entries = Object.entries(value);
  return entries.length > 0 && entries.every(([, v]) => typeof v === "string")
    ? value as Record<string, string>
    : undefined;
}

/** Sorts as Distribution does: by UTF-16 code units. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
