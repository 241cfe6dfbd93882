// `skiff rm --platform` / `removePlatform()`: one platform less under a name stored with several.
// Two or more left: an index listing them (a new digest, said); one left: its manifest; none: the
// name is gone. skopeo and umoci read what remains, fsck finds it clean, gc frees the removed
// platform's own blobs and keeps the shared ones, and a pull adds a platform back without
// bringing back what was removed.

import { assert, assertEquals, assertMatch, assertNotEquals, assertRejects } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { mustRun, sha256 } from "../_images.ts";
import { tempDir } from "../_temp.ts";
import { startThreePlatforms } from "../_three_platforms.ts";
import { pull } from "../../lib/pull/pull.ts";
import { push } from "../../lib/copy/push.ts";
import { collectGarbage } from "../../lib/store/collect_garbage.ts";
import { ImageNotFoundError } from "../../lib/store/image_not_found_error.ts";
import { listImages } from "../../lib/store/list_images.ts";
import { removePlatform } from "../../lib/store/remove_platform.ts";
import { MediaType } from "../../lib/oci/media_types.ts";

interface Entry {
  mediaType: string;
  digest: string;
  annotations?: Record<string, string>;
}

async function entries(store: string): Promise<Entry[]> {
  return JSON.parse(await Deno.readTextFile(`${store}/index.json`)).manifests;
}

async function blobJson(store: string, digest: string) {
  return JSON.parse(await Deno.readTextFile(`${store}/blobs/sha256/${digest.slice(7)}`));
}

async function hasBlob(store: string, digest: string): Promise<boolean> {
  try {
    await Deno.stat(`${store}/blobs/sha256/${digest.slice(7)}`);
    return true;
  } catch {
    return false;
  }
}

async function fsckClean(store: string) {
  const r = await skiff(["fsck", "--store", store]);
  assertEquals(r.code, 0, r.stdout + r.stderr);
}

