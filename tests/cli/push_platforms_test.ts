// `skiff push --platform`: from a stored multi-platform entry, every platform (the index byte for
// byte), one (its manifest), a list (the index rewritten, said on stderr), and a platform that is
// not stored (one line naming it and what is). The destination is a real registry; skopeo reads
// what it serves.

import { assert, assertEquals, assertMatch, assertRejects } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { mustRun, sha256 } from "../_images.ts";
import { startRegistry } from "../_registry.ts";
import { tempDir } from "../_temp.ts";
import { startThreePlatforms } from "../_three_platforms.ts";
import { push } from "../../lib/copy/push.ts";
import { pull } from "../../lib/pull/pull.ts";
import { ImageNotFoundError } from "../../lib/store/image_not_found_error.ts";
import { MediaType } from "../../lib/oci/media_types.ts";

/** What the destination serves for `ref`: its exact bytes, their digest, and the document. */
async function served(ref: string) {
  const raw = await mustRun("skopeo", [
    "inspect",
    "--raw",
    "--tls-verify=false",
    `docker://${ref}`,
  ]);
  return {
    digest: sha256(raw),
    doc: JSON.parse(new TextDecoder().decode(raw)) as {
      mediaType?: string;
      manifests?: { digest: string }[];
    },
  };
}

