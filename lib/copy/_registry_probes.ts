// What sync asks of both registries before the first tag, at the same time as the source's tag
// list: whether the source has the referrers API (so no tag needs to ask), and which tags the
// destination has (a tag it lacks needs no HEAD; and its connection and token are ready for
// the HEADs that follow).

import type { RegistrySource } from "../registry/mirrored_registry.ts";
import { RegistryError } from "../transport/registry_error.ts";
import { discard } from "../transport/fetcher.ts";

/** A digest no registry holds: the referrers API's answer for it tells only whether it exists. */
const NO_DIGEST = `sha256:${"0".repeat(64)}`;

/**
 * Whether the registry has the OCI 1.1 referrers API, from one request about a digest nothing
 * has: a registry with the API answers 200 (an empty index; OCI 1.1 forbids it a 404 there), one
 * without answers 404. `undefined` for any other answer, or when the client cannot ask.
 */
export async function probeReferrersApi(
  client: RegistrySource,
  repository: string,
  signal?: AbortSignal,
): Promise<boolean | undefined> {
  if (!client.request) return undefined;
  const res = await client.request(
    "GET",
    `/v2/${repository}/referrers/${NO_DIGEST}`,
    { accept: "application/vnd.oci.image.index.v1+json" },
    signal,
  );
  await discard(res);
  return res.status === 200 ? true : res.status === 404 ? false : undefined;
}

/**
 * The destination repository's tags; an empty set when the repository does not exist (404);
 * `undefined` when they cannot be listed (then every tag is asked with a HEAD).
 */
export async function destinationTags(
  client: RegistrySource,
  repository: string,
  signal?: AbortSignal,
): Promise<Set<string> | undefined> {
  try {
    return new Set(await client.listTags(repository, signal ? { signal } : {}));
  } catch (e) {
    if (signal?.aborted) throw e;
    if (e instanceof RegistryError && e.status === 404) return new Set();
    return undefined;
  }
}
