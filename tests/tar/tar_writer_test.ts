// The archive's tar writer: what it writes is read back by GNU tar and by skiff's own reader,
// long and non-ASCII names included; a stream that lies about its size fails the entry.

import { assertEquals, assertRejects } from "../_assert.ts";
import { mustRun } from "../_images.ts";
import { TarWriter } from "../../lib/tar/tar_writer.ts";
import { TarReader } from "../../lib/tar/tar_reader.ts";
import { tempDir } from "../_temp.ts";

function memory() {
  const parts: Uint8Array[] = [];
  const sink = { write: (c: Uint8Array) => Promise.resolve(void parts.push(c.slice())) };
  const bytes = () => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  };
  return { sink, bytes };
}

function streamOf(...chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return ReadableStream.from(chunks);
}

Deno.test("TarWriter: short, prefix-split, pax and non-ASCII names, read back by GNU tar and TarReader", async () => {
  const m = memory();
  const tar = new TarWriter(m.sink);
  const long = `${"d".repeat(120)}/${"f".repeat(90)}`; // fits ustar's prefix + name
  const longer = "x/".repeat(80) + "end.txt"; // 167 bytes, no split fits: pax
  const unicode = "blobs/é/ü.txt";
  const body = new Uint8Array(70_000).map((_, i) => i % 251);
  await tar.add("oci-layout", new TextEncoder().encode("{}"));
  await tar.add(long, new TextEncoder().encode("long"));
  await tar.add(longer, streamOf(body.subarray(0, 1000), body.subarray(1000)), body.byteLength);
  await tar.add(unicode, new Uint8Array(0));
  await tar.end();
  const bytes = m.bytes();
  assertEquals(bytes.byteLength % 512, 0);
  assertEquals(tar.bytes, bytes.byteLength);

  const dir = await tempDir({ prefix: "skiff-tarw-" });
  try {
    await Deno.writeFile(`${dir}/a.tar`, bytes);
    const names = new TextDecoder().decode(await mustRun("tar", ["-tf", `${dir}/a.tar`]));
    assertEquals(names.trim().split("\n"), ["oci-layout", long, longer, unicode]);
    await mustRun("tar", ["-xf", `${dir}/a.tar`, "-C", dir]);
    assertEquals(await Deno.readFile(`${dir}/${longer}`), body);
    assertEquals(await Deno.readTextFile(`${dir}/${long}`), "long");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }

  const reader = new TarReader();
  const seen: { path: string; size: number }[] = [];
  let got = 0;
  for (const e of reader.push(bytes)) {
    if (e.kind === "entry") seen.push({ path: e.header.path, size: e.header.size });
    if (e.kind === "data" && seen.length === 3) got += e.bytes.byteLength;
  }
  reader.end();
  assertEquals(reader.done, true);
  assertEquals(seen.map((s) => s.path), ["oci-layout", long, longer, unicode]);
  assertEquals(got, body.byteLength);
});

Deno.test("TarWriter: a stream longer or shorter than its size fails the entry", async () => {
  const tar = new TarWriter(memory().sink);
  await assertRejects(
    () => tar.add("a", streamOf(new Uint8Array(10)), 5),
    Error,
    "Cannot add a to the archive: more than its 5 bytes",
  );
  const tar2 = new TarWriter(memory().sink);
  await assertRejects(
    () => tar2.add("b", streamOf(new Uint8Array(3)), 5),
    Error,
    "Cannot add b to the archive: it ended after 3 of 5 bytes",
  );
  await assertRejects(
    () => new TarWriter(memory().sink).add("../x", new Uint8Array(1)),
    RangeError,
    "not a relative path",
  );
});
