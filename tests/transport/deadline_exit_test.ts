// The response deadline (lib/transport/with_deadline.ts) must not keep a library caller's process
// alive: a script that pulls, resolves and reads a config with a one-hour deadline ends as soon as
// its work is done. Before the fix its pending deadline watch held Deno's event loop until the
// deadline ran out (30 s by default). The child is killed after two minutes if it has not ended on
// its own, which fails the test; that bound only stops a broken run, it measures nothing.

import { assertEquals } from "../_assert.ts";
import { startFixture } from "../_fixture.ts";
import { tempDir } from "../_temp.ts";

const MOD = new URL("../../mod.ts", import.meta.url).href;

Deno.test("a script that uses the module ends when its work ends, not at the deadline", async () => {
  const fx = await startFixture();
  const dir = await tempDir({ prefix: "skiff-deadline-exit-" });
  try {
    const script = `${dir}/script.ts`;
    await Deno.writeTextFile(
      script,
      `import { fetchImageConfig, pull, resolveDigest } from ${JSON.stringify(MOD)};
const options = { plainHttp: true, timeout: 3_600_000 };
const ref = ${JSON.stringify(`${fx.host}/test/single:1`)};
await pull(ref, { ...options, store: ${JSON.stringify(`${dir}/store`)} });
await resolveDigest(ref, options);
await fetchImageConfig(ref, options);
console.log("done");
`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", script],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let killed = false;
    const guard = setTimeout(() => {
      killed = true;
      child.kill("SIGKILL");
    }, 120_000);
    const out = await child.output();
    clearTimeout(guard);
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(killed, false, "the script had not ended on its own two minutes after its start");
    assertEquals(out.code, 0, stderr);
    assertEquals(new TextDecoder().decode(out.stdout), "done\n");
  } finally {
    await fx.stop();
  }
});
