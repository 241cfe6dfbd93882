// pull --platform with a list or "all": the store keeps the index (its exact bytes) as the name's
// entry and every chosen platform's manifest, config and layers; images lists one line per
// platform; unpack and pull --pull never pick from the stored index; skopeo still reads it.

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { startFixture } from "../_fixture.ts";
import { FaultProxy } from "../_proxy.ts";
import { mustRun, sha256 } from "../_images.ts";
import { checkStore } from "../_store_check.ts";
import { pull } from "../../lib/pull/pull.ts";
import { listImages } from "../../lib/store/list_images.ts";
import { collectGarbage } from "../../lib/store/collect_garbage.ts";
import { ImageNotFoundError } from "../../lib/store/image_not_found_error.ts";
import { MediaType } from "../../lib/oci/media_types.ts";
import { unpack } from "../../lib/unpack/unpack.ts";
import { tempDir } from "../_temp.ts";

async function indexJson(store: string) {
  return JSON.parse(await Deno.readTextFile(`${store}/index.json`));
}

async function skopeoInspect(store: string, name: string) {
  return JSON.parse(new TextDecoder().decode(
    await mustRun("skopeo", ["inspect", `oci:${store}:${name}`]),
  ));
}

Deno.test("pull of several platforms: the index is the name, each platform is in the store", async (t) => {
  const fx = await startFixture();
  try {
    const multi = `${fx.host}/test/multi:1`;
    const docker = `${fx.host}/test/docker:1`;

    await t.step("a list: the index as the entry, the two platforms, no attestation", async () => {
      const store = `${await tempDir()}/s`;
      const r = await pull(multi, { store, platform: "linux/amd64,linux/arm64" });
      assertEquals([r.digest, r.indexDigest, r.mediaType], [
        fx.multi.digest,
        fx.multi.digest,
        MediaType.OciIndex,
      ]);
      assertEquals(r.platforms?.map((p) => p.digest), [fx.amd64.digest, fx.arm64.digest]);
      const index = await indexJson(store);
      assertEquals(index.manifests.length, 1);
      assertEquals(index.manifests[0].digest, fx.multi.digest);
      assertEquals(index.manifests[0].mediaType, MediaType.OciIndex);
      // its exact bytes
      assertEquals(
        sha256(await Deno.readFile(`${store}/blobs/sha256/${fx.multi.digest.slice(7)}`)),
        fx.multi.digest,
      );
      // the attestation was not asked for
      await assertRejects(
        () => Deno.stat(`${store}/blobs/sha256/${fx.attestation.digest.slice(7)}`),
        Deno.errors.NotFound,
      );
      const images = await listImages(store);
      assertEquals(
        images.map((i) => [i.name, i.digest, i.platform?.architecture, i.missing.length]),
        [[multi, fx.amd64.digest, "amd64", 0], [multi, fx.arm64.digest, "arm64", 0]],
      );
      // skopeo reads the entry
      assertEquals((await skopeoInspect(store, multi)).Digest, fx.multi.digest);
      const check = await checkStore(store);
      assertEquals([check.corrupt, check.missing, check.ingest], [[], [], []]);

      // from the stored index, with no network: pull --pull never and unpack --platform
      for (
        const [platform, digest] of [["linux/amd64", fx.amd64.digest], [
          "linux/arm64",
          fx.arm64.digest,
        ]]
      ) {
        const local = await pull(multi, { store, platform: platform!, policy: "never" });
        assertEquals([local.digest, local.bytesFetched], [digest, 0]);
        const dir = `${await tempDir()}/rootfs`;
        const u = await unpack(multi, dir, { store, platform: platform!, pull: "never" });
        assertEquals([u.digest, u.pulled], [digest, false]);
        assertEquals(await Deno.readTextFile(`${dir}/bin/hello`), "#!/bin/sh\necho hello\n");
      }
      // a platform the store does not hold: "never" says so
      await assertRejects(
        () => pull(multi, { store, platform: "linux/s390x", policy: "never" }),
        Error,
        "Cannot pull",
      );
      // pulling one platform again keeps the index
      await pull(multi, { store, platform: "linux/arm64" });
      assertEquals((await indexJson(store)).manifests[0].digest, fx.multi.digest);
    });

    await t.step("one platform, then another: added, never dropped", async () => {
      const store = `${await tempDir()}/s`;
      const amd = await pull(multi, { store, platform: "linux/amd64" });
      // one platform keeps today's entry: the platform manifest, which umoci reads
      assertEquals((await indexJson(store)).manifests[0].digest, amd.digest);
      const bundle = `${await tempDir()}/bundle`;
      await mustRun("umoci", ["unpack", "--rootless", "--image", `${store}:${multi}`, bundle]);
      await pull(multi, { store, platform: "linux/arm64" });
      assertEquals((await indexJson(store)).manifests[0].digest, fx.multi.digest);
      assertEquals((await listImages(store)).length, 2);
      const again = await pull(multi, { store, platform: "linux/amd64", policy: "never" });
      assertEquals(again.digest, fx.amd64.digest);
    });

    await t.step("all: everything the index lists, attestations too", async () => {
      const store = `${await tempDir()}/s`;
      const r = await pull(multi, { store, platform: "all" });
      assertEquals(r.digest, fx.multi.digest);
      assertEquals(r.platforms?.map((p) => p.digest), [fx.amd64.digest, fx.arm64.digest]);
      await Deno.stat(`${store}/blobs/sha256/${fx.attestation.digest.slice(7)}`);
      const check = await checkStore(store);
      assertEquals([check.corrupt, check.missing, check.ingest], [[], [], []]);
      // attestations are not lines of their own
      assertEquals((await listImages(store)).map((i) => i.platform?.architecture), [
        "amd64",
        "arm64",
      ]);
      // skopeo copies the whole index out of the store: every blob is there
      const out = `${await tempDir()}/out`;
      await mustRun("skopeo", [
        "copy",
        "--quiet",
        "--all",
        `oci:${store}:${multi}`,
        `oci:${out}:x`,
      ]);
      assertEquals((await indexJson(out)).manifests[0].digest, fx.multi.digest);
      // again: nothing fetched, from the store alone
      const never = await pull(multi, { store, platform: "all", policy: "never" });
      assertEquals([never.digest, never.bytesFetched], [fx.multi.digest, 0]);
    });

    await t.step(
      "a Docker manifest list: the list and the registry's Docker manifests",
      async () => {
        const store = `${await tempDir()}/s`;
        const r = await pull(docker, { store, platform: "all" });
        assertEquals(r.digest, fx.dockerList);
        // named through its OCI conversion (skopeo's oci: transport follows OCI media types
        // only), the list's exact bytes kept under the registry's digest
        const index = await indexJson(store);
        const entry = index.manifests[0];
        assertEquals(entry.mediaType, MediaType.OciIndex);
        assertEquals(entry.annotations["dev.skiff.source.digest"], fx.dockerList);
        assertEquals(r.storedDigest, entry.digest);
        assertEquals(
          sha256(await Deno.readFile(`${store}/blobs/sha256/${fx.dockerList.slice(7)}`)),
          fx.dockerList,
        );
        for (const p of r.platforms!) {
          // the registry's Docker manifest is kept; the conversion is what the index lists
          assert(p.storedDigest !== p.digest);
          const bytes = await Deno.readFile(`${store}/blobs/sha256/${p.digest.slice(7)}`);
          assertEquals(sha256(bytes), p.digest);
          assertEquals(
            JSON.parse(new TextDecoder().decode(bytes)).mediaType,
            MediaType.DockerManifest,
          );
        }
        const stored = JSON.parse(
          await Deno.readTextFile(`${store}/blobs/sha256/${entry.digest.slice(7)}`),
        );
        assertEquals(
          stored.manifests.map((m: { digest: string }) => m.digest),
          r.platforms!.map((p) => p.storedDigest),
        );
        // skopeo reads it; every command shows the registry's digests
        assertEquals((await skopeoInspect(store, docker)).Digest, entry.digest);
        const images = await listImages(store);
        assertEquals(
          images.map((i) => [i.digest, i.indexDigest]),
          r.platforms!.map((p) => [p.digest, fx.dockerList]),
        );
        for (const p of r.platforms!) {
          const one = await pull(`${fx.host}/test/docker@${p.digest}`, { store, policy: "never" });
          assertEquals([one.digest, one.storedDigest], [p.digest, p.storedDigest]);
        }
        const gc = await collectGarbage(store);
        assertEquals(gc.blobs, []); // the originals are kept: push sends them
      },
    );

    await t.step("policy never with no index stored: ImageNotFoundError", async () => {
      const store = `${await tempDir()}/s`;
      await assertRejects(
        () => pull(multi, { store, platform: "all", policy: "never" }),
        ImageNotFoundError,
        "forbids the network",
      );
    });

    await t.step("the CLI: --platform list, images lines, a malformed list", async () => {
      const store = `${await tempDir()}/s`;
      const r = await skiff([
        "pull",
        "-q",
        "--store",
        store,
        "--platform",
        "linux/amd64,linux/arm64",
        multi,
      ]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, `${multi} ${fx.multi.digest}\n`);
      const images = await skiff(["images", "--store", store]);
      const lines = images.stdout.trim().split("\n");
      assertEquals(lines.length, 3, images.stdout);
      assert(
        lines[1]!.includes("linux/amd64") && lines[2]!.includes("linux/arm64/v8"),
        images.stdout,
      );
      // inspect and config --local choose from the stored index, with no network
      for (
        const [platform, want] of [["linux/amd64", fx.amd64], ["linux/arm64", fx.arm64]] as const
      ) {
        const i = await skiff([
          "inspect",
          "--local",
          "--json",
          "--store",
          store,
          "--platform",
          platform,
          multi,
        ]);
        assertEquals(i.code, 0, i.stderr);
        const out = JSON.parse(i.stdout);
        assertEquals([out.digest, out.indexDigest], [want.digest, fx.multi.digest]);
        const c = await skiff([
          "config",
          "--local",
          "--json",
          "--store",
          store,
          "--platform",
          platform,
          multi,
        ]);
        assertEquals(c.code, 0, c.stderr);
        assertEquals(JSON.parse(c.stdout).manifestDigest, want.digest);
        assertEquals(JSON.parse(c.stdout).config.architecture, platform.split("/")[1]);
      }
      const whole = await skiff(["inspect", "--local", "--raw", "--store", store, multi]);
      assertEquals(sha256(new TextEncoder().encode(whole.stdout)), fx.multi.digest);
      const none = await skiff([
        "inspect",
        "--local",
        "--store",
        store,
        "--platform",
        "linux/s390x",
        multi,
      ]);
      assertEquals(none.code, 1);
      assert(
        none.stderr.startsWith(`skiff: Cannot inspect ${multi}: not in the store`),
        none.stderr,
      );
      const bad = await skiff(["pull", "--store", store, "--platform", "linux/amd64,", multi]);
      assertEquals(bad.code, 2);
      assert(bad.stderr.includes("platform"), bad.stderr);
    });
  } finally {
    await fx.stop();
  }
});

