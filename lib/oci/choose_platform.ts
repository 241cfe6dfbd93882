/**
 * Platforms: parse `os/arch[/variant]`, normalize the way containerd does, and choose the matching
 * manifest from an index.
 *
 * @module
 */

import type { Descriptor, ImageIndex, Platform } from "./parse_manifest.ts";

/** No manifest in an index matches the wanted platform. */
export class PlatformNotFoundError extends Error {
  /** The platform that was wanted, e.g. `linux/arm64`. */
  readonly wanted: string;
  /** The platforms the image has (attestations left out). */
  readonly available: readonly string[];

  /**
   * Makes the error.
   *
   * @param wanted The wanted platform.
   * @param available The platforms the image has.
   * @param image The image, for the message.
   */
  constructor(wanted: string, available: readonly string[], image?: string) {
    super(
      `Cannot find platform ${wanted}${image ? ` in ${image}` : ""}: ` +
        (available.length > 0
          ? `the image has ${available.join(", ")}`
          : "the image lists no platforms"),
    );
    this.name = "PlatformNotFoundError";
    this.wanted = wanted;
    this.available = available;
  }
}

/**
 * Parses `os/arch[/variant]` (or just `arch`, meaning linux) and normalizes it.
 *
 * @param input The platform string, e.g. `linux/arm64/v8`, `linux/amd64`, `arm64`.
 * @returns The normalized platform.
 * @throws {SyntaxError} When the string is malformed.
 *
 * @example Parse and normalize
 * ```ts
 * import { parsePlatform } from "./choose_platform.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parsePlatform("linux/aarch64"), { os: "linux", architecture: "arm64" });
 * assert.deepEqual(parsePlatform("linux/arm"), { os: "linux", architecture: "arm", variant: "v7" });
 * ```
 */
export function parsePlatform(input: string): Platform {
  const parts = input.trim().split("/");
  if (parts.length > 3 || parts.some((p) => !/^[A-Za-z0-9_.-]+$/.test(p))) {
    throw new SyntaxError(`Cannot parse platform "${input}": expected os/arch[/variant]`);
  }
  let p: Platform;
  if (parts.length === 1) p = { os: "linux", architecture: parts[0]! };
  else p = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2] !== undefined) p.variant = parts[2];
  return normalizePlatform(p);
}

/**
 * Parses a platform list: one platform, several separated by commas, or `all`.
 *
 * @param input E.g. `linux/amd64`, `linux/amd64,linux/arm64/v8` or `all`.
 * @returns `"all"`, or the platforms in the order given.
 * @throws {SyntaxError} When a platform is malformed or the list is empty.
 *
 * @example Two platforms
 * ```ts
 * import { parsePlatformList } from "./choose_platform.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parsePlatformList("linux/amd64, linux/arm64").length, 2);
 * assert.equal(parsePlatformList("all"), "all");
 * ```
 */
export function parsePlatformList(input: string): "all" | Platform[] {
  if (input.trim() === "all") return "all";
  const items = input.split(",").map((p) => p.trim());
  if (items.some((p) => p === "")) {
    throw new SyntaxError(`Cannot parse platform list "${input}": an empty item`);
  }
  return items.map((p) => parsePlatform(p));
}

/**
 * Normalizes a platform the way containerd does: `x86_64` -> `amd64`, `aarch64` -> `arm64`,
 * `arm64/v8` -> `arm64`, `arm` -> `arm/v7`, `armhf` -> `arm/v7`, `armel` -> `arm/v6`,
 * `i386` -> `386`.
 *
 * @param platform The platform.
 * @returns A normalized copy (only `os`, `architecture` and `variant`).
 */
export function normalizePlatform(platform: Platform): Platform {
  const os = platform.os.toLowerCase() === "macos" ? "darwin" : platform.os.toLowerCase();
  let arch = platform.architecture.toLowerCase();
  let variant = platform.variant?.toLowerCase() ?? "";
  switch (arch) {
    case "i386":
      arch = "386";
      variant = "";
      break;
    case "x86_64":
    case "x86-64":
    case "amd64":
      arch = "amd64";
      if (variant === "v1") variant = "";
      break;
    case "aarch64":
    case "arm64":
      arch = "arm64";
      if (variant === "8" || variant === "v8" || variant === "v8.0") variant = "";
      break;
    case "armhf":
      arch = "arm";
      variant = "v7";
      break;
    case "armel":
      arch = "arm";
      variant = "v6";
      break;
    case "arm":
      if (variant === "" || variant === "7") variant = "v7";
      else if (/^[5-8]$/.test(variant)) variant = `v${variant}`;
      break;
  }
  const out: Platform = { os, architecture: arch };
  if (variant !== "") out.variant = variant;
  return out;
}

