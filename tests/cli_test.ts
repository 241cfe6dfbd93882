// The CLI as a user runs it: exit codes, one-line errors, stdout for data and stderr for the rest.

import { assert, assertEquals, assertMatch, assertStringIncludes } from "./_assert.ts";
import { skiff } from "./_cli.ts";
import { HOST_ARCH, startFixture } from "./_fixture.ts";
import { FaultProxy } from "./_proxy.ts";
import { checkStore } from "./_store_check.ts";
import meta from "../deno.json" with { type: "json" };
import { tempDir } from "./_temp.ts";

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "");
}

Deno.test("cli: help and version", async () => {
  const help = await skiff(["--help"]);
  assertEquals(help.code, 0);
  assertStringIncludes(help.stdout, "Usage: skiff <command>");
  assertStringIncludes(help.stdout, "pull REF");
  const pullHelp = await skiff(["pull", "--help"]);
  assertEquals(pullHelp.code, 0);
  for (const flag of ["--store", "--platform", "--plain-http", "--jobs", "--quiet"]) {
    assertStringIncludes(pullHelp.stdout, flag);
  }
  const version = await skiff(["--version"]);
  assertEquals([version.code, version.stdout], [0, `skiff ${meta.version}\n`]);
  const none = await skiff([]);
  assertEquals(none.code, 2);
  assertStringIncludes(none.stderr, "Usage:");
});

Deno.test("cli: usage errors exit 2 with one line", async () => {
  const store = await tempDir();
  const cases: [string[], RegExp][] = [
    [["pull", "--store", store, "Not/Valid"], /repository name must be lowercase/],
    [["pull", "--store", store, "alpine:"], /tag after ':' is empty/],
    [["pull", "--store", store, "alpine@sha256:123"], /invalid digest/],
    [["pull", "--store", store], /missing image reference/],
    [["pull", "--store", store, "a", "b"], /one reference/],
    [["pull", "--store", store, "--platform", "linux/amd64/v3/x", "alpine"], /platform/],
    [["pull", "--store", store, "--jobs", "0", "alpine"], /--jobs/],
    [["pull", "--store", store, "--nope", "alpine"], /nope/],
    [["frobnicate"], /unknown command "frobnicate"/],
  ];
  for (const [args, message] of cases) {
    const r = await skiff(args);
    assertEquals(r.code, 2, args.join(" "));
    assertMatch(r.stderr, /^skiff: /, args.join(" "));
    assertMatch(r.stderr, message, args.join(" "));
    assertEquals(r.stdout, "", args.join(" "));
    if (!r.stderr.includes("Usage:")) assertEquals(lines(r.stderr).length, 1, r.stderr);
  }
  // nothing was created for a malformed reference
  assertEquals([...Deno.readDirSync(store)], []);
});

