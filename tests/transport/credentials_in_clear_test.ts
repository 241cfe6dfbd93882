// A credential goes over plain HTTP only to loopback or to a host the user configured as plain.
// The registry is the real one behind a proxy of ours on 127.0.0.1 that answers 401 with a token
// realm on a foreign host; that host (registry.example.test, auth.example.test) is simulated by an
// injected fetch, so nothing leaves the machine. Every output is searched for the secret.

import { assert, assertEquals, assertMatch, assertRejects } from "../_assert.ts";
import { FaultProxy } from "../_proxy.ts";
import { pushImage } from "../_push.ts";
import { startRegistry } from "../_registry.ts";
import { MirroredRegistry } from "../../lib/registry/mirrored_registry.ts";
import { RegistryClient } from "../../lib/registry/registry_client.ts";
import { clientFor } from "../../lib/registry/remote_options.ts";
import { parseReference } from "../../lib/reference/parse_reference.ts";
import type { Credentials } from "../../lib/transport/auth_fetch.ts";

const SECRET = "s3cret-Pa55word-7f1c";
const USER = "alice";
const BASIC = btoa(`${USER}:${SECRET}`);
const TOKEN = "issued-token-0042";

interface ForeignRequest {
  url: string;
  method: string;
  headers: string;
  body: string;
}

/** The network: loopback goes out for real, *.example.test is answered here and recorded. */
function network(redirects: Record<string, string> = {}) {
  const foreign: ForeignRequest[] = [];
  const fetcher = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (!url.hostname.endsWith(".example.test")) return fetch(request);
    const headers: string[] = [];
    request.headers.forEach((v, k) => headers.push(`${k}: ${v}`));
    foreign.push({
      url: url.toString(),
      method: request.method,
      headers: headers.join("\n"),
      body: request.body ? await request.text() : "",
    });
    const to = redirects[`${url.origin}${url.pathname}`];
    if (to) return new Response(null, { status: 307, headers: { location: to } });
    return Response.json({ token: TOKEN, expires_in: 300 });
  };
  return { fetcher, foreign };
}

/** Fails when any text (error, debug line, or what the foreign host received) has the secret. */
function assertNoSecret(texts: string[]) {
  for (const text of texts) {
    assert(!text.includes(SECRET), `secret in: ${text}`);
    assert(!text.includes(BASIC), `Basic credentials in: ${text}`);
  }
}

