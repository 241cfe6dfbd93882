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

Deno.test("TarWriter.header: every type with its metadata, read back by TarReader and GNU tar", async () => {
  const m = memory();
  const tar = new TarWriter(m.sink, { bufferSize: 4096 });
  const base = {
    size: 0,
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 1_700_000_000,
    linkname: "",
    devmajor: 0,
    devminor: 0,
  };
  const cap = new Uint8Array([1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const longLink = "t/".repeat(70) + "target"; // 146 bytes: pax linkpath
  const entries = [
    { ...base, path: "d/", type: "directory" as const, mode: 0o1777, uid: 3_000_000 },
    {
      ...base,
      path: "d/f",
      type: "file" as const,
      size: 5,
      mode: 0o4755,
      gid: 7,
      mtime: 1_700_000_000.123456789,
      mtimeNs: 1_700_000_000_123_456_789n,
      xattrs: new Map([["security.capability", cap], ["user.note", new TextEncoder().encode("é")]]),
    },
    { ...base, path: "d/s", type: "symlink" as const, mode: 0o777, linkname: longLink },
    { ...base, path: "d/h", type: "link" as const, linkname: "d/f" },
    { ...base, path: "d/c", type: "char" as const, devmajor: 1, devminor: 3 },
    { ...base, path: "d/b", type: "block" as const, devmajor: 8, devminor: 1 },
    { ...base, path: "d/p", type: "fifo" as const, mtime: -1 },
    { ...base, path: `d/${"ü".repeat(60)}`, type: "file" as const },
  ];
  for (const e of entries) {
    await tar.header(e);
    if (e.size > 0) {
      await tar.body(new TextEncoder().encode("he"));
      await tar.body(new TextEncoder().encode("llo"));
    }
  }
  await tar.end();
  const bytes = m.bytes();
  assertEquals(tar.bytes, bytes.byteLength);

  const reader = new TarReader();
  const seen = [];
  for (const e of reader.push(bytes)) if (e.kind === "entry") seen.push(e.header);
  reader.end();
  assertEquals(seen.map((h) => [h.path, h.type, h.mode, h.uid, h.gid, h.linkname]), [
    ["d/", "directory", 0o1777, 3_000_000, 0, ""],
    ["d/f", "file", 0o4755, 0, 7, ""],
    ["d/s", "symlink", 0o777, 0, 0, longLink],
    ["d/h", "link", 0o644, 0, 0, "d/f"],
    ["d/c", "char", 0o644, 0, 0, ""],
    ["d/b", "block", 0o644, 0, 0, ""],
    ["d/p", "fifo", 0o644, 0, 0, ""],
    [`d/${"ü".repeat(60)}`, "file", 0o644, 0, 0, ""],
  ]);
  assertEquals(seen[1]!.mtimeNs, 1_700_000_000_123_456_789n);
  assertEquals(seen[1]!.xattrs?.get("security.capability"), cap);
  assertEquals([seen[4]!.devmajor, seen[4]!.devminor, seen[5]!.devmajor], [1, 3, 8]);
  assertEquals(seen[6]!.mtime, -1);

  const dir = await tempDir({ prefix: "skiff-tarw-" });
  try {
    await Deno.writeFile(`${dir}/a.tar`, bytes);
    const list = new TextDecoder().decode(
      await mustRun("tar", ["--numeric-owner", "--full-time", "--utc", "-tvf", `${dir}/a.tar`]),
    ).trim().split("\n").map((l) => l.replace(/ +/g, " "));
    assertEquals(list[0]!.startsWith("drwxrwxrwt 3000000/0 "), true, list[0]);
    assertEquals(list[1], "-rwsr-xr-x 0/7 5 2023-11-14 22:13:20.123456789 d/f");
    assertEquals(list[4]!.startsWith("crw-r--r-- 0/0 1,3 "), true, list[4]);
    assertEquals(list[3]!.endsWith("d/h link to d/f"), true, list[3]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TarWriter.header: a body shorter or longer than its size is refused", async () => {
  const tar = new TarWriter(memory().sink);
  const file = {
    path: "f",
    type: "file" as const,
    size: 3,
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    linkname: "",
    devmajor: 0,
    devminor: 0,
  };
  await tar.header(file);
  await tar.body(new Uint8Array(2));
  await assertRejects(
    () => tar.header({ ...file, path: "g" }),
    Error,
    "Cannot add g to the archive: f lacks 1 bytes of its body",
  );
  await assertRejects(() => tar.end(), Error, "f lacks 1 bytes");
  await assertRejects(() => tar.body(new Uint8Array(2)), Error, "f to the archive: more than");
  await tar.body(new Uint8Array(1));
  await tar.end();
});

Deno.test("TarWriter: a gathered chunk is the sink's once written (a full buffer, a large body)", async () => {
  // the sink keeps each chunk as it is (a stream's queue does), so a buffer written into after
  // it was handed over would change bytes the sink already has
  const kept: Uint8Array[] = [];
  const tar = new TarWriter({ write: (c) => Promise.resolve(void kept.push(c)) }, {
    bufferSize: 2048,
  });
  const body = new Uint8Array(1500).fill(0x61);
  await tar.add("small", new Uint8Array([1, 2, 3]));
  await tar.add("fills", new Uint8Array([5])); // the buffer is full: the next header flushes it
  await tar.add("large", body);
  await tar.add("after", new Uint8Array([4]));
  await tar.end();
  const bytes = new Uint8Array(kept.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of kept) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  const reader = new TarReader();
  const files = new Map<string, number[]>();
  let current = "";
  for (const e of reader.push(bytes)) {
    if (e.kind === "entry") files.set(current = e.header.path, []);
    if (e.kind === "data") files.get(current)!.push(...e.bytes);
  }
  reader.end();
  assertEquals([...files.keys()], ["small", "fills", "large", "after"]);
  assertEquals(files.get("small"), [1, 2, 3]);
  assertEquals(files.get("large"), [...body]);
  assertEquals(files.get("after"), [4]);
});
