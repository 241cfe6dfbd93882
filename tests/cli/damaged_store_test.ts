// A damaged store heals or fails clearly, one image at a time: small blobs (indexes, manifests,
// configs) with a byte flipped (same size) are found when read and replaced by the next pull;
// images, fsck, gc and unpack report a damaged or malformed entry as that entry's problem and go
// on; index.json entries of any shape are read the same way by every command.

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { type Fixture, startFixture } from "../_fixture.ts";
import { tempDir } from "../_temp.ts";

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "");
}

function blobPath(store: string, digest: string): string {
  return `${store}/blobs/sha256/${digest.slice("sha256:".length)}`;
}

/** Flips one byte in the middle of a blob: same size, another digest. */
async function flipByte(store: string, digest: string): Promise<void> {
  const path = blobPath(store, digest);
  const bytes = await Deno.readFile(path);
  const at = Math.floor(bytes.length / 2);
  bytes[at] = bytes[at]! ^ 0x01;
  await Deno.writeFile(path, bytes);
}

function blobNames(store: string): string[] {
  return [...Deno.readDirSync(`${store}/blobs/sha256`)].map((e) => e.name).sort();
}

async function intact(store: string): Promise<void> {
  const fsck = await skiff(["fsck", "--store", store]);
  assertEquals(fsck.code, 0, fsck.stdout + fsck.stderr);
}

async function configOf(store: string, manifest: string): Promise<string> {
  return JSON.parse(await Deno.readTextFile(blobPath(store, manifest))).config.digest;
}

