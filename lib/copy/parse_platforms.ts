/**
 * The platforms a copy or sync takes, as the engine wants them. Its own file, light to import:
 * the CLI checks `--platform` before it loads the copy engine.
 *
 * @module
 */

import { parsePlatform } from "../oci/choose_platform.ts";
import type { Platform } from "../oci/parse_manifest.ts";

/**
 * `"all"`, `"linux/amd64"`, `"linux/amd64,linux/arm64"` or platforms -> what the engine takes.
 *
 * @param value `"all"`, one platform, a comma-separated list, or platforms.
 * @returns `"all"` or the platforms.
 * @throws {SyntaxError} When the list is empty or a platform is malformed.
 *
 * @example Parse a list
 * ```ts
 * import { parsePlatforms } from "./parse_platforms.ts";
 *
 * console.log(parsePlatforms("linux/amd64,linux/arm64/v8").length); // 2
 * ```
 */
export function parsePlatforms(value: "all" | string | readonly Platform[]): "all" | Platform[] {
  if (typeof value !== "string") return [...value];
  if (value.trim() === "all") return "all";
  const parts = value.split(",").map((p) => p.trim()).filter((p) => p !== "");
  if (parts.length === 0) throw new SyntaxError(`Cannot parse platforms: "${value}" is empty`);
  return parts.map((p) => parsePlatform(p));
}
