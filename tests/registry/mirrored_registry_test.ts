// Mirrors against real parts: the Distribution registry in proxy mode (a pull-through cache) in
// front of the real upstream, a mirror with a path prefix, a mirror that is down, one that serves
// a corrupt blob, and tags that must not be resolved through a mirror.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { startFixture } from "../_fixture.ts";
import { layerOf, LayoutBuilder, push } from "../_images.ts";
import { FaultProxy } from "../_proxy.ts";
import { startRegistry } from "../_registry.ts";
import { checkStore } from "../_store_check.ts";
import { pull } from "../../lib/pull/pull.ts";
import { parseRegistryConfig, registryConfigPath } from "../../lib/registry/registry_config.ts";
import { tempDir } from "../_temp.ts";

Deno.test("mirrors: a pull-through cache first, the registry when it fails", async (t) => {
  const fx = await startFixture();
  const cache = await startRegistry({ extraConfig: `proxy:\n  remoteurl: ${fx.registry.url}\n` });
  await using upstream = FaultProxy.start(fx.registry.url);
  const name = `${upstream.host}/test/multi:1`;
  const config = (mirror: string, extra: Record<string, unknown> = {}) =>
    parseRegistryConfig(
      JSON.stringify({
        registries: { [upstream.host]: { mirrors: [{ host: mirror, ...extra }] } },
      }),
    );
  const store = async () => `${await tempDir({ prefix: "skiff-mirror-" })}/s`;
  try {
    await t.step("everything comes from the mirror; the registry is not asked", async () => {
      await using mirror = FaultProxy.start(cache.url);
      const s = await store();
      const result = await pull(name, { store: s, config: config(mirror.host) });
      assertEquals(result.reference, name);
      assertEquals(upstream.seen.length, 0);
      assert(mirror.requests("/manifests/").length >= 2); // the index, then the platform's manifest
      assertEquals(mirror.requests("/blobs/").length, 3);
      const report = await checkStore(s);
      assertEquals([report.corrupt, report.missing, report.names], [[], [], [name]]);
    });

    await t.step(
      "a mirror that is down: the registry serves, without retrying the mirror",
      async () => {
        const down = `127.0.0.1:${(await import("../_registry.ts")).freePort()}`;
        const s = await store();
        const result = await pull(name, { store: s, config: config(down) });
        assertEquals(result.reference, name);
        assert(upstream.requests("/blobs/").length >= 3);
      },
    );

    await t.step(
      "a mirror that serves a corrupt blob: that blob comes from the registry",
      async () => {
        await using mirror = FaultProxy.start(cache.url);
        const big = fx.amd64;
        const layers =
          (await (await fetch(`${fx.registry.url}/v2/test/multi/manifests/${big.digest}`, {
            headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
          })).json()).layers as { digest: string }[];
        const bad = layers.at(-1)!.digest;
        mirror.on((_req, url) =>
          url.pathname.endsWith(bad) ? { kind: "flip", at: 100 } : undefined
        );
        const before = upstream.seen.length;
        const s = await store();
        await pull(name, { store: s, config: config(mirror.host), platform: "linux/amd64" });
        assertEquals(mirror.requests(bad).length, 1);
        assertEquals(upstream.seen.slice(before).filter((r) => r.path.endsWith(bad)).length, 1);
        assertEquals((await checkStore(s)).corrupt, []);
      },
    );

    await t.step(
      "resolve: false sends tags to the registry and digests to the mirror",
      async () => {
        await using mirror = FaultProxy.start(cache.url);
        const before = upstream.seen.length;
        await pull(name, { store: await store(), config: config(mirror.host, { resolve: false }) });
        const asked = upstream.seen.slice(before).map((r) => `${r.method} ${r.path}`);
        assertEquals(asked, ["GET /v2/test/multi/manifests/1"]);
        assert(mirror.requests("/blobs/").length >= 1);
      },
    );

    await t.step("a mirror with a path prefix (a Harbor proxy-cache project)", async () => {
      const prefixed = await startRegistry();
      try {
        const b = await LayoutBuilder.create();
        const image = await b.image([await layerOf({ "hello.txt": "from the mirror\n" })]);
        await b.tag("x", image);
        // the same image in the registry and, under the prefix, in the mirror
        await push(b.dir, "x", `${fx.host}/team/app:1`);
        await push(b.dir, "x", `${prefixed.host}/hub-proxy/team/app:1`);
        await b.remove();
        await using mirror = FaultProxy.start(prefixed.url);
        const before = upstream.seen.length;
        const result = await pull(`${upstream.host}/team/app:1`, {
          store: await store(),
          config: config(mirror.host, { prefix: "hub-proxy" }),
        });
        assertEquals(result.digest, image.digest);
        assertEquals(upstream.seen.length, before);
        assert(mirror.seen.every((r) => r.path.startsWith("/v2/hub-proxy/team/app/")));
      } finally {
        await prefixed.stop();
      }
    });

    await t.step("the CLI reads $SKIFF_CONFIG; a malformed one is one clear line", async () => {
      await using mirror = FaultProxy.start(cache.url);
      const dir = await tempDir();
      await Deno.writeTextFile(
        `${dir}/config.json`,
        JSON.stringify({ registries: { [upstream.host]: { mirrors: [mirror.host] } } }),
      );
      const before = upstream.seen.length;
      const r = await skiff(["pull", "-q", "--store", `${dir}/s`, name], {
        env: { SKIFF_CONFIG: `${dir}/config.json` },
      });
      assertEquals(r.code, 0, r.stderr);
      assertEquals(upstream.seen.length, before);
      assert(mirror.seen.length > 0);

      await Deno.writeTextFile(`${dir}/bad.json`, '{"registries": {"x": {"mirrors": [42]}}}');
      const bad = await skiff(["pull", "--store", `${dir}/s`, name], {
        env: { SKIFF_CONFIG: `${dir}/bad.json` },
      });
      assertEquals(bad.code, 1);
      assertEquals(
        bad.stderr.trim(),
        `skiff: Cannot read config ${dir}/bad.json: "x".mirrors[0] must be a host or an object`,
      );
    });
  } finally {
    await cache.stop();
    await fx.stop();
  }
});

