// sync from a lying source (a registry of the tests' own): tags that are no tags ("../x" would
// reach another path at both ends) fail by name, with no request made for them, and the valid
// tags go on into the real registry and into a layout.

import { assertEquals, assertMatch } from "../_assert.ts";
import { startHostileRegistry } from "../_hostile_registry.ts";
import { FaultProxy } from "../_proxy.ts";
import { startRegistry } from "../_registry.ts";
import { tempDir } from "../_temp.ts";
import { sync } from "../../lib/copy/sync.ts";

const options = {
  credentials: () => undefined,
  retry: { baseDelay: 10, maxDelay: 100, attempts: 2 },
  config: { registries: {} },
};

Deno.test("sync: a source's tag list with paths in it: those tags fail, nothing reaches their paths", async () => {
  await using evil = startHostileRegistry();
  await using dest = await startRegistry();
  await using watch = FaultProxy.start(dest.url);
  const config = evil.blob("app", "{}");
  evil.manifest("app", "good", {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: "application/vnd.example",
    config: { mediaType: "application/vnd.oci.empty.v1+json", ...config },
    layers: [],
  });
  const bad = ["../../other/manifests/x", "a/b", "-dash", "x".repeat(129), "tab\there"];
  evil.route("/v2/app/tags/list", () => Response.json({ name: "app", tags: [...bad, "good"] }));
  const layout = `${await tempDir()}/layout`;
  for (const destination of [`${watch.host}/app`, `oci:${layout}`]) {
    const report = await sync(`${evil.host}/app`, destination, options);
    assertEquals(
      report.tags.map((t) => [t.tag, t.status]),
      [...bad.map((t) => [t, "failed"]), ["good", "copied"]],
      destination,
    );
    for (const t of report.tags.slice(0, bad.length)) {
      assertMatch(t.error!, /^Cannot sync ".*": not a valid tag$/);
    }
  }
  // no request for a bad tag at either end
  const paths = [...evil.seen, ...watch.seen.map((r) => `${r.method} ${r.path}`)];
  assertEquals(paths.filter((p) => /other|\/a\/b|-dash|xxxx|tab/.test(p)), []);
});
