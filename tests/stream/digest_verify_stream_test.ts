import { createHash } from "node:crypto";
import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { DigestVerifyStream } from "../../lib/stream/digest_verify_stream.ts";
import {
  DigestMismatchError,
  SizeMismatchError,
} from "../../lib/reference/digest_mismatch_error.ts";

/** Deterministic pseudo-random bytes. */
function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const digestOf = (data: Uint8Array, algorithm: "sha256" | "sha512" = "sha256") =>
  `${algorithm}:${createHash(algorithm).update(data).digest("hex")}`;

/** Splits data into chunks of the given sizes, cycling through them. */
function chunked(data: Uint8Array, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0, i = 0; at < data.byteLength; i++) {
    const size = sizes[i % sizes.length]!;
    out.push(data.slice(at, at + size));
    at += size;
  }
  return out;
}

function source(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]!);
      else controller.close();
    },
  });
}

/** Pipes the chunks through the stream; returns what reached the sink, and the error if any. */
async function run(chunks: Uint8Array[], stream: DigestVerifyStream) {
  const received: Uint8Array[] = [];
  let error: unknown;
  try {
    await source(chunks).pipeThrough(stream).pipeTo(
      new WritableStream({ write: (c) => void received.push(c) }),
    );
  } catch (e) {
    error = e;
  }
  const total = received.reduce((n, c) => n + c.byteLength, 0);
  const joined = new Uint8Array(total);
  let at = 0;
  for (const c of received) {
    joined.set(c, at);
    at += c.byteLength;
  }
  return { joined, error };
}

Deno.test("DigestVerifyStream: passes the bytes through unchanged over many chunks", async () => {
  const data = bytes(1_000_003);
  const chunks = chunked(data, [1, 7, 65_536, 0, 1000, 31_337]);
  assert(chunks.length > 50);
  const stream = new DigestVerifyStream({ digest: digestOf(data), size: data.byteLength });
  const { joined, error } = await run(chunks, stream);
  assertEquals(error, undefined);
  assertEquals(joined.byteLength, data.byteLength);
  assert(joined.every((b, i) => b === data[i]), "the same bytes in the same order");
  assertEquals(stream.bytes, data.byteLength);
});

Deno.test("DigestVerifyStream: sha512 and empty content", async () => {
  const data = bytes(100_000, 7);
  const ok = await run(
    chunked(data, [4096]),
    new DigestVerifyStream({ digest: digestOf(data, "sha512"), size: data.byteLength }),
  );
  assertEquals(ok.error, undefined);
  assertEquals(ok.joined.byteLength, data.byteLength);

  // a well-formed sha512 digest of other content does not verify
  const wrongAlg = await run(
    [data],
    new DigestVerifyStream({
      digest: "sha512:" + createHash("sha256").update(data).digest("hex").repeat(2),
      size: data.byteLength,
    }),
  );
  assert(wrongAlg.error instanceof DigestMismatchError);

  const empty = new Uint8Array(0);
  const e = await run([], new DigestVerifyStream({ digest: digestOf(empty), size: 0 }));
  assertEquals(e.error, undefined);
  assertEquals(e.joined.byteLength, 0);
});

Deno.test("DigestVerifyStream: a wrong digest fails at the end with both digests", async () => {
  const data = bytes(10_000);
  const other = digestOf(bytes(10_000, 2));
  const { error } = await run(
    chunked(data, [999]),
    new DigestVerifyStream({ digest: other, size: data.byteLength }),
  );
  assert(error instanceof DigestMismatchError, `got ${error}`);
  assertEquals(error.expected, other);
  assertEquals(error.actual, digestOf(data));
  assertEquals(error.name, "DigestMismatchError");
  assert(error.message.includes(other) && error.message.includes(digestOf(data)));
  assert(error.message.startsWith(`Cannot verify blob ${other}`));
});

Deno.test("DigestVerifyStream: one flipped byte is caught", async () => {
  const data = bytes(50_000);
  const corrupt = data.slice();
  corrupt[25_000]! ^= 1;
  const { error } = await run(
    chunked(corrupt, [4096]),
    new DigestVerifyStream({ digest: digestOf(data), size: data.byteLength }, {
      what: "layer 3",
    }),
  );
  assert(error instanceof DigestMismatchError);
  assert(error.message.startsWith("Cannot verify layer 3: digest mismatch"), error.message);
});