async function withStore(fn: (store: string) => Promise<void>): Promise<void> {
  const dir = await tempDir({ prefix: "skiff-damaged-" });
  try {
    await fn(`${dir}/s`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("cli: a damaged store heals or fails clearly, one image at a time", async (t) => {
  const fx: Fixture = await startFixture();
  const single = `${fx.host}/test/single:1`;
  const multi = `${fx.host}/test/multi:1`;
  try {
    for (
      const [what, target] of [["manifest", "single"], ["config", "single"], ["index", "multi"]]
    ) {
      await t.step(`pull replaces a ${what} with one byte flipped (same size)`, async () => {
        await withStore(async (store) => {
          const ref = target === "single" ? single : multi;
          const first = await skiff(["pull", "-q", "--store", store, ref]);
          assertEquals(first.code, 0, first.stderr);
          const digest = first.stdout.trim().split(" ")[1]!;
          const damaged = what === "manifest"
            ? digest
            : what === "config"
            ? await configOf(store, digest)
            : fx.multi.digest;
          const before = await Deno.readFile(blobPath(store, damaged));
          await flipByte(store, damaged);
          const again = await skiff(["pull", "-q", "--store", store, ref]);
          assertEquals([again.code, again.stdout, again.stderr], [0, first.stdout, ""]);
          assertEquals(await Deno.readFile(blobPath(store, damaged)), before);
          await intact(store);
          // --pull missing does not trust it either: it goes to the registry and mends it (it
          // does not read the index at all: the entry names the platform's manifest)
          if (what === "index") return;
          await flipByte(store, damaged);
          const missing = await skiff(["pull", "-q", "--pull", "missing", "--store", store, ref]);
          assertEquals([missing.code, missing.stdout], [0, first.stdout], missing.stderr);
          await intact(store);
        });
      });
    }

    await t.step(
      "images, fsck, gc, unpack: a damaged manifest is that image's problem",
      async () => {
        await withStore(async (store) => {
          // test/single:1 is the same image as multi's amd64 entry: take its arm64 one
          assertEquals((await skiff(["pull", "-q", "--store", store, single])).code, 0);
          const other = ["pull", "-q", "--platform", "linux/arm64", "--store", store, multi];
          assertEquals((await skiff(other)).code, 0);
          const digest = (await skiff(["pull", "-q", "--store", store, single])).stdout.split(
            " ",
          )[1]!
            .trim();
          await flipByte(store, digest);
          const images = await skiff(["images", "--store", store]);
          assertEquals(images.code, 0, images.stderr);
          const shown = lines(images.stdout);
          assertEquals(shown.length, 3, images.stdout);
          const bad = shown.find((l) => l.startsWith(single))!;
          assertMatch(bad, /damaged: .*sha256/);
          assert(!shown.find((l) => l.startsWith(multi))!.includes("damaged"), images.stdout);
          const json = JSON.parse((await skiff(["images", "--json", "--store", store])).stdout);
          assertEquals(json.map((i: { complete: boolean }) => i.complete), [false, true]);

          const fsck = await skiff(["fsck", "--store", store]);
          assertEquals(fsck.code, 1);
          assertStringIncludes(fsck.stdout, `corrupt blob ${digest}`);
          assertStringIncludes(fsck.stdout, "checked 2 images");

          const blobsBefore = blobNames(store).length;
          const gc = await skiff(["gc", "--store", store]);
          assertEquals(gc.code, 0, gc.stderr);
          assertMatch(gc.stderr, new RegExp(`warning: ${single.replaceAll(".", "\\.")}: .*kept`));
          // the damaged manifest still names its config and layers: nothing was deleted
          assertEquals(blobNames(store).length, blobsBefore);

          // unpack does not trust the damaged manifest: it pulls it again, then unpacks
          const root = `${store}-root`;
          try {
            const unpack = await skiff(["unpack", "-q", "--store", store, single, root]);
            assertEquals(unpack.code, 0, unpack.stderr);
            assertEquals(await Deno.readTextFile(`${root}/etc/os-release`), "NAME=skiff-test\n");
          } finally {
            await Deno.remove(root, { recursive: true }).catch(() => {});
          }
          await intact(store);
        });
      },
    );

    await t.step(
      "index.json entries of any shape: the same answer from every command",
      async () => {
        await withStore(async (store) => {
          assertEquals((await skiff(["pull", "-q", "--store", store, single])).code, 0);
          const arm = ["pull", "-q", "--platform", "linux/arm64", "--store", store, multi];
          assertEquals((await skiff(arm)).code, 0);
          const index = JSON.parse(await Deno.readTextFile(`${store}/index.json`));
          const [one, two] = index.manifests;
          // a media type with parameters, and none at all: still images whose blobs gc keeps
          one.mediaType += "; charset=utf-8";
          delete two.mediaType;
          await Deno.writeTextFile(`${store}/index.json`, JSON.stringify(index));
          const blobsBefore = blobNames(store);
          const images = JSON.parse((await skiff(["images", "--json", "--store", store])).stdout);
          assertEquals(images.map((i: { complete: boolean }) => i.complete), [true, true]);
          await intact(store);
          const gc = await skiff(["gc", "--store", store]);
          assertEquals([gc.code, gc.stderr], [0, ""]);
          assertEquals(blobNames(store), blobsBefore);

          // fields of the wrong type, and entries that are not objects
          index.manifests.push(
            { ...two, size: "12" },
            { ...one, annotations: { "org.opencontainers.image.ref.name": 7 } },
            { ...one, platform: "linux/amd64" },
            { ...one, digest: 42 },
            null,
            "junk",
          );
          await Deno.writeTextFile(`${store}/index.json`, JSON.stringify(index));
          const listed = await skiff(["images", "--store", store]);
          assertEquals(listed.code, 0, listed.stderr);
          assertEquals(lines(listed.stdout).length, 1 + 8, listed.stdout);
          assert(!listed.stderr.includes("TypeError"), listed.stderr);
          const report = JSON.parse((await skiff(["images", "--json", "--store", store])).stdout);
          assertEquals(
            report.map((i: { problems: string[] }) => i.problems.length > 0),
            [false, false, true, true, true, true, true, true],
          );
          const fsck = await skiff(["fsck", "--json", "--store", store]);
          assertEquals(fsck.code, 1);
          const problems = JSON.parse(fsck.stdout).problems;
          assertEquals(problems.length, 6, JSON.stringify(problems));
          const gc2 = await skiff(["gc", "--store", store]);
          assertEquals(gc2.code, 0, gc2.stderr);
          assertEquals(blobNames(store), blobsBefore);
          // rm and pull work on such a store; a pull replaces the malformed entries of its name
          const rm = await skiff(["rm", "--store", store, multi]);
          assertEquals(rm.code, 0, rm.stderr);
          const pull = await skiff(["pull", "-q", "--store", store, single]);
          assertEquals(pull.code, 0, pull.stderr);
          const after = JSON.parse((await skiff(["images", "--json", "--store", store])).stdout);
          const named = after.filter((i: { name: string }) => i.name === single);
          assertEquals(named.length, 1, JSON.stringify(after));
          assertEquals([named[0].problems, named[0].complete], [[], true]);
        });
      },
    );
  } finally {
    await fx.stop();
  }
});
