// Authentication against real registries: Distribution in token mode (the tests' JWT token
// server) and in htpasswd (Basic) mode, credentials from every source docker and podman use, and
// no secret ever where it does not belong.

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_assert.ts";
import {
  type AuthFixture,
  IDENTITY_TOKEN,
  PASSWORD,
  startAuthFixture,
  USER,
} from "../_auth_fixture.ts";
import { type CliResult, skiff } from "../_cli.ts";
import { installHelper } from "../_credential_helper.ts";
import { FaultProxy } from "../_proxy.ts";
import { checkStore } from "../_store_check.ts";

const b64 = (s: string) => btoa(s);

function leaks(result: CliResult, fx: AuthFixture): string[] {
  const out = result.stdout + result.stderr;
  const secrets = [PASSWORD, IDENTITY_TOKEN, b64(`${USER}:${PASSWORD}`), ...fx.tokens.tokens];
  return secrets.filter((s) => out.includes(s));
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(path, JSON.stringify(value));
}

Deno.test("auth: token and Basic registries, every credential source, no leaks", async (t) => {
  const fx = await startAuthFixture();
  const T = fx.token.host;
  const B = fx.basic.host;
  try {
    await t.step("anonymous pull of a public repository through the token flow", async () => {
      const { env } = await fx.home();
      const before = fx.tokens.requests.length;
      const r = await skiff(["pull", "-q", `${T}/public/app:1`], { env });
      assertEquals(r.code, 0, r.stderr);
      const asked = fx.tokens.requests.slice(before);
      assert(asked.length >= 1);
      assertEquals(asked[0]!.scopes, ["repository:public/app:pull"]);
      assertEquals(asked[0]!.service, fx.tokens.service);
      assertEquals(asked.some((q) => q.authorized), false);
      // config and two layers needed one token: cached per scope
      assertEquals(asked.length, 1);
    });

    await t.step(
      "a private repository without credentials: unauthorized, exit 1, nothing stored",
      async () => {
        const { env } = await fx.home();
        const r = await skiff(["pull", `${T}/private/app:1`], { env });
        assertEquals(r.code, 1);
        const lines = r.stderr.trim().split("\n");
        assertMatch(
          lines.at(-1)!,
          /^skiff: Cannot fetch manifest .*private\/app:1: 401 unauthorized/,
        );
        assertStringIncludes(lines.at(-1)!, "skiff login");
        const report = await checkStore(env.SKIFF_STORE!);
        assertEquals([report.names, report.blobs], [[], 0]);
      },
    );

    await t.step(
      "--username and --password-stdin: token flow with Basic on the token request",
      async () => {
        const { env } = await fx.home();
        const before = fx.tokens.requests.length;
        const r = await skiff(
          ["pull", "-q", "-u", USER, "--password-stdin", `${T}/private/app:1`],
          {
            env,
            stdin: `${PASSWORD}\n`,
          },
        );
        assertEquals(r.code, 0, r.stderr);
        assertEquals(r.stdout, `${T}/private/app:1 ${fx.image.digest}\n`);
        const asked = fx.tokens.requests.slice(before);
        assert(asked.every((q) => q.user === USER && q.method === "GET"));
        assertEquals(leaks(r, fx), []);
      },
    );

    await t.step(
      "wrong password: one line, exit 1, nothing new in the store, no secret shown",
      async () => {
        const { env } = await fx.home();
        for (const debug of [[], ["--debug"]]) {
          const r = await skiff([
            "pull",
            ...debug,
            "-u",
            USER,
            "--password-stdin",
            `${T}/private/app:1`,
          ], {
            env,
            stdin: "wrong-password-do-not-log\n",
          });
          assertEquals(r.code, 1);
          const last = r.stderr.trim().split("\n").filter((l) => l.startsWith("skiff:"));
          assertEquals(last.length, 1, r.stderr);
          assertMatch(
            last[0]!,
            /^skiff: Cannot get a token for .*: 401 unauthorized: .*invalid username or password/,
          );
          assert(!(r.stdout + r.stderr).includes("wrong-password-do-not-log"));
          assertEquals(leaks(r, fx), []);
          const report = await checkStore(env.SKIFF_STORE!);
          assertEquals([report.names, report.blobs], [[], 0]);
        }
      },
    );

    await t.step(
      "credential files, in order: REGISTRY_AUTH_FILE, containers auth.json, docker config",
      async () => {
        const good = { auths: { [T]: { auth: b64(`${USER}:${PASSWORD}`) } } };
        const bad = { auths: { [T]: { auth: b64(`${USER}:nope`) } } };
        const cases: { name: string; files: Record<string, unknown>; ok: boolean }[] = [
          { name: "REGISTRY_AUTH_FILE", files: { "authfile.json": good }, ok: true },
          { name: "XDG_RUNTIME_DIR", files: { "run/containers/auth.json": good }, ok: true },
          { name: "DOCKER_CONFIG", files: { "dockercfg/config.json": good }, ok: true },
          { name: "HOME", files: { ".docker/config.json": good }, ok: true },
          // username and password fields instead of auth
          {
            name: "HOME",
            files: {
              ".docker/config.json": {
                auths: { [`http://${T}/v2/`]: { username: USER, password: PASSWORD } },
              },
            },
            ok: true,
          },
          // containers' per-repository key wins over the registry's
          {
            name: "REGISTRY_AUTH_FILE",
            files: {
              "authfile.json": {
                auths: {
                  [T]: { auth: b64(`${USER}:nope`) },
                  [`${T}/private`]: { auth: b64(`${USER}:${PASSWORD}`) },
                },
              },
            },
            ok: true,
          },
          // the first file that has an entry wins
          {
            name: "REGISTRY_AUTH_FILE",
            files: { "authfile.json": good, ".docker/config.json": bad },
            ok: true,
          },
          {
            name: "REGISTRY_AUTH_FILE",
            files: { "authfile.json": bad, ".docker/config.json": good },
            ok: false,
          },
          {
            name: "XDG_RUNTIME_DIR",
            files: { "run/containers/auth.json": bad, "dockercfg/config.json": good },
            ok: false,
          },
        ];
        for (const c of cases) {
          const { dir, env } = await fx.home();
          for (const [rel, content] of Object.entries(c.files)) {
            await writeJson(`${dir}/${rel}`, content);
          }
          if (c.files["authfile.json"]) env.REGISTRY_AUTH_FILE = `${dir}/authfile.json`;
          if (c.files["run/containers/auth.json"]) env.XDG_RUNTIME_DIR = `${dir}/run`;
          if (c.files["dockercfg/config.json"]) env.DOCKER_CONFIG = `${dir}/dockercfg`;
          const r = await skiff(["pull", "-q", `${T}/private/app:1`], { env });
          assertEquals(
            r.code,
            c.ok ? 0 : 1,
            `${c.name} ${JSON.stringify(Object.keys(c.files))}: ${r.stderr}`,
          );
          assertEquals(leaks(r, fx), []);
        }
      },
    );

    await t.step("an identity token: OAuth2 refresh-token POST to the realm", async () => {
      const { dir, env } = await fx.home();
      await writeJson(`${dir}/.docker/config.json`, {
        auths: { [T]: { identitytoken: IDENTITY_TOKEN } },
      });
      const before = fx.tokens.requests.length;
      const r = await skiff(["pull", "-q", `${T}/private/app:1`], { env });
      assertEquals(r.code, 0, r.stderr);
      const asked = fx.tokens.requests.slice(before);
      assertEquals(asked.map((q) => [q.method, q.grant, q.user]), [[
        "POST",
        "refresh_token",
        USER,
      ]]);
      assertEquals(asked[0]!.scopes, ["repository:private/app:pull"]);
      assertEquals(leaks(r, fx), []);

      // a realm that refuses POST: fall back to GET (anonymous here: only public works)
      fx.tokens.options.oauth = false;
      try {
        const n = fx.tokens.requests.length;
        const pub = await skiff(["pull", "-q", "--store", `${dir}/s2`, `${T}/public/app:1`], {
          env,
        });
        assertEquals(pub.code, 0, pub.stderr);
        assertEquals(fx.tokens.requests.slice(n).map((q) => q.method), ["POST", "GET"]);
      } finally {
        fx.tokens.options.oauth = true;
      }
    });

    await t.step(
      "credential helpers: credHelpers per registry, credsStore, and a broken one",
      async () => {
        const { dir, env } = await fx.home();
        await Deno.mkdir(`${dir}/bin`);
        await installHelper(`${dir}/bin`);
        await Deno.writeTextFile(
          env.SKIFF_TEST_HELPER_STORE!,
          JSON.stringify({ [T]: { Username: USER, Secret: PASSWORD } }),
        );
        for (const config of [{ credHelpers: { [T]: "test" } }, { credsStore: "test" }]) {
          await writeJson(`${dir}/.docker/config.json`, config);
          const r = await skiff([
            "pull",
            "-q",
            "--store",
            `${dir}/s-${Object.keys(config)[0]}`,
            `${T}/private/app:1`,
          ], { env });
          assertEquals(r.code, 0, r.stderr);
          assertEquals(leaks(r, fx), []);
        }
        const log = await Deno.readTextFile(`${env.SKIFF_TEST_HELPER_STORE}.log`);
        assertEquals(log.trim().split("\n"), [`get ${T}`, `get ${T}`]);

        // a helper that fails, or is missing: a warning, then anonymous
        for (
          const [config, extra] of [
            [{ credsStore: "test" }, { SKIFF_TEST_HELPER_BROKEN: "1" }],
            [{ credsStore: "missing-helper" }, {}],
          ] as const
        ) {
          await writeJson(`${dir}/.docker/config.json`, config);
          const pub = await skiff(["pull", "-q", "--store", `${dir}/s3`, `${T}/public/app:1`], {
            env: { ...env, ...extra },
          });
          assertEquals(pub.code, 0, pub.stderr);
          assertMatch(
            pub.stderr,
            /^skiff: warning: .*docker-credential-(test get failed: the keychain is locked|missing-helper: not found on PATH)/m,
          );
          const priv = await skiff(["pull", "-q", "--store", `${dir}/s4`, `${T}/private/app:1`], {
            env: { ...env, ...extra },
          });
          assertEquals(priv.code, 1);
          assertMatch(priv.stderr, /401 unauthorized/);
        }
      },
    );

    await t.step(
      "Basic auth (htpasswd): stored credentials work, wrong ones fail in one line",
      async () => {
        const { dir, env } = await fx.home();
        await writeJson(`${dir}/.docker/config.json`, {
          auths: { [B]: { auth: b64(`${USER}:${PASSWORD}`) } },
        });
        const r = await skiff(["pull", "-q", `${B}/private/app:1`], { env });
        assertEquals(r.code, 0, r.stderr);
        await writeJson(`${dir}/.docker/config.json`, {
          auths: { [B]: { auth: b64(`${USER}:wrong`) } },
        });
        const bad = await skiff(["pull", "--store", `${dir}/other`, `${B}/private/app:1`], { env });
        assertEquals(bad.code, 1);
        assertMatch(bad.stderr.trim(), /^skiff: Cannot fetch manifest .*: 401 unauthorized/);
        assertEquals(bad.stderr.trim().split("\n").length, 1);
        const anon = await skiff(["pull", "--store", `${dir}/anon`, `${B}/public/app:1`], {
          env: { ...env, HOME: `${dir}/nobody` },
        });
        assertEquals(anon.code, 1);
        assertEquals(leaks(bad, fx), []);
      },
    );

    await t.step(
      "a blob redirected to another origin is fetched without Authorization",
      async () => {
        const { env } = await fx.home();
        const storage = `${fx.token.dir}/data/docker/registry/v2/blobs`;
        const blobRequests: { path: string; authorization: string | null }[] = [];
        const blobServer = Deno.serve(
          { hostname: "127.0.0.1", port: 0, onListen() {} },
          async (req) => {
            const path = new URL(req.url).pathname;
            blobRequests.push({ path, authorization: req.headers.get("authorization") });
            const hex = path.split("/").at(-1)!;
            try {
              return new Response(
                await Deno.readFile(`${storage}/sha256/${hex.slice(0, 2)}/${hex}/data`),
              );
            } catch {
              return new Response("no such blob", { status: 404 });
            }
          },
        );
        await using proxy = FaultProxy.start(fx.token.url);
        proxy.on((req, url) => {
          const m = /\/blobs\/sha256:([0-9a-f]{64})$/.exec(url.pathname);
          // only requests the registry authorized get redirected, like a real registry
          if (!m || !req.headers.has("authorization")) return undefined;
          return {
            kind: "redirect",
            to: `http://127.0.0.1:${blobServer.addr.port}/cdn/sha256/${m[1]}?sig=abc`,
          };
        });
        try {
          const r = await skiff([
            "pull",
            "-q",
            "-u",
            USER,
            "--password-stdin",
            `${proxy.host}/private/app:1`,
          ], {
            env,
            stdin: PASSWORD,
          });
          assertEquals(r.code, 0, r.stderr);
          assertEquals(blobRequests.length, 3);
          assertEquals(blobRequests.map((b) => b.authorization), [null, null, null]);
          assertEquals((await checkStore(env.SKIFF_STORE!)).corrupt, []);
        } finally {
          await blobServer.shutdown();
        }
      },
    );

    await t.step(
      "rate limit: one line says it, when it resets, and that logging in raises it",
      async () => {
        const { env } = await fx.home();
        await using proxy = FaultProxy.start(fx.token.url);
        proxy.on((_req, url) =>
          url.pathname.includes("/manifests/")
            ? {
              kind: "status",
              status: 429,
              headers: {
                "ratelimit-limit": "100;w=21600",
                "ratelimit-remaining": "0;w=21600",
                "retry-after": "3600",
              },
              body: JSON.stringify({
                errors: [{
                  code: "TOOMANYREQUESTS",
                  message: "You have reached your pull rate limit.",
                }],
              }),
            }
            : undefined
        );
        const r = await skiff(["pull", "--debug", `${proxy.host}/public/app:1`], { env });
        assertEquals(r.code, 1);
        const line = r.stderr.split("\n").find((l) => l.startsWith("skiff: "))!;
        assertMatch(
          line,
          /429 too many requests: TOOMANYREQUESTS: You have reached your pull rate limit\./,
        );
        assertStringIncludes(
          line,
          "pull rate limit was reached (100 pulls per 6 h); it resets in 3600 s; logging in (skiff login) raises it",
        );
        assertStringIncludes(r.stderr, "debug: rate limit: 0 of 100 pulls left");
        // a Retry-After longer than the cap is not waited for
        assertEquals(proxy.requests("/manifests/").length, 1);
      },
    );
  } finally {
    await fx.stop();
  }
});

