// `skiff serve --tls-cert --tls-key --htpasswd`: HTTPS with a certificate of the tests' CA, basic
// auth against users `htpasswd -B` wrote (cost 5 and 10, a password with a colon and non-ASCII
// letters), read by skopeo, skiff and fetch; the passwords never reach the log.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { mustRun, run, sha256 } from "../_images.ts";
import { servedStore, startServe } from "../_serve.ts";
import { selfSignedCert } from "../_tls.ts";
import { tempDir } from "../_temp.ts";

const ALICE = "secret-alice-1";
const BOB = "pässwörd:with-colon";

function basic(user: string, password: string): string {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

Deno.test("skiff serve over TLS with basic auth from an htpasswd file", async (t) => {
  const s = await servedStore();
  const cert = await selfSignedCert();
  const dir = await tempDir();
  const users = `${dir}/htpasswd`;
  await mustRun("htpasswd", ["-B", "-b", "-c", users, "alice", ALICE]);
  await mustRun("htpasswd", ["-B", "-b", "-C", "10", users, "bob", BOB]);
  const server = await startServe([
    "--store",
    s.store,
    "--tls-cert",
    cert.certPath,
    "--tls-key",
    cert.keyPath,
    "--htpasswd",
    users,
  ]);
  const client = Deno.createHttpClient({ caCerts: [cert.ca] });
  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, { client, headers });
  try {
    await t.step(
      "https, and a 401 with a Basic challenge without the right credentials",
      async () => {
        assertMatch(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
        for (
          const headers of [
            {},
            { authorization: basic("alice", "wrong") },
            { authorization: basic("mallory", ALICE) },
            { authorization: "Basic !!!" },
            { authorization: `Bearer ${ALICE}` },
            { authorization: basic("alice", `${ALICE}x`) },
          ]
        ) {
          for (const path of ["/v2/", "/v2/test/single/manifests/1", "/v2/_catalog"]) {
            const res = await get(path, headers);
            assertEquals(res.status, 401, `${path} ${JSON.stringify(headers)}`);
            assertEquals(
              res.headers.get("www-authenticate"),
              'Basic realm="skiff", charset="UTF-8"',
            );
            assertEquals((await res.json()).errors[0].code, "UNAUTHORIZED");
          }
        }
        for (const [user, password] of [["alice", ALICE], ["bob", BOB]] as const) {
          const res = await get("/v2/", { authorization: basic(user, password) });
          assertEquals(res.status, 200, user);
          await res.body?.cancel();
        }
        // plain HTTP to the TLS port is no way in
        const plain = await fetch(server.url.replace("https:", "http:") + "/v2/").then(
          async (r) => r.status === 200 && (await r.text(), true),
          () => false,
        );
        assertEquals(plain, false);
      },
    );

    await t.step(
      "skopeo with the CA and credentials, byte for byte; without: refused",
      async () => {
        const out = `${dir}/copy`;
        await mustRun("skopeo", [
          "copy",
          "--quiet",
          "--all",
          "--src-cert-dir",
          cert.certDir,
          "--src-creds",
          `bob:${BOB}`,
          `docker://${server.host}/test/multi:1`,
          `oci:${out}:x`,
        ]);
        const index = JSON.parse(await Deno.readTextFile(`${out}/index.json`));
        assertEquals(index.manifests[0].digest, s.fx.multi.digest);
        const raw = await mustRun("skopeo", [
          "inspect",
          "--raw",
          "--cert-dir",
          cert.certDir,
          "--creds",
          `alice:${ALICE}`,
          `docker://${server.host}/library/skiffdemo:1`,
        ]);
        assertEquals(sha256(raw), s.fx.dockerList);
        for (const creds of [[], ["--creds", "alice:nope"]]) {
          const refused = await run("skopeo", [
            "inspect",
            "--raw",
            "--cert-dir",
            cert.certDir,
            ...creds,
            `docker://${server.host}/test/single:1`,
          ]);
          assert(refused.code !== 0);
          assertMatch(refused.stderr, /unauthorized|authentication required/i);
        }
      },
    );

    await t.step("skiff pull with the CA (DENO_CERT) and --password-stdin", async () => {
      const r = await skiff([
        "pull",
        "-q",
        "--json",
        "--store",
        `${dir}/store`,
        "-u",
        "alice",
        "--password-stdin",
        `${server.host}/test/single:1`,
      ], { stdin: ALICE, env: { DENO_CERT: cert.certPath.replace(/cert\.pem$/, "ca.pem") } });
      assertEquals(r.code, 0, r.stderr);
      assertEquals(JSON.parse(r.stdout).digest, s.single.digest);
    });

    await t.step("the log names the user and holds no password", () => {
      const log = server.stderr();
      assertMatch(log, /^127\.0\.0\.1:\d+ alice \[/m);
      assertMatch(log, /^127\.0\.0\.1:\d+ bob \[/m);
      assertMatch(log, /^127\.0\.0\.1:\d+ - \[[^\]]+\] "GET \/v2\/" 401 /m);
      for (const secret of [ALICE, BOB, btoa(`alice:${ALICE}`)]) {
        assert(!log.includes(secret), "a password in the log");
      }
    });
  } finally {
    client.close();
    const { code } = await server.stop();
    assertEquals(code, 0);
    await s.stop();
  }
});
