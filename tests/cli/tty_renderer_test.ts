// The terminal renderer, fed events directly; what it wrote is played back on the tests' own
// terminal (tests/_terminal.ts) to see the screen a user would see.

import { assert, assertEquals, assertMatch, assertThrows } from "../_assert.ts";
import { play, Terminal } from "../_terminal.ts";
import { TtyRenderer } from "../../lib/cli/tty_renderer.ts";
import type { ProgressEvent } from "../../lib/progress/progress_event.ts";

const A = "sha256:" + "a".repeat(64);
const B = "sha256:" + "b".repeat(64);
const C = "sha256:" + "c".repeat(64);
const MiB = 1024 * 1024;

/** A renderer writing into a string, with a clock the test moves. */
function rig(options: { columns?: number; rows?: number; color?: boolean } = {}) {
  const clock = { now: 0 };
  const writes: string[] = [];
  const r = new TtyRenderer((s) => writes.push(s), {
    color: options.color ?? false,
    size: () => ({ columns: options.columns ?? 80, rows: options.rows ?? 24 }),
    now: () => clock.now,
  });
  return { r, clock, writes, text: () => writes.join("") };
}

const start: ProgressEvent[] = [
  { type: "resolved", reference: "r.example/app:1", digest: A, mediaType: "x", local: false },
  { type: "manifest", digest: A, platform: "linux/amd64", layers: 2, size: 2 * MiB + 100 },
  { type: "blob-done", digest: A, kind: "config", size: 100, fetched: 0, cached: true },
  { type: "blob-start", digest: B, kind: "layer", size: MiB, offset: 0 },
  { type: "blob-start", digest: C, kind: "layer", size: MiB, offset: 0 },
];

Deno.test("the test terminal: plays cursor moves and erases, refuses unknown escapes", () => {
  const t = play("one\ntwo\nthree\n\r\x1b[2Atwo!\x1b[K\n\x1b[J");
  assertEquals(t.screen(), ["one", "two!"]);
  assertEquals(t.cursorUps, 1);
  assertThrows(() => play("\x1b[2K"), Error, "unexpected");
  assertThrows(() => play("\x1b]0;title\x07"), Error, "unknown escape");
  assertEquals(play("abcdef", { columns: 4 }).wrapped, 1);
});

Deno.test("TtyRenderer: one line per blob with bar, bytes and speed, and a total line", () => {
  const { r, clock, text } = rig();
  for (const e of start) r.handle(e);
  clock.now = 500;
  r.handle({ type: "blob-progress", digest: B, bytes: MiB / 2, size: MiB });
  clock.now = 1000; // past the interval: this event draws
  r.handle({ type: "blob-progress", digest: C, bytes: MiB / 4, size: MiB });
  const screen = play(text()).screen();
  assertEquals(screen.length, 5, screen.join("\n"));
  assertEquals(screen[0], "r.example/app:1: linux/amd64, 2 layers, 2.0 MiB");
  assertMatch(screen[1]!, /^sha256:aaaaaaaaaaaa +already present +100 B$/);
  assertMatch(screen[2]!, /^sha256:bbbbbbbbbbbb +\[=+> *\] +512 KiB \/ 1\.0 MiB +512 KiB\/s$/);
  assertMatch(screen[3]!, /^sha256:cccccccccccc +\[=*> *\] +256 KiB \/ 1\.0 MiB +256 KiB\/s$/);
  assertMatch(screen[4]!, /^total +\[=+> *\] +768 KiB \/ 2\.0 MiB +768 KiB\/s ETA 2s$/);
  r.finish("done");
});

Deno.test("TtyRenderer: a blob a copy's registry mounted says so", () => {
  const { r, clock, text } = rig();
  r.handle({ type: "manifest", digest: A, platform: undefined, layers: 1, size: 100 });
  r.handle({
    type: "blob-done",
    digest: B,
    kind: "layer",
    size: 100,
    fetched: 0,
    cached: true,
    mounted: true,
  });
  clock.now = 1000;
  r.finish("done");
  const screen = play(text()).screen();
  assertMatch(screen[1]!, /^sha256:bbbbbbbbbbbb +mounted +100 B$/);
  assertMatch(screen[2]!, /^total +done in 1\.0 s, everything was present$/);
});

Deno.test("TtyRenderer: at most one frame per interval, whatever the event rate", async () => {
  // the renderer's clock is the test's: 2000 events over 1000 ms of it, 0.5 ms apart
  const { r, clock, writes } = rig();
  for (const e of start) r.handle(e);
  const first = writes.length;
  assertEquals(first, 1); // the first frame at once
  for (let i = 1; i <= 2000; i++) {
    clock.now = i / 2;
    r.handle({ type: "blob-progress", digest: B, bytes: Math.min(MiB, i * 500), size: MiB });
  }
  const frames = writes.length;
  // one frame per 100 ms of the clock, never one per event
  assertEquals(frames, first + 10);
  r.finish("done");
  assertEquals(writes.length, frames + 1); // the last frame
  // after finish, events draw nothing and no timer is left to draw later
  clock.now = 5000;
  r.handle({ type: "blob-progress", digest: B, bytes: MiB, size: MiB });
  await new Promise((resolve) => setTimeout(resolve, 150));
  assertEquals(writes.length, frames + 1);
});

