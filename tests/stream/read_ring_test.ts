import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { readRing } from "../../lib/stream/read_ring.ts";

function bytes(n: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

/** A stream that is not a byte stream, delivering `data` in chunks of `chunk` bytes. */
function plainStream(data: Uint8Array, chunk: number, fail?: Error): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= data.byteLength) {
        if (fail) c.error(fail);
        else c.close();
        return;
      }
      c.enqueue(data.slice(at, at + chunk));
      at += chunk;
    },
  });
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

Deno.test("readRing: byte streams and plain streams arrive whole, in chunks up to the buffer size", async () => {
  const data = bytes(1_000_003);
  for (const make of [() => new Response(data).body!, () => plainStream(data, 7777)]) {
    const parts: Uint8Array[] = [];
    await readRing(make(), (chunk) => {
      assert(chunk.byteLength <= 65536);
      parts.push(chunk.slice());
      return Promise.resolve();
    }, { bufferSize: 65536, buffers: 3 });
    assertEquals(concat(parts), data);
  }
});

Deno.test("readRing: a buffer is not refilled while its consumer still holds it", async () => {
  const data = bytes(200_000);
  const held: { copy: Uint8Array; view: Uint8Array; release: () => void }[] = [];
  let finished = false;
  const done = readRing(plainStream(data, 1000), (view) => {
    const { promise, resolve } = Promise.withResolvers<void>();
    held.push({ copy: view.slice(), view, release: resolve });
    return promise;
  }, { bufferSize: 10_000, buffers: 2 }).then(() => finished = true);
  await new Promise((r) => setTimeout(r, 50));
  assertEquals(held.length, 2); // two buffers, both held: reading waits
  for (let next = 0; !finished; next++) {
    while (held.length <= next && !finished) await new Promise((r) => setTimeout(r, 1));
    if (held.length <= next) break;
    // what the consumer was handed is intact until it lets go
    assertEquals(held[next]!.view, held[next]!.copy);
    assert(held.length <= next + 2, "at most two chunks are held at once");
    held[next]!.release();
  }
  await done;
  assertEquals(concat(held.map((h) => h.copy)), data);
});

Deno.test("readRing: a consumer failure stops reading and cancels the source", async () => {
  let cancelled = false;
  let pulled = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled++;
      c.enqueue(new Uint8Array(1000));
    },
    cancel() {
      cancelled = true;
    },
  });
  let calls = 0;
  const e = await assertRejects(() =>
    readRing(source, () => {
      if (++calls === 3) throw new RangeError("too much");
      return Promise.resolve();
    }, { bufferSize: 1000 })
  );
  assert(e instanceof RangeError);
  assert(cancelled);
  assert(pulled < 10);
  // an asynchronous failure too
  const e2 = await assertRejects(() =>
    readRing(new Response(bytes(100_000)).body!, () => Promise.reject(new Error("disk full")), {
      bufferSize: 1000,
    })
  );
  assertEquals(e2.message, "disk full");
});

Deno.test("readRing: a source error is rethrown once pending chunks settled", async () => {
  const writes: number[] = [];
  const e = await assertRejects(() =>
    readRing(plainStream(bytes(5000), 1000, new Error("connection reset")), async (chunk) => {
      await new Promise((r) => setTimeout(r, 5));
      writes.push(chunk.byteLength);
    }, { bufferSize: 1000 })
  );
  assertEquals(e.message, "connection reset");
  assertEquals(writes.reduce((a, b) => a + b, 0), 5000);
});

Deno.test("readRing: an abort signal stops a stalled body", async () => {
  const stalled = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) });
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error("stop")), 20);
  const e = await assertRejects(() =>
    readRing(stalled, () => Promise.resolve(), { signal: controller.signal })
  );
  assertEquals(e.message, "stop");
});

/** A byte stream delivering `data` in pieces of `chunk` bytes, then failing with `fail`. */
function byteStream(data: Uint8Array, chunk: number, fail: Error): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    type: "bytes",
    pull(c) {
      if (at >= data.byteLength) return c.error(fail);
      const view = c.byobRequest?.view;
      const n = Math.min(chunk, data.byteLength - at, view?.byteLength ?? chunk);
      if (view) {
        new Uint8Array(view.buffer, view.byteOffset, n).set(data.subarray(at, at + n));
        c.byobRequest!.respond(n);
      } else {
        c.enqueue(data.slice(at, at + n));
      }
      at += n;
    },
  });
}

Deno.test("readRing: the bytes that arrived before a break are all handed on", async () => {
  // 100 KiB in 10 KiB pieces, then the connection breaks: less than one 256 KiB buffer
  const data = bytes(100 * 1024);
  const broken = new Error("connection reset");
  for (
    const make of [
      () => plainStream(data, 10 * 1024, broken),
      () => byteStream(data, 10 * 1024, broken),
    ]
  ) {
    const parts: Uint8Array[] = [];
    const e = await assertRejects(
      () =>
        readRing(make(), (chunk) => {
          parts.push(chunk.slice());
          return Promise.resolve();
        }),
      Error,
    );
    assertEquals(e, broken);
    assertEquals(concat(parts), data);
  }
});
