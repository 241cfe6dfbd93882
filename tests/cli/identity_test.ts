// The digest skiff prints is always the registry's: a Docker schema 2 image is stored as its OCI
// conversion (for skopeo and umoci), yet pull, images, unpack, rm and push all show and take the
// digest the registry serves, and push sends the registry's original manifest.

import { assert, assertEquals } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { startFixture } from "../_fixture.ts";
import { mustRun, sha256 } from "../_images.ts";
import { startRegistry } from "../_registry.ts";
import { tempDir } from "../_temp.ts";
import { MediaType } from "../../lib/oci/media_types.ts";

Deno.test("a Docker schema 2 image: every command shows and takes the registry's digest", async (t) => {
  const fx = await startFixture();
  const dest = await startRegistry();
  const dir = await tempDir({ prefix: "skiff-identity-" });
  try {
    const store = `${dir}/store`;
    const name = `${fx.host}/test/docker:1`;
    const repo = `${fx.host}/test/docker`;
    const asked = await skiff(["digest", "--platform", "linux/arm64", name]);
    assertEquals(asked.code, 0, asked.stderr);
    const registry = asked.stdout.trim();
    // the registry's arm64 manifest is Docker schema 2, and that is its digest
    const raw = await mustRun("skopeo", [
      "inspect",
      "--raw",
      "--tls-verify=false",
      `docker://${repo}@${registry}`,
    ]);
    assertEquals(sha256(raw), registry);
    assertEquals(JSON.parse(new TextDecoder().decode(raw)).mediaType, MediaType.DockerManifest);

    let stored = "";
    await t.step("pull prints the registry's digest; --json shows the stored one too", async () => {
      const r = await skiff(["pull", "-q", "--store", store, "--platform", "linux/arm64", name]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, `${name} ${registry}\n`);
      const j = await skiff([
        "pull",
        "--json",
        "--store",
        store,
        "--platform",
        "linux/arm64",
        name,
      ]);
      assertEquals(j.code, 0, j.stderr);
      const out = JSON.parse(j.stdout);
      assertEquals(out.digest, registry);
      assertEquals(out.indexDigest, fx.dockerList);
      stored = out.storedDigest;
      assert(stored !== registry, "the OCI conversion has another digest");
      // the conversion is what index.json names (skopeo and umoci read it), the original is kept
      const index = JSON.parse(await Deno.readTextFile(`${store}/index.json`));
      assertEquals(index.manifests[0].digest, stored);
      assertEquals(index.manifests[0].annotations["dev.skiff.source.digest"], registry);
      const inspected = JSON.parse(
        new TextDecoder().decode(
          await mustRun("skopeo", ["inspect", `oci:${store}:${name}`]),
        ),
      );
      assertEquals(inspected.Digest, stored);
    });

    await t.step("the printed digest is one the registry has", async () => {
      const r = await skiff(["pull", "-q", "--store", `${dir}/other`, `${repo}@${registry}`]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, `${repo}@${registry} ${registry}\n`);
    });

    await t.step("pull --pull never REPO@DIGEST finds the image pulled by tag", async () => {
      const r = await skiff([
        "pull",
        "-q",
        "--pull",
        "never",
        "--store",
        store,
        `${repo}@${registry}`,
      ]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, `${repo}@${registry} ${registry}\n`);
      // the stored digest is not the registry's: it names nothing there, and is not offered
      const wrong = await skiff([
        "pull",
        "-q",
        "--pull",
        "never",
        "--store",
        store,
        `${repo}@sha256:${"0".repeat(64)}`,
      ]);
      assertEquals(wrong.code, 1);
      assert(wrong.stderr.startsWith("skiff: Cannot pull"), wrong.stderr);
    });

    await t.step("images shows the registry's digest; --json both", async () => {
      const r = await skiff(["images", "--store", store]);
      assertEquals(r.code, 0, r.stderr);
      assert(r.stdout.includes(registry.slice(7, 19)), r.stdout);
      assert(!r.stdout.includes(stored.slice(7, 19)), r.stdout);
      const j = JSON.parse((await skiff(["images", "--json", "--store", store])).stdout);
      assertEquals(j.length, 1);
      assertEquals([j[0].digest, j[0].storedDigest, j[0].indexDigest], [
        registry,
        stored,
        fx.dockerList,
      ]);
    });

    await t.step("inspect --local shows the registry's manifest and digest", async () => {
      const r = await skiff(["inspect", "--local", "--raw", "--store", store, name]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(new TextEncoder().encode(r.stdout), raw);
      const j = JSON.parse(
        (await skiff(["inspect", "--local", "--json", "--store", store, `${repo}@${registry}`]))
          .stdout,
      );
      assertEquals([j.digest, j.storedDigest, j.mediaType], [
        registry,
        stored,
        MediaType.DockerManifest,
      ]);
    });

    await t.step("unpack by the registry's digest, from the store alone", async () => {
      const r = await skiff([
        "unpack",
        "--json",
        "--store",
        store,
        `${repo}@${registry}`,
        `${dir}/rootfs`,
      ]);
      assertEquals(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assertEquals([out.reference, out.digest, out.storedDigest], [
        `${repo}@${registry}`,
        registry,
        stored,
      ]);
      assertEquals(out.pulled, false); // the store had it: no pull
      assertEquals(await Deno.readTextFile(`${dir}/rootfs/bin/hello`), "#!/bin/sh\necho hello\n");
    });

    await t.step("push sends the registry's original manifest: the same digest", async () => {
      const to = `${dest.host}/pushed/docker:1`;
      const r = await skiff(["push", "--store", store, name, to]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, `${to} ${registry}\n`);
      const back = await mustRun("skopeo", [
        "inspect",
        "--raw",
        "--tls-verify=false",
        `docker://${to}`,
      ]);
      assertEquals(sha256(back), registry);
      assertEquals(back, raw);
      // and by the registry's digest
      const byDigest = await skiff([
        "push",
        "--store",
        store,
        `${repo}@${registry}`,
        `${dest.host}/pushed/docker:2`,
      ]);
      assertEquals(byDigest.code, 0, byDigest.stderr);
      assertEquals(byDigest.stdout, `${dest.host}/pushed/docker:2 ${registry}\n`);
    });

    await t.step("several platforms: push sends the registry's list and manifests", async () => {
      const all = `${dir}/all`;
      const r = await skiff(["pull", "-q", "--store", all, "--platform", "all", name]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, `${name} ${fx.dockerList}\n`);
      const to = `${dest.host}/pushed/list:1`;
      const p = await skiff(["push", "--store", all, name, to]);
      assertEquals(p.code, 0, p.stderr);
      assertEquals(p.stdout, `${to} ${fx.dockerList}\n`);
      const back = await mustRun("skopeo", [
        "inspect",
        "--raw",
        "--tls-verify=false",
        `docker://${to}`,
      ]);
      assertEquals(sha256(back), fx.dockerList);
      // and the platform's manifest under it is the registry's Docker manifest
      const arm = await mustRun("skopeo", [
        "inspect",
        "--raw",
        "--tls-verify=false",
        `docker://${dest.host}/pushed/list@${registry}`,
      ]);
      assertEquals(arm, raw);
    });

    await t.step("rm takes the registry's digest", async () => {
      const r = await skiff(["rm", "--json", "--store", store, registry]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(JSON.parse(r.stdout), [{ query: registry, name, digest: registry }]);
      const j = JSON.parse((await skiff(["images", "--json", "--store", store])).stdout);
      assertEquals(j, []);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
    await dest.stop();
    await fx.stop();
  }
});
