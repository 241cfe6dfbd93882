// A registry repository as a ReferrerTarget (see carry_referrers.ts): what it has (HEAD), whether
// it keeps referrers itself (the referrers API, asked once: OCI 1.1 says a registry with the API
// never answers 404 there), and its fallback indexes.

import { MediaType } from "../oci/media_types.ts";
import type { RegistrySource } from "../registry/mirrored_registry.ts";
import { RegistryError } from "../transport/registry_error.ts";
import { discard } from "../transport/fetcher.ts";
import type { ReferrerTarget } from "./referrer_target.ts";

/** The repository `repo` of `client` as a referrer target. */
export function registryTarget(client: RegistrySource, repo: string): ReferrerTarget {
  let api: boolean | undefined;
  return {
    async head(reference, signal) {
      return (await client.headManifest(repo, reference, signal ? { signal } : {}))?.digest;
    },
    async keepsReferrers(subject, signal) {
      if (api !== undefined) return api;
      if (!client.request) return api = false;
      const res = await client.request(
        "GET",
        `/v2/${repo}/referrers/${subject}`,
        { accept: MediaType.OciIndex },
        signal,
      );
      await discard(res);
      // either answer holds for the run; anything else is asked again next time
      if (res.status === 200 || res.status === 404) api = res.status === 200;
      return res.status === 200;
    },
    async fallbackEntries(tag, signal) {
      try {
        const existing = await client.getManifest(repo, tag, signal ? { signal } : {});
        return existing.kind === "index" ? [...existing.index.manifests] : [];
      } catch (e) {
        if (e instanceof RegistryError && e.status === 404) return [];
        throw e;
      }
    },
  };
}
