// unpack into `.` and into an empty mount point (built inside the directory, no rename onto a busy
// one); the hidden directory a kill -9 leaves is removed by the next unpack into the same place
// and by gc, and one a running unpack holds is left alone.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { startFixture } from "../_fixture.ts";
import { run } from "../_images.ts";
import { childWriter } from "../_child_writer.ts";
import { names, tempDir } from "../_temp.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;
const TARGET = new URL("../../lib/store/output_directory.ts", import.meta.url).href;
const STORE = new URL("../../lib/store/store.ts", import.meta.url).href;

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "");
}

/**
 * A real unpack's building directory for `target`, locked and noted in `store` by a child
 * process, which then either dies by SIGKILL (`kill`) or keeps it until it is killed (`hold`).
 */
async function leaveBuild(target: string, store: string, mode: "kill" | "hold") {
  const code = `
    import { OutputDirectory } from ${JSON.stringify(TARGET)};
    import { Store } from ${JSON.stringify(STORE)};
    const build = await OutputDirectory.create(${JSON.stringify(target)}, {
      kind: "unpack",
      store: await Store.open(${JSON.stringify(store)}),
    });
    await Deno.writeTextFile(build.dir + "/half-written", "x");
    console.log(build.dir);
  `;
  const child = await childWriter(code, mode);
  assert(child.path.includes(".skiff-unpack-"), `no build dir: ${child.path}`);
  return { dir: child.path, stop: child.stop };
}

Deno.test("cli: unpack into . and an empty mount point; leftovers of a kill -9", async (t) => {
  const fx = await startFixture();
  const dir = await tempDir({ prefix: "skiff-target-" });
  const store = `${dir}/store`;
  const single = `${fx.host}/test/single:1`;
  try {
    assertEquals((await skiff(["pull", "-q", "--store", store, single])).code, 0);

    await t.step("unpack IMG . in an empty working directory", async () => {
      const cwd = `${dir}/cwd`;
      await Deno.mkdir(cwd);
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", CLI, "unpack", "-q", "--store", store, single, "."],
        cwd,
        env: { NO_COLOR: "1" },
      }).output();
      assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
      assertEquals(await names(cwd), ["bin", "data", "etc"]);
      assertEquals(await Deno.readTextFile(`${cwd}/etc/os-release`), "NAME=skiff-test\n");
      // the directory takes the image root's mode, as a directory unpack makes would have
      const made = `${dir}/made`;
      assertEquals((await skiff(["unpack", "-q", "--store", store, single, made])).code, 0);
      assertEquals((await Deno.stat(cwd)).mode! & 0o7777, (await Deno.stat(made)).mode! & 0o7777);
      // a second time: not empty any more, refused before any work
      const again = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", CLI, "unpack", "--store", store, single, "."],
        cwd,
      }).output();
      assertEquals(again.code, 1);
      assertEquals(lines(new TextDecoder().decode(again.stderr)), [
        "skiff: Cannot unpack into .: the directory is not empty",
      ]);
    });

    await t.step({
      name: "unpack into an empty mount point (a tmpfs), and refused when not empty",
      ignore: Deno.uid() !== 0,
      fn: async () => {
        const mnt = `${dir}/mnt`;
        await Deno.mkdir(mnt);
        const mount = await run("mount", ["-t", "tmpfs", "skiff-test", mnt]);
        assertEquals(mount.code, 0, mount.stderr);
        try {
          const r = await skiff(["unpack", "-q", "--store", store, single, mnt]);
          assertEquals([r.code, r.stderr], [0, ""]);
          assertEquals(await names(mnt), ["bin", "data", "etc"]);
          const again = await skiff(["unpack", "--store", `${dir}/fresh`, single, mnt]);
          assertEquals(lines(again.stderr), [
            `skiff: Cannot unpack into ${mnt}: the directory is not empty`,
          ]);
          // refused before the pull: the fresh store got nothing
          await Deno.stat(`${dir}/fresh`).then(() => assert(false, "a store was made"), () => {});
        } finally {
          const u = await run("umount", [mnt]);
          assertEquals(u.code, 0, u.stderr);
        }
      },
    });

    await t.step(
      "kill -9 leftovers: the next unpack into the same place removes them",
      async () => {
        // beside an absent target, and inside an empty one
        const absent = `${dir}/root-absent`;
        const empty = `${dir}/root-empty`;
        await Deno.mkdir(empty);
        for (const target of [absent, empty]) {
          const left = await leaveBuild(target, store, "kill");
          await left.stop();
          await Deno.stat(`${left.dir}/half-written`); // it was left behind
          const r = await skiff(["unpack", "-q", "--store", store, single, target]);
          assertEquals([r.code, r.stderr], [0, ""], target);
          await Deno.stat(left.dir).then(
            () => assert(false, `${left.dir} is still there`),
            () => {},
          );
          assertEquals(await names(target), ["bin", "data", "etc"]);
          assertEquals((await names(dir)).filter((n) => n.includes("skiff-unpack")), []);
        }
      },
    );

    await t.step("gc removes a killed unpack's directory, and leaves a running one", async () => {
      const killed = await leaveBuild(`${dir}/elsewhere`, store, "kill");
      await killed.stop();
      const running = await leaveBuild(`${dir}/busy`, store, "hold");
      try {
        const dry = await skiff(["gc", "--dry-run", "--store", store]);
        assertEquals(dry.code, 0, dry.stderr);
        assertMatch(dry.stdout, new RegExp(`would delete unfinished output ${killed.dir}\\n`));
        await Deno.stat(killed.dir);
        const gc = await skiff(["gc", "--json", "--store", store]);
        assertEquals(gc.code, 0, gc.stderr);
        assertEquals(JSON.parse(gc.stdout).unpacks, [killed.dir]);
        await Deno.stat(killed.dir).then(() => assert(false, "not removed"), () => {});
        await Deno.stat(`${running.dir}/half-written`); // a running unpack's: untouched
        // an unpack into the place a running one builds in is refused, and touches nothing
        const busy = `${dir}/busy2`;
        await Deno.mkdir(busy);
        const held = await leaveBuild(busy, store, "hold");
        try {
          const r = await skiff(["unpack", "--store", store, single, busy]);
          assertEquals(lines(r.stderr), [
            `skiff: Cannot unpack into ${busy}: another unpack into it is running`,
          ]);
          await Deno.stat(`${held.dir}/half-written`);
        } finally {
          await held.stop();
        }
      } finally {
        await running.stop();
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
    await fx.stop();
  }
});