Deno.test("skiff push --platform from a stored index: all, one, a list, one not stored", async (t) => {
  const src = await startThreePlatforms();
  const dest = await startRegistry();
  try {
    const name = `${src.host}/test/three:1`;
    const full = `${await tempDir()}/full`; // every platform and the attestation
    const pulled = await skiff(["pull", "-q", "--platform", "all", "--store", full, name]);
    assertEquals(pulled.code, 0, pulled.stderr);
    assertEquals(pulled.stdout.trim(), `${name} ${src.index.digest}`);

    await t.step("default and all: the index byte for byte, nothing said", async () => {
      for (const [args, tag] of [[[], "default"], [["--platform", "all"], "all"]] as const) {
        const r = await skiff([
          "push",
          "-q",
          "--store",
          full,
          ...args,
          name,
          `${dest.host}/p/three:${tag}`,
        ]);
        assertEquals(r.code, 0, r.stderr);
        assertEquals(r.stdout, `${dest.host}/p/three:${tag} ${src.index.digest}\n`);
        assertEquals(r.stderr, "");
        assertEquals((await served(`${dest.host}/p/three:${tag}`)).digest, src.index.digest);
      }
      // every platform's manifest is there too, by digest
      for (const d of [src.amd64, src.arm64, src.armv7, src.attestation]) {
        assertEquals((await served(`${dest.host}/p/three@${d.digest}`)).digest, d.digest);
      }
    });

    await t.step("one platform: its manifest alone, said on stderr", async () => {
      const r = await skiff([
        "push",
        "-q",
        "--json",
        "--store",
        full,
        "--platform",
        "linux/arm64",
        name,
        `${dest.host}/p/three:arm64`,
      ]);
      assertEquals(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assertEquals([out.digest, out.root, out.platforms], [src.arm64.digest, "platform", [
        "linux/arm64/v8",
      ]]);
      assertMatch(r.stderr, /^skiff: note: only linux\/arm64\/v8 was pushed/);
      assertEquals((await served(`${dest.host}/p/three:arm64`)).digest, src.arm64.digest);
    });

    await t.step("a list: the index rewritten (with the kept platform's attestation)", async () => {
      const r = await skiff([
        "push",
        "-q",
        "--json",
        "--store",
        full,
        "--platform",
        "linux/amd64,linux/arm/v7",
        name,
        `${dest.host}/p/three:two`,
      ]);
      assertEquals(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assertEquals(out.root, "rewritten");
      assertEquals(out.sourceDigest, src.index.digest);
      assert(out.digest !== src.index.digest);
      assertMatch(
        r.stderr,
        new RegExp(
          `^skiff: note: the index was rewritten to list linux/amd64, linux/arm/v7: its digest is ${out.digest}, not the stored index's ${src.index.digest}\\n$`,
        ),
      );
      const s = await served(`${dest.host}/p/three:two`);
      assertEquals(s.digest, out.digest);
      assertEquals(s.doc.mediaType, MediaType.OciIndex);
      assertEquals(s.doc.manifests?.map((m) => m.digest), [
        src.amd64.digest,
        src.armv7.digest,
        src.attestation.digest,
      ]);
      // skopeo copies the whole rewritten index back (every blob verified by skopeo)
      const back = `${await tempDir()}/back`;
      await mustRun("skopeo", [
        "copy",
        "--quiet",
        "--all",
        "--src-tls-verify=false",
        `docker://${dest.host}/p/three:two`,
        `oci:${back}:x`,
      ]);
    });

    await t.step("a platform not stored: one line naming it and what is stored", async () => {
      const r = await skiff([
        "push",
        "--store",
        full,
        "--platform",
        "linux/amd64,linux/s390x",
        name,
        `${dest.host}/p/three:no`,
      ]);
      assertEquals(r.code, 1);
      assertEquals(
        r.stderr,
        `skiff: Cannot push ${name}: platform linux/s390x is not in the store ` +
          `(stored: linux/amd64, linux/arm64/v8, linux/arm/v7)\n`,
      );
      // nothing was written at the destination
      const tags = await fetch(`${dest.url}/v2/p/three/tags/list`).then((x) => x.json());
      assert(!tags.tags.includes("no"));
    });

    // a store that holds two of the three platforms (pull of a list keeps the whole index)
    const part = `${await tempDir()}/part`;
    const p2 = await skiff([
      "pull",
      "-q",
      "--platform",
      "linux/amd64,linux/arm64",
      "--store",
      part,
      name,
    ]);
    assertEquals(p2.code, 0, p2.stderr);

    await t.step(
      "default from a partial index: the stored platforms, rewritten, said",
      async () => {
        const r = await skiff([
          "push",
          "--json",
          "-q",
          "--store",
          part,
          name,
          `${dest.host}/q/three:1`,
        ]);
        assertEquals(r.code, 0, r.stderr);
        const out = JSON.parse(r.stdout);
        assertEquals([out.root, out.platforms], ["rewritten", ["linux/amd64", "linux/arm64/v8"]]);
        assertMatch(
          r.stderr,
          /^skiff: note: the index was rewritten to list linux\/amd64, linux\/arm64\/v8/,
        );
        // the attestation was never pulled: it is left out, not failed on
        const s = await served(`${dest.host}/q/three:1`);
        assertEquals(s.digest, out.digest);
        assertEquals(s.doc.manifests?.map((m) => m.digest), [src.amd64.digest, src.arm64.digest]);
      },
    );

    await t.step("all from a partial index: one line naming what is missing", async () => {
      const r = await skiff([
        "push",
        "--store",
        part,
        "--platform",
        "all",
        name,
        `${dest.host}/q/three:all`,
      ]);
      assertEquals(r.code, 1);
      assertEquals(r.stderr.split("\n").length, 2, r.stderr);
      assertMatch(
        r.stderr,
        new RegExp(
          `^skiff: Cannot push ${
            name.replaceAll(".", "\\.")
          }: --platform all needs everything its index lists, ` +
            `and linux/arm/v7, the attestation sha256:[0-9a-f]{12} are not in the store ` +
            `\\(stored: linux/amd64, linux/arm64/v8; `,
        ),
      );
    });

    await t.step("the module: push() takes platforms as a list or an array", async () => {
      const r = await push(name, `${dest.host}/m/three:1`, {
        store: full,
        platforms: [{ os: "linux", architecture: "arm64" }, {
          os: "linux",
          architecture: "arm",
          variant: "v7",
        }],
      });
      assertEquals(r.root, "rewritten");
      assertEquals((await served(`${dest.host}/m/three:1`)).doc.manifests?.map((m) => m.digest), [
        src.arm64.digest,
        src.armv7.digest,
      ]);
      const same = await push(name, `${dest.host}/m/three:2`, { store: full, platforms: "all" });
      assertEquals([same.root, same.digest], ["same", src.index.digest]);
      await assertRejects(
        () => push(name, `${dest.host}/m/three:3`, { store: part, platforms: "linux/arm/v7" }),
        ImageNotFoundError,
        "platform linux/arm/v7 is not in the store (stored: linux/amd64, linux/arm64/v8)",
      );
    });

    await t.step(
      "a Docker manifest list: the list as the registry had it, or rewritten",
      async () => {
        const list = `${src.host}/test/three-docker:1`;
        const store = `${await tempDir()}/docker`;
        await pull(list, { store, platform: "all" });
        const same = await push(list, `${dest.host}/d/three:1`, { store });
        assertEquals([same.root, same.digest], ["same", src.dockerList]);
        assertEquals((await served(`${dest.host}/d/three:1`)).digest, src.dockerList);
        const two = await push(list, `${dest.host}/d/three:2`, {
          store,
          platforms: "linux/arm64,linux/arm/v7",
        });
        assertEquals(two.root, "rewritten");
        const s = await served(`${dest.host}/d/three:2`);
        assertEquals([s.digest, s.doc.mediaType], [two.digest, MediaType.DockerManifestList]);
        assertEquals(s.doc.manifests?.length, 2);
      },
    );

    await t.step("a single-platform entry: --platform must be its platform", async () => {
      const one = `${await tempDir()}/one`;
      await pull(name, { store: one, platform: "linux/arm/v7" });
      const ok = await push(name, `${dest.host}/s/three:1`, {
        store: one,
        platforms: "linux/arm/v7",
      });
      assertEquals(ok.digest, src.armv7.digest);
      await assertRejects(
        () => push(name, `${dest.host}/s/three:2`, { store: one, platforms: "linux/amd64" }),
        ImageNotFoundError,
        `Cannot push ${name}: platform linux/amd64 is not in the store (stored: linux/arm/v7)`,
      );
    });
  } finally {
    await dest.stop();
    await src.stop();
  }
});
