// `skiff copy` against registries that need credentials: token auth (push scopes asked for the
// destination, pull for the mount's source) and Basic; refused pushes end in one line.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { PASSWORD, startAuthFixture, USER } from "../_auth_fixture.ts";

const CREDS = `${USER}:${PASSWORD}`;
import { skiff } from "../_cli.ts";
import { mustRun, skopeoDigest } from "../_images.ts";

Deno.test("skiff copy with credentials: token and Basic registries", async (t) => {
  const fx = await startAuthFixture();
  const T = fx.token.host;
  const B = fx.basic.host;
  const login = ["-u", USER, "--password-stdin"];
  try {
    await t.step("token auth: a mount within the registry asks pull,push and pull", async () => {
      const { dir, env } = await fx.home();
      try {
        const before = fx.tokens.requests.length;
        const r = await skiff(
          ["copy", "--json", ...login, `${T}/private/app:1`, `${T}/mine/app:1`],
          {
            env,
            stdin: PASSWORD,
          },
        );
        assertEquals(r.code, 0, r.stderr);
        const out = JSON.parse(r.stdout);
        assertEquals(out.digest, fx.image.digest);
        assertEquals(out.blobs, { copied: 0, existing: 0, mounted: 3 });
        const scopes = fx.tokens.requests.slice(before).flatMap((q) => q.scopes);
        assert(scopes.includes("repository:mine/app:pull,push"), scopes.join(" "));
        assert(scopes.includes("repository:private/app:pull"), scopes.join(" "));
        assertEquals(await skopeoDigest(`${T}/mine/app:1`, CREDS), fx.image.digest);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });

    await t.step("token registry to Basic registry: uploads on both kinds of auth", async () => {
      const { dir, env } = await fx.home();
      try {
        const r = await skiff(["copy", "-q", ...login, `${T}/private/app:1`, `${B}/copied/app:1`], {
          env,
          stdin: PASSWORD,
        });
        assertEquals(r.code, 0, r.stderr);
        assertEquals(r.stdout, `${B}/copied/app:1 ${fx.image.digest}\n`);
        assertEquals(await skopeoDigest(`${B}/copied/app:1`, CREDS), fx.image.digest);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });

    await t.step("no credentials for the destination: one line naming the push right", async () => {
      const { dir, env } = await fx.home();
      try {
        const r = await skiff(["copy", "-q", `${T}/public/app:1`, `${T}/mine/app:2`], { env });
        assertEquals(r.code, 1);
        const lines = r.stderr.trim().split("\n");
        assertEquals(lines.length, 1, r.stderr);
        assertMatch(lines[0]!, /^skiff: Cannot .*mine\/app.*401/);
        assertMatch(lines[0]!, /push access: skiff login 127\.0\.0\.1:\d+/);
        const head = await fetch(`http://${T}/v2/mine/app/manifests/2`, { method: "HEAD" });
        await head.body?.cancel();
        assertEquals(head.status, 401); // unreadable anonymously; alice sees no tag 2:
        const seen = await mustRun("skopeo", [
          "list-tags",
          "--tls-verify=false",
          "--creds",
          `${USER}:${PASSWORD}`,
          `docker://${T}/mine/app`,
        ]);
        assertEquals(JSON.parse(new TextDecoder().decode(seen)).Tags, ["1"]);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  } finally {
    await fx.stop();
  }
});