Deno.test("pull of several platforms is one engine run: one resolve, each blob once", async (t) => {
  const fx = await startFixture();
  try {
    await using proxy = FaultProxy.start(fx.registry.url);
    const multi = `${proxy.host}/test/multi:1`;
    const store = `${await tempDir()}/s`;
    const gets = (from: number) =>
      proxy.seen.slice(from).filter((r) => r.method === "GET").map((r) => r.path);
    const count = (paths: string[]) => {
      const n = new Map<string, number>();
      for (const p of paths) n.set(p, (n.get(p) ?? 0) + 1);
      return n;
    };

    await t.step("all: the layer two platforms share is fetched once", async () => {
      const r = await pull(multi, { store, platform: "all" });
      assertEquals(r.digest, fx.multi.digest);
      const seen = count(gets(0));
      const blobs = [...seen].filter(([p]) => p.includes("/blobs/"));
      // every blob once: amd64's config and two layers, arm64's config (its layer is the shared
      // base), the attestation's config and layer
      assert(blobs.length > 0);
      for (const [path, n] of blobs) assertEquals(n, 1, path);
      const amd64 = JSON.parse(
        await Deno.readTextFile(`${store}/blobs/sha256/${fx.amd64.digest.slice(7)}`),
      );
      const arm64 = JSON.parse(
        await Deno.readTextFile(`${store}/blobs/sha256/${fx.arm64.digest.slice(7)}`),
      );
      const shared = arm64.layers[0].digest;
      assertEquals(amd64.layers[0].digest, shared);
      assertEquals(seen.get(`/v2/test/multi/blobs/${shared}`), 1);
      // one resolve: the tag once, each manifest by digest once
      assertEquals(seen.get("/v2/test/multi/manifests/1"), 1);
      for (const d of [fx.amd64.digest, fx.arm64.digest, fx.attestation.digest]) {
        assertEquals(seen.get(`/v2/test/multi/manifests/${d}`), 1, d);
      }
      const check = await checkStore(store);
      assertEquals([check.corrupt, check.missing, check.ingest], [[], [], []]);
    });

    await t.step("again: one HEAD, nothing fetched, index.json untouched", async () => {
      const before = proxy.seen.length;
      const index = await Deno.readFile(`${store}/index.json`);
      const r = await pull(multi, { store, platform: "all" });
      assertEquals([r.digest, r.bytesFetched], [fx.multi.digest, 0]);
      assertEquals(
        proxy.seen.slice(before).map((s) => `${s.method} ${s.path}`),
        ["HEAD /v2/test/multi/manifests/1"],
      );
      assertEquals(await Deno.readFile(`${store}/index.json`), index);
    });

    await t.step("a list after all: nothing fetched, every platform kept", async () => {
      const before = proxy.seen.length;
      const r = await pull(multi, { store, platform: "linux/arm64,linux/amd64" });
      assertEquals(r.platforms?.map((p) => p.digest), [fx.arm64.digest, fx.amd64.digest]);
      assertEquals(gets(before), []);
      assertEquals((await listImages(store)).length, 2);
    });
  } finally {
    await fx.stop();
  }
});