/**
 * The platform skiff pulls by default: `linux` and the host's CPU architecture.
 *
 * @returns `linux/amd64` on x86-64 hosts, `linux/arm64` on ARM64 hosts.
 */
export function hostPlatform(): Platform {
  return normalizePlatform({ os: "linux", architecture: Deno.build.arch });
}

/**
 * Formats a platform as `os/arch[/variant]`.
 *
 * @param platform The platform.
 * @returns The string.
 */
export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join("/");
}

/**
 * Tells whether an index entry is an attestation or other non-runnable manifest (BuildKit's
 * `vnd.docker.reference.type` annotation, or platform `unknown/unknown`).
 *
 * @param descriptor The index entry.
 * @returns `true` when it must never be chosen as an image.
 */
export function isAttestation(descriptor: Descriptor): boolean {
  if (descriptor.annotations?.["vnd.docker.reference.type"] !== undefined) return true;
  const p = descriptor.platform;
  return p !== undefined && p.os === "unknown" && p.architecture === "unknown";
}

/**
 * Chooses the manifest for a platform from an index.
 *
 * The OS and architecture must match after normalization. A wanted variant must match (arm64
 * `v8` and no variant are the same; an `arm/v7` host also takes `v6`, then `v5`). Without a
 * wanted variant, an entry with no variant is preferred. Attestations are never chosen; the first
 * best match in index order wins.
 *
 * @param index The index.
 * @param wanted The platform wanted.
 * @param image The image's name, for the error message.
 * @returns The chosen entry.
 * @throws {PlatformNotFoundError} When nothing matches; it lists the platforms the index has.
 *
 * @example Pick arm64 from an index
 * ```ts
 * import { choosePlatform } from "./choose_platform.ts";
 * import assert from "node:assert/strict";
 *
 * const d = (arch: string, variant?: string) => ({
 *   mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: "sha256:" + arch[0]!.charCodeAt(0).toString(16).padStart(64, "0"),
 *   size: 1,
 *   platform: { os: "linux", architecture: arch, ...(variant ? { variant } : {}) },
 * });
 * const index = { schemaVersion: 2 as const, manifests: [d("amd64"), d("arm64", "v8")] };
 * const chosen = choosePlatform(index, { os: "linux", architecture: "arm64" });
 * assert.deepEqual(chosen.platform?.architecture, "arm64");
 * ```
 */
export function choosePlatform(index: ImageIndex, wanted: Platform, image?: string): Descriptor {
  const want = normalizePlatform(wanted);
  const explicitVariant = wanted.variant !== undefined && wanted.variant !== "";
  let best: Descriptor | undefined;
  let bestScore = 0;
  for (const entry of index.manifests) {
    if (!entry.platform || isAttestation(entry)) continue;
    const have = normalizePlatform(entry.platform);
    if (have.os !== want.os || have.architecture !== want.architecture) continue;
    const score = variantScore(want, have, explicitVariant);
    if (score > bestScore) {
      best = entry;
      bestScore = score;
    }
  }
  if (best) return best;
  const available = [
    ...new Set(
      index.manifests
        .filter((m) => m.platform && !isAttestation(m))
        .map((m) => formatPlatform(m.platform!)),
    ),
  ];
  throw new PlatformNotFoundError(formatPlatform(want), available, image);
}

function variantScore(want: Platform, have: Platform, explicit: boolean): number {
  const w = want.variant ?? "";
  const h = have.variant ?? "";
  if (w === h) return 100;
  if (want.architecture === "arm" && /^v[5-8]$/.test(w) && /^v[5-8]$/.test(h)) {
    // an ARM CPU runs code for older variants: prefer the newest one it can run
    return h < w ? 50 + Number(h.slice(1)) : 0;
  }
  if (!explicit) return h === "" ? 90 : 10;
  return 0;
}