Deno.test("auth: a token that expires during a slow download is renewed and the blob resumes", async () => {
  // the registry accepts each token for ~2 s; the client caches it for the 60 s it is told
  const fx = await startAuthFixture({ validFor: 2, expiresIn: 60 });
  try {
    const { env } = await fx.home();
    await using proxy = FaultProxy.start(fx.token.url);
    proxy.on((req, url) => {
      if (!url.pathname.endsWith(fx.bigLayer.digest) || req.headers.has("range")) return undefined;
      // every download from zero: slow, then broken after ~1 MiB (2.75 s), when the token it
      // started with has expired. (On a loaded machine the first token can expire before the
      // blob is asked for at all: that 401 has no body to slow, and the next GET is cut.)
      return [{ kind: "throttle", bytesPerSecond: 400_000 }, { kind: "cut", after: 1_100_000 }];
    });
    const r = await skiff([
      "pull",
      "-q",
      "--debug",
      "-u",
      USER,
      "--password-stdin",
      `${proxy.host}/private/app:1`,
    ], {
      env,
      stdin: PASSWORD,
    });
    assertEquals(r.code, 0, r.stderr);
    const blobGets = proxy.requests(fx.bigLayer.digest).filter((q) => q.method === "GET");
    // the resumed request was refused with the expired token, then sent again with a new one
    const resumed = blobGets.filter((q) => q.headers.range !== undefined);
    assert(resumed.length >= 2, JSON.stringify(blobGets.map((q) => [q.headers.range, q.status])));
    assertEquals(resumed[0]!.status, 401);
    assertEquals(resumed.at(-1)!.status, 206);
    assertEquals(resumed[0]!.headers.range, resumed.at(-1)!.headers.range);
    assert(Number(/bytes=(\d+)-/.exec(resumed[0]!.headers.range!)![1]) > 500_000);
    assert(fx.tokens.requests.filter((q) => q.user === USER).length >= 2);
    assertEquals((await checkStore(env.SKIFF_STORE!)).corrupt, []);
    assertEquals(leaks(r, fx), []);
  } finally {
    await fx.stop();
  }
});