Deno.test("DigestVerifyStream: short content fails with SizeMismatchError", async () => {
  const data = bytes(10_000);
  const { joined, error } = await run(
    chunked(data.slice(0, 9_999), [1000]),
    new DigestVerifyStream({ digest: digestOf(data), size: data.byteLength }),
  );
  assert(error instanceof SizeMismatchError, `got ${error}`);
  assertEquals(error.expected, 10_000);
  assertEquals(error.actual, 9_999);
  assertEquals(joined.byteLength, 9_999);
});

Deno.test("DigestVerifyStream: too long fails and the excess never reaches the sink", async () => {
  const data = bytes(10_000);
  const longer = new Uint8Array(10_500);
  longer.set(data);
  for (const sizes of [[1000], [3000], [10_500], [9_999, 1, 500], [10_000, 1], [4096]]) {
    const { joined, error } = await run(
      chunked(longer, sizes),
      // the digest of the first 10 000 bytes: a stream that stopped counting would pass
      new DigestVerifyStream({ digest: digestOf(data), size: data.byteLength }),
    );
    assert(error instanceof SizeMismatchError, `chunks ${sizes}: got ${error}`);
    assertEquals(error.expected, 10_000);
    assert(error.actual > 10_000, `actual ${error.actual}`);
    assert(joined.byteLength <= 10_000, `chunks ${sizes}: ${joined.byteLength} bytes passed on`);
    assert(joined.every((b, i) => b === data[i]), "what passed is a prefix of the content");
  }
});

Deno.test("DigestVerifyStream: resumes with a pre-fed hash and an offset", async () => {
  const data = bytes(200_000, 3);
  for (const offset of [0, 1, 65_536, 199_999, 200_000]) {
    const hash = createHash("sha256").update(data.subarray(0, offset));
    const stream = new DigestVerifyStream(
      { digest: digestOf(data), size: data.byteLength },
      { hash, offset },
    );
    assertEquals(stream.bytes, offset);
    const { joined, error } = await run(chunked(data.subarray(offset), [8192]), stream);
    assertEquals(error, undefined, `offset ${offset}`);
    assertEquals(joined.byteLength, data.byteLength - offset);
    assertEquals(stream.bytes, data.byteLength);
  }
});

Deno.test("DigestVerifyStream: a resumed stream still checks size and content", async () => {
  const data = bytes(20_000, 4);
  const offset = 5_000;
  const fresh = () => createHash("sha256").update(data.subarray(0, offset));
  const expected = { digest: digestOf(data), size: data.byteLength };

  // the offset counts toward the size: sending everything again is too long
  const again = await run([data], new DigestVerifyStream(expected, { hash: fresh(), offset }));
  assert(again.error instanceof SizeMismatchError, `got ${again.error}`);
  assertEquals(again.joined.byteLength, 0);

  // a hash that was not fed the first bytes does not verify
  const unfed = await run(
    [data.subarray(offset)],
    new DigestVerifyStream(expected, { hash: createHash("sha256"), offset }),
  );
  assert(unfed.error instanceof DigestMismatchError, `got ${unfed.error}`);
});

Deno.test("DigestVerifyStream: a malformed expected digest throws SyntaxError at once", () => {
  for (
    const digest of [
      "",
      "sha256:abc",
      "sha256:../../etc/passwd",
      "md5:" + "0".repeat(32),
      "sha256:" + "A".repeat(64),
      "sha512:" + "0".repeat(64),
    ]
  ) {
    assertThrows(() => new DigestVerifyStream({ digest, size: 1 }), SyntaxError, undefined, digest);
  }
});

Deno.test("DigestVerifyStream: a source error reaches the sink", async () => {
  const data = bytes(1000);
  const failing = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(data.slice(0, 100));
      controller.error(new TypeError("connection reset"));
    },
  });
  await assertRejects(
    () =>
      failing
        .pipeThrough(new DigestVerifyStream({ digest: digestOf(data), size: 1000 }))
        .pipeTo(new WritableStream()),
    TypeError,
    "connection reset",
  );
});
