/**
 * The package's name and version, read from `deno.json` so there is one source of truth.
 *
 * @module
 */

import meta from "../deno.json" with { type: "json" };

/** skiff's version, e.g. `0.1.0`. */
export const VERSION: string = meta.version;

/** The `User-Agent` skiff sends: `skiff/<version>`. */
export const USER_AGENT: string = `skiff/${meta.version}`;
