// A pull of several platforms (a list, or all an index has): each platform is pulled as one
// (same policies, mirrors, resume, healing), which names the index once a second platform is in;
// with "all", the attestations come too and the index is the name's entry however many platforms
// it lists.

import { copyImage } from "../image/copy_image.ts";
import type { Reference } from "../reference/parse_reference.ts";
import { isAttestation, parsePlatform, parsePlatformList } from "../oci/choose_platform.ts";
import { type Descriptor, parseManifest, type Platform } from "../oci/parse_manifest.ts";
import { clientFor } from "../registry/remote_options.ts";
import { RegistryImageSource } from "../registry/registry_image_source.ts";
import { ImageNotFoundError } from "../store/image_not_found_error.ts";
import { LayoutImageDestination } from "../store/layout_image_destination.ts";
import { nameImage } from "../store/name_image.ts";
import { Store } from "../store/store.ts";
import type { PulledPlatform, PullOptions, PullResult } from "./pull.ts";

/** The platforms a `platform` option asks for: one, a list, or all. */
export function platformsOf(
  platform: PullOptions["platform"],
): "all" | Platform[] | undefined {
  if (platform === undefined) return undefined;
  if (typeof platform === "string") return parsePlatformList(platform);
  const items: readonly (string | Platform)[] = Array.isArray(platform)
    ? platform
    : [platform as Platform];
  if (items.length === 0) throw new SyntaxError(`Cannot pull for an empty list of platforms`);
  return items.map((p) => typeof p === "string" ? parsePlatform(p) : p);
}

/** Pulls several platforms of `ref`; see {@linkcode pull}. */
export async function pullPlatforms(
  ref: Reference,
  options: PullOptions,
  platforms: "all" | Platform[],
  pullOne: (ref: Reference, options: PullOptions) => Promise<PullResult>,
): Promise<PullResult> {
  const name = ref.toString();
  const store = options.store instanceof Store
    ? options.store
    : await Store.open(options.store ?? Store.defaultPath());
  const policy = options.policy ?? "always";
  const { index, descriptor } = await readIndex(ref, store, options, policy);
  let wanted: Platform[];
  if (platforms === "all") {
    if (!index) {
      // a single-platform image: all it has is itself
      const { platform: _all, ...rest } = options;
      const r = await pullOne(ref, { ...rest, store });
      return {
        ...r,
        platforms: [{ platform: r.platform, digest: r.digest, storedDigest: r.storedDigest }],
      };
    }
    wanted = index.manifests.filter((m) => m.platform && !isAttestation(m)).map((m) => m.platform!);
  } else {
    wanted = platforms;
  }
  const results: PullResult[] = [];
  for (const platform of wanted) {
    const r = await pullOne(ref, { ...options, store, platform });
    if (index && r.indexDigest !== descriptor!.digest) {
      throw new Error(
        `Cannot pull ${name}: it changed while its platforms were pulled (${
          descriptor!.digest
        }, then ${r.indexDigest ?? r.digest})`,
      );
    }
    results.push(r);
  }
  if (platforms === "all" && index && descriptor) {
    // attestations, and anything else the index lists without a platform: byte for byte
    const rest = index.manifests.filter((m) => !m.platform || isAttestation(m));
    const missing: Descriptor[] = [];
    for (const m of rest) if (!(await store.hasBlob(m.digest, m.size))) missing.push(m);
    if (missing.length > 0) {
      if (policy === "never") {
        throw new ImageNotFoundError(
          "pull",
          name,
          store.path,
          `its ${missing.length} attestation manifest(s) are not in the store ${store.path}, ` +
            `and the pull policy "never" forbids the network`,
        );
      }
      const source = new RegistryImageSource(await clientFor(ref, options), ref.repository);
      const destination = await LayoutImageDestination.open(store, options.signal);
      for (const m of missing) {
        await copyImage(source, m.digest, destination, {
          ...(options.jobs !== undefined ? { jobs: options.jobs } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        });
      }
    }
    await nameImage(store, name, descriptor);
  }
  const first = results[0]!;
  const images: PulledPlatform[] = results.map((r) => ({
    platform: r.platform,
    digest: r.digest,
    storedDigest: r.storedDigest,
  }));
  if (!index || !descriptor) return { ...first, platforms: images };
  const named = await store.findImage(name);
  return {
    ...first,
    digest: descriptor.digest,
    storedDigest: named?.digest ?? descriptor.digest,
    mediaType: descriptor.mediaType,
    indexDigest: descriptor.digest,
    platform: undefined,
    bytesFetched: results.reduce((n, r) => n + r.bytesFetched, 0),
    platforms: images,
  };
}

/** The index `ref` points at: from the store with policies missing and never, else the registry. */
async function readIndex(
  ref: Reference,
  store: Store,
  options: PullOptions,
  policy: string,
) {
  const name = ref.toString();
  if (policy !== "always") {
    const entry = await store.findImage(name);
    if (entry) {
      try {
        const bytes = await store.readBlob(entry.digest, 4 * 1024 * 1024);
        const parsed = parseManifest(bytes, entry.mediaType);
        if (parsed.kind === "index") {
          const descriptor = {
            mediaType: parsed.mediaType,
            digest: entry.digest,
            size: bytes.byteLength,
          };
          return { index: parsed.index, descriptor };
        }
        // a single-platform entry chosen from an index: that index, when it is stored
        const from = entry.annotations?.["dev.skiff.index.digest"];
        if (from && await store.hasBlob(from)) {
          const b = await store.readBlob(from, 4 * 1024 * 1024);
          const p = parseManifest(b);
          if (p.kind === "index") {
            return {
              index: p.index,
              descriptor: { mediaType: p.mediaType, digest: from, size: b.byteLength },
            };
          }
        }
      } catch {
        // damaged: the registry mends it (or "never" says it is not there)
      }
    }
    if (policy === "never") {
      throw new ImageNotFoundError(
        "pull",
        name,
        store.path,
        `its index is not in the store ${store.path}, and the pull policy "never" forbids the network`,
      );
    }
  }
  const client = await clientFor(ref, options);
  const m = await client.getManifest(
    ref.repository,
    ref.identifier,
    options.signal ? { signal: options.signal } : {},
  );
  if (m.kind !== "index") return { index: undefined, descriptor: undefined };
  return {
    index: m.index,
    descriptor: { mediaType: m.mediaType, digest: m.digest, size: m.bytes.byteLength },
  };
}
