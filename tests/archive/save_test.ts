// `skiff save`: archives of stored images (pulled when missing), read back by skopeo
// (docker-archive:, oci-archive:) and podman load; one platform per image in the docker format,
// digests and indexes kept in the OCI format; -o - streams; failures leave nothing.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { HOST_ARCH, startFixture } from "../_fixture.ts";
import { mustRun, run, sha256 } from "../_images.ts";
import { tempDir } from "../_temp.ts";
import { podman } from "../_podman.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** The stored manifest of a name, parsed. */
async function storedManifest(store: string, name: string) {
  const index = JSON.parse(await Deno.readTextFile(`${store}/index.json`));
  const entry = index.manifests.find((m: { annotations?: Record<string, string> }) =>
    m.annotations?.["org.opencontainers.image.ref.name"] === name
  );
  assert(entry, `${name} is in the store`);
  const doc = JSON.parse(await Deno.readTextFile(`${store}/blobs/sha256/${entry.digest.slice(7)}`));
  return { entry, doc };
}

async function assertMissing(path: string): Promise<void> {
  const found = await Deno.stat(path).then(() => true, () => false);
  assertEquals(found, false, `${path} must not exist`);
}

async function tarNames(file: string): Promise<string[]> {
  return text(await mustRun("tar", ["-tf", file])).trim().split("\n");
}

