// `skiff unpack --format ext4` as a user runs it: --json, --size/--free/--journal, usage errors,
// one-line failures with no file left.

import { assert, assertEquals, assertMatch } from "../../_assert.ts";
import { skiff } from "../../_cli.ts";
import { debugfs, e2fsck } from "../../_ext4.ts";
import { startFixture } from "../../_fixture.ts";
import { sha256 } from "../../_images.ts";
import { tempDir } from "../../_temp.ts";

async function ls(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("cli unpack --format ext4: usage errors", async () => {
  const work = await tempDir();
  try {
    const help = await skiff(["unpack", "--help"]);
    for (const flag of ["--format F", "--size N", "--free N", "--journal", "--json"]) {
      assert(help.stdout.includes(flag), flag);
    }
    const cases: [string[], RegExp][] = [
      [["--format", "zip", "alpine", "f"], /--format must be directory, erofs or ext4, got "zip"/],
      [["--format", "erofs", "--free", "1M", "alpine", "f"], /--free needs --format ext4/],
      [["--size", "1G", "alpine", "d"], /--size needs --format ext4/],
      [["--journal", "alpine", "d"], /--journal needs --format ext4/],
      [["--format", "ext4", "--size", "1G", "--free", "1M", "alpine", "f"], /cannot be used/],
      [["--format", "ext4", "--free", "lots", "alpine", "f"], /--free must be a positive/],
      // never rounded: whole 4 KiB blocks or a usage error, before anything is read
      [
        ["--format", "ext4", "--size", "10000", "alpine", "f"],
        /^skiff: --size 10000 is not a whole number of 4 KiB blocks \(8192 or 12288 would be\)\n$/,
      ],
      [
        ["--format", "ext4", "--free", "1K", "alpine", "f"],
        /^skiff: --free 1024 is not a whole number of 4 KiB blocks \(4096 would be\)\n$/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await skiff(["unpack", "--store", work, ...args]);
      assertEquals(r.code, 2, args.join(" "));
      assertMatch(r.stderr, /^skiff: /);
      assertMatch(r.stderr, message, args.join(" "));
      assertEquals(r.stdout, "");
    }
    assertEquals(await ls(work), []);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("cli unpack --format ext4: an image, its --json, and failures", async () => {
  const fx = await startFixture();
  const work = await tempDir();
  try {
    const store = `${work}/store`;
    const ref = `${fx.host}/test/multi:1`;
    const r = await skiff([
      "unpack",
      "--store",
      store,
      "--format",
      "ext4",
      "--free",
      "8M",
      "--json",
      ref,
      `${work}/a.ext4`,
    ]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stderr, "");
    const json = JSON.parse(r.stdout);
    const bytes = await Deno.readFile(`${work}/a.ext4`);
    assertEquals(json.format, "ext4");
    assertEquals(json.path, `${work}/a.ext4`);
    assertEquals(json.image, { size: bytes.byteLength }); // free space: not hashed
    assertEquals(json.layers, 2);
    assertMatch(json.digest, /^sha256:[0-9a-f]{64}$/);
    await e2fsck(`${work}/a.ext4`);
    assertEquals(await debugfs(`${work}/a.ext4`, "cat /etc/os-release"), "NAME=skiff-test\n");
    const free = Number(/Free blocks:\s+(\d+)/.exec(await debugfs(`${work}/a.ext4`, "stats"))?.[1]);
    assert(free * 4096 >= 8 * 1024 ** 2, `${free} free blocks`);

    // the plain line, and a journal
    const ext4 = ["unpack", "--store", store, "--format", "ext4"];
    const j = await skiff([...ext4, "--journal", ref, `${work}/b.ext4`]);
    assertEquals(j.code, 0, j.stderr);
    assertMatch(j.stderr, /b\.ext4: \d+ entries from 2 layers, .*; an ext4 image of /);
    assert((await debugfs(`${work}/b.ext4`, "stats")).includes("has_journal"));
    await e2fsck(`${work}/b.ext4`);
    // just big enough: the digest of the file
    const plain = await skiff([...ext4, "--json", ref, `${work}/p.ext4`]);
    assertEquals(plain.code, 0, plain.stderr);
    const p = await Deno.readFile(`${work}/p.ext4`);
    assertEquals(JSON.parse(plain.stdout).image, { size: p.byteLength, digest: sha256(p) });
    await Deno.remove(`${work}/p.ext4`);

    // too small: one line, exit 1, nothing left
    const small = await skiff([...ext4, "-q", "--size", "8K", ref, `${work}/c.ext4`]);
    assertEquals(small.code, 1);
    assertMatch(
      small.stderr,
      /^skiff: Cannot unpack .*multi:1: cannot write the ext4 image: the image needs \d+ bytes, more than the size 8192\n$/,
    );
    // an existing file is not replaced
    const before = sha256(await Deno.readFile(`${work}/a.ext4`));
    const exists = await skiff([...ext4, "-q", ref, `${work}/a.ext4`]);
    assertEquals([exists.code, exists.stderr], [
      1,
      `skiff: Cannot unpack into ${work}/a.ext4: it exists\n`,
    ]);
    assertEquals(sha256(await Deno.readFile(`${work}/a.ext4`)), before);
    assertEquals(await ls(work), ["a.ext4", "b.ext4", "store"]);
  } finally {
    await fx.stop();
    await Deno.remove(work, { recursive: true });
  }
});
