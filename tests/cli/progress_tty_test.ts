// `skiff pull` on a real pseudo-terminal (`script` from util-linux), against the real registry
// behind the fault proxy (throttled, so the bars have time to move). What the terminal received
// is played back on the tests' own terminal to check the final screen.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { startFixture } from "../_fixture.ts";
import { FaultProxy } from "../_proxy.ts";
import { checkStore } from "../_store_check.ts";
import { play } from "../_terminal.ts";
import { tempDir } from "../_temp.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;
const COLUMNS = 120; // the result line (name and digest) is about 100 characters

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** `script` running skiff on a pty of COLUMNS x 30; env: what to set (`null`: unset). */
function onPty(args: string[], env: Record<string, string | null>, stdin: "null" | "piped") {
  // env takes its -u options before its assignments
  const entries = Object.entries(env);
  const assignments = [
    ...entries.filter(([, v]) => v === null).map(([k]) => `-u ${k}`),
    ...entries.filter(([, v]) => v !== null).map(([k, v]) => `${k}=${shellQuote(v!)}`),
  ];
  const command = `stty cols ${COLUMNS} rows 30; exec env ${assignments.join(" ")} ` +
    [Deno.execPath(), "run", "-A", "--quiet", CLI, ...args].map(shellQuote).join(" ");
  return new Deno.Command("script", {
    args: ["-qfec", command, "/dev/null"],
    stdin,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test("cli on a terminal: live bars redrawn in place, a clean summary at the end", async (t) => {
  const fx = await startFixture();
  await using proxy = FaultProxy.start(fx.registry.url);
  proxy.on((_req, url) =>
    url.pathname.includes("/blobs/")
      ? { kind: "throttle", bytesPerSecond: 2 * 1024 * 1024 }
      : undefined
  );
  try {
    await t.step("success: every blob done, total line, result line; nothing else", async () => {
      const store = `${await tempDir()}/s`;
      const ref = `${proxy.host}/test/single:1`;
      const out = await onPty(["pull", "--store", store, ref], {
        TERM: "xterm-256color",
        NO_COLOR: null,
      }, "null").output();
      const raw = new TextDecoder().decode(out.stdout);
      assertEquals(out.code, 0, raw);
      const term = play(raw, { columns: COLUMNS });
      const screen = term.screen();
      assertEquals(screen.length, 6, screen.join("\n"));
      assertEquals(screen[0], `${ref}: 2 layers, 2.0 MiB`);
      for (const line of screen.slice(1, 4)) {
        assertMatch(line, /^sha256:[0-9a-f]{12} +done +\d/);
      }
      assertMatch(
        screen[4]!,
        /^total +done in [\d.]+ (ms|s), 2\.0 MiB fetched at [\d.]+ [KM]iB\/s$/,
      );
      assertEquals(screen[5], `${ref} ${fx.single.digest}`);
      assert(!screen.some((l) => l.includes("[")), "no bar left:\n" + screen.join("\n"));
      assertEquals(term.wrapped, 0);
      // it moved: several frames drawn in place (the rate limit is held by the renderer's own
      // test, on its clock: tests/cli/tty_renderer_test.ts)
      assert(term.cursorUps >= 3, `${term.cursorUps} redraws`);
      assertMatch(raw, /\] +[\d.]+ [KM]iB \/ 2\.0 MiB/); // a live bar was shown on the way
      // deno-lint-ignore no-control-regex
      assertMatch(raw, /\x1b\[32m done/); // colors, since NO_COLOR is not set
      assertEquals((await checkStore(store)).names, [ref]);
    });

    await t.step("NO_COLOR: the same screen without a color code", async () => {
      const store = `${await tempDir()}/s`;
      const out = await onPty(["pull", "--store", store, `${proxy.host}/test/single:1`], {
        TERM: "xterm-256color",
        NO_COLOR: "1",
      }, "null").output();
      const raw = new TextDecoder().decode(out.stdout);
      assertEquals(out.code, 0, raw);
      // deno-lint-ignore no-control-regex
      assert(!/\x1b\[[\d;]*m/.test(raw), "a color code despite NO_COLOR");
      assertMatch(play(raw).screen().at(-2)!, /^total +done in/);
    });

    await t.step("--quiet and TERM=dumb: no bars on a terminal", async () => {
      const store = `${await tempDir()}/s`;
      const ref = `${proxy.host}/test/single:1`;
      const quiet = await onPty(["pull", "-q", "--store", store, ref], { TERM: "xterm" }, "null")
        .output();
      assertEquals(quiet.code, 0);
      assertEquals(play(new TextDecoder().decode(quiet.stdout)).screen(), [
        `${ref} ${fx.single.digest}`,
      ]);
      const dumb = await onPty(["pull", "--store", `${store}-2`, ref], { TERM: "dumb" }, "null")
        .output();
      const raw = new TextDecoder().decode(dumb.stdout);
      assertEquals(dumb.code, 0);
      assert(!raw.includes("\x1b["), "escape codes on a dumb terminal");
      assertEquals(raw.split("\n").filter((l) => /pulled \(layer/.test(l)).length, 2);
    });

    await t.step(
      "Ctrl-C: exit 130, the frame says interrupted, the error line below it",
      async () => {
        proxy.rules = [
          (_req, url) =>
            url.pathname.includes("/blobs/")
              ? { kind: "throttle", bytesPerSecond: 256 * 1024 }
              : undefined,
        ];
        const store = `${await tempDir()}/s`;
        const ref = `${proxy.host}/test/single:1`;
        const child = onPty(
          ["pull", "--store", store, ref],
          { TERM: "xterm", NO_COLOR: "1" },
          "piped",
        );
        const reader = child.stdout.getReader();
        let raw = "";
        const decoder = new TextDecoder();
        // wait until a live bar is on screen, then type Ctrl-C
        const deadline = Date.now() + 20_000;
        while (!/\[=*> *\] +[\d.]+ [KM]iB \//.test(raw) && Date.now() < deadline) {
          const { done, value } = await reader.read();
          if (done) {
            break;
          }
          raw += decoder.decode(value, { stream: true });
        }
        const writer = child.stdin.getWriter();
        await writer.write(new Uint8Array([3]));
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          raw += decoder.decode(value, { stream: true });
        }
        await writer.close().catch(() => {});
        const status = await child.status;
        await child.stderr.cancel();
        assertEquals(status.code, 130, raw);
        const screen = play(raw, { columns: COLUMNS }).screen().filter((l) => l !== "^C");
        assertMatch(screen.at(-1)!, /^skiff: interrupted by SIGINT; partial downloads are kept/);
        assertMatch(
          screen.at(-2)!,
          /^total +interrupted after [\d.]+ (ms|s), [\d.]+ [KM]?i?B fetched$/,
        );
        assert(
          screen.some((l) => /^sha256:[0-9a-f]{12} +stopped at [\d.]+ [KM]iB \/ 2\.0 MiB$/.test(l)),
          screen.join("\n"),
        );
        assert(!screen.some((l) => l.includes("[")), "no bar left:\n" + screen.join("\n"));
        // the partial download is kept for the next pull
        assert((await checkStore(store)).ingest.length >= 1);
      },
    );
  } finally {
    await fx.stop();
  }
});
