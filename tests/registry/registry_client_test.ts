// RegistryClient's choice of scheme against real registries on loopback: plain HTTP, TLS with a
// certificate the client trusts, and --plain-http forcing HTTP.

import { assertEquals, assertMatch, assertRejects } from "../_assert.ts";
import { startRegistry } from "../_registry.ts";
import { selfSignedCert } from "../_tls.ts";
import { layerOf, LayoutBuilder, push } from "../_images.ts";
import { RegistryClient } from "../../lib/registry/registry_client.ts";
import { pull } from "../../lib/pull/pull.ts";
import { tempDir } from "../_temp.ts";

Deno.test("RegistryClient: a loopback registry speaking plain HTTP is reached over HTTP", async () => {
  const registry = await startRegistry();
  try {
    const client = new RegistryClient(registry.host);
    assertEquals(await client.baseUrl(), `http://${registry.host}`);
    assertEquals(
      await new RegistryClient(registry.host, { plainHttp: true }).baseUrl(),
      `http://${registry.host}`,
    );
    // not loopback: HTTPS, no probe
    assertEquals(
      await new RegistryClient("registry.example.com").baseUrl(),
      "https://registry.example.com",
    );
    assertEquals(await new RegistryClient("docker.io").baseUrl(), "https://registry-1.docker.io");
    assertEquals(
      await new RegistryClient("registry.example.com", { plainHttp: true }).baseUrl(),
      "http://registry.example.com",
    );
  } finally {
    await registry.stop();
  }
});

Deno.test("RegistryClient: a loopback registry speaking TLS is reached over HTTPS", async () => {
  const tls = await selfSignedCert();
  const registry = await startRegistry({
    extraConfig: `  tls:\n    certificate: ${tls.certPath}\n    key: ${tls.keyPath}\n`,
  });
  const httpClient = Deno.createHttpClient({ caCerts: [tls.ca] });
  try {
    const host = registry.host;
    const fetchTrusting = (r: Request) => fetch(r, { client: httpClient });
    const client = new RegistryClient(host, { fetch: fetchTrusting });
    assertEquals(await client.baseUrl(), `https://${host}`);

    // push an image over TLS and pull it back
    const b = await LayoutBuilder.create();
    const image = await b.image([await layerOf({ "a.txt": "tls\n" })]);
    await b.tag("t", image);
    await push(b.dir, "t", `${host}/tls/image:1`, [
      "--dest-cert-dir",
      tls.certDir,
    ]);
    await b.remove();
    const store = `${await tempDir()}/s`;
    const result = await pull(`${host}/tls/image:1`, { store, fetch: fetchTrusting });
    assertEquals(result.digest, image.digest);

    // without trusting the certificate, the TLS error is reported, with no fall back to HTTP
    const e = await assertRejects(() =>
      pull(`${host}/tls/image:1`, { store: `${store}-2`, retry: { attempts: 1 } })
    );
    assertMatch(e.message, /certificate|UnknownIssuer|invalid peer/i);
  } finally {
    httpClient.close();
    await registry.stop();
  }
});
