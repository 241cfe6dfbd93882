// Archives and a real Docker engine (tests/_docker.ts: a private dockerd that never runs a
// container): `docker load` reads what `skiff save` writes, with the names and image IDs the
// store has, and `skiff load` reads what `docker save` writes (the classic `<id>/layer.tar` form
// of Docker 20.10), verified and named, read back by skopeo.

import { assertEquals } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { startDocker } from "../_docker.ts";
import { startFixture } from "../_fixture.ts";
import { mustRun, sha256 } from "../_images.ts";
import { tempDir } from "../_temp.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** The stored image manifest of a name, parsed (the store holds one platform for these). */
async function storedImage(store: string, name: string) {
  const index = JSON.parse(await Deno.readTextFile(`${store}/index.json`));
  const entry = index.manifests.find((m: { annotations?: Record<string, string> }) =>
    m.annotations?.["org.opencontainers.image.ref.name"] === name
  );
  if (!entry) throw new Error(`${name} is not in ${store}`);
  const manifest = JSON.parse(
    await Deno.readTextFile(`${store}/blobs/sha256/${entry.digest.slice(7)}`),
  );
  const config = JSON.parse(
    await Deno.readTextFile(`${store}/blobs/sha256/${manifest.config.digest.slice(7)}`),
  );
  return { configDigest: manifest.config.digest as string, diffIds: config.rootfs.diff_ids };
}

Deno.test("docker load reads skiff save's archive; skiff load reads docker save's", async (t) => {
  const fx = await startFixture();
  const engine = await startDocker();
  const dir = await tempDir({ prefix: "skiff-docker-archive-" });
  try {
    const store = `${dir}/store`;
    const single = `${fx.host}/test/single:1`;
    const multi = `${fx.host}/test/multi:1`;

    await t.step("skiff save -> docker load: names, image IDs and layers as stored", async () => {
      const file = `${dir}/skiff.tar`;
      const saved = await skiff([
        "save",
        "--plain-http",
        "--store",
        store,
        single,
        multi,
        "-o",
        file,
      ]);
      assertEquals(saved.code, 0, saved.stderr);
      const loaded = await engine.docker(["load", "-i", file]);
      assertEquals(loaded.code, 0, loaded.stderr);
      for (const name of [single, multi]) {
        const want = await storedImage(store, name);
        const inspected = await engine.docker([
          "image",
          "inspect",
          "--format",
          "{{.Id}} {{json .RootFS.Layers}}",
          name,
        ]);
        assertEquals(inspected.code, 0, inspected.stderr);
        assertEquals(
          text(inspected.stdout).trim(),
          `${want.configDigest} ${JSON.stringify(want.diffIds)}`,
        );
      }
    });

    await t.step("docker save -> skiff load: verified, named, read back by skopeo", async () => {
      const file = `${dir}/docker.tar`;
      const saved = await engine.docker(["save", "-o", file, single, multi]);
      assertEquals(saved.code, 0, saved.stderr);
      // the classic form: manifest.json and one directory per layer
      const names = text(await mustRun("tar", ["-tf", file])).trim().split("\n");
      assertEquals(names.includes("manifest.json"), true, names.join(" "));
      assertEquals(names.some((n) => n.endsWith("/layer.tar")), true, names.join(" "));

      const back = `${dir}/back`;
      const r = await skiff(["load", "--store", back, file]);
      assertEquals(r.code, 0, r.stderr);
      for (const name of [single, multi]) {
        const want = await storedImage(store, name);
        const got = await storedImage(back, name);
        // the same image: config bytes kept, layers now docker's uncompressed tars
        assertEquals(got.configDigest, want.configDigest);
        assertEquals(got.diffIds, want.diffIds);
        const config = await mustRun("skopeo", [
          "inspect",
          "--config",
          "--raw",
          `oci:${back}:${name}`,
        ]);
        assertEquals(sha256(config), want.configDigest);
      }
      const fsck = await skiff(["fsck", "--store", back]);
      assertEquals(fsck.code, 0, fsck.stderr + fsck.stdout);
    });
  } finally {
    await engine.stop();
    await fx.stop();
  }
});
