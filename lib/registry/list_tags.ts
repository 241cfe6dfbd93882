/**
 * A repository's tags, from the registry.
 *
 * @module
 */

import type { Reference } from "../reference/parse_reference.ts";
import { parseRepository } from "../reference/parse_repository.ts";
import type { TagPagesOptions } from "./registry_client.ts";
import { clientFor, type RemoteOptions } from "./remote_options.ts";

/** Options for {@linkcode listTags}. */
export interface ListTagsOptions extends RemoteOptions {
  /**
   * How many tags to ask for per page (`?n=`); the registry may send fewer.
   * @default {the registry's default}
   */
  pageSize?: number;
  /**
   * The most pages followed; a list with more is an error.
   * @default {10000}
   */
  maxPages?: number;
  /**
   * The most tags in all; a list with more is an error.
   * @default {1000000}
   */
  maxTags?: number;
}

/**
 * Lists all tags of a repository, following `Link` pagination (only to the registry's own
 * origin; a loop in the links, more than `maxPages` pages or more than `maxTags` tags are an
 * error). To handle a long list page by page, without holding it, use `streamTags`.
 *
 * @param repository The repository, e.g. `alpine` or `127.0.0.1:5000/team/app` (no tag).
 * @param options The page size, and how to reach the registry.
 * @returns The tags, in the registry's order.
 * @throws {SyntaxError} When the repository name is malformed or has a tag or digest.
 * @throws {RegistryError} When the registry refuses (404: no such repository).
 * @throws {RangeError} When the list goes past a cap.
 *
 * @example The tags of a repository
 * ```ts ignore
 * import { listTags } from "./list_tags.ts";
 *
 * console.log(await listTags("alpine"));
 * ```
 */
export async function listTags(
  repository: string | Reference,
  options: ListTagsOptions = {},
): Promise<string[]> {
  const ref = typeof repository === "string" ? parseRepository(repository) : repository;
  const client = await clientFor(ref, options);
  return await client.listTags(ref.repository, tagPagesOptions(options));
}

/**
 * The part of the options each page request takes (signal, page size, caps).
 *
 * @param options The options of `listTags` or `streamTags`.
 * @returns The options for `RegistryClient.tagPages`.
 */
export function tagPagesOptions(options: ListTagsOptions): TagPagesOptions {
  return {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.pageSize ? { pageSize: options.pageSize } : {}),
    ...(options.maxPages !== undefined ? { maxPages: options.maxPages } : {}),
    ...(options.maxTags !== undefined ? { maxTags: options.maxTags } : {}),
  };
}
