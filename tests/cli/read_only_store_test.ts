// Read-only stores: what has nothing to write (a warm pull, images, inspect, fsck, unpack from
// the store) works on a store mounted read-only; what must write fails with one line that says
// the store is read-only. The store is made read-only with a bind mount remounted `ro` (as root,
// chmod alone does not stop writes), unmounted in `finally`.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { startFixture } from "../_fixture.ts";
import { run } from "../_images.ts";
import { tempDir } from "../_temp.ts";

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "");
}

async function mustMount(args: string[]): Promise<void> {
  const r = await run("mount", args);
  if (r.code !== 0) throw new Error(`mount ${args.join(" ")}: ${r.stderr}`);
}

/** A listing of every file under `dir` with its size and mtime: what a write would change. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      const s = await Deno.lstat(p);
      out.push(`${p} ${s.size} ${s.mtime?.getTime()}`);
      if (e.isDirectory) await walk(p);
    }
  };
  await walk(dir);
  return out.sort();
}

Deno.test({
  name: "cli: a read-only store serves what needs no write, and says so for what does",
  ignore: Deno.uid() !== 0,
  async fn(t) {
    const fx = await startFixture();
    const dir = await tempDir({ prefix: "skiff-ro-" });
    const store = `${dir}/store`;
    const single = `${fx.host}/test/single:1`;
    const multi = `${fx.host}/test/multi:1`;
    let mounted = false;
    try {
      const first = await skiff(["pull", "-q", "--store", store, single]);
      assertEquals(first.code, 0, first.stderr);
      const byDigest = `${fx.host}/test/single@${fx.single.digest}`;
      for (const ref of [multi, byDigest]) {
        const r = await skiff(["pull", "-q", "--store", store, ref]);
        assertEquals(r.code, 0, r.stderr);
      }
      await mustMount(["--bind", store, store]);
      mounted = true;
      await mustMount(["-o", "remount,ro,bind", store]);
      const before = await snapshot(store);
      // the mount really is read-only
      const probe = await Deno.writeTextFile(`${store}/probe`, "x").then(() => "written", (e) => e);
      assertMatch(String(probe), /Read-only file system/);

      await t.step("a warm pull (always, missing, never) by tag and by digest", async () => {
        for (const policy of ["always", "missing", "never"]) {
          for (const ref of [single, multi, byDigest]) {
            const r = await skiff(["pull", "-q", "--pull", policy, "--store", store, ref]);
            assertEquals([r.code, r.stderr], [0, ""], `${policy} ${ref}`);
          }
        }
        const r = await skiff(["pull", "-q", "--store", store, single]);
        assertEquals(r.stdout, first.stdout);
      });

      await t.step("images, fsck, inspect and config with the store set", async () => {
        const images = await skiff(["images", "--store", store]);
        assertEquals([images.code, images.stderr], [0, ""]);
        assertEquals(lines(images.stdout).length, 4);
        const fsck = await skiff(["fsck", "--store", store]);
        assertEquals([fsck.code, fsck.stderr], [0, ""], fsck.stdout);
        for (const command of ["inspect", "config"]) {
          const r = await skiff([command, single], { env: { SKIFF_STORE: store } });
          assertEquals([r.code, r.stderr], [0, ""], command);
        }
      });

      await t.step("unpack from the store into a writable directory", async () => {
        const root = `${dir}/root`;
        const r = await skiff(["unpack", "-q", "--store", store, single, root]);
        assertEquals([r.code, r.stderr], [0, ""]);
        assertEquals(await Deno.readTextFile(`${root}/etc/os-release`), "NAME=skiff-test\n");
      });

      await t.step("what must write: one line naming the store, exit 1", async () => {
        const cases = [
          ["pull", "--store", store, `${fx.host}/test/docker:1`],
          ["rm", "--store", store, single],
          ["gc", "--store", store],
          ["fsck", "--repair", "--store", store],
        ];
        for (const args of cases) {
          const r = await skiff(args);
          assertEquals(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
          const shown = lines(r.stderr).filter((l) => l.startsWith("skiff: "));
          assertEquals(shown.length, 1, r.stderr);
          assertMatch(shown[0]!, /^skiff: Cannot .*store .*Read-only file system/, args[0]);
        }
      });
      assertEquals(await snapshot(store), before, "nothing in the store changed");
    } finally {
      if (mounted) {
        const r = await run("umount", [store]);
        assert(r.code === 0, `umount: ${r.stderr}`);
      }
      await Deno.remove(dir, { recursive: true });
      await fx.stop();
    }
  },
});

const CLI = new URL("../../cli.ts", import.meta.url).pathname;
const NOBODY = 65534;

/** skiff as an unprivileged user (setpriv), with a Deno cache of its own. */
async function skiffAsNobody(args: string[], denoDir: string) {
  const out = await new Deno.Command("setpriv", {
    args: [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      "--clear-groups",
      "env",
      `DENO_DIR=${denoDir}`,
      `HOME=${denoDir}`,
      "NO_COLOR=1",
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      CLI,
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

Deno.test({
  name: "cli: a store without write permission (chmod -R a-w, an unprivileged user)",
  ignore: Deno.uid() !== 0,
  async fn() {
    const fx = await startFixture();
    const dir = await tempDir({ prefix: "skiff-ro-" });
    const store = `${dir}/store`;
    const denoDir = `${dir}/deno`;
    const single = `${fx.host}/test/single:1`;
    try {
      await Deno.chmod(dir, 0o755);
      await Deno.mkdir(denoDir);
      await Deno.chown(denoDir, NOBODY, NOBODY);
      const first = await skiff(["pull", "-q", "--store", store, single]);
      assertEquals(first.code, 0, first.stderr);
      const chown = await run("chown", ["-R", `${NOBODY}:${NOBODY}`, store]);
      assertEquals(chown.code, 0, chown.stderr);
      const chmod = await run("chmod", ["-R", "a-w", store]);
      assertEquals(chmod.code, 0, chmod.stderr);
      const before = await snapshot(store);
      for (const args of [["pull", "-q"], ["pull", "-q", "--pull", "missing"], ["images"]]) {
        const r = await skiffAsNobody([
          ...args,
          "--store",
          store,
          ...(args[0] === "pull" ? [single] : []),
        ], denoDir);
        assertEquals([r.code, r.stderr], [0, ""], args.join(" "));
      }
      const r = await skiffAsNobody(
        ["unpack", "-q", "--store", store, single, `${denoDir}/root`],
        denoDir,
      );
      assertEquals([r.code, r.stderr], [0, ""], "unpack");
      const write = await skiffAsNobody(
        ["pull", "--store", store, `${fx.host}/test/docker:1`],
        denoDir,
      );
      assertEquals(write.code, 1);
      assertMatch(lines(write.stderr).at(-1)!, /^skiff: Cannot .*store .*Permission denied/);
      assertEquals(await snapshot(store), before, "nothing in the store changed");
    } finally {
      await run("chmod", ["-R", "u+w", dir]);
      await Deno.remove(dir, { recursive: true });
      await fx.stop();
    }
  },
});