Deno.test("TtyRenderer: a frame due while no event comes is drawn by a timer", async () => {
  const { r, clock, writes } = rig();
  for (const e of start) r.handle(e);
  clock.now = 50; // within the interval: not drawn now, a timer is set for the rest
  r.handle({ type: "blob-progress", digest: B, bytes: 1000, size: MiB });
  assertEquals(writes.length, 1);
  clock.now = 150;
  // the timer's real wait is 50 ms: wait for the frame (a loaded machine runs timers late)
  for (let i = 0; i < 500 && writes.length < 2; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assertEquals(writes.length, 2);
  r.finish("done");
});

Deno.test("TtyRenderer: the finished screen is a clean summary, no bar left", () => {
  const { r, clock, text } = rig();
  for (const e of start) r.handle(e);
  clock.now = 400;
  r.handle({ type: "blob-progress", digest: B, bytes: MiB / 2, size: MiB });
  clock.now = 900;
  r.handle({ type: "blob-done", digest: B, kind: "layer", size: MiB, fetched: MiB, cached: false });
  r.handle({ type: "blob-done", digest: C, kind: "layer", size: MiB, fetched: MiB, cached: false });
  r.handle({ type: "done", reference: "r.example/app:1", digest: A });
  clock.now = 1000;
  r.finish("done");
  const t = play(text());
  const screen = t.screen();
  assertEquals(screen.length, 5, screen.join("\n"));
  assertMatch(screen[1]!, /already present/);
  assertMatch(screen[2]!, /^sha256:bbbbbbbbbbbb +done +1\.0 MiB in 900 ms$/);
  assertMatch(screen[3]!, /^sha256:cccccccccccc +done +1\.0 MiB in 900 ms$/);
  assertEquals(screen[4], "total               done in 1.0 s, 2.0 MiB fetched at 2.0 MiB/s");
  assert(!screen.some((l) => l.includes("[")), screen.join("\n"));
  assertEquals(t.col, 0); // the cursor rests at the start of the line below
  assertEquals(t.row, screen.length);
});

Deno.test("TtyRenderer: failure and interruption leave a tidy frame saying so", () => {
  for (const outcome of ["failed", "interrupted"] as const) {
    const { r, clock, text } = rig();
    for (const e of start) r.handle(e);
    clock.now = 300;
    r.handle({ type: "blob-progress", digest: B, bytes: MiB / 2, size: MiB });
    r.finish(outcome);
    const screen = play(text()).screen();
    const word = outcome === "failed" ? "failed" : "stopped";
    assertMatch(screen[2]!, new RegExp(`^sha256:bbbbbbbbbbbb +${word} at 512 KiB / 1\\.0 MiB$`));
    assertMatch(screen.at(-1)!, new RegExp(`^total +${outcome} after 300 ms, 512 KiB fetched$`));
    assert(!screen.some((l) => l.includes("[")), screen.join("\n"));
    r.finish("done"); // a second finish changes nothing
    assertEquals(play(text()).screen(), screen);
  }
});

Deno.test("TtyRenderer: lines never reach the last column; frames never outgrow the screen", () => {
  const { r, clock, text } = rig({ columns: 40, rows: 8 });
  r.handle(start[0]!);
  r.handle({ type: "manifest", digest: A, platform: "linux/amd64", layers: 12, size: 12 * MiB });
  const digests = Array.from({ length: 12 }, (_, i) => `sha256:${String(i).padStart(64, "0")}`);
  for (const [i, d] of digests.entries()) {
    clock.now += 200;
    r.handle({ type: "blob-start", digest: d, kind: "layer", size: MiB, offset: 0 });
    if (i < 9) {
      r.handle({
        type: "blob-done",
        digest: d,
        kind: "layer",
        size: MiB,
        fetched: MiB,
        cached: false,
      });
    }
  }
  clock.now += 200;
  r.handle({ type: "blob-progress", digest: digests[11]!, bytes: 1000, size: MiB });
  const live = new Terminal({ columns: 40 });
  live.write(text());
  assertEquals(live.wrapped, 0);
  assert(live.screen().length <= 7, live.screen().join("\n"));
  assert(live.screen().every((l) => l.length <= 39));
  assert(live.screen().some((l) => /\.\.\. and \d+ more/.test(l)), live.screen().join("\n"));
  // the running blobs are the ones shown
  for (const d of digests.slice(9)) {
    assert(live.screen().some((l) => l.startsWith(d.slice(0, 19))), d);
  }
  r.finish("done");
  const end = play(text(), { columns: 40 });
  assertEquals(end.wrapped, 0);
  assert(end.screen().length <= 7);
});

Deno.test("TtyRenderer: log lines go above the live lines", () => {
  const { r, clock, text } = rig();
  for (const e of start) r.handle(e);
  r.log("debug: something\n");
  clock.now = 200;
  r.handle({ type: "blob-progress", digest: B, bytes: 10, size: MiB });
  r.finish("done");
  const screen = play(text()).screen();
  assertEquals(screen[0], "debug: something");
  assertMatch(screen[1]!, /^r\.example\/app:1/);
  assertEquals(screen.filter((l) => l.startsWith("debug:")).length, 1);
});

Deno.test("TtyRenderer: colors only when asked", () => {
  const plain = rig({ color: false });
  const colored = rig({ color: true });
  for (const { r } of [plain, colored]) {
    for (const e of start) r.handle(e);
    r.finish("done");
  }
  // deno-lint-ignore no-control-regex
  assert(!/\x1b\[\d*m/.test(plain.text()));
  // deno-lint-ignore no-control-regex
  assertMatch(colored.text(), /\x1b\[32m done\x1b\[0m/);
  // the text on screen is the same
  assertEquals(play(colored.text()).screen(), play(plain.text()).screen());
});