Deno.test("skiff rm --platform: the rest stays, tools read it, gc frees what was only its", async (t) => {
  const src = await startThreePlatforms();
  try {
    const name = `${src.host}/test/three:1`;
    const store = `${await tempDir()}/s`;
    const pulled = await skiff(["pull", "-q", "--platform", "all", "--store", store, name]);
    assertEquals(pulled.code, 0, pulled.stderr);
    const arm64Config = (await blobJson(store, src.arm64.digest)).config.digest as string;
    const amd64Config = (await blobJson(store, src.amd64.digest)).config.digest as string;
    let cut = "";

    await t.step("two left: an index listing them, its new digest said", async () => {
      const r = await skiff(["rm", "--store", store, "--platform", "linux/arm64", name]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, `${name} linux/arm64/v8\n`);
      const [entry, ...more] = await entries(store);
      assertEquals(more, []);
      cut = entry!.digest;
      assertNotEquals(cut, src.index.digest);
      assertEquals(entry!.mediaType, MediaType.OciIndex);
      assertEquals(entry!.annotations?.["dev.skiff.index.digest"], src.index.digest);
      assertEquals(entry!.annotations?.["org.opencontainers.image.ref.name"], name);
      assertEquals(
        r.stderr,
        `skiff: note: ${name} is now an index of linux/amd64, linux/arm/v7: its digest is ${cut}, ` +
          `skiff's own, not the registry's ${src.index.digest}\n` +
          `skiff gc deletes the blobs no image needs any more\n`,
      );
      // the index's JSON without arm64 (the amd64 attestation stays with amd64)
      const doc = await blobJson(store, cut);
      assertEquals(doc.manifests.map((m: Entry) => m.digest), [
        src.amd64.digest,
        src.armv7.digest,
        src.attestation.digest,
      ]);
      // images: one line per remaining platform, the registry's digests; --json says it was cut
      const images = await skiff(["images", "--json", "--store", store]);
      assertEquals(images.code, 0, images.stderr);
      const list = JSON.parse(images.stdout);
      assertEquals(
        list.map((i: Record<string, unknown>) => [
          i.digest,
          i.platform,
          i.indexDigest,
          i.indexCutFrom,
          i.complete,
        ]),
        [
          [src.amd64.digest, "linux/amd64", cut, src.index.digest, true],
          [src.armv7.digest, "linux/arm/v7", cut, src.index.digest, true],
        ],
      );
      // skopeo reads the entry, and copies all of it
      const raw = await mustRun("skopeo", ["inspect", "--raw", `oci:${store}:${name}`]);
      assertEquals(sha256(raw), cut);
      await mustRun("skopeo", [
        "copy",
        "--quiet",
        "--all",
        `oci:${store}:${name}`,
        `oci:${await tempDir()}/copy:x`,
      ]);
      await fsckClean(store);
    });

    await t.step("gc frees the removed platform's own blobs, keeps the shared ones", async () => {
      const report = await collectGarbage(store);
      assertEquals(
        report.blobs.map((b) => b.digest).sort(),
        [src.arm64.digest, arm64Config, src.onlyArm64.digest].sort(),
      );
      for (const d of [src.base.digest, src.onlyAmd64.digest, amd64Config, src.index.digest]) {
        assert(await hasBlob(store, d), `${d} was kept`);
      }
      await fsckClean(store);
      // a platform left unpacks from the store as it is now
      const bundle = `${await tempDir()}/bundle`;
      const u = await skiff([
        "unpack",
        "--store",
        store,
        "--platform",
        "linux/arm/v7",
        name,
        `${bundle}/rootfs`,
      ]);
      assertEquals(u.code, 0, u.stderr);
      assertEquals(await Deno.readTextFile(`${bundle}/rootfs/etc/os-release`), "NAME=three\n");
    });

    await t.step("a platform not stored: one line naming it and what is", async () => {
      const r = await skiff(["rm", "--store", store, "--platform", "linux/arm64", name]);
      assertEquals(r.code, 1);
      assertEquals(
        r.stderr,
        `skiff: Cannot remove platform linux/arm64 of ${name}: it is not in the store ` +
          `(stored: linux/amd64, linux/arm/v7)\n`,
      );
      assertEquals((await entries(store))[0]!.digest, cut); // nothing changed
      const forced = await skiff(["rm", "-f", "--store", store, "--platform", "linux/s390x", name]);
      assertEquals([forced.code, forced.stdout], [0, ""]);
      await assertRejects(
        () => removePlatform(store, "nothing/here:1", "linux/amd64"),
        ImageNotFoundError,
        "Cannot remove nothing/here:1: not in the store",
      );
    });

    await t.step(
      "a pull of a listed platform changes nothing; of the removed one, adds it",
      async () => {
        await pull(name, { store, platform: "linux/amd64" });
        assertEquals((await entries(store))[0]!.digest, cut);
        const r = await pull(name, { store, platform: "linux/arm64" });
        assertEquals(r.digest, src.arm64.digest);
        // every platform again: the registry's index, its exact bytes
        assertEquals((await entries(store))[0]!.digest, src.index.digest);
        assertEquals((await listImages(store)).map((i) => i.digest), [
          src.amd64.digest,
          src.arm64.digest,
          src.armv7.digest,
        ]);
      },
    );

    await t.step(
      "one left: its manifest, as a pull of it alone names it; none: no name",
      async () => {
        await removePlatform(store, name, "linux/arm64");
        const r = await removePlatform(store, name, { os: "linux", architecture: "amd64" });
        assertEquals([r.entry, r.remaining, r.digest], [
          "manifest",
          ["linux/arm/v7"],
          src.amd64.digest,
        ]);
        const [entry] = await entries(store);
        assertEquals([entry!.mediaType, entry!.digest], [MediaType.OciManifest, src.armv7.digest]);
        assertEquals(entry!.annotations?.["dev.skiff.index.digest"], src.index.digest);
        // umoci reads it (an image manifest entry)
        const bundle = `${await tempDir()}/umoci`;
        await mustRun("umoci", ["unpack", "--rootless", "--image", `${store}:${name}`, bundle]);
        assertEquals(await Deno.readTextFile(`${bundle}/rootfs/etc/os-release`), "NAME=three\n");
        // the same as a pull of that platform alone: a warm pull writes nothing
        const before = await Deno.readTextFile(`${store}/index.json`);
        await pull(name, { store, platform: "linux/arm/v7", policy: "missing" });
        assertEquals(await Deno.readTextFile(`${store}/index.json`), before);
        await fsckClean(store);

        const last = await skiff([
          "rm",
          "--json",
          "--store",
          store,
          "--platform",
          "linux/arm/v7",
          name,
        ]);
        assertEquals(last.code, 0, last.stderr);
        const out = JSON.parse(last.stdout);
        assertEquals([out.entry, out.remaining, out.entryDigest], ["removed", [], null]);
        assertMatch(last.stderr, /that was its last platform/);
        assertEquals(await entries(store), []);
        await collectGarbage(store);
        assertEquals((await Array.fromAsync(Deno.readDir(`${store}/blobs/sha256`))).length, 0);
      },
    );

    await t.step("a Docker manifest list: cut as a Docker list, pushed as one", async () => {
      const list = `${src.host}/test/three-docker:1`;
      const docker = `${await tempDir()}/docker`;
      await pull(list, { store: docker, platform: "all" });
      const stored = await entries(docker);
      const before = await blobJson(docker, src.dockerList);
      const r = await removePlatform(docker, list, "linux/arm/v7");
      assertEquals([r.entry, r.remaining], ["index", ["linux/amd64", "linux/arm64/v8"]]);
      const [entry] = await entries(docker);
      assertNotEquals(entry!.digest, stored[0]!.digest);
      assertEquals(entry!.mediaType, MediaType.OciIndex); // OCI tools read the conversion
      assertEquals(entry!.annotations?.["dev.skiff.index.digest"], src.dockerList);
      const original = entry!.annotations?.["dev.skiff.source.digest"]!;
      const cutList = await blobJson(docker, original);
      assertEquals(cutList.mediaType, MediaType.DockerManifestList);
      assertEquals(
        cutList.manifests.map((m: Entry) => m.digest),
        before.manifests.slice(0, 2).map((m: Entry) => m.digest),
      );
      await collectGarbage(docker);
      await fsckClean(docker);
      assertEquals(
        (await listImages(docker)).map((i) => i.digest),
        before.manifests.slice(0, 2).map((m: Entry) => m.digest),
      );
      // pushed after gc: the cut Docker list and the registry's Docker manifests of the two
      const p = await push(list, `${src.host}/test/cut:1`, { store: docker });
      assertEquals([p.digest, p.root], [original, "same"]);
      const raw = await mustRun("skopeo", [
        "inspect",
        "--raw",
        "--tls-verify=false",
        `docker://${src.host}/test/cut:1`,
      ]);
      assertEquals(sha256(raw), original);
    });
  } finally {
    await src.stop();
  }
});
