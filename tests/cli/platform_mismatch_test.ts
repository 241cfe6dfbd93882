// --platform P for a single-platform image of another platform is an error naming both, from the
// registry and from the store alike: pull (always, missing, never), unpack, inspect, config,
// digest. Nothing is named in the store and no layer is fetched.

import { assertEquals } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { HOST_ARCH, startFixture } from "../_fixture.ts";
import { FaultProxy } from "../_proxy.ts";
import { tempDir } from "../_temp.ts";

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "");
}

const OTHER = HOST_ARCH === "amd64" ? "arm64" : "amd64";

Deno.test("cli: --platform of another platform than a single-platform image's", async (t) => {
  const fx = await startFixture();
  await using proxy = FaultProxy.start(fx.registry.url);
  const dir = await tempDir({ prefix: "skiff-platform-" });
  const store = `${dir}/s`;
  const single = `${proxy.host}/test/single:1`;
  const expected = `skiff: Cannot find platform linux/${OTHER} in ${single}: ` +
    `the image has linux/${HOST_ARCH}`;
  try {
    await t.step("pull from the registry: refused after the config, before any layer", async () => {
      const before = proxy.seen.length;
      const r = await skiff(["pull", "--platform", `linux/${OTHER}`, "--store", store, single]);
      assertEquals([r.code, r.stdout], [1, ""]);
      assertEquals(lines(r.stderr).filter((l) => l.startsWith("skiff:")), [expected]);
      const blobs = proxy.seen.slice(before).filter((s) => s.path.includes("/blobs/"));
      assertEquals(blobs.length, 1, blobs.map((b) => b.path).join("\n")); // the config alone
      const images = JSON.parse((await skiff(["images", "--json", "--store", store])).stdout);
      assertEquals(images, []);
    });

    await t.step("the store's answer is the same: --pull never and missing, unpack", async () => {
      const ok = await skiff(["pull", "-q", "--store", store, single]);
      assertEquals(ok.code, 0, ok.stderr);
      const cases = [
        ["pull", "-q", "--pull", "never"],
        ["pull", "-q", "--pull", "missing"],
        ["pull", "-q"],
      ];
      for (const args of cases) {
        const r = await skiff([...args, "--platform", `linux/${OTHER}`, "--store", store, single]);
        assertEquals([r.code, lines(r.stderr)], [1, [expected]], args.join(" "));
      }
      const root = `${dir}/root`;
      const u = await skiff([
        "unpack",
        "-q",
        "--platform",
        `linux/${OTHER}`,
        "--store",
        store,
        single,
        root,
      ]);
      assertEquals([u.code, lines(u.stderr)], [1, [expected]]);
      // the right platform, explicit, works everywhere
      for (const args of [["pull", "-q", "--pull", "never"], ["pull", "-q"]]) {
        const r = await skiff([
          ...args,
          "--platform",
          `linux/${HOST_ARCH}`,
          "--store",
          store,
          single,
        ]);
        assertEquals([r.code, r.stderr], [0, ""], args.join(" "));
      }
    });

    await t.step("inspect, config and digest --platform say the same", async () => {
      for (const command of ["inspect", "config", "digest"]) {
        const r = await skiff([command, "--platform", `linux/${OTHER}`, single]);
        assertEquals([r.code, r.stdout, lines(r.stderr)], [1, "", [expected]], command);
        const good = await skiff([command, "--platform", `linux/${HOST_ARCH}`, single]);
        assertEquals([good.code, good.stderr], [0, ""], command);
      }
      // without --platform, a single-platform image is shown as it is
      const plain = await skiff(["inspect", single]);
      assertEquals(plain.code, 0, plain.stderr);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  await fx.stop();
});
