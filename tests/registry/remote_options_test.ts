import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { clientFor } from "../../lib/registry/remote_options.ts";
import { RegistryClient } from "../../lib/registry/registry_client.ts";
import { MirroredRegistry } from "../../lib/registry/mirrored_registry.ts";
import { parseReference } from "../../lib/reference/parse_reference.ts";

const NO_CONFIG = { registries: {} };

Deno.test("clientFor: a new client for the reference's registry, or the one given", async () => {
  const ref = parseReference("127.0.0.1:5000/team/app:1");
  const made = await clientFor(ref, { plainHttp: true, config: NO_CONFIG });
  assert(made instanceof RegistryClient);
  assertEquals([made.registry, made.host], ["127.0.0.1:5000", "127.0.0.1:5000"]);
  assertEquals(await made.baseUrl(), "http://127.0.0.1:5000");
  const hub = await clientFor(parseReference("alpine"), { config: NO_CONFIG });
  assert(hub instanceof RegistryClient);
  assertEquals([hub.registry, hub.host], ["docker.io", "registry-1.docker.io"]);
  const given = new RegistryClient("127.0.0.1:5000");
  assertEquals(await clientFor(ref, { client: given }), given);
  await assertRejects(
    () => clientFor(parseReference("ghcr.io/org/app"), { client: given }),
    TypeError,
    "Cannot use a client for 127.0.0.1:5000 to reach ghcr.io",
  );
});

Deno.test("clientFor: the configuration's mirrors and plain HTTP apply", async () => {
  const config = {
    registries: {
      "docker.io": { mirrors: [{ host: "mirror.test" }] },
      "lan.test:5000": { plainHttp: true },
    },
  };
  const hub = await clientFor(parseReference("alpine"), { config });
  assert(hub instanceof MirroredRegistry);
  assertEquals(hub.registry, "docker.io");
  const lan = await clientFor(parseReference("lan.test:5000/app"), { config });
  assert(lan instanceof RegistryClient);
  assertEquals(await lan.baseUrl(), "http://lan.test:5000");
});

Deno.test("clientFor: requests go through the fetch it is given", async () => {
  const seen: string[] = [];
  const client = await clientFor(parseReference("registry.test/app:1"), {
    config: NO_CONFIG,
    fetch: (request) => {
      seen.push(`${request.method} ${request.url} ${request.headers.get("user-agent")}`);
      return Promise.resolve(new Response(null, { status: 404 }));
    },
    retry: { attempts: 1 },
    credentials: () => undefined,
  });
  assertEquals(await client.headManifest("app", "1"), undefined);
  assertEquals(seen.length, 1);
  assertEquals(seen[0]!.startsWith("HEAD https://registry.test/v2/app/manifests/1 skiff/"), true);
});
