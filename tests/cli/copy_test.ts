// `skiff copy` as a user runs it, between two real registries.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { skiff, spawnSkiff } from "../_cli.ts";
import { startFixture } from "../_fixture.ts";
import { skopeoDigest } from "../_images.ts";
import { FaultProxy } from "../_proxy.ts";
import { startRegistry } from "../_registry.ts";

Deno.test("skiff copy: all platforms, a subset said on stderr, --json, bad input", async (t) => {
  const fx = await startFixture();
  const dest = await startRegistry();
  try {
    await t.step("every platform by default; DEST without a tag gets SRC's", async () => {
      const r = await skiff(["copy", `${fx.host}/test/docker:1`, `${dest.host}/mirror/docker`]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, `${dest.host}/mirror/docker:1 ${fx.dockerList}\n`);
      assertEquals(await skopeoDigest(`${dest.host}/mirror/docker:1`), fx.dockerList);
      // one line per blob on a pipe, as for pull
      assertMatch(r.stderr, /sha256:[0-9a-f]{12}/);
    });

    await t.step("--platform with one platform: its manifest alone, said on stderr", async () => {
      const r = await skiff([
        "copy",
        "--json",
        "--platform",
        "linux/amd64",
        `${fx.host}/test/multi:1`,
        `${dest.host}/one/multi:1`,
      ]);
      assertEquals(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assertEquals(out.digest, fx.amd64.digest);
      assertEquals(out.sourceDigest, fx.multi.digest);
      assertEquals(out.root, "platform");
      assertEquals(out.platforms, ["linux/amd64"]);
      assertMatch(r.stderr, /skiff: note: only linux\/amd64 was copied/);
      assertEquals(await skopeoDigest(`${dest.host}/one/multi:1`), fx.amd64.digest);
    });

    await t.step("a lying source: one line, exit 1, no tag at the destination", async () => {
      await using proxy = FaultProxy.start(fx.registry.url);
      proxy.on((req, url) =>
        req.method === "GET" && url.pathname.includes("/blobs/")
          ? { kind: "flip", at: 10 }
          : undefined
      );
      const r = await skiff([
        "copy",
        "-q",
        `${proxy.host}/test/single:1`,
        `${dest.host}/lied/single:1`,
      ]);
      assertEquals(r.code, 1);
      assertEquals(r.stdout, "");
      const lines = r.stderr.trim().split("\n");
      assertEquals(lines.length, 1, r.stderr);
      assertMatch(
        lines[0]!,
        /^skiff: Cannot verify blob sha256:[0-9a-f]{64} from .*: digest mismatch/,
      );
      const head = await fetch(`${dest.url}/v2/lied/single/manifests/1`, { method: "HEAD" });
      await head.body?.cancel();
      assertEquals(head.status, 404);
    });

    await t.step(
      "a 202 without Location, a commit answered with another digest: one line",
      async () => {
        await using proxy = FaultProxy.start(dest.url);
        proxy.on((req, url) =>
          req.method === "POST" && url.pathname.endsWith("/blobs/uploads/")
            ? { kind: "status", status: 202 }
            : undefined
        );
        const r = await skiff([
          "copy",
          "-q",
          `${fx.host}/test/single:1`,
          `${proxy.host}/noloc/single:1`,
        ]);
        assertEquals(r.code, 1);
        assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
        assertMatch(
          r.stderr,
          /^skiff: Cannot upload blob sha256:[0-9a-f]{64} to .*: the registry answered 202 without a Location\n$/,
        );

        await using liar = FaultProxy.start(dest.url);
        liar.on((req, url) =>
          req.method === "PUT" && url.search.includes("digest=")
            ? {
              kind: "status",
              status: 201,
              headers: { "docker-content-digest": `sha256:${"0".repeat(64)}` },
            }
            : undefined
        );
        const w = await skiff([
          "copy",
          "-q",
          `${fx.host}/test/single:1`,
          `${liar.host}/wrong/single:1`,
        ]);
        assertEquals(w.code, 1);
        assertMatch(
          w.stderr,
          /^skiff: Cannot upload blob .*: the registry answered the digest sha256:0{64}, not the one sent\n$/,
        );
        const head = await fetch(`${dest.url}/v2/wrong/single/manifests/1`, { method: "HEAD" });
        await head.body?.cancel();
        assertEquals(head.status, 404);
      },
    );

    await t.step("SIGINT in the middle: exit 130, the session cancelled, no tag", async () => {
      await using slow = FaultProxy.start(fx.registry.url);
      slow.on((req, url) =>
        req.method === "GET" && url.pathname.includes("/blobs/")
          ? { kind: "throttle", bytesPerSecond: 500_000 }
          : undefined
      );
      await using watch = FaultProxy.start(dest.url);
      const child = spawnSkiff([
        "copy",
        "-q",
        `${slow.host}/test/single:1`,
        `${watch.host}/int/single:1`,
      ]);
      const deadline = Date.now() + 20_000;
      // an upload under way: a PATCH has started
      while (!watch.seen.some((r) => r.method === "PATCH") && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      child.kill("SIGINT");
      const out = await child.output();
      assertEquals(out.code, 130);
      assert(watch.seen.some((r) => r.method === "DELETE"), "the upload session was cancelled");
      assertEquals(
        watch.seen.filter((r) => r.method === "PUT" && r.path.includes("/manifests/")),
        [],
      );
      const head = await fetch(`${dest.url}/v2/int/single/manifests/1`, { method: "HEAD" });
      await head.body?.cancel();
      assertEquals(head.status, 404);
    });

    await t.step("bad arguments are usage errors (exit 2)", async () => {
      const one = await skiff(["copy", `${fx.host}/test/single:1`]);
      assertEquals(one.code, 2);
      assertMatch(one.stderr, /missing SRC and DEST/);
      const bad = await skiff([
        "copy",
        "--platform",
        "linux/",
        `${fx.host}/a:1`,
        `${dest.host}/b:1`,
      ]);
      assertEquals(bad.code, 2);
      assert(bad.stderr.startsWith("skiff: "), bad.stderr);
    });
  } finally {
    await dest.stop();
    await fx.stop();
  }
});
