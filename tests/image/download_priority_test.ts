// DownloadPriority on a clock of the test's own: which downloads may read, from what the first
// blob's reads waited. The streaming unpack's use of it, against the real registry and a proxy
// slowing every connection, is in tests/unpack/stream_priority_test.ts.

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { DownloadPriority } from "../../lib/image/download_priority.ts";

const MiB = 1024 * 1024;

/** Blobs of 1 GiB each (far from the 8 MiB at which a first blob lets the next one start), unless sized. */
function clocked(order: (string | [string, number])[]) {
  const clock = { t: 0 };
  const priority = new DownloadPriority(
    order.map((o) =>
      typeof o === "string" ? { digest: o, size: 1024 * MiB } : { digest: o[0], size: o[1] }
    ),
    { now: () => clock.t },
  );
  /** Reads of a blob every 5 ms for `ms`, 64 KiB each, each having waited `share` of the gap. */
  const reads = (digest: string, ms: number, share: number) => {
    for (let at = 0; at < ms; at += 5) {
      clock.t += 5;
      priority.read(digest, 5 * share, 64 * 1024);
    }
  };
  return { clock, priority, reads };
}

Deno.test("DownloadPriority: the first blob reads; the others while it waits on the network", async (t) => {
  await t.step("CPU-bound first blob: the others are held", () => {
    const { priority, reads } = clocked(["a", "b", "c"]);
    assert(priority.mayRead("a"));
    assert(priority.mayRead("config"), "a blob not in the order is never held");
    reads("a", 200, 0.05);
    assert(!priority.mayRead("b"));
    assert(!priority.mayRead("c"));
    assertEquals(priority.stats.opened, 0);
  });

  await t.step(
    "network-bound first blob: the others read, and are held again to re-measure",
    () => {
      const { priority, reads } = clocked(["a", "b"]);
      reads("a", 60, 0.9);
      assert(!priority.mayRead("b"), "one window is not enough");
      reads("a", 50, 0.9);
      assert(priority.mayRead("b"), "waiting 90% of the time, two windows in a row: let through");
      assertEquals(priority.stats.opened, 1);
      // still waiting on the network half a second later: held to measure, then through again
      reads("a", 500, 0.9);
      reads("a", 10, 0.9);
      assert(!priority.mayRead("b"), "held to measure again");
      reads("a", 110, 0.9);
      assert(priority.mayRead("b"));
      assertEquals(priority.stats.opened, 2);
      // the network got fast (the others' share of the CPU is what limits the first): held
      reads("a", 120, 0.1);
      assert(!priority.mayRead("b"));
      // between the thresholds the state stays as it was
      reads("a", 120, 0.4);
      assert(!priority.mayRead("b"));
    },
  );

  await t.step("the first done: the next one goes first, the waiters wake", async () => {
    const { priority, reads } = clocked(["a", "b", "c"]);
    reads("a", 100, 0);
    const b = priority.turn("b");
    let bWent = false;
    b.then(() => bWent = true);
    await Promise.resolve();
    assert(!bWent);
    priority.finish("a");
    await b;
    assertEquals(priority.first, "b");
    assert(!priority.mayRead("c"), "c waits for b now");
    priority.finish("b");
    assert(priority.mayRead("c"));
    // told again (the commit after the last byte): nothing changes for the one measured now
    priority.finish("b");
    assertEquals(priority.first, "c");
    priority.finish("c");
    assertEquals(priority.first, undefined);
  });

  await t.step(
    "the verdict carries over to the next layer; a held one's first window is not judged",
    () => {
      const { priority, reads } = clocked(["a", "b", "c", "d"]);
      reads("a", 110, 0.9);
      assert(priority.mayRead("c"), "network-bound: let through");
      priority.finish("a");
      assert(priority.mayRead("c"), "still let through: b is on the same network");
      reads("b", 60, 0.9);
      assert(priority.mayRead("c"));
      // CPU-bound now: held; then c, first after b, has its buffered bytes read fast at first
      reads("b", 120, 0.1);
      assert(!priority.mayRead("c"));
      priority.finish("b");
      reads("c", 60, 0); // the first window: what piled up while c was held
      assertEquals(priority.stats.closed, 1);
      reads("c", 110, 0.9); // its own pace: the network again
      assert(priority.mayRead("d"));
    },
  );

  await t.step("a first blob with less than 8 MiB left lets the next one start", () => {
    const { priority, reads } = clocked([["a", 8 * MiB + 128 * 1024], "b", "c"]);
    reads("a", 5, 0); // 64 KiB read, 8 MiB + 64 KiB left
    assert(!priority.mayRead("b"));
    reads("a", 5, 0); // 8 MiB left
    assert(!priority.mayRead("b"));
    reads("a", 5, 0); // under 8 MiB left
    assert(priority.mayRead("b"), "the next one starts");
    assert(!priority.mayRead("c"), "the one after it still waits");
  });

  await t.step("a first blob that stopped reading (a retry's pause) holds nobody", () => {
    const { clock, priority, reads } = clocked(["a", "b"]);
    reads("a", 100, 0);
    assert(!priority.mayRead("b"));
    clock.t += 200; // no read of a for longer than idleMs
    assert(priority.mayRead("b"));
  });

  await t.step("a wait ends with the signal", async () => {
    const { priority, reads } = clocked(["a", "b"]);
    reads("a", 100, 0);
    const stop = new AbortController();
    const waiting = priority.turn("b", stop.signal);
    stop.abort(new Error("stopped"));
    await assertRejects(() => waiting, Error, "stopped");
  });
});