Deno.test("cli: pull against the real registry", async (t) => {
  const fx = await startFixture();
  try {
    await t.step(
      "stdout: one line, the canonical name and the stored manifest's digest",
      async () => {
        const store = `${await tempDir()}/s`;
        const r = await skiff(["pull", "--store", store, `${fx.host}/test/multi:1`]);
        assertEquals(r.code, 0, r.stderr);
        const want = HOST_ARCH === "amd64" ? fx.amd64.digest : fx.arm64.digest;
        assertEquals(r.stdout, `${fx.host}/test/multi:1 ${want}\n`);
        assertMatch(r.stderr, /pulled \(layer/);
        const quiet = await skiff(["pull", "-q", "--store", store, `${fx.host}/test/multi:1`]);
        assertEquals([quiet.code, quiet.stdout, quiet.stderr], [0, r.stdout, ""]);
      },
    );

    await t.step("SKIFF_STORE is the default store", async () => {
      const store = `${await tempDir()}/env-store`;
      const r = await skiff(["pull", "-q", `${fx.host}/test/single:1`], {
        env: { SKIFF_STORE: store },
      });
      assertEquals(r.code, 0, r.stderr);
      assertEquals((await checkStore(store)).names, [`${fx.host}/test/single:1`]);
    });

    await t.step("not found: exit 1, one line", async () => {
      const store = `${await tempDir()}/s`;
      for (const ref of [`${fx.host}/test/nope:1`, `${fx.host}/test/single:nope`]) {
        const r = await skiff(["pull", "--store", store, ref]);
        assertEquals(r.code, 1);
        assertEquals(lines(r.stderr).length, 1, r.stderr);
        assertMatch(r.stderr, /^skiff: Cannot fetch manifest .*: 404 not found/);
      }
    });

    await t.step("no matching platform: exit 1, lists what the image has", async () => {
      const store = `${await tempDir()}/s`;
      const r = await skiff([
        "pull",
        "--store",
        store,
        "--platform",
        "linux/riscv64",
        `${fx.host}/test/multi:1`,
      ]);
      assertEquals(r.code, 1);
      assertEquals(
        lines(r.stderr).at(-1),
        `skiff: Cannot find platform linux/riscv64 in ${fx.host}/test/multi:1: the image has linux/amd64, linux/arm64/v8`,
      );
    });

    await t.step(
      "a tampered blob: DigestMismatchError, nothing new in blobs/, no partial left",
      async () => {
        const store = `${await tempDir()}/s`;
        await using proxy = FaultProxy.start(fx.registry.url);
        const big = (await (await fetch(`${fx.registry.url}/v2/test/single/manifests/1`, {
          headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
        })).json()).layers[1].digest as string;
        proxy.on((_req, url) =>
          url.pathname.endsWith(big) ? { kind: "flip", at: 1000 } : undefined
        );
        const r = await skiff(["pull", "--store", store, `${proxy.host}/test/single:1`]);
        assertEquals(r.code, 1);
        const last = lines(r.stderr).at(-1)!;
        assertMatch(
          last,
          new RegExp(
            `^skiff: Cannot verify blob ${big}: digest mismatch: expected ${big}, got sha256:[0-9a-f]{64}$`,
          ),
        );
        // fetched from zero twice (a CDN can glitch once), then given up
        assertEquals(proxy.requests(big).filter((x) => x.method === "GET").length, 2);
        const report = await checkStore(store);
        assertEquals(report.names, []);
        assertEquals(report.corrupt, []);
        assertEquals(report.ingest, []);
        assert(
          !(await Deno.stat(`${store}/blobs/sha256/${big.slice(7)}`).then(() => true, () => false)),
        );
      },
    );

    await t.step("a hostile manifest: one line, exit 1, nothing written", async () => {
      const store = `${await tempDir()}/s`;
      await using proxy = FaultProxy.start(fx.registry.url);
      const hostile = [
        // a layer digest that would be a path outside blobs/
        {
          layers: [{ mediaType: "x", digest: "sha256:../../../etc/passwd", size: 1 }],
          want: /invalid digest/,
        },
        // a negative size
        {
          layers: [{ mediaType: "x", digest: "sha256:" + "a".repeat(64), size: -1 }],
          want: /no valid size/,
        },
      ];
      for (const { layers, want } of hostile) {
        const body = JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          config: {
            mediaType: "application/vnd.oci.image.config.v1+json",
            digest: "sha256:" + "b".repeat(64),
            size: 2,
          },
          layers,
        });
        proxy.rules = [
          (_req, url) =>
            url.pathname.includes("/manifests/")
              ? {
                kind: "status",
                status: 200,
                headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
                body,
              }
              : undefined,
        ];
        const r = await skiff(["pull", "--store", store, `${proxy.host}/test/single:1`]);
        assertEquals(r.code, 1);
        assertEquals(lines(r.stderr).length, 1, r.stderr);
        assertMatch(r.stderr, /^skiff: Cannot parse manifest: layers\[0\] /);
        assertMatch(r.stderr, want);
        const report = await checkStore(store);
        assertEquals([report.names, report.blobs, report.ingest], [[], 0, []]);
      }
    });

    await t.step("--debug shows the stack trace, without it there is none", async () => {
      const store = `${await tempDir()}/s`;
      const r = await skiff(["pull", "--debug", "--store", store, `${fx.host}/test/nope:1`]);
      assertEquals(r.code, 1);
      assertMatch(r.stderr, /RegistryError: Cannot fetch manifest/);
      assertMatch(r.stderr, /at /);
    });
  } finally {
    await fx.stop();
  }
});
