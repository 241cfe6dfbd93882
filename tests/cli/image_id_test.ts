// An image loaded without a name (`<none>`) is reached by its ID, as `docker run` takes one:
// `sha256:<hex>` (a unique prefix of 4 digits or more, as `skiff images` prints 12), `@sha256:<hex>`
// or the 64 digits alone, for unpack, export, save and push, through the store's one resolver.
// Archives written by skopeo, loaded by skiff; the CLI as a user runs it, and the module.

import { assert, assertEquals, assertMatch, assertRejects } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { HOST_ARCH, startFixture } from "../_fixture.ts";
import { mustRun, sha256, skopeoDigest } from "../_images.ts";
import { makeTar } from "../_tar.ts";
import { tempDir } from "../_temp.ts";
import { load } from "../../lib/archive/load.ts";
import { save } from "../../lib/archive/save.ts";
import { push } from "../../lib/copy/push.ts";
import { ImageNotFoundError } from "../../lib/store/image_not_found_error.ts";
import { exportRootfs } from "../../lib/unpack/export_rootfs.ts";
import { unpack } from "../../lib/unpack/unpack.ts";

const enc = new TextEncoder();

async function tarNames(file: string): Promise<string[]> {
  const out = new TextDecoder().decode(await mustRun("tar", ["-tf", file]));
  return out.split("\n").filter(Boolean).sort();
}

