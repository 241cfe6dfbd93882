// `skiff export` as a user runs it: the tar to a file or a pipe, never to a terminal; one-line
// errors and nothing half-written.

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../../_assert.ts";
import { skiff } from "../../_cli.ts";
import { startFixture } from "../../_fixture.ts";
import { gzip, mustRun, sha256 } from "../../_images.ts";
import { pushImage } from "../../_push.ts";
import { makeTar } from "../../_tar.ts";
import { tempDir } from "../../_temp.ts";

const CLI = new URL("../../../cli.ts", import.meta.url).pathname;

async function ls(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("cli export: to a file, to a pipe, never to a terminal; failures leave nothing", async () => {
  const fx = await startFixture();
  const work = await tempDir({ prefix: "skiff-export-cli-" });
  try {
    const help = await skiff(["export", "--help"]);
    assertEquals(help.code, 0);
    for (const flag of ["-o, --output", "--pull", "--jobs", "--username", "--json"]) {
      assertStringIncludes(help.stdout, flag);
    }
    const store = `${work}/store`;
    const ref = `${fx.host}/test/single:1`;
    const r = await skiff(["export", "--store", store, ref, "-o", `${work}/single.tar`]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, "");
    assertMatch(
      r.stderr,
      new RegExp(`${work}/single.tar: ${ref} sha256:[0-9a-f]{64}, \\d+ entries`),
    );
    assertEquals(await ls(work), ["single.tar", "store"]);
    const list = new TextDecoder().decode(await mustRun("tar", ["-tf", `${work}/single.tar`]));
    assertEquals(list.split("\n").filter((l) => l !== "").sort(), [
      "bin/",
      "bin/hello",
      "data/",
      "data/blob.bin",
      "etc/",
      "etc/os-release",
    ]);

    // stdout (a pipe): the same bytes, from the store alone; --json goes to stderr then
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        CLI,
        "export",
        "--store",
        store,
        "--pull",
        "never",
        "--json",
        ref,
      ],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    });
    const out = await child.output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    assertEquals(sha256(out.stdout), sha256(await Deno.readFile(`${work}/single.tar`)));
    const json = JSON.parse(new TextDecoder().decode(out.stderr));
    assertEquals([json.reference, json.output, json.layers, json.pulled], [ref, null, 2, false]);

    // a terminal on stdout: refused before anything happens (script(1) gives it a pty)
    const tty = await mustRun("script", [
      "-qec",
      `${Deno.execPath()} run -A --quiet ${CLI} export --store ${store} ${ref}; echo "exit $?"`,
      "/dev/null",
    ]);
    const said = new TextDecoder().decode(tty);
    assertStringIncludes(said, "skiff: refusing to write a tar to a terminal");
    assertStringIncludes(said, "exit 2");

    // a hostile layer: exit 1, one line, no output file and nothing beside it
    const tar = makeTar([{ path: "ok", content: "x" }, { path: "../escape", content: "x" }]);
    await pushImage(fx.registry.url, "test/hostile", "1", [{
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      bytes: await gzip(tar),
      diffId: sha256(tar),
    }]);
    const bad = await skiff([
      "export",
      "-q",
      "--store",
      store,
      `${fx.host}/test/hostile:1`,
      "-o",
      `${work}/hostile.tar`,
    ]);
    assertEquals(bad.code, 1);
    const lines = bad.stderr.split("\n").filter((l) => l !== "");
    assertEquals(lines.length, 1, bad.stderr);
    assertMatch(lines[0]!, /^skiff: Cannot export .*hostile:1: layer 1 of 1 .*climbs out/);
    assertEquals(await ls(work), ["single.tar", "store"]);
    assert(!(await ls(work)).some((n) => n.startsWith(".")), "no temporary file");
  } finally {
    await fx.stop();
    await Deno.remove(work, { recursive: true });
  }
});
