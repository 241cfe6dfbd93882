// The CLI runs straight from a URL: the repository served over HTTP on loopback, run from an
// empty working directory with an empty Deno cache. This fails on a bare specifier (no import
// map applies to a remote module), on a file read relative to the working directory, and on a
// module that is not where an import says.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { startFixture } from "../_fixture.ts";
import { checkStore } from "../_store_check.ts";
import { tempDir } from "../_temp.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

function serveRepository() {
  const requests: { path: string; status: number }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    let status = 200;
    try {
      if (path.includes("..") || path.includes("/.")) throw new Error("not served");
      const body = await Deno.readFile(ROOT + path.slice(1));
      const type = path.endsWith(".json") ? "application/json" : "application/typescript";
      return new Response(body, { headers: { "content-type": type } });
    } catch {
      status = 404;
      return new Response("not found", { status });
    } finally {
      requests.push({ path, status });
    }
  });
  const url = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  return { url, requests, stop: () => server.shutdown() };
}

Deno.test("cli from a URL: --help, a pull from the test registry, and a streaming unpack", async () => {
  const fx = await startFixture();
  const served = serveRepository();
  const cwd = await tempDir({ prefix: "skiff-url-cwd-" });
  const denoDir = await tempDir({ prefix: "skiff-url-cache-" });
  const run = async (args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", `${served.url}/cli.ts`, ...args],
      cwd,
      env: { DENO_DIR: denoDir, NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const d = new TextDecoder();
    return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
  };
  try {
    const help = await run(["--help"]);
    assertEquals(help.code, 0, help.stderr);
    assertMatch(help.stdout, /^skiff \d+\.\d+\.\d+: pull container images/);
    assert(served.requests.some((r) => r.path === "/cli.ts"));

    const store = `${cwd}/store`;
    const ref = `${fx.host}/test/multi:1`;
    const pulled = await run(["pull", "--store", store, "--platform", "linux/arm64", ref]);
    assertEquals(pulled.code, 0, pulled.stderr);
    assertEquals(pulled.stdout, `${ref} ${fx.arm64.digest}\n`);
    const images = await run(["images", "--json", "--store", store]);
    assertEquals(images.code, 0, images.stderr);
    assertEquals(JSON.parse(images.stdout)[0].name, ref);
    assertEquals((await checkStore(store)).names, [ref]);

    // a streaming unpack (a store that lacks the image): its applying side is a worker, whose
    // module comes from the same server
    const unpacked = await run([
      "unpack",
      "-q",
      "--store",
      `${cwd}/store2`,
      "--platform",
      "linux/arm64",
      ref,
      `${cwd}/rootfs`,
    ]);
    assertEquals(unpacked.code, 0, unpacked.stderr);
    assert((await Deno.stat(`${cwd}/rootfs`)).isDirectory);
    await Deno.remove(`${cwd}/rootfs`, { recursive: true });
    await Deno.remove(`${cwd}/store2`, { recursive: true });

    // modules came from the server (the lazily loaded ones too), and every one was there
    for (
      const path of [
        "/lib/pull/pull.ts",
        "/lib/registry/registry_client.ts",
        "/deno.json",
        "/lib/unpack/_apply_worker.ts",
      ]
    ) {
      assert(served.requests.some((r) => r.path === path), `${path} was not fetched`);
    }
    assertEquals(served.requests.filter((r) => r.status !== 200), []);
    // nothing but the store appeared in the working directory
    const entries: string[] = [];
    for await (const e of Deno.readDir(cwd)) entries.push(e.name);
    assertEquals(entries, ["store"]);
  } finally {
    await served.stop();
    await fx.stop();
    await Deno.remove(denoDir, { recursive: true }).catch(() => {});
  }
});
