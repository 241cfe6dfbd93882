// sync with an OCI image layout (`oci:DIR`) as the source: its names become the destination
// repository's tags. A name is a full reference `REPO:TAG` (what skiff's store and a sync into a
// layout write) or a bare tag (what `skopeo copy ... oci:DIR:TAG` writes); the full names must be
// of one repository, or two images would claim one tag. The comparison is by the registry's
// digest (`dev.skiff.source.digest` for a Docker image stored as its OCI conversion), and what is
// pushed is the image as the registry had it (LayoutImageSource resolves to the original), so a
// layout written by a sync goes back with the digests it came with. Referrers are not looked up
// in a layout (it has no referrers API); the tag schema's names (`REPO:sha256-<hex>`,
// `REPO:sha256-<hex>.sig`) are names like any other, and travel as tags.

import { runBounded } from "../image/run_bounded.ts";
import { parseReference, type Reference } from "../reference/parse_reference.ts";
import { choosePlatform } from "../oci/choose_platform.ts";
import { parseManifest, type Platform } from "../oci/parse_manifest.ts";
import { RegistryImageDestination } from "../registry/registry_image_destination.ts";
import { clientFor, type RemoteOptions } from "../registry/remote_options.ts";
import { LayoutImageSource } from "../store/layout_image_source.ts";
import { registryDigestOf } from "../store/resolve_stored_image.ts";
import { Store } from "../store/store.ts";
import type { SyncedTag, SyncReport } from "./sync_report.ts";

/** What the layout source needs of `sync()`'s options. */
export interface LayoutSyncOptions extends Omit<RemoteOptions, "client"> {
  pattern: RegExp | undefined;
  platforms: "all" | Platform[];
  images: number;
  jobs?: number;
  dryRun: boolean;
  onTag?: (tag: SyncedTag) => void;
}

/** The distribution spec's tag grammar. */
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** Syncs the names of the layout `dir` into the registry repository `to`. */
export async function syncFromLayout(
  dir: string,
  to: Reference,
  options: LayoutSyncOptions,
): Promise<SyncReport> {
  const { pattern, platforms, images, jobs, dryRun, onTag, ...remote } = options;
  const source = `oci:${dir}`;
  const store = await Store.open(dir, { create: false });
  // name -> tag; the full names of one repository only
  const picked: { name: string; tag: string; digest: string }[] = [];
  const repositories = new Set<string>();
  for (const e of await store.readEntries()) {
    if (e.name === undefined || e.problems.length > 0) continue;
    let tag = e.name;
    if (!TAG.test(e.name)) {
      let ref: Reference;
      try {
        ref = parseReference(e.name);
      } catch {
        continue; // a name that is neither a tag nor a reference names nothing to sync
      }
      if (ref.tag === undefined || ref.digest !== undefined) continue;
      repositories.add(ref.name);
      tag = ref.tag;
    }
    if (pattern && !pattern.test(tag)) continue;
    picked.push({ name: e.name, tag, digest: registryDigestOf(e.descriptor) });
  }
  if (repositories.size > 1) {
    throw new Error(
      `Cannot sync ${source}: it holds images of ${repositories.size} repositories ` +
        `(${[...repositories].sort().join(", ")}), whose tags would collide in one destination`,
    );
  }
  const signal = remote.signal;
  const request = signal ? { signal } : {};
  const src = new LayoutImageSource(store);
  const client = await clientFor(to, { ...remote, config: { registries: {} } });
  const dst = new RegistryImageDestination(to, remote);
  const results: SyncedTag[] = picked.map((p) => ({ tag: p.tag, status: "failed" }));
  const one = async (i: number) => {
    const { name, tag, digest } = picked[i]!;
    const result = results[i]!;
    result.digest = digest;
    try {
      let expected = digest;
      if (platforms !== "all" && platforms.length === 1) {
        const root = await src.resolve(name);
        const parsed = parseManifest(root.bytes, root.descriptor.mediaType);
        if (parsed.kind === "index") {
          expected = choosePlatform(parsed.index, platforms[0]!, source).digest;
        }
      }
      const there = await client.headManifest(to.repository, tag, request);
      const list = platforms !== "all" && platforms.length > 1;
      if (!list) result.destinationDigest = expected;
      if (list) {
        result.status = dryRun ? "would-copy" : "copied"; // a rewritten index: always copied
      } else if (there?.digest === expected) {
        result.status = "up-to-date";
        onTag?.(result);
        return;
      } else {
        result.status = dryRun ? "would-copy" : "copied";
      }
      if (!dryRun) {
        const { copyImage } = await import("../image/copy_image.ts");
        const copied = await copyImage(src, name, dst, {
          platforms,
          tag,
          ...(jobs !== undefined ? { jobs } : {}),
          ...request,
          ...(remote.onDebug ? { onDebug: remote.onDebug } : {}),
        });
        result.destinationDigest = copied.digest;
      }
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      result.status = "failed";
      result.error = (e as Error).message;
    }
    onTag?.(result);
  };
  await runBounded(picked.map((_, i) => i), images, (i) => one(i), signal);
  const count = (...s: SyncedTag["status"][]) => results.filter((r) => s.includes(r.status)).length;
  return {
    source,
    destination: to.toString(),
    tags: results,
    copied: count("copied", "would-copy"),
    upToDate: count("up-to-date"),
    failed: count("failed"),
    referrersFailed: 0, // no referrers are looked up from a layout
  };
}
