// pull()'s policy: "missing" asks nothing when the image is complete in the store, "never" never
// asks. The proof is the fault proxy's record of requests (and, for "never", a registry that is
// gone).

import { assert, assertEquals, assertMatch, assertRejects } from "../_assert.ts";
import { startFixture } from "../_fixture.ts";
import { FaultProxy } from "../_proxy.ts";
import { checkStore } from "../_store_check.ts";
import { pull } from "../../lib/pull/pull.ts";
import { ImageNotFoundError } from "../../lib/store/image_not_found_error.ts";
import type { ProgressEvent } from "../../lib/progress/progress_event.ts";
import { tempDir } from "../_temp.ts";

async function tempStore(): Promise<string> {
  return `${await tempDir({ prefix: "skiff-policy-" })}/store`;
}

Deno.test("pull policy: missing and never", async (t) => {
  const fx = await startFixture();
  await using proxy = FaultProxy.start(fx.registry.url);
  const requests = () => proxy.seen.map((r) => `${r.method} ${r.path}`);
  try {
    await t.step("missing: a complete image is used with no request at all", async () => {
      const store = await tempStore();
      for (
        const [repo, platform] of [["single", undefined], ["multi", "linux/arm64"], [
          "docker",
          "linux/arm64",
        ]]
      ) {
        const name = `${proxy.host}/test/${repo}:1`;
        const first = await pull(name, { store, ...(platform ? { platform } : {}) });
        proxy.seen.length = 0;
        const events: ProgressEvent[] = [];
        const again = await pull(name, {
          store,
          policy: "missing",
          onProgress: (e) => events.push(e),
        });
        assertEquals(requests(), [], name);
        assertEquals(again.bytesFetched, 0);
        const { bytesFetched: _a, ...was } = first;
        const { bytesFetched: _b, ...is } = again;
        assertEquals(is, was, name);
        assertEquals(events.map((e) => e.type), [
          "resolved",
          "manifest",
          "blob-done",
          "blob-done",
          ...(repo === "single" ? ["blob-done"] : []),
          "done",
        ]);
        assert(events[0]!.type === "resolved" && events[0]!.local);
      }
    });

    await t.step(
      "missing: absent, incomplete or another platform goes to the registry",
      async () => {
        const store = await tempStore();
        const name = `${proxy.host}/test/multi:1`;
        proxy.seen.length = 0;
        await pull(name, { store, policy: "missing", platform: "linux/amd64" }); // absent
        assert(proxy.seen.length > 0);
        // another platform than the stored one, asked for explicitly
        proxy.seen.length = 0;
        const arm = await pull(name, { store, policy: "missing", platform: "linux/arm64" });
        assertEquals(arm.platform?.architecture, "arm64");
        assert(proxy.seen.some((r) => r.method === "GET" && r.path.includes(fx.arm64.digest)));
        // no platform asked: whatever is stored under the name is used
        proxy.seen.length = 0;
        await pull(name, { store, policy: "missing" });
        assertEquals(requests(), []);
        // a layer deleted: only what is missing is fetched
        const amd = await pull(name, { store, platform: "linux/amd64" });
        const big = amd.layers[1]!;
        await Deno.remove(`${store}/blobs/sha256/${big.digest.slice(7)}`);
        proxy.seen.length = 0;
        const mended = await pull(name, { store, policy: "missing" });
        assertEquals(mended.bytesFetched, big.size);
        assertEquals(proxy.seen.filter((r) => r.path.includes("/blobs/")).map((r) => r.path), [
          `/v2/test/multi/blobs/${big.digest}`,
        ]);
        assertEquals((await checkStore(store)).missing, []);
      },
    );

    await t.step(
      "never: works with the registry gone; fails clearly when the image is not there",
      async () => {
        const store = await tempStore();
        const gone = FaultProxy.start(fx.registry.url);
        const name = `${gone.host}/test/single:1`;
        const first = await pull(name, { store });
        await gone.stop(); // nothing listens there any more
        const offline = await pull(name, { store, policy: "never" });
        assertEquals([offline.digest, offline.bytesFetched], [first.digest, 0]);
        await assertRejects(() => pull(name, { store, retry: { attempts: 1 } })); // "always" needs it

        const other = `${gone.host}/test/multi:1`;
        const e = await assertRejects(
          () => pull(other, { store, policy: "never" }),
          ImageNotFoundError,
        );
        assertEquals(
          e.message,
          `Cannot pull ${other}: not in the store ${store}, and the pull policy "never" forbids the network`,
        );
        // present but incomplete
        await Deno.remove(`${store}/blobs/sha256/${first.layers[0]!.digest.slice(7)}`);
        const partial = await assertRejects(
          () => pull(name, { store, policy: "never" }),
          ImageNotFoundError,
        );
        assertMatch(partial.message, /is in the store .* but not complete/);
        // and nothing was asked of the live registry either
        proxy.seen.length = 0;
        await assertRejects(
          () => pull(`${proxy.host}/test/single:1`, { store, policy: "never" }),
          ImageNotFoundError,
        );
        assertEquals(requests(), []);
      },
    );

    await t.step(
      "never: a blob the store answered for but lacks is not fetched; missing fetches it alone",
      async () => {
        const store = await tempStore();
        const name = `${proxy.host}/test/multi:1`;
        await pull(name, { store, platform: "all" });
        // the attestation's manifest is there (what the store's answer checks), one of its blobs
        // is not
        const attestation = JSON.parse(
          await Deno.readTextFile(`${store}/blobs/sha256/${fx.attestation.digest.slice(7)}`),
        );
        const blob = attestation.layers[0] as { digest: string; size: number };
        await Deno.remove(`${store}/blobs/sha256/${blob.digest.slice(7)}`);
        proxy.seen.length = 0;
        const e = await assertRejects(
          () => pull(name, { store, platform: "all", policy: "never" }),
          ImageNotFoundError,
        );
        assertMatch(e.message, /forbids the network$/);
        assertEquals(requests(), []);
        const mended = await pull(name, { store, platform: "all", policy: "missing" });
        assertEquals(requests(), [`GET /v2/test/multi/blobs/${blob.digest}`]);
        assertEquals(mended.bytesFetched, blob.size);
        assertEquals((await checkStore(store)).missing, []);
      },
    );

    await t.step("an unknown policy is refused", async () => {
      await assertRejects(
        // @ts-expect-error: not a policy
        () => pull(`${proxy.host}/test/single:1`, { store: "/nonexistent", policy: "sometimes" }),
        TypeError,
        "expected always, missing or never",
      );
    });
  } finally {
    await fx.stop();
  }
});
