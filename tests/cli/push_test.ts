// `skiff push`: a pulled image from the store to a real registry, read back by skopeo.

import { assertEquals, assertMatch } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { HOST_ARCH, startFixture } from "../_fixture.ts";
import { mustRun, sha256 } from "../_images.ts";
import { startRegistry } from "../_registry.ts";
import { tempDir } from "../_temp.ts";

Deno.test("skiff push: a pulled image goes to another registry, byte for byte", async () => {
  const fx = await startFixture();
  const dest = await startRegistry();
  const dir = await tempDir({ prefix: "skiff-push-" });
  try {
    const store = `${dir}/store`;
    const pulled = await skiff(["pull", "-q", "--store", store, `${fx.host}/test/multi:1`]);
    assertEquals(pulled.code, 0, pulled.stderr);
    const digest = pulled.stdout.trim().split(" ")[1]!;
    assertEquals(digest, HOST_ARCH === "amd64" ? fx.amd64.digest : fx.arm64.digest);

    const r = await skiff([
      "push",
      "--store",
      store,
      `${fx.host}/test/multi:1`,
      `${dest.host}/pushed/multi:1`,
    ]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, `${dest.host}/pushed/multi:1 ${digest}\n`);
    const raw = await mustRun("skopeo", [
      "inspect",
      "--raw",
      "--tls-verify=false",
      `docker://${dest.host}/pushed/multi:1`,
    ]);
    assertEquals(sha256(raw), digest);
    // skopeo reads the whole image back (config and layers, each verified by skopeo)
    await mustRun("skopeo", [
      "copy",
      "--quiet",
      "--src-tls-verify=false",
      `docker://${dest.host}/pushed/multi:1`,
      `oci:${dir}/back:1`,
    ]);
    const back = JSON.parse(await Deno.readTextFile(`${dir}/back/index.json`));
    assertEquals(back.manifests[0].digest, digest);

    // pushing it again sends nothing
    const again = await skiff([
      "push",
      "--json",
      "--store",
      store,
      `${fx.host}/test/multi:1`,
      `${dest.host}/pushed/multi:1`,
    ]);
    assertEquals(again.code, 0, again.stderr);
    assertEquals(JSON.parse(again.stdout).bytesSent, 0);

    const missing = await skiff(["push", "--store", store, "nothing/here:1", `${dest.host}/x:1`]);
    assertEquals(missing.code, 1);
    assertMatch(
      missing.stderr.trim(),
      /^skiff: Cannot push docker\.io\/nothing\/here:1: not in the store/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await dest.stop();
    await fx.stop();
  }
});
