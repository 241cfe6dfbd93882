import { assertEquals, assertThrows } from "../_assert.ts";
import { clientFor } from "../../lib/registry/remote_options.ts";
import { RegistryClient } from "../../lib/registry/registry_client.ts";
import { parseReference } from "../../lib/reference/parse_reference.ts";

Deno.test("clientFor: a new client for the reference's registry, or the one given", async () => {
  const ref = parseReference("127.0.0.1:5000/team/app:1");
  const made = clientFor(ref, { plainHttp: true });
  assertEquals([made.registry, made.host], ["127.0.0.1:5000", "127.0.0.1:5000"]);
  assertEquals(await made.baseUrl(), "http://127.0.0.1:5000");
  const hub = clientFor(parseReference("alpine"));
  assertEquals([hub.registry, hub.host], ["docker.io", "registry-1.docker.io"]);
  const given = new RegistryClient("127.0.0.1:5000");
  assertEquals(clientFor(ref, { client: given }), given);
  assertThrows(
    () => clientFor(parseReference("ghcr.io/org/app"), { client: given }),
    TypeError,
    "Cannot use a client for 127.0.0.1:5000 to reach ghcr.io",
  );
});

Deno.test("clientFor: requests go through the fetch it is given", async () => {
  const seen: string[] = [];
  const client = clientFor(parseReference("registry.test/app:1"), {
    fetch: (request) => {
      seen.push(`${request.method} ${request.url} ${request.headers.get("user-agent")}`);
      return Promise.resolve(new Response(null, { status: 404 }));
    },
    retry: { attempts: 1 },
  });
  assertEquals(await client.headManifest("app", "1"), undefined);
  assertEquals(seen.length, 1);
  assertEquals(seen[0]!.startsWith("HEAD https://registry.test/v2/app/manifests/1 skiff/"), true);
});
