// Every failure is one `skiff: Cannot ...` line: a closed stdout pipe ends quietly, a store path
// that is a file or cannot be created says so, and Ctrl-C of a command that downloads nothing
// does not talk about partial downloads.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { skiff, spawnSkiff } from "../_cli.ts";
import { startFixture } from "../_fixture.ts";
import { startHostileRegistry } from "../_hostile_registry.ts";
import { tempDir } from "../_temp.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "");
}

Deno.test("cli: one line for every failure at the edges", async (t) => {
  const fx = await startFixture();
  const dir = await tempDir({ prefix: "skiff-edges-" });
  try {
    await t.step("blob | head: quiet, exit 141 (a closed pipe), no Broken pipe", async () => {
      const manifest = await (await fetch(`${fx.registry.url}/v2/test/single/manifests/1`, {
        headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
      })).json();
      const big = manifest.layers.find((l: { size: number }) => l.size > 1024 * 1024).digest;
      for (
        const [command, reader] of [[`blob ${fx.host}/test/single@${big}`, "head -c 10"], [
          `tags ${fx.host}/test/single`,
          "true",
        ]]
      ) {
        const script = `set -o pipefail; '${Deno.execPath()}' run -A --quiet '${CLI}' ${command} ` +
          `2>'${dir}/err' | ${reader} >/dev/null; echo "\${PIPESTATUS[0]}"`;
        const out = await new Deno.Command("bash", { args: ["-c", script] }).output();
        const status = new TextDecoder().decode(out.stdout).trim();
        const err = await Deno.readTextFile(`${dir}/err`);
        assertEquals(err, "", command);
        // tags writes one small line: it may be written before `true` closes the pipe
        if (reader !== "true") assertEquals(status, "141", command);
        else assert(status === "0" || status === "141", status);
      }
    });

    await t.step("a store path that is a file, or under one", async () => {
      const file = `${dir}/file`;
      await Deno.writeTextFile(file, "not a store");
      const cases: [string[], string][] = [
        [["pull", "--store", file, `${fx.host}/test/single:1`], `${file}: it is a file`],
        [["images", "--store", file], `${file}: it is a file`],
        [["gc", "--store", `${file}/s`], `${file}/s: a part of the path is a file`],
        [["fsck", "--store", `${file}/s`], `${file}/s: a part of the path is a file`],
        [["rm", "--store", file, "x:1"], `${file}: it is a file`],
        [["unpack", "--store", file, `${fx.host}/test/single:1`, `${dir}/root`], `${file}: it`],
      ];
      for (const [args, says] of cases) {
        const r = await skiff(args);
        assertEquals([r.code, r.stdout], [1, ""], args.join(" "));
        assertEquals(lines(r.stderr).length, 1, r.stderr);
        assertMatch(r.stderr, new RegExp(`^skiff: Cannot open store ${says}`), args[0]);
      }
      await Deno.stat(`${dir}/root`).then(() => assert(false, "unpack made its target"), () => {});
    });

    await t.step("a store that cannot be created", async () => {
      for (const store of ["/proc/skiff-store", "/sys/kernel/skiff-store/s"]) {
        const r = await skiff(["pull", "--store", store, `${fx.host}/test/single:1`]);
        assertEquals([r.code, lines(r.stderr).length], [1, 1], r.stderr);
        assertMatch(r.stderr, new RegExp(`^skiff: Cannot create store ${store}: `));
      }
    });

    await t.step("Ctrl-C while nothing downloads: no word of partial downloads", async () => {
      await using hang = startHostileRegistry();
      // requests that get no answer until the test ends
      let release!: () => void;
      const released = new Promise<void>((resolve) => release = resolve);
      let answered = () => {};
      const hangs = async () => {
        answered();
        await released;
        return new Response("gone", { status: 503 });
      };
      hang.route("/v2/slow/tags/list", hangs);
      hang.route("/v2/slow/manifests/1", hangs);
      try {
        for (const args of [["tags", `${hang.host}/slow`], ["pull", `${hang.host}/slow:1`]]) {
          const asked = new Promise<void>((resolve) => answered = resolve);
          const child = spawnSkiff([...args, "--store", `${dir}/s`]);
          await asked; // the request is there: the command waits on the network
          child.kill("SIGINT");
          const out = await child.output();
          assertEquals(out.code, 130, args[0]);
          assertEquals(lines(new TextDecoder().decode(out.stderr)), [
            "skiff: interrupted by SIGINT",
          ]);
        }
      } finally {
        release();
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
    await fx.stop();
  }
});
