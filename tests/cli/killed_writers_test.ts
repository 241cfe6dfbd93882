// A kill leaves hidden files that something removes (issue 18, class 3). Each writer (save,
// export, unpack --format erofs|ext4, --layers) is SIGKILLed while it writes its temporary (an
// image whose one layer is 1 GiB, sparse in the store, keeps it writing; it is stopped with
// SIGSTOP the moment its temporary appears); the next run into the same place and gc remove what
// it left. While a writer is alive (stopped, still holding its lock), neither a second run into
// the same place nor gc touches its temporary. A killed creation of the store itself likewise.

import { assert, assertEquals } from "../_assert.ts";
import { skiff, spawnSkiff } from "../_cli.ts";
import { HOST_ARCH, startFixture } from "../_fixture.ts";
import { sha256 } from "../_images.ts";
import { makeTar } from "../_tar.ts";
import { childWriter } from "../_child_writer.ts";
import { names, tempDir } from "../_temp.ts";

const TEMPS = new URL("../../lib/store/_temp_files.ts", import.meta.url).href;
const GIB = 1024 ** 3;

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/**
 * Adds to the store `name`: an image of one uncompressed layer holding a 1 GiB file of zeros,
 * sparse on disk. Its digests are made up (nothing reads it to the end: the writers are killed).
 */
async function addBigImage(store: string, name: string): Promise<void> {
  const header = makeTar([{ path: "big", content: "", size: GIB }]).subarray(0, 512);
  const layerDigest = `sha256:${"5a".repeat(32)}`;
  const layerSize = 512 + GIB + 1024;
  const layer = await Deno.open(`${store}/blobs/sha256/${layerDigest.slice(7)}`, {
    write: true,
    createNew: true,
  });
  await layer.write(header);
  await layer.truncate(layerSize);
  layer.close();
  const put = async (bytes: Uint8Array) => {
    const digest = sha256(bytes);
    await Deno.writeFile(`${store}/blobs/sha256/${digest.slice(7)}`, bytes);
    return { digest, size: bytes.length };
  };
  const enc = new TextEncoder();
  const config = await put(enc.encode(JSON.stringify({
    architecture: HOST_ARCH,
    os: "linux",
    rootfs: { type: "layers", diff_ids: [layerDigest] },
  })));
  const manifest = await put(enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: [{
      mediaType: "application/vnd.oci.image.layer.v1.tar",
      digest: layerDigest,
      size: layerSize,
    }],
  })));
  const index = JSON.parse(await Deno.readTextFile(`${store}/index.json`));
  index.manifests.push({
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    ...manifest,
    annotations: { "org.opencontainers.image.ref.name": name },
    platform: { architecture: HOST_ARCH, os: "linux" },
  });
  await Deno.writeTextFile(`${store}/index.json`, JSON.stringify(index));
}

/**
 * Starts `args`, waits for a temporary matching `match` to appear in `dir`, and stops the writer
 * there (SIGSTOP: alive, its locks held, writing nothing more).
 */
async function stopMidWrite(args: string[], dir: string, match: (name: string) => boolean) {
  const child = spawnSkiff(args);
  let ended = false;
  const output = child.output().finally(() => ended = true);
  let temps: string[] = [];
  const deadline = Date.now() + 120_000; // a bound against a hang, not a timing assertion
  while (temps.length === 0) {
    if (ended) {
      const o = await output;
      throw new Error(
        `${args[0]} ended (${o.code}) before a temporary appeared: ${
          new TextDecoder().decode(o.stderr)
        }`,
      );
    }
    if (Date.now() > deadline) throw new Error(`no temporary in ${dir}: ${await names(dir)}`);
    temps = (await names(dir)).filter(match).map((n) => `${dir}/${n}`);
    if (temps.length === 0) await new Promise((r) => setTimeout(r, 10));
  }
  child.kill("SIGSTOP");
  return {
    temps,
    /** SIGKILL (also a stopped process): what a kill -9 leaves. */
    async kill() {
      child.kill("SIGKILL");
      const o = await output;
      assertEquals(o.signal, "SIGKILL", new TextDecoder().decode(o.stderr));
    },
  };
}

/** A temporary of a store's creation, left as a killed (`kill`) or running (`hold`) one would. */
function leaveTempDir(parent: string, base: string, mode: "kill" | "hold") {
  return childWriter(
    `
    import { createTempDir, tempName } from ${JSON.stringify(TEMPS)};
    const name = tempName(${JSON.stringify(base)}, "new");
    await createTempDir(${JSON.stringify(parent)}, name);
    await Deno.writeTextFile(${JSON.stringify(parent)} + "/" + name + "/oci-layout", "{}");
    console.log(${JSON.stringify(parent)} + "/" + name);
  `,
    mode,
  );
}

