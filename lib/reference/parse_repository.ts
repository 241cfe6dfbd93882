/**
 * Repository names: `[registry/]repository`, without a tag or digest (what `skiff tags` lists).
 *
 * @module
 */

import { parseReference, type Reference } from "./parse_reference.ts";

/**
 * Parses a repository name and normalizes it the way Docker does (`alpine` is
 * `docker.io/library/alpine`). A tag or a digest is refused: a repository has neither.
 *
 * @param input A repository such as `alpine`, `ghcr.io/org/app` or `127.0.0.1:5000/team/app`.
 * @returns A reference with no tag and no digest; `toString()` gives the canonical name.
 * @throws {SyntaxError} When the input is not a valid repository name, or names a tag or digest.
 *
 * @example Normalize a Docker Hub repository
 * ```ts
 * import { parseRepository } from "./parse_repository.ts";
 * import assert from "node:assert/strict";
 *
 * const repo = parseRepository("alpine");
 * assert.deepEqual(repo.toString(), "docker.io/library/alpine");
 * assert.deepEqual(repo.tag, undefined);
 * assert.throws(() => parseRepository("alpine:3.20"), SyntaxError);
 * ```
 */
export function parseRepository(input: string): Reference {
  const ref = parseReference(input);
  const shown = input.length > 300 ? input.slice(0, 297) + "..." : input;
  if (ref.digest !== undefined) {
    throw new SyntaxError(
      `Cannot parse repository "${shown}": it names a digest; give the repository alone`,
    );
  }
  if (input.lastIndexOf(":") > input.lastIndexOf("/")) {
    throw new SyntaxError(
      `Cannot parse repository "${shown}": it names a tag; give the repository alone`,
    );
  }
  return ref.with({ tag: undefined, digest: undefined });
}
