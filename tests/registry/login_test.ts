// login() / logout() as module functions, against the real registries of the auth fixture (Basic
// with htpasswd, and the token flow), with a docker config of the test's own: what is stored, with
// which mode, that a pull finds it, that refused credentials store nothing, and the typed errors.

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { PASSWORD, startAuthFixture, USER } from "../_auth_fixture.ts";
import { tempDir } from "../_temp.ts";
import { pull } from "../../lib/pull/pull.ts";
import { login } from "../../lib/registry/login.ts";
import { logout } from "../../lib/transport/logout.ts";
import { RegistryError } from "../../lib/transport/registry_error.ts";
import { storedCredentials } from "../../lib/transport/stored_credentials.ts";

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("login() and logout(): checked against the registry, stored 0600, found by a pull", async (t) => {
  const fx = await startAuthFixture();
  try {
    for (const [kind, host] of [["htpasswd", fx.basic.host], ["token", fx.token.host]] as const) {
      await t.step(`${kind}: login stores, a pull uses them, logout removes them`, async () => {
        const dir = await tempDir();
        const configFile = `${dir}/docker/config.json`;
        const saved = await login(host, { username: USER, password: PASSWORD }, { configFile });
        assertEquals(saved, { registry: host, key: host, helper: undefined, file: configFile });
        assertEquals((await Deno.stat(configFile)).mode! & 0o777, 0o600);
        const file = JSON.parse(await Deno.readTextFile(configFile));
        assertEquals(file.auths, { [host]: { auth: btoa(`${USER}:${PASSWORD}`) } });

        // what a pull reads: $REGISTRY_AUTH_FILE (here: none there) first, then $DOCKER_CONFIG
        const env: Record<string, string> = {
          REGISTRY_AUTH_FILE: `${dir}/nothing/auth.json`,
          DOCKER_CONFIG: `${dir}/docker`,
        };
        const credentials = storedCredentials({ env: (n) => env[n] });
        const r = await pull(`${host}/private/app:1`, { store: `${dir}/s`, credentials });
        assertEquals(r.digest, fx.image.digest);

        const out = await logout(host, { configFile });
        assertEquals([out.removed, out.helper], [true, undefined]);
        assertEquals(JSON.parse(await Deno.readTextFile(configFile)).auths, {});
        assertEquals((await Deno.stat(configFile)).mode! & 0o777, 0o600);
        assertEquals((await logout(host, { configFile })).removed, false);
        await assertRejects(
          () => pull(`${host}/private/app:1`, { store: `${dir}/s2`, credentials }),
          RegistryError,
          "401",
        );
      });

      await t.step(`${kind}: refused credentials are a RegistryError, nothing stored`, async () => {
        const dir = await tempDir();
        const configFile = `${dir}/config.json`;
        const e = await assertRejects(
          () => login(host, { username: USER, password: "wrong" }, { configFile }),
          RegistryError,
        );
        assertEquals((e as RegistryError).status, 401);
        assert(!e.message.includes("wrong"));
        assertEquals(await exists(configFile), false);
      });
    }

    await t.step("other spellings of the key are replaced; typed errors; abort", async () => {
      const dir = await tempDir();
      const configFile = `${dir}/config.json`;
      const host = fx.basic.host;
      await Deno.writeTextFile(
        configFile,
        JSON.stringify({ auths: { [`http://${host}/v2/`]: { auth: "b2xkOm9sZA==" } }, other: 1 }),
      );
      await login(host, { username: USER, password: PASSWORD }, { configFile });
      const file = JSON.parse(await Deno.readTextFile(configFile));
      assertEquals(file, { auths: { [host]: { auth: btoa(`${USER}:${PASSWORD}`) } }, other: 1 });

      await assertRejects(
        () => login("ghcr.io/org", { username: USER, password: PASSWORD }, { configFile }),
        SyntaxError,
        "not a registry host",
      );
      await assertRejects(() => logout("not a host", { configFile }), SyntaxError);
      const aborted = AbortSignal.abort();
      await assertRejects(
        () =>
          login(fx.token.host, { username: USER, password: PASSWORD }, {
            configFile: `${dir}/aborted.json`,
            signal: aborted,
          }),
        DOMException,
      );
      assertEquals(await exists(`${dir}/aborted.json`), false);
      // check: false stores without asking (a registry that is not there)
      const offline = await login("127.0.0.1:9", { username: "u", password: "p" }, {
        configFile,
        check: false,
      });
      assertEquals(offline.key, "127.0.0.1:9");
      // Docker Hub's key, as docker writes it
      const hub = await login("docker.io", { username: "u", password: "p" }, {
        configFile,
        check: false,
      });
      assertEquals(hub.key, "https://index.docker.io/v1/");
      assertEquals((await logout("index.docker.io", { configFile })).removed, true);
    });
  } finally {
    await fx.stop();
  }
});