Deno.test("cli: what killed writers leave is removed by the next run and by gc", async (t) => {
  const fx = await startFixture();
  const dir = await tempDir({ prefix: "skiff-killed-" });
  const store = `${dir}/store`;
  const single = `${fx.host}/test/single:1`;
  const big = `${fx.host}/test/big:1`;
  try {
    assertEquals((await skiff(["pull", "-q", "--store", store, single])).code, 0);
    await addBigImage(store, big);
    const base = ["--store", store, "--pull", "never"];

    const writers: {
      name: string;
      args: (ref: string, out: string) => string[];
      disk?: boolean;
      layers?: boolean;
    }[] = [
      { name: "save", args: (ref: string, out: string) => ["save", "-q", ...base, ref, "-o", out] },
      {
        name: "export",
        args: (ref: string, out: string) => ["export", "-q", ...base, ref, "-o", out],
      },
      ...(["erofs", "ext4"] as const).map((format) => ({
        name: `unpack --format ${format}`,
        args: (ref: string, out: string) => ["unpack", "-q", "--format", format, ...base, ref, out],
        disk: true,
      })),
      {
        name: "unpack --layers",
        args: (
          ref: string,
          out: string,
        ) => ["unpack", "-q", "--format", "erofs", "--layers", out, ...base, ref],
        layers: true,
      },
    ];
    for (const w of writers) {
      await t.step(
        `${w.name}: a live writer's temporary is kept; a killed one's removed by the next run and by gc`,
        async () => {
          const room = `${dir}/${w.name.replaceAll(/[ -]+/g, "-")}`;
          await Deno.mkdir(room);
          const target = w.layers ? `${room}/layers` : `${room}/out`;
          const home = w.layers ? target : room;
          if (w.layers) await Deno.mkdir(target);
          const isTemp = (name: string) =>
            w.layers ? name.includes(".skiff-") : name.startsWith(".out.skiff-");

          // a writer that is alive (stopped mid-write): the next run and gc leave its temporary
          const alive = await stopMidWrite(w.args(big, target), home, isTemp);
          try {
            const next = await skiff(w.args(single, target));
            assertEquals([next.code, next.stderr], [0, ""], "a second run into the same place");
            for (const temp of alive.temps) assert(await exists(temp), `${temp} of a live writer`);
            const gc = await skiff(["gc", "--json", "--store", store]);
            assertEquals(gc.code, 0, gc.stderr);
            assertEquals(JSON.parse(gc.stdout).unpacks, []);
            for (const temp of alive.temps) assert(await exists(temp), `${temp} of a live writer`);
          } finally {
            await alive.kill();
          }
          // killed: left behind, until the next run into the same place
          for (const temp of alive.temps) assert(await exists(temp), `${temp} left by the kill`);
          if (w.disk) await Deno.remove(target); // the second run's image: the next one makes it again
          const rerun = await skiff(w.args(single, target));
          assertEquals([rerun.code, rerun.stderr], [0, ""], "the re-run");
          for (const temp of alive.temps) {
            assertEquals(await exists(temp), false, `${temp} after the re-run`);
          }
          assertEquals((await names(home)).filter(isTemp), []);

          // killed again: gc finds it through the store's note
          if (w.disk) await Deno.remove(target);
          const killed = await stopMidWrite(w.args(big, target), home, isTemp);
          await killed.kill();
          const dry = await skiff(["gc", "--dry-run", "--store", store]);
          for (const temp of killed.temps) {
            assert(dry.stdout.includes(`would delete unfinished output ${temp}\n`), dry.stdout);
            assert(await exists(temp), `${temp} after a dry run`);
          }
          const gc = await skiff(["gc", "--json", "--store", store]);
          assertEquals(gc.code, 0, gc.stderr);
          assertEquals(JSON.parse(gc.stdout).unpacks, killed.temps);
          assertEquals((await names(home)).filter(isTemp), []);
        },
      );
    }

    await t.step(
      "a killed creation of the store: removed by the next creation, and by gc",
      async () => {
        const parent = `${dir}/stores`;
        await Deno.mkdir(parent);
        const killed = await leaveTempDir(parent, "s", "kill");
        const held = await leaveTempDir(parent, "s", "hold");
        try {
          assertEquals((await names(parent)).length, 2);
          const r = await skiff(["pull", "-q", "--store", `${parent}/s`, single]);
          assertEquals([r.code, r.stderr], [0, ""]);
          assertEquals(await exists(killed.path), false, "the killed creation's directory");
          assert(await exists(held.path), "a running creation's directory");
        } finally {
          await held.stop();
        }
        // the running one was killed meanwhile, after the store was made: gc finds it beside it
        const gc = await skiff(["gc", "--json", "--store", `${parent}/s`]);
        assertEquals(JSON.parse(gc.stdout).unpacks, [held.path]);
        assertEquals(await names(parent), ["s"]);
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await fx.stop();
  }
});
