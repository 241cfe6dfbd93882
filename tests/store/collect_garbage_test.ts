// collectGarbage on stores filled by real pulls (and by skopeo): what is reached stays, what is
// not goes, partial downloads a pull holds stay, and a running pull is never broken.

import { assert, assertEquals, assertMatch, assertRejects } from "../_assert.ts";
import { startFixture } from "../_fixture.ts";
import { mustRun, run, sha256 } from "../_images.ts";
import { FaultProxy } from "../_proxy.ts";
import { checkStore } from "../_store_check.ts";
import { pull } from "../../lib/pull/pull.ts";
import { collectGarbage } from "../../lib/store/collect_garbage.ts";
import { removeImages } from "../../lib/store/remove_images.ts";
import { Store } from "../../lib/store/store.ts";
import { createTempFile } from "../../lib/store/_temp_files.ts";
import { tempDir } from "../_temp.ts";

async function hasBlob(store: string, digest: string): Promise<boolean> {
  return await Deno.stat(`${store}/blobs/sha256/${digest.slice(7)}`).then(() => true, () => false);
}

async function tempStore(): Promise<string> {
  return `${await tempDir({ prefix: "skiff-gc-" })}/store`;
}

async function blobs(store: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${store}/blobs/sha256`)) out.push(`sha256:${e.name}`);
  return out.sort();
}

async function skopeoReads(store: string, name: string): Promise<boolean> {
  return (await run("skopeo", ["inspect", `oci:${store}:${name}`])).code === 0;
}

Deno.test("collectGarbage: keeps what index.json reaches, deletes the rest", async (t) => {
  const fx = await startFixture();
  try {
    await t.step(
      "replaced platform and removed names are freed; skopeo still reads the rest",
      async () => {
        const store = await tempStore();
        const single = `${fx.host}/test/single:1`;
        const multi = `${fx.host}/test/multi:1`;
        const docker = `${fx.host}/test/docker:1`;
        await pull(single, { store });
        const arm = await pull(multi, { store, platform: "linux/arm64" });
        // the name removed and pulled again for another platform: nothing names arm64 any more
        // (a second platform pulled under a name that holds one adds to it: see pull_test)
        await removeImages(store, [multi]);
        const amd = await pull(multi, { store, platform: "linux/amd64" });
        // (amd64: the OCI conversion of the Docker arm64 manifest is the arm64 manifest itself)
        const dock = await pull(docker, { store, platform: "linux/amd64" });
        const before = await blobs(store);

        // a dry run deletes nothing and tells the same as the real run
        const dry = await collectGarbage(store, { dryRun: true });
        assertEquals(await blobs(store), before);
        const report = await collectGarbage(store);
        assertEquals(dry.blobs, report.blobs);
        assertEquals([dry.dryRun, report.dryRun], [true, false]);

        // the arm64 manifest and config of test/multi are gone (its layer is shared: kept)
        const freed = report.blobs.map((b) => b.digest).sort();
        assertEquals(freed, [arm.digest, arm.manifest.config.digest].sort());
        assertEquals(report.bytes, report.blobs.reduce((n, b) => n + b.size, 0));
        assertEquals(report.kept, before.length - freed.length);
        // kept on purpose: the index each name pointed at, the registry's Docker manifest
        const after = await blobs(store);
        for (const d of [fx.multi.digest, fx.dockerList, dock.digest, amd.digest]) {
          assert(after.includes(d), `${d} was deleted`);
        }
        for (const name of [single, multi, docker]) assert(await skopeoReads(store, name), name);
        const check = await checkStore(store);
        assertEquals([check.missing, check.corrupt], [[], []]);

        // nothing left to free
        assertEquals((await collectGarbage(store)).blobs, []);

        // remove a name: what only it reaches goes, what it shares stays (the fixture's images
        // share their amd64 manifest: test/single is test/multi's amd64 image)
        await removeImages(store, [multi]);
        const second = await collectGarbage(store);
        assertEquals(second.blobs.map((b) => b.digest), [fx.multi.digest]);
        assert(!(await skopeoReads(store, multi)));
        for (const name of [single, docker]) assert(await skopeoReads(store, name), name);
        await removeImages(store, [docker]);
        const third = await collectGarbage(store);
        assertEquals(
          third.blobs.map((b) => b.digest).sort(),
          [fx.dockerList, dock.digest].sort(),
        );
        assert(await skopeoReads(store, single));
        assertEquals((await checkStore(store)).missing, []);
        const bundle = `${await tempDir()}/bundle`;
        await mustRun("umoci", ["unpack", "--rootless", "--image", `${store}:${single}`, bundle]);
      },
    );

    await t.step(
      "partial downloads and temp files: dead ones deleted (at any age), held ones kept",
      async () => {
        const store = await tempStore();
        const s = await Store.open(store);
        const stale = new Uint8Array(1000);
        const staleDigest = sha256(new Uint8Array(5000));
        await Deno.writeFile(`${store}/ingest/sha256-${staleDigest.slice(7)}`, stale);
        const heldDigest = sha256(new Uint8Array(6000));
        const held = await s.openIngest(heldDigest, 6000);
        await held.write(new Uint8Array(100));
        await held.flush();
        // a temporary file whose writer died a moment ago (its lock free), and one being written
        await Deno.writeFile(`${store}/ingest/tmp-dead`, new Uint8Array(10));
        const live = await createTempFile(`${store}/ingest`, "tmp-live");
        await live.write(new Uint8Array(7));
        await Deno.writeFile(`${store}/ingest/notes.txt`, new Uint8Array(3)); // not ours: kept
        try {
          const report = await collectGarbage(store);
          assertEquals(report.partials, [{ digest: staleDigest, size: 1000 }]);
          assertEquals(report.inUse, [heldDigest]);
          assertEquals(report.temporary, [10]);
          assertEquals(report.bytes, 1010);
          const left: string[] = [];
          for await (const e of Deno.readDir(`${store}/ingest`)) left.push(e.name);
          assertEquals(left.sort(), [
            "gc.lock",
            "index.lock",
            "notes.txt",
            `sha256-${heldDigest.slice(7)}`,
            "tmp-live",
          ]);
        } finally {
          held.close();
          live.close();
        }
        // once its writer lets go (dies), the temporary file goes too
        assertEquals((await collectGarbage(store, { dryRun: true })).temporary, [7]);
        // once the pull lets go, it is stale too
        assertEquals((await collectGarbage(store)).partials, [{ digest: heldDigest, size: 100 }]);
      },
    );

    await t.step("a running pull is waited for: the blobs it committed are not taken", async () => {
      const store = await tempStore();
      await using proxy = FaultProxy.start(fx.registry.url);
      proxy.on((_req, url) =>
        url.pathname.includes("/blobs/")
          ? { kind: "throttle", bytesPerSecond: 4 * 1024 * 1024 }
          : undefined
      );
      const name = `${proxy.host}/test/single:1`;
      const firstBlob = Promise.withResolvers<void>();
      const order: string[] = [];
      const pulling = pull(name, {
        store,
        onProgress: (e) => {
          if (e.type === "blob-done") firstBlob.resolve();
        },
      }).then((r) => {
        order.push("pull");
        return r;
      });
      await firstBlob.promise; // a blob is in blobs/, not yet named in index.json
      let waited = false;
      const report = await collectGarbage(store, { onWait: () => waited = true });
      order.push("gc");
      const result = await pulling;
      assert(waited, "gc did not wait for the pull");
      assertEquals(order, ["pull", "gc"]);
      assertEquals(report.blobs, []);
      assertEquals(result.digest, fx.single.digest);
      const check = await checkStore(store);
      assertEquals([check.missing, check.corrupt, check.names], [[], [], [name]]);
      assert(await skopeoReads(store, name));
    });

    await t.step("a pull waits for a running gc, and an abort stops gc's wait", async () => {
      const store = await tempStore();
      const s = await Store.open(store);
      const gcLock = await Deno.open(`${store}/ingest/gc.lock`, {
        read: true,
        write: true,
        create: true,
      });
      await gcLock.lock(true); // as a gc would hold it
      let pulled = false;
      const pulling = pull(`${fx.host}/test/single:1`, { store }).then(() => pulled = true);
      await new Promise((r) => setTimeout(r, 300));
      assertEquals(pulled, false);
      const controller = new AbortController();
      const gc = collectGarbage(s, { signal: controller.signal });
      setTimeout(() => controller.abort(new Error("enough")), 100);
      await assertRejects(() => gc, Error, "enough");
      gcLock.close();
      await pulling;
      assertEquals(pulled, true);
    });

    await t.step(
      "a damaged manifest is that image's problem: kept, and what it names",
      async () => {
        const store = await tempStore();
        const r = await pull(`${fx.host}/test/single:1`, { store });
        const orphan = `${store}/blobs/sha256/${"f".repeat(64)}`;
        await Deno.writeFile(orphan, new Uint8Array(1));
        // one byte flipped inside a digest-free part (same size): still JSON, no longer its digest
        const path = `${store}/blobs/sha256/${r.digest.slice(7)}`;
        const text = await Deno.readTextFile(path);
        const flipped = text.replace(/("schemaVersion":\s*)2/, "$13");
        assert(flipped !== text && flipped.length === text.length);
        await Deno.writeTextFile(path, flipped);
        const report = await collectGarbage(store);
        assertEquals(report.problems.length, 1);
        assertEquals(report.problems[0]!.image, `${fx.host}/test/single:1`);
        assertMatch(report.problems[0]!.problem, /sha256/);
        assertEquals(report.blobs.map((b) => b.digest), [`sha256:${"f".repeat(64)}`]);
        await Deno.stat(path); // kept, for fsck to show and pull to replace
        for (const d of [r.manifest.config, ...r.layers]) assert(await hasBlob(store, d.digest));
        // unreadable as JSON: nothing left to salvage; the rest is collected all the same
        await Deno.writeTextFile(path, "{}");
        const again = await collectGarbage(store);
        assertEquals(again.problems.length, 1);
        await Deno.stat(path);
      },
    );

    await t.step("a layout skopeo wrote (an index entry) keeps every platform it has", async () => {
      const store = await tempStore();
      await mustRun("skopeo", [
        "copy",
        "--quiet",
        "--all",
        "--src-tls-verify=false",
        `docker://${fx.host}/test/multi:1`,
        `oci:${store}:multi`,
      ]);
      const before = await blobs(store);
      const report = await collectGarbage(store);
      assertEquals(report.blobs, []);
      assertEquals(await blobs(store), before);
      assert(await skopeoReads(store, "multi"));
      // files under blobs/ that are not named like digests are not ours to judge
      await Deno.writeTextFile(`${store}/blobs/sha256/README`, "hi");
      assertEquals((await collectGarbage(store)).blobs, []);
      await Deno.stat(`${store}/blobs/sha256/README`);
    });

    await t.step("a store that does not exist: nothing to do, nothing created", async () => {
      const dir = `${await tempDir()}/none`;
      const report = await collectGarbage(dir);
      assertEquals([report.blobs, report.bytes], [[], 0]);
      await assertRejects(() => Deno.stat(dir), Deno.errors.NotFound);
    });
  } finally {
    await fx.stop();
  }
});
