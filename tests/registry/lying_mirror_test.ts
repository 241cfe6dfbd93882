// A bad mirror never breaks a pull: a mirror of the tests' own (a fault proxy in front of the real
// registry, so it has every blob) lies about one blob in every way a mirror can; the pull moves on
// to the next mirror or the registry within the same pull, and nothing it sent stays in ingest/.

import { assert, assertEquals, assertMatch, assertRejects } from "../_assert.ts";
import { startFixture } from "../_fixture.ts";
import { type Fault, FaultProxy } from "../_proxy.ts";
import { checkStore } from "../_store_check.ts";
import { pull } from "../../lib/pull/pull.ts";
import { fetchImageConfig } from "../../lib/registry/fetch_image_config.ts";
import { parseRegistryConfig } from "../../lib/registry/registry_config.ts";
import { tempDir } from "../_temp.ts";

const HTML = "<html><body><h1>502 Bad Gateway</h1></body></html>\n";

Deno.test("lying mirror: every kind of lie about a blob falls back within the same pull", async (t) => {
  const fx = await startFixture();
  await using upstream = FaultProxy.start(fx.registry.url);
  const name = `${upstream.host}/test/single:1`;
  const manifest = await (await fetch(`${fx.registry.url}/v2/test/single/manifests/1`, {
    headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
  })).json() as { config: { digest: string }; layers: { digest: string; size: number }[] };
  const big = manifest.layers.reduce((a, b) => (a.size > b.size ? a : b));
  const dir = await tempDir({ prefix: "skiff-lying-mirror-" });
  let n = 0;
  const configFor = (...mirrors: string[]) =>
    parseRegistryConfig(JSON.stringify({ registries: { [upstream.host]: { mirrors } } }));
  try {
    const lies: [string, Fault[]][] = [
      ["an HTML error page with status 200", [{
        kind: "status",
        status: 200,
        headers: { "content-type": "text/html" },
        body: HTML,
      }]],
      ["a short body (the connection breaks)", [{ kind: "cut", after: 100 * 1024 }]],
      ["a long body", [{ kind: "append", bytes: new TextEncoder().encode(HTML) }]],
      ["a wrong byte (wrong digest)", [{ kind: "flip", at: 1000 }]],
      ["a body that stalls", [{ kind: "stall", after: 64 * 1024 }]],
    ];
    for (const [what, faults] of lies) {
      await t.step(what, async () => {
        await using mirror = FaultProxy.start(fx.registry.url);
        mirror.on((_req, url) => url.pathname.endsWith(big.digest) ? faults : undefined);
        const before = upstream.requests(big.digest).length;
        const store = `${dir}/${++n}`;
        const result = await pull(name, {
          store,
          config: configFor(mirror.host),
          stallTimeout: 500,
          retry: { attempts: 2, baseDelay: 1 },
        });
        assertEquals(result.reference, name);
        const report = await checkStore(store);
        assertEquals([report.corrupt, report.missing, report.ingest], [[], [], []]);
        // the mirror was asked once for it and never again; the registry served it
        assertEquals(mirror.requests(big.digest).length, 1);
        assertEquals(upstream.requests(big.digest).length - before, 1);
        // the other blobs still came from the mirror
        assertEquals(upstream.requests(manifest.config.digest).length, 0);
      });
    }

    await t.step("two lying mirrors in a row, then the registry", async () => {
      await using first = FaultProxy.start(fx.registry.url);
      await using second = FaultProxy.start(fx.registry.url);
      first.on((_req, url) =>
        url.pathname.includes("/blobs/")
          ? { kind: "status", status: 200, headers: { "content-type": "text/html" }, body: HTML }
          : undefined
      );
      second.on((_req, url) =>
        url.pathname.includes("/blobs/") ? { kind: "flip", at: 10 } : undefined
      );
      const store = `${dir}/${++n}`;
      await pull(name, { store, config: configFor(first.host, second.host) });
      const report = await checkStore(store);
      assertEquals([report.corrupt, report.missing, report.ingest], [[], [], []]);
      for (const digest of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
        assertEquals(first.requests(digest).length, 1, digest);
        assertEquals(second.requests(digest).length, 1, digest);
      }
    });

    await t.step(
      "skiff config's path too: a mirror's bad config comes from the registry",
      async () => {
        await using mirror = FaultProxy.start(fx.registry.url);
        const cfg = manifest.config.digest;
        mirror.on((_req, url) => url.pathname.endsWith(cfg) ? { kind: "flip", at: 5 } : undefined);
        const before = upstream.requests(cfg).length;
        const result = await fetchImageConfig(name, { config: configFor(mirror.host) });
        assertEquals(result.digest, cfg);
        assertEquals(mirror.requests(cfg).length, 1);
        assertEquals(upstream.requests(cfg).length - before, 1);
      },
    );

    await t.step("the registry fails too: the pull fails, and the lie is not kept", async () => {
      await using mirror = FaultProxy.start(fx.registry.url);
      mirror.on((_req, url) =>
        url.pathname.endsWith(big.digest) ? { kind: "cut", after: 300 * 1024 } : undefined
      );
      const refuse = (_req: Request, url: URL): Fault | undefined =>
        url.pathname.endsWith(big.digest) ? { kind: "status", status: 404 } : undefined;
      upstream.on(refuse);
      try {
        const store = `${dir}/${++n}`;
        const e = await assertRejects(
          () => pull(name, { store, config: configFor(mirror.host) }),
          Error,
        );
        assertMatch(e.message, /404/);
        const partial = `${store}/ingest/sha256-${big.digest.slice(7)}`;
        const size = await Deno.stat(partial).then((s) => s.size, () => 0);
        assertEquals(size, 0); // the 300 KiB the mirror sent are gone
        assert(mirror.requests(big.digest).length === 1);
      } finally {
        upstream.rules = upstream.rules.filter((r) => r !== refuse);
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
    await fx.stop();
  }
});
