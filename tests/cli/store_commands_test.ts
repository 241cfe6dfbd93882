// images, rm, gc and pull --pull, run as a user runs them; the store is checked with skopeo.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { startFixture } from "../_fixture.ts";
import { run } from "../_images.ts";
import { FaultProxy } from "../_proxy.ts";
import { checkStore } from "../_store_check.ts";
import { tempDir } from "../_temp.ts";

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "");
}

async function skopeoReads(store: string, name: string): Promise<boolean> {
  return (await run("skopeo", ["inspect", `oci:${store}:${name}`])).code === 0;
}

Deno.test("cli: images, rm, gc and the pull policy on a real store", async (t) => {
  const fx = await startFixture();
  await using proxy = FaultProxy.start(fx.registry.url);
  const store = `${await tempDir()}/s`;
  const single = `${proxy.host}/test/single:1`;
  const multi = `${proxy.host}/test/multi:1`;
  try {
    await t.step("pull --pull missing: pulls once, then makes no request", async () => {
      const first = await skiff(["pull", "-q", "--pull", "missing", "--store", store, single]);
      assertEquals(first.code, 0, first.stderr);
      const before = proxy.seen.length;
      const again = await skiff(["pull", "--pull", "missing", "--store", store, single]);
      assertEquals([again.code, again.stdout], [0, first.stdout]);
      assertEquals(proxy.seen.length, before, "a request was made");
      assertMatch(again.stderr, /already present/);
      const json = JSON.parse(
        (await skiff(["pull", "--json", "--pull", "missing", "--store", store, single])).stdout,
      );
      assertEquals([json.reference, json.digest, json.bytesFetched], [single, fx.single.digest, 0]);
      assertEquals(json.layers.length, 2);
      assertEquals(proxy.seen.length, before);
      // the default still checks the name with one HEAD request
      await skiff(["pull", "-q", "--store", store, single]);
      assertEquals(proxy.seen.slice(before).map((r) => r.method), ["HEAD"]);
    });

    await t.step(
      "pull --pull never: offline, and one clear line when the image is absent",
      async () => {
        const before = proxy.seen.length;
        const ok = await skiff(["pull", "-q", "--pull", "never", "--store", store, single]);
        assertEquals(ok.code, 0, ok.stderr);
        const absent = await skiff(["pull", "--pull", "never", "--store", store, multi]);
        assertEquals([absent.code, absent.stdout], [1, ""]);
        assertEquals(
          lines(absent.stderr),
          [`skiff: Cannot pull ${multi}: not in the store ${store}, and the pull policy "never" forbids the network`],
        );
        assertEquals(proxy.seen.length, before);
        const bogus = await skiff(["pull", "--pull", "sometimes", "--store", store, single]);
        assertEquals(bogus.code, 2);
        assertEquals(lines(bogus.stderr), [
          `skiff: --pull must be always, missing or never, got "sometimes"`,
        ]);
      },
    );

    await t.step("images: a table, or JSON", async () => {
      await skiff(["pull", "-q", "--platform", "linux/arm64", "--store", store, multi]);
      const r = await skiff(["images", "--store", store]);
      assertEquals([r.code, r.stderr], [0, ""]);
      const rows = lines(r.stdout);
      assertMatch(rows[0]!, /^NAME +DIGEST +PLATFORM +SIZE +PULLED$/);
      assertMatch(
        rows[1]!,
        new RegExp(
          `^${single} +sha256:[0-9a-f]{12} +linux/\\w+ +2\\.0 MiB +(just now|\\d+ seconds? ago)$`,
        ),
      );
      assertMatch(
        rows[2]!,
        new RegExp(`^${multi} +${fx.arm64.digest.slice(0, 19)} +linux/arm64/v8 +\\d+ B `),
      );
      const json = JSON.parse((await skiff(["images", "--json", "--store", store])).stdout);
      assertEquals(json.map((i: { name: string }) => i.name), [single, multi]);
      assertEquals(json[1].digest, fx.arm64.digest);
      assertEquals(json[1].platform, "linux/arm64/v8");
      assertEquals([json[0].complete, json[0].missing], [true, []]);
      assert(typeof json[0].size === "number" && typeof json[0].pulled === "string");
      const none = await skiff(["images", "--json", "--store", `${store}-none`]);
      assertEquals([none.code, none.stdout], [0, "[]\n"]);
    });

    await t.step("rm and gc: what is left is a store skopeo reads", async () => {
      const missing = await skiff(["rm", "--store", store, multi, `${proxy.host}/test/nope:1`]);
      assertEquals([missing.code, missing.stdout], [1, ""]);
      assertEquals(lines(missing.stderr), [
        `skiff: Cannot remove ${proxy.host}/test/nope:1: not in the store ${store}`,
      ]);
      assert(await skopeoReads(store, multi)); // nothing was removed

      const rm = await skiff(["rm", "--store", store, multi]);
      assertEquals([rm.code, rm.stdout], [0, `${multi}\n`]);
      assertMatch(rm.stderr, /skiff gc/);
      const forced = await skiff(["rm", "-f", "--json", "--store", store, multi]);
      assertEquals([forced.code, forced.stdout], [0, "[]\n"]);

      const dry = await skiff(["gc", "--dry-run", "--store", store]);
      assertEquals(dry.code, 0, dry.stderr);
      const would = lines(dry.stdout);
      assertMatch(
        would.at(-1)!,
        /^would free [\d.]+ (B|KiB): 3 blobs, 0 partial downloads; 4 blobs in use kept$/,
      );
      const gc = await skiff(["gc", "--store", store]);
      assertEquals(gc.code, 0, gc.stderr);
      const done = lines(gc.stdout);
      assertEquals(done.length, 4, gc.stdout);
      for (const d of [fx.multi.digest, fx.arm64.digest]) {
        assert(
          done.some((l) => l.startsWith(`deleted blob ${d} (`)),
          `${d} not deleted:\n${gc.stdout}`,
        );
      }
      assertMatch(
        done.at(-1)!,
        /^freed [\d.]+ (B|KiB): 3 blobs, 0 partial downloads; 4 blobs in use kept$/,
      );
      assertEquals(
        would.map((l) => l.replace(/^would delete/, "deleted").replace(/^would free/, "freed")),
        done,
      );

      const json = JSON.parse((await skiff(["gc", "--json", "--store", store])).stdout);
      assertEquals([json.blobs, json.partials, json.kept, json.bytes, json.dryRun], [
        [],
        [],
        4,
        0,
        false,
      ]);

      assert(await skopeoReads(store, single));
      assert(!(await skopeoReads(store, multi)));
      const check = await checkStore(store);
      assertEquals([check.missing, check.corrupt, check.names], [[], [], [single]]);
      assertEquals(lines((await skiff(["images", "--store", store])).stdout).length, 2);
    });

    await t.step("bad input: exit 2, one line", async () => {
      const cases: [string[], RegExp][] = [
        [["rm", "--store", store], /missing image name/],
        [["images", "--store", store, "extra"], /images takes no arguments/],
        [["gc", "--store", store, "now"], /gc takes no arguments/],
        [["gc", "--store", store, "--force"], /unknown option --force/],
      ];
      for (const [args, message] of cases) {
        const r = await skiff(args);
        assertEquals(r.code, 2, args.join(" "));
        assertMatch(r.stderr, message);
        if (!r.stderr.includes("Usage:")) assertEquals(lines(r.stderr).length, 1, r.stderr);
      }
      const notLayout = await tempDir();
      await Deno.writeTextFile(`${notLayout}/notes.txt`, "mine");
      for (const cmd of ["images", "gc"]) {
        const r = await skiff([cmd, "--store", notLayout]);
        assertEquals(r.code, 1);
        assertEquals(lines(r.stderr), [
          `skiff: Cannot open store ${notLayout}: not an OCI image layout (no oci-layout file)`,
        ]);
      }
    });
  } finally {
    await fx.stop();
  }
});
