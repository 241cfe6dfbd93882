// inspect, config, digest, tags and blob, run as a user runs them, against the real registry.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { HOST_ARCH, startFixture } from "../_fixture.ts";
import { sha256 } from "../_images.ts";
import { FaultProxy } from "../_proxy.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "");
}

/** The CLI with stdout as bytes. */
async function skiffBytes(
  args: string[],
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("cli: the read commands against the real registry", async (t) => {
  const fx = await startFixture();
  const multi = `${fx.host}/test/multi:1`;
  const single = `${fx.host}/test/single:1`;
  try {
    await t.step("inspect: indented JSON, --raw bytes, --json, --platform", async () => {
      const pretty = await skiff(["inspect", multi]);
      assertEquals([pretty.code, pretty.stderr], [0, ""]);
      const doc = JSON.parse(pretty.stdout);
      assertEquals(doc.manifests.length, 3);
      assertMatch(pretty.stdout, /^\{\n {2}"schemaVersion": 2,\n/);
      const raw = await skiffBytes(["inspect", "--raw", multi]);
      assertEquals([raw.code, sha256(raw.stdout)], [0, fx.multi.digest]);
      const json = JSON.parse(
        (await skiff(["inspect", "--json", "--platform", "linux/arm64", multi])).stdout,
      );
      assertEquals(json.digest, fx.arm64.digest);
      assertEquals(json.indexDigest, fx.multi.digest);
      assertEquals(json.platform, "linux/arm64/v8");
      assertEquals(json.manifest.layers.length, 1);
      assertEquals(json.mediaType, "application/vnd.oci.image.manifest.v1+json");
    });

    await t.step("config: the platform's config; --json says whose", async () => {
      const r = await skiff(["config", multi]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(JSON.parse(r.stdout).architecture, HOST_ARCH);
      const arm = JSON.parse(
        (await skiff(["config", "--json", "--platform", "linux/arm64", multi])).stdout,
      );
      assertEquals([arm.manifestDigest, arm.config.architecture], [fx.arm64.digest, "arm64"]);
      assertEquals(arm.platform, "linux/arm64/v8");
      assertMatch(arm.digest, /^sha256:[0-9a-f]{64}$/);
      const raw = await skiffBytes(["config", "--raw", "--platform", "linux/arm64", multi]);
      assertEquals(sha256(raw.stdout), arm.digest);
    });

    await t.step("digest: one HEAD request, one line", async () => {
      await using proxy = FaultProxy.start(fx.registry.url);
      const r = await skiff(["digest", `${proxy.host}/test/multi:1`]);
      assertEquals([r.code, r.stdout, r.stderr], [0, `${fx.multi.digest}\n`, ""]);
      assertEquals(proxy.seen.map((s) => s.method), ["HEAD"]);
      const json = JSON.parse((await skiff(["digest", "--json", single])).stdout);
      assertEquals([json.digest, json.method], [fx.single.digest, "HEAD"]);
      const arm = await skiff(["digest", "--platform", "linux/arm64", multi]);
      assertEquals(arm.stdout, `${fx.arm64.digest}\n`);
    });

    await t.step("tags: one per line, or JSON", async () => {
      const r = await skiff(["tags", `${fx.host}/test/multi`]);
      assertEquals([r.code, r.stdout], [0, "1\n"]);
      assertEquals(JSON.parse((await skiff(["tags", "--json", `${fx.host}/test/docker`])).stdout), {
        repository: `${fx.host}/test/docker`,
        tags: ["1"],
      });
    });

    await t.step(
      "blob: the verified bytes on stdout; a mismatch fails after the data",
      async () => {
        const layers = JSON.parse((await skiff(["inspect", single])).stdout).layers as {
          digest: string;
          size: number;
        }[];
        const big = layers[1]!;
        const r = await skiffBytes(["blob", `${fx.host}/test/single@${big.digest}`]);
        assertEquals([r.code, r.stderr], [0, ""]);
        assertEquals([r.stdout.byteLength, sha256(r.stdout)], [big.size, big.digest]);

        await using proxy = FaultProxy.start(fx.registry.url);
        proxy.on((_req, url) =>
          url.pathname.endsWith(big.digest) ? { kind: "flip", at: 100_000 } : undefined
        );
        const bad = await skiffBytes(["blob", `${proxy.host}/test/single@${big.digest}`]);
        assertEquals(bad.code, 1);
        assertEquals(bad.stdout.byteLength, big.size); // all the data, then the verdict
        assertEquals(lines(bad.stderr).length, 1, bad.stderr);
        assertMatch(
          bad.stderr,
          new RegExp(`^skiff: Cannot verify blob ${big.digest}: digest mismatch`),
        );
      },
    );

    await t.step("not found: exit 1, one line", async () => {
      for (
        const args of [
          ["inspect", `${fx.host}/test/nope:1`],
          ["config", `${fx.host}/test/single:nope`],
          ["digest", `${fx.host}/test/nope:1`],
          ["tags", `${fx.host}/test/nope`],
          ["blob", `${fx.host}/test/single@sha256:${"0".repeat(64)}`],
          ["inspect", "--platform", "linux/s390x", multi],
        ]
      ) {
        const r = await skiff(args);
        assertEquals(r.code, 1, args.join(" "));
        assertEquals(r.stdout, "", args.join(" "));
        assertEquals(lines(r.stderr).length, 1, r.stderr);
        assertMatch(r.stderr, /^skiff: Cannot /, args.join(" "));
      }
    });

    await t.step("bad input: exit 2, one line, no request", async () => {
      await using proxy = FaultProxy.start(fx.registry.url);
      const h = proxy.host;
      const cases: [string[], RegExp][] = [
        [["inspect"], /missing image reference/],
        [["inspect", `${h}/a:1`, `${h}/b:1`], /one reference/],
        [["inspect", "--raw", "--json", `${h}/a:1`], /--raw and --json cannot be used together/],
        [["inspect", "--platform", "linux//x", `${h}/a:1`], /platform/],
        [["config", "Bad/Name"], /lowercase/],
        [["digest", `${h}/a:`], /tag after ':' is empty/],
        [["tags"], /missing repository/],
        [["tags", `${h}/test/multi:1`], /names a tag/],
        [["blob", `${h}/test/multi:1`], /blob needs REPO@DIGEST/],
        [["blob", `${h}/test/multi@sha256:abc`], /invalid digest/],
        [["tags", "--bogus", `${h}/test/multi`], /unknown option --bogus/],
      ];
      for (const [args, message] of cases) {
        const r = await skiff(args);
        assertEquals(r.code, 2, args.join(" "));
        assertEquals(r.stdout, "", args.join(" "));
        assertMatch(r.stderr, /^skiff: /);
        assertMatch(r.stderr, message, args.join(" "));
        if (!r.stderr.includes("Usage:")) assertEquals(lines(r.stderr).length, 1, r.stderr);
      }
      assertEquals(proxy.seen, []);
    });

    await t.step("every command has --help with an example", async () => {
      for (
        const name of ["inspect", "config", "digest", "tags", "blob", "images", "rm", "gc", "pull"]
      ) {
        const r = await skiff([name, "--help"]);
        assertEquals(r.code, 0, name);
        assertMatch(r.stdout, new RegExp(`^Usage: skiff ${name}`));
        assertMatch(r.stdout, /Examples:\n {2}skiff /);
        const summary = (await skiff(["--help"])).stdout;
        assert(summary.includes(`\n  ${name} `), `${name} missing from skiff --help`);
      }
    });
  } finally {
    await fx.stop();
  }
});