Deno.test("skiff save: docker archives that skopeo and podman read, OCI archives with digests kept", async (t) => {
  const fx = await startFixture();
  const dir = await tempDir({ prefix: "skiff-save-" });
  try {
    const store = `${dir}/store`;
    const single = `${fx.host}/test/single:1`;
    const multi = `${fx.host}/test/multi:1`;

    await t.step(
      "docker format: two images pulled first, one archive, shared layers once",
      async () => {
        const file = `${dir}/two.tar`;
        const r = await skiff([
          "save",
          "--plain-http",
          "--store",
          store,
          single,
          multi,
          "-o",
          file,
        ]);
        assertEquals(r.code, 0, r.stderr);
        const hostDigest = HOST_ARCH === "amd64" ? fx.amd64.digest : fx.arm64.digest;
        assertMatch(r.stderr, new RegExp(`saved ${single} ${fx.single.digest}\n`));
        assertMatch(r.stderr, new RegExp(`saved ${multi} ${hostDigest}\n`));
        // nothing beside the archive: the temporary file was renamed
        const entries = [];
        for await (const e of Deno.readDir(dir)) entries.push(e.name);
        assertEquals(entries.sort(), ["store", "two.tar"]);

        const names = await tarNames(file);
        assertEquals(names[0], "oci-layout");
        assertEquals(names.slice(-2), ["index.json", "manifest.json"]);
        assertEquals(new Set(names).size, names.length, "each blob once");
        const items = JSON.parse(text(await mustRun("tar", ["-xOf", file, "manifest.json"])));
        // on this machine's platform the two are the same image: one item with both names
        const same = hostDigest === fx.single.digest;
        assertEquals(
          items.map((i: { RepoTags: string[] }) => i.RepoTags),
          same ? [[single, multi]] : [[single], [multi]],
        );

        for (const name of [single, multi]) {
          const { doc } = await storedManifest(store, name);
          // skopeo reads the image back: the same config, the layers' diff_ids
          const config = await mustRun("skopeo", [
            "inspect",
            "--config",
            "--raw",
            `docker-archive:${file}:${name}`,
          ]);
          assertEquals(sha256(config), doc.config.digest);
          const out = `${dir}/back-${name.split("/").pop()!.replace(":", "-")}`;
          await mustRun("skopeo", [
            "copy",
            "--quiet",
            `docker-archive:${file}:${name}`,
            `oci:${out}:x`,
          ]);
          const index = JSON.parse(await Deno.readTextFile(`${out}/index.json`));
          const back = JSON.parse(
            await Deno.readTextFile(`${out}/blobs/sha256/${index.manifests[0].digest.slice(7)}`),
          );
          assertEquals(back.config.digest, doc.config.digest);
          // skopeo reads every layer (decompressing them to match the config's diff_ids)
          const diffIds = JSON.parse(text(config)).rootfs.diff_ids;
          const inspected = JSON.parse(text(
            await mustRun("skopeo", ["inspect", `docker-archive:${file}:${name}`]),
          ));
          assertEquals(inspected.Layers, diffIds);
          assertEquals(back.layers.length, diffIds.length);
        }
      },
    );

    await t.step("podman load reads skiff's docker archive (two images, their names)", async () => {
      const root = `${dir}/podman`;
      const loaded = await podman(root, ["load", "-i", `${dir}/two.tar`]);
      assertEquals(loaded.code, 0, loaded.stderr);
      const images = await podman(root, ["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
      assertEquals(images.code, 0, images.stderr);
      const lines = text(images.stdout).trim().split("\n").sort();
      const { doc: s } = await storedManifest(store, single);
      const { doc: m } = await storedManifest(store, multi);
      assertEquals(
        lines,
        [
          `${multi} ${m.config.digest.slice(7, 19)}`,
          `${single} ${s.config.digest.slice(7, 19)}`,
        ].sort(),
      );
      // and podman save's archive is one skiff loads (tests/archive/load_test.ts does more)
      await podman(root, ["rmi", "-a", "-f"]);
    });

    await t.step(
      "oci format: a stored index stays an index, digests equal the store's",
      async () => {
        // an index in the store: skopeo's oci-archive of every platform, loaded
        const all = `${dir}/all.tar`;
        await mustRun("skopeo", [
          "copy",
          "--quiet",
          "--all",
          "--src-tls-verify=false",
          `docker://${multi}`,
          `oci-archive:${all}:${multi}`,
        ]);
        const loaded = await skiff(["load", "--store", store, all]);
        assertEquals(loaded.code, 0, loaded.stderr);
        assertEquals(loaded.stdout, `${multi} ${fx.multi.digest}\n`);

        const file = `${dir}/multi-oci.tar`;
        const r = await skiff([
          "save",
          "-q",
          "--format",
          "oci",
          "--store",
          store,
          multi,
          "-o",
          file,
        ]);
        assertEquals(r.code, 0, r.stderr);
        const raw = await mustRun("skopeo", ["inspect", "--raw", `oci-archive:${file}`]);
        assertEquals(sha256(raw), fx.multi.digest);
        const arm = await mustRun("skopeo", [
          "inspect",
          "--override-arch",
          "arm64",
          "--override-variant",
          "v8",
          "--raw",
          `oci-archive:${file}`,
        ]);
        assertEquals(JSON.parse(text(arm)).manifests.length, 3);
        const out = `${dir}/multi-back`;
        await mustRun("skopeo", [
          "copy",
          "--quiet",
          "--all",
          `oci-archive:${file}`,
          `oci:${out}:x`,
        ]);
        const index = JSON.parse(await Deno.readTextFile(`${out}/index.json`));
        assertEquals(index.manifests[0].digest, fx.multi.digest);
        const names = await tarNames(file);
        assert(names.includes(`blobs/sha256/${fx.arm64.digest.slice(7)}`), "every platform");
        assert(
          names.includes(`blobs/sha256/${fx.attestation.digest.slice(7)}`),
          "attestations too",
        );
        assert(!names.includes("manifest.json"));
      },
    );

    await t.step(
      "docker format of a stored index: the host's platform, or --platform",
      async () => {
        for (
          const [platform, want] of [[undefined, HOST_ARCH], ["linux/arm64", "arm64"]] as const
        ) {
          const file = `${dir}/multi-${want}.tar`;
          const r = await skiff([
            "save",
            "-q",
            "--store",
            store,
            ...(platform ? ["--platform", platform] : []),
            multi,
            "-o",
            file,
          ]);
          assertEquals(r.code, 0, r.stderr);
          const config = JSON.parse(text(
            await mustRun("skopeo", ["inspect", "--config", "--raw", `docker-archive:${file}`]),
          ));
          assertEquals(config.architecture, want);
          const index = JSON.parse(text(await mustRun("tar", ["-xOf", file, "index.json"])));
          assertEquals(index.manifests.length, 1);
          assertEquals(
            index.manifests[0].digest,
            want === "amd64" ? fx.amd64.digest : fx.arm64.digest,
          );
        }
      },
    );

    await t.step("-o - streams the same bytes to stdout; a terminal is refused", async () => {
      const child = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", CLI, "save", "-q", "--store", store, single, "-o", "-"],
        stdout: "piped",
        stderr: "piped",
        stdin: "null",
      }).output();
      assertEquals(child.code, 0, text(child.stderr));
      const file = `${dir}/single.tar`;
      const r = await skiff(["save", "-q", "--store", store, single, "-o", file]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(sha256(child.stdout), sha256(await Deno.readFile(file)));
      // a terminal as stdout is refused before anything is read or written
      const tty = await run("script", [
        "-qec",
        `${Deno.execPath()} run -A --quiet ${CLI} save --store ${dir}/not-made ${single} -o -`,
        "/dev/null",
      ]);
      assertEquals(tty.code, 2);
      assertMatch(text(tty.stdout), /skiff: refusing to write a tar archive to a terminal/);
      await assertMissing(`${dir}/not-made`);
    });

    await t.step(
      "failures leave nothing: an image not stored with --pull never, a damaged layer",
      async () => {
        const file = `${dir}/fail.tar`;
        const missing = await skiff([
          "save",
          "--pull",
          "never",
          "--store",
          store,
          "nothing/here:1",
          "-o",
          file,
        ]);
        assertEquals(missing.code, 1);
        assertEquals(
          missing.stderr,
          `skiff: Cannot save docker.io/nothing/here:1: not in the store ${store}, and the pull policy "never" forbids the network\n`,
        );
        // a layer whose bytes changed in the store: found while streaming, the archive is dropped
        const { doc } = await storedManifest(store, single);
        const big = doc.layers.reduce((a: { size: number }, b: { size: number }) =>
          a.size > b.size ? a : b
        );
        const path = `${store}/blobs/sha256/${big.digest.slice(7)}`;
        const bytes = await Deno.readFile(path);
        const original = bytes.slice();
        bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
        await Deno.writeFile(path, bytes);
        try {
          const r = await skiff(["save", "--pull", "never", "--store", store, single, "-o", file]);
          assertEquals(r.code, 1);
          assertEquals(
            r.stderr,
            `skiff: Cannot verify blob ${big.digest} from ${store}: digest mismatch: expected ` +
              `${big.digest}, got ${sha256(bytes)}\n`,
          );
        } finally {
          await Deno.writeFile(path, original);
        }
        const entries = [];
        for await (const e of Deno.readDir(dir)) entries.push(e.name);
        assert(!entries.some((e) => e.startsWith(".fail.tar") || e === "fail.tar"), entries.join());
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await fx.stop();
  }
});
