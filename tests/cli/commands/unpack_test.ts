// `skiff unpack` as a user runs it: exit codes, one-line errors, stdout for the result line.

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../../_assert.ts";
import { skiff } from "../../_cli.ts";
import { HOST_ARCH, startFixture } from "../../_fixture.ts";
import { gzip, sha256 } from "../../_images.ts";
import { pushImage } from "../../_push.ts";
import { makeTar } from "../../_tar.ts";
import { tempDir } from "../../_temp.ts";

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "");
}

async function ls(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("cli unpack: help and usage errors", async () => {
  const help = await skiff(["--help"]);
  assertStringIncludes(help.stdout, "unpack REF DIR");
  const own = await skiff(["unpack", "--help"]);
  assertEquals(own.code, 0);
  for (const flag of ["--store", "--platform", "--plain-http", "--max-entries", "--max-bytes"]) {
    assertStringIncludes(own.stdout, flag);
  }
  const work = await tempDir();
  const cases: [string[], RegExp][] = [
    [["unpack", "--store", work, "alpine"], /missing directory/],
    [["unpack", "--store", work], /missing image reference/],
    [["unpack", "--store", work, "alpine", "a", "b"], /a reference and a directory/],
    [["unpack", "--store", work, "--max-bytes", "lots", "alpine", "d"], /--max-bytes/],
    [["unpack", "--store", work, "--max-entries", "1k", "alpine", "d"], /--max-entries/],
    [["unpack", "--store", work, "Bad/Name", "d"], /lowercase/],
    [["unpack", "--store", work, "--pull", "sometimes", "alpine", "d"], /--pull must be/],
    [["unpack", "--store", work, "--jobs", "0", "alpine", "d"], /--jobs must be/],
  ];
  for (const [args, message] of cases) {
    const r = await skiff(args);
    assertEquals(r.code, 2, args.join(" "));
    assertMatch(r.stderr, /^skiff: /);
    assertMatch(r.stderr, message, args.join(" "));
    assertEquals(r.stdout, "");
  }
  assertEquals(await ls(work), []);
});

Deno.test("cli unpack: against the real registry", async (t) => {
  const fx = await startFixture();
  try {
    await t.step("pulls when missing, prints one line, DIR holds the root", async () => {
      const work = await tempDir();
      const store = `${work}/store`;
      const ref = `${fx.host}/test/multi:1`;
      const r = await skiff(["unpack", "--store", store, ref, `${work}/root`]);
      assertEquals(r.code, 0, r.stderr);
      const want = HOST_ARCH === "amd64" ? fx.amd64.digest : fx.arm64.digest;
      assertEquals(r.stdout, `${ref} ${want}\n`);
      assertMatch(r.stderr, /pulled \(layer/);
      assertMatch(r.stderr, /unpacked \(layer 2 of 2, /);
      assertMatch(lines(r.stderr).at(-1)!, new RegExp(`^${work}/root: \\d+ entries from 2 layers`));
      assertEquals(await Deno.readTextFile(`${work}/root/etc/os-release`), "NAME=skiff-test\n");
      assertEquals(await ls(work), ["root", "store"]);
      // quiet, another platform (pulled, as the store has the host's)
      const arm = await skiff([
        "unpack",
        "-q",
        "--store",
        store,
        "--platform",
        "linux/arm64",
        ref,
        `${work}/arm`,
      ]);
      assertEquals([arm.code, arm.stdout, arm.stderr], [0, `${ref} ${fx.arm64.digest}\n`, ""]);
      // --json, from the store alone (the name now holds the arm64 image)
      const json = await skiff([
        "unpack",
        "--json",
        "--pull",
        "never",
        "--platform",
        "linux/arm64",
        "--store",
        store,
        ref,
        `${work}/again`,
      ]);
      assertEquals(json.code, 0, json.stderr);
      const result = JSON.parse(json.stdout);
      assertEquals([result.reference, result.digest, result.dir, result.layers, result.pulled], [
        ref,
        fx.arm64.digest,
        `${work}/again`,
        1,
        false,
      ]);
      assertEquals(await ls(`${work}/arm`), ["bin", "etc"]);
    });

    await t.step("failures: exit 1, one line, no DIR", async () => {
      const work = await tempDir();
      const store = `${work}/store`;
      await Deno.mkdir(`${work}/full`);
      await Deno.writeTextFile(`${work}/full/x`, "");
      const full = await skiff([
        "unpack",
        "--store",
        store,
        `${fx.host}/test/single:1`,
        `${work}/full`,
      ]);
      assertEquals(full.code, 1);
      assertEquals(lines(full.stderr), [
        `skiff: Cannot unpack into ${work}/full: the directory is not empty`,
      ]);

      const tar = makeTar([{ path: "../escape", content: "x" }]);
      await pushImage(fx.registry.url, "test/hostile", "1", [{
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
        bytes: await gzip(tar),
        diffId: sha256(tar),
      }]);
      const ref = `${fx.host}/test/hostile:1`;
      const r = await skiff(["unpack", "-q", "--store", store, ref, `${work}/root`]);
      assertEquals(r.code, 1);
      assertEquals(lines(r.stderr).length, 1, r.stderr);
      assertMatch(
        r.stderr,
        /^skiff: Cannot unpack .*hostile:1: layer 1 of 1 \(sha256:[0-9a-f]{64}\): entry "..\/escape": "..\/escape" climbs out of the root with ".."\n$/,
      );
      assert(!(await ls(work)).includes("root"));
      assertEquals((await ls(work)).filter((n) => n.startsWith(".")), []);

      const missing = await skiff(["unpack", "--store", store, `${fx.host}/test/nope:1`, "d"]);
      assertEquals(missing.code, 1);
      assertMatch(lines(missing.stderr).at(-1)!, /404 not found/);
    });
  } finally {
    await fx.stop();
  }
});