Deno.test("credentials never go in clear to a host that is neither loopback nor plain", async (t) => {
  await using registry = await startRegistry();
  await pushImage(registry.url, "team/app", "1", [
    { mediaType: "application/vnd.oci.image.layer.v1.tar", bytes: new Uint8Array(512) },
  ]);
  // the registry on loopback asks for a token from a realm named by the test
  let realm = "http://registry.example.test/token";
  await using proxy = FaultProxy.start(registry.url);
  proxy.on((req) =>
    req.headers.get("authorization") === `Bearer ${TOKEN}` ? undefined : {
      kind: "status",
      status: 401,
      headers: { "www-authenticate": `Bearer realm="${realm}",service="r"` },
      body: '{"errors":[{"code":"UNAUTHORIZED"}]}',
    }
  );
  const client = (
    net: ReturnType<typeof network>,
    credentials: Credentials | (() => undefined),
    debug: string[],
  ) =>
    new RegistryClient(proxy.host, {
      credentials,
      fetch: net.fetcher,
      retry: { attempts: 1 },
      onDebug: (line) => debug.push(line),
    });

  const refusals: [string, Credentials][] = [
    ["Basic credentials", { username: USER, password: SECRET }],
    ["an identity token", { username: USER, identityToken: SECRET }],
  ];
  for (const [what, credentials] of refusals) {
    await t.step(`${what} to a plain-HTTP realm on another host: refused, naming it`, async () => {
      realm = "http://registry.example.test/token";
      const net = network();
      const debug: string[] = [];
      const e = await assertRejects(
        () => client(net, credentials, debug).getManifest("team/app", "1"),
        Error,
      );
      assertMatch(e.message, /^Cannot authenticate to 127\.0\.0\.1:\d+: the token realm/);
      assertMatch(e.message, /http:\/\/registry\.example\.test is plain HTTP/);
      assert(!e.message.includes("\n"));
      assertEquals(net.foreign, []); // not even asked
      assertNoSecret([e.message, e.stack ?? "", ...debug]);
    });
  }

  const redirected: [string, Credentials, string][] = [
    ["Basic credentials", { username: USER, password: SECRET }, "http://auth.example.test/t"],
    ["an identity token", { identityToken: SECRET }, "http://registry.example.test/t"],
  ];
  for (const [what, credentials, target] of redirected) {
    await t.step(`${what}, an HTTPS realm redirecting to ${target}: refused`, async () => {
      realm = "https://auth.example.test/token";
      const net = network({ "https://auth.example.test/token": target });
      const debug: string[] = [];
      const e = await assertRejects(
        () => client(net, credentials, debug).getManifest("team/app", "1"),
        Error,
      );
      const host = new URL(target).host.replaceAll(".", "\\.");
      assertMatch(e.message, new RegExp(`realm redirects to http://${host} is plain HTTP`));
      // the HTTPS realm was asked, the plain-HTTP target never
      assertEquals(net.foreign.map((r) => r.url.replace(/\?.*/, "")), [
        "https://auth.example.test/token",
      ]);
      assertNoSecret([e.message, ...debug]);
    });
  }

  await t.step("Basic credentials are dropped on a redirect to another host", async () => {
    realm = "https://auth.example.test/token";
    const net = network({ "https://auth.example.test/token": "http://registry.example.test/t" });
    const debug: string[] = [];
    const creds = { username: USER, password: SECRET };
    const m = await client(net, creds, debug).getManifest("team/app", "1");
    assertEquals(m.kind, "manifest");
    assertEquals(net.foreign.length, 2);
    assertNoSecret([net.foreign[1]!.url, net.foreign[1]!.headers, net.foreign[1]!.body, ...debug]);
  });

  await t.step("anonymous, a plain-HTTP realm is only a token source: it works", async () => {
    realm = "http://registry.example.test/token";
    const net = network();
    const debug: string[] = [];
    const m = await client(net, () => undefined, debug).getManifest("team/app", "1");
    assertEquals(m.kind, "manifest");
    assertEquals(net.foreign.length, 1);
    assert(!/authorization/i.test(net.foreign[0]!.headers));
  });

  await t.step("a realm host configured as plainHttp gets the credentials", async () => {
    realm = "http://registry.example.test/token";
    const net = network();
    const source = await clientFor(parseReference(`${proxy.host}/team/app:1`), {
      credentials: { username: USER, password: SECRET },
      fetch: net.fetcher,
      retry: { attempts: 1 },
      config: { registries: { "registry.example.test": { plainHttp: true } } },
    });
    const m = await source.getManifest("team/app", "1");
    assertEquals(m.kind, "manifest");
    assertEquals(net.foreign.length, 1);
    assert(net.foreign[0]!.headers.includes(`authorization: Basic ${BASIC}`));
  });

  await t.step(
    "a mirror whose realm is plain HTTP elsewhere: skipped, the secret kept",
    async () => {
      realm = "http://registry.example.test/token";
      const net = network();
      const debug: string[] = [];
      const mirror = client(net, { username: USER, password: SECRET }, debug);
      const upstream = new RegistryClient(registry.host, {
        credentials: () => undefined,
        retry: { attempts: 1 },
      });
      const source = new MirroredRegistry(upstream, [{ client: mirror }], (l) => debug.push(l));
      const m = await source.getManifest("team/app", "1");
      assertEquals(m.kind, "manifest");
      assertEquals(net.foreign, []);
      assertMatch(debug.join("\n"), /mirror 127\.0\.0\.1:\d+ failed \(Cannot authenticate/);
      assertNoSecret(debug);
    },
  );
});
