// fsck against stores pulled from the real registry and then damaged on purpose: a flipped byte,
// a deleted layer, a stale partial download, one a running pull holds, a dead temporary file.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { startFixture } from "../_fixture.ts";
import { checkStore } from "../_store_check.ts";
import { pull } from "../../lib/pull/pull.ts";
import { Store } from "../../lib/store/store.ts";
import { verifyStore } from "../../lib/store/verify_store.ts";
import { createTempFile } from "../../lib/store/_temp_files.ts";
import { tempDir } from "../_temp.ts";

Deno.test("fsck: finds damage, repairs it, and the next pull completes", async (t) => {
  const fx = await startFixture();
  const name = `${fx.host}/test/single:1`;
  const newStore = async () => {
    const dir = `${await tempDir({ prefix: "skiff-fsck-" })}/store`;
    const result = await pull(name, { store: dir });
    return { dir, result };
  };
  const blobPath = (dir: string, digest: string) => `${dir}/blobs/sha256/${digest.slice(7)}`;
  try {
    await t.step("a sound store: ok, exit 0", async () => {
      const { dir } = await newStore();
      const report = await verifyStore(dir);
      assertEquals(report.ok, true);
      assertEquals([report.images, report.blobs, report.corrupt, report.missing], [1, 4, [], []]);
      const r = await skiff(["fsck", "--store", dir]);
      assertEquals(r.code, 0, r.stderr);
      assertMatch(r.stdout, /^checked 1 image, 4 blobs \(.*\): ok\n$/);
    });

    await t.step(
      "a flipped byte: corrupt, exit 1; --repair deletes it; a pull restores it",
      async () => {
        const { dir, result } = await newStore();
        const layer = result.layers[1]!.digest;
        const bytes = await Deno.readFile(blobPath(dir, layer));
        bytes[100]! ^= 0xff;
        await Deno.writeFile(blobPath(dir, layer), bytes);

        const r = await skiff(["fsck", "--store", dir]);
        assertEquals(r.code, 1);
        assertMatch(
          r.stdout,
          new RegExp(`^corrupt blob ${layer}: its content hashes to sha256:[0-9a-f]{64}$`, "m"),
        );
        assertMatch(
          r.stdout,
          new RegExp(`^missing layer ${layer}, needed by ${name.replaceAll(".", "\\.")}$`, "m"),
        );
        assertMatch(r.stderr, /fsck --repair/);
        assertEquals((await Deno.stat(blobPath(dir, layer))).size, bytes.byteLength); // check only

        const repaired = await skiff(["fsck", "--repair", "--store", dir]);
        assertEquals(repaired.code, 1); // the image is incomplete until pulled again
        assertMatch(repaired.stdout, /\(deleted\)/);
        assertMatch(repaired.stderr, /pull them again: /);
        await Deno.stat(blobPath(dir, layer)).then(() => assert(false, "still there"), () => {});
        assertEquals((await checkStore(dir)).corrupt, []);

        const again = await pull(name, { store: dir });
        assertEquals(again.bytesFetched, result.layers[1]!.size);
        assertEquals((await verifyStore(dir)).ok, true);
      },
    );

    await t.step("a deleted config: missing, with the image that needs it", async () => {
      const { dir, result } = await newStore();
      await Deno.remove(blobPath(dir, result.manifest.config.digest));
      const report = await verifyStore(dir);
      assertEquals(report.ok, false);
      assertEquals(report.missing, [{
        digest: result.manifest.config.digest,
        role: "config",
        images: [name],
      }]);
    });

    await t.step(
      "stale partials and dead temporary files; a held partial and a live temporary are left alone",
      async () => {
        const { dir } = await newStore();
        const stale = `sha256-${"a".repeat(64)}`;
        const held = `sha256-${"b".repeat(64)}`;
        await Deno.writeFile(`${dir}/ingest/${stale}`, new Uint8Array(1000));
        await Deno.writeFile(`${dir}/ingest/tmp-dead`, new Uint8Array(10)); // its lock is free
        const store = await Store.open(dir);
        const live = await createTempFile(`${dir}/ingest`, "tmp-live"); // a write running
        const ingest = await store.openIngest(`sha256:${"b".repeat(64)}`, 10); // what a pull holds
        try {
          const report = await verifyStore(dir);
          assertEquals(report.ok, true);
          assertEquals(report.stalePartials, [{ digest: `sha256:${"a".repeat(64)}`, size: 1000 }]);
          assertEquals(report.staleTemporary, [10]);
          assertEquals(report.inUse, [`sha256:${"b".repeat(64)}`]);
          await Deno.stat(`${dir}/ingest/${stale}`); // a check deletes nothing

          const repaired = await verifyStore(dir, { repair: true });
          assertEquals(repaired.stalePartials.length, 1);
          const left = [...Deno.readDirSync(`${dir}/ingest`)].map((e) => e.name).sort();
          assert(!left.includes(stale) && !left.includes("tmp-dead"), left.join(" "));
          assert(left.includes(held) && left.includes("tmp-live"), left.join(" "));
        } finally {
          ingest.close();
          live.close();
        }
      },
    );

    await t.step("--json, and a store that does not exist is empty and fine", async () => {
      const { dir } = await newStore();
      const r = await skiff(["fsck", "--json", "--store", dir]);
      assertEquals(r.code, 0);
      const report = JSON.parse(r.stdout);
      assertEquals([report.ok, report.images, report.blobs], [true, 1, 4]);
      const none = await skiff(["fsck", "--store", `${dir}-missing`]);
      assertEquals(none.code, 0);
      const bad = await skiff(["fsck", "extra"]);
      assertEquals(bad.code, 2);
    });
  } finally {
    await fx.stop();
  }
});