Deno.test("image IDs: an unnamed image is unpacked, exported, saved and pushed by its ID", async (t) => {
  const fx = await startFixture();
  const dir = await tempDir({ prefix: "skiff-id-" });
  try {
    const store = `${dir}/store`;
    // skopeo writes an oci-archive whose index.json gives the image no name
    for (const [from, file] of [["single", "single"], ["multi", "multi"]]) {
      await mustRun("skopeo", [
        "copy",
        "--quiet",
        "--all",
        "--src-tls-verify=false",
        `docker://${fx.host}/test/${from}:1`,
        `oci-archive:${dir}/${file}.tar`,
      ]);
      const loaded = await skiff(["load", "--store", store, `${dir}/${file}.tar`]);
      assertEquals(loaded.code, 0, loaded.stderr);
    }
    const single = fx.single.digest;
    const images = await skiff(["images", "--store", store]);
    assertMatch(images.stdout, new RegExp(`\\n<none> +${single.slice(0, 19)} `));
    const short = single.slice(0, 19); // what `skiff images` shows: sha256: and 12 digits

    await t.step("unpack by the 12 digits images shows (CLI and module)", async () => {
      const r = await skiff(["unpack", "-q", "--store", store, short, `${dir}/rootfs`]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, `${short} ${single}\n`);
      assertEquals(await Deno.readTextFile(`${dir}/rootfs/etc/os-release`), "NAME=skiff-test\n");
      const m = await unpack(`@${single}`, `${dir}/module`, { store });
      assertEquals([m.digest, m.pulled], [single, false]);
      const erofs = await skiff([
        "unpack",
        "-q",
        "--format",
        "erofs",
        "--store",
        store,
        single.slice(7),
        `${dir}/id.erofs`,
      ]);
      assertEquals(erofs.code, 0, erofs.stderr);
    });

    await t.step("a platform of a stored index by its own digest", async () => {
      const r = await skiff([
        "unpack",
        "-q",
        "--store",
        store,
        fx.arm64.digest.slice(0, 20),
        `${dir}/arm`,
      ]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout.split(" ")[1], `${fx.arm64.digest}\n`);
      // arm64 has the base layer only
      assertEquals(await Deno.stat(`${dir}/arm/data`).catch(() => undefined), undefined);
      // the index's own digest: the host's platform chosen from it
      const own = await skiff(["unpack", "-q", "--store", store, fx.multi.digest, `${dir}/host`]);
      assertEquals(own.code, 0, own.stderr);
      assertEquals(
        own.stdout.split(" ")[1],
        `${HOST_ARCH === "amd64" ? fx.amd64.digest : fx.arm64.digest}\n`,
      );
    });

    await t.step("export by @sha256:<64> (CLI and module)", async () => {
      const r = await skiff(["export", "-q", "--store", store, `@${single}`, "-o", `${dir}/x.tar`]);
      assertEquals(r.code, 0, r.stderr);
      assert((await tarNames(`${dir}/x.tar`)).includes("data/blob.bin"));
      const { readable, result } = exportRootfs(short, { store });
      const bytes = new Uint8Array(await new Response(readable).arrayBuffer());
      assertEquals((await result).digest, single);
      assert(bytes.byteLength > fx.bigLayerSize);
    });

    await t.step("save by the 64 digits alone: an archive with no name, loaded back", async () => {
      const r = await skiff([
        "save",
        "-q",
        "--store",
        store,
        single.slice(7),
        "-o",
        `${dir}/s.tar`,
      ]);
      assertEquals(r.code, 0, r.stderr);
      const back = await skiff(["load", "--store", `${dir}/back`, `${dir}/s.tar`]);
      assertEquals(back.code, 0, back.stderr);
      assertEquals(back.stdout, `<none> ${single}\n`);
      const m = await save(short, `${dir}/m.tar`, { store, format: "oci" });
      assertEquals(m.images.map((i) => [i.name, i.digest]), [[short, single]]);
    });

    await t.step("push by ID: DEST is needed, and gets the image (CLI and module)", async () => {
      const none = await skiff(["push", "--store", store, short]);
      assertEquals(none.code, 2);
      assertMatch(none.stderr, /^skiff: an image ID has no name to push to: give DEST\n/);
      const r = await skiff(["push", "-q", "--store", store, short, `${fx.host}/byid/single:1`]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, `${fx.host}/byid/single:1 ${single}\n`);
      assertEquals(await skopeoDigest(`${fx.host}/byid/single:1`), single);
      const m = await push(short, `${fx.host}/byid/module:1`, {
        store,
        credentials: () => undefined,
      });
      assertEquals(m.digest, single);
    });

    await t.step("an ID nothing has, or several digests begin with: one line", async () => {
      const missing = await skiff(["unpack", "--store", store, "sha256:ffff0000", `${dir}/no`]);
      assertEquals(missing.code, 1);
      assertEquals(
        missing.stderr,
        `skiff: Cannot find sha256:ffff0000: no image in the store ${store} has that ID\n`,
      );
      await assertRejects(
        () => unpack("sha256:ffff0000", `${dir}/no`, { store }),
        ImageNotFoundError,
      );
      // two unnamed images whose digests share their first 4 digits
      const other = await twins(`${dir}/twins.tar`);
      const loaded = await load(`${dir}/twins.tar`, { store });
      assertEquals(loaded.images.length, 2);
      const both = await skiff(["save", "--store", store, other, "-o", `${dir}/both.tar`]);
      assertEquals(both.code, 1);
      assertMatch(
        both.stderr,
        new RegExp(
          `^skiff: Cannot find ${other}: the ID is ambiguous: 2 digests in the store begin so \\(sha256:[0-9a-f]{64}, sha256:[0-9a-f]{64}\\); give more of its digits\\n$`,
        ),
      );
      assertEquals(await Deno.stat(`${dir}/both.tar`).catch(() => undefined), undefined);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
    await fx.stop();
  }
});

/** An oci-archive of two unnamed images whose manifest digests begin with the same 4 digits
 * (found by varying an annotation); returns `sha256:` and those digits. */
async function twins(file: string): Promise<string> {
  const layer = makeTar([{ path: "twin", content: "twin\n" }]);
  const config = enc.encode(JSON.stringify({
    architecture: HOST_ARCH,
    os: "linux",
    rootfs: { type: "layers", diff_ids: [sha256(layer)] },
  }));
  const manifestOf = (n: number) =>
    enc.encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: sha256(config),
        size: config.length,
      },
      layers: [{
        mediaType: "application/vnd.oci.image.layer.v1.tar",
        digest: sha256(layer),
        size: layer.length,
      }],
      annotations: { n: String(n) },
    }));
  const seen = new Map<string, Uint8Array>();
  let pair: [Uint8Array, Uint8Array] | undefined;
  for (let n = 0; !pair; n++) {
    const m = manifestOf(n);
    const prefix = sha256(m).slice(0, 11);
    const earlier = seen.get(prefix);
    if (earlier) pair = [earlier, m];
    else seen.set(prefix, m);
  }
  const blob = (bytes: Uint8Array) => ({
    path: `blobs/sha256/${sha256(bytes).slice(7)}`,
    content: bytes,
  });
  await Deno.writeFile(
    file,
    makeTar([
      { path: "oci-layout", content: '{"imageLayoutVersion":"1.0.0"}' },
      blob(layer),
      blob(config),
      ...pair.map(blob),
      {
        path: "index.json",
        content: JSON.stringify({
          schemaVersion: 2,
          manifests: pair.map((m) => ({
            mediaType: "application/vnd.oci.image.manifest.v1+json",
            digest: sha256(m),
            size: m.length,
          })),
        }),
      },
    ]),
  );
  return sha256(pair[0]).slice(0, 11);
}
