/**
 * A repository's tags, page by page as the registry sends them.
 *
 * @module
 */

import type { Reference } from "../reference/parse_reference.ts";
import { parseRepository } from "../reference/parse_repository.ts";
import { type ListTagsOptions, tagPagesOptions } from "./list_tags.ts";
import { clientFor } from "./remote_options.ts";

/**
 * Lists a repository's tags one page at a time, following `Link` pagination: only one page is
 * held at a time, so a long list takes no more memory than its largest page (16 MiB at most).
 * A loop in the links, more than `maxPages` pages or more than `maxTags` tags end it with an
 * error, after the pages before.
 *
 * @param repository The repository, e.g. `alpine` or `127.0.0.1:5000/team/app` (no tag).
 * @param options The page size, the caps, and how to reach the registry.
 * @returns The tags of each page, in the registry's order.
 * @throws {SyntaxError} When the repository name is malformed or has a tag or digest.
 * @throws {RegistryError} When the registry refuses (404: no such repository).
 * @throws {RangeError} When the list goes past a cap.
 *
 * @example Print tags as they come
 * ```ts ignore
 * import { streamTags } from "./stream_tags.ts";
 *
 * for await (const page of streamTags("alpine")) for (const tag of page) console.log(tag);
 * ```
 */
export async function* streamTags(
  repository: string | Reference,
  options: ListTagsOptions = {},
): AsyncGenerator<string[], void, undefined> {
  const ref = typeof repository === "string" ? parseRepository(repository) : repository;
  const client = await clientFor(ref, options);
  yield* client.tagPages(ref.repository, tagPagesOptions(options));
}