Deno.test("registry config: where it is read from, and what it refuses", () => {
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  assertEquals(registryConfigPath(env({ SKIFF_CONFIG: "/c.json", HOME: "/h" })), "/c.json");
  assertEquals(
    registryConfigPath(env({ XDG_CONFIG_HOME: "/x", HOME: "/h" })),
    "/x/skiff/config.json",
  );
  assertEquals(registryConfigPath(env({ HOME: "/h" })), "/h/.config/skiff/config.json");
  const ok = parseRegistryConfig(JSON.stringify({
    registries: {
      "docker.io": {
        mirrors: ["m.example", {
          host: "h.example:8443",
          prefix: "/proxy/",
          plainHttp: true,
          resolve: false,
        }],
      },
      "lan:5000": { plainHttp: true },
    },
  }));
  assertEquals(ok.registries["docker.io"]!.mirrors, [
    { host: "m.example" },
    { host: "h.example:8443", prefix: "proxy", plainHttp: true, resolve: false },
  ]);
  assertEquals(ok.registries["lan:5000"], { plainHttp: true });
  for (
    const [text, why] of [
      ["[]", /not a JSON object/],
      ["{", /not valid JSON/],
      ['{"registries": []}', /"registries" must be an object/],
      ['{"registries": {"a": {"mirrors": "m"}}}', /must be a list/],
      ['{"registries": {"a": {"mirrors": [{"host": "a b"}]}}}', /host\[:port\]/],
      ['{"registries": {"a": {"plainHttp": "yes"}}}', /true or false/],
      ['{"registries": {"a": {"mirrors": [{"host": "m", "prefix": "../x"}]}}}', /repository path/],
    ] as const
  ) {
    try {
      parseRegistryConfig(text, "c.json");
      throw new Error(`accepted ${text}`);
    } catch (e) {
      assert(e instanceof SyntaxError, String(e));
      assertMatch(e.message, why);
    }
  }
});
