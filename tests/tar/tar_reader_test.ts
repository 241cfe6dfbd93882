// TarReader against archives GNU tar writes in its three formats, and against hand-made ones for
// what tar will not write.

import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { mustRun } from "../_images.ts";
import { makeTar } from "../_tar.ts";
import { type TarHeader, TarReader } from "../../lib/tar/tar_reader.ts";
import { tempDir } from "../_temp.ts";

interface Read {
  header: TarHeader;
  content: Uint8Array;
}

/** Parses `bytes` pushed in chunks of `chunk` bytes. */
function readAll(bytes: Uint8Array, chunk = bytes.length): Read[] {
  const reader = new TarReader();
  const out: Read[] = [];
  let parts: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += chunk) {
    for (const e of reader.push(bytes.subarray(at, at + chunk))) {
      if (e.kind === "entry") {
        parts = [];
        out.push({ header: e.header, content: new Uint8Array(0) });
      } else if (e.kind === "data") parts.push(e.bytes.slice());
      else out[out.length - 1]!.content = concat(parts);
    }
  }
  reader.end();
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const dec = new TextDecoder();
const longDir = "d".repeat(60) + "/" + "e".repeat(60) + "/" + "f".repeat(60);
const longName = `${longDir}/${"n".repeat(90)}.txt`; // > 255 bytes: pax or GNU long name only

async function sampleTree(): Promise<string> {
  const dir = await tempDir({ prefix: "skiff-tar-" });
  await Deno.mkdir(`${dir}/${longDir}`, { recursive: true });
  await Deno.writeTextFile(`${dir}/${longName}`, "long\n");
  await Deno.writeTextFile(`${dir}/grüße.txt`, "non-ascii\n");
  await Deno.writeFile(`${dir}/big.bin`, new Uint8Array(70_001).map((_, i) => i % 251));
  await Deno.link(`${dir}/big.bin`, `${dir}/big-link.bin`);
  await Deno.symlink(`/${"t".repeat(150)}`, `${dir}/long-symlink`);
  await Deno.writeTextFile(`${dir}/setuid`, "#!/bin/sh\n");
  await Deno.chmod(`${dir}/setuid`, 0o4755);
  await mustRun("mkfifo", [`${dir}/fifo`]);
  await Deno.chmod(`${dir}/fifo`, 0o640);
  await Deno.utime(`${dir}/big.bin`, 1_600_000_000, 1_600_000_000);
  return dir;
}

for (const format of ["pax", "gnu", "ustar"] as const) {
  Deno.test(`TarReader: GNU tar --format=${format}, pushed whole and in odd chunks`, async () => {
    const dir = await sampleTree();
    try {
      const files = ["big.bin", "big-link.bin", "grüße.txt", "setuid", "fifo"];
      // ustar cannot hold a name over 255 bytes or a link target over 100: leave them out
      if (format !== "ustar") files.push(longName, "long-symlink");
      const tar = await mustRun("tar", [`--format=${format}`, "-C", dir, "-cf", "-", ...files]);
      const whole = readAll(tar);
      for (const chunk of [1, 511, 513, 4096]) {
        assertEquals(
          readAll(tar, chunk).map((r) => [r.header, r.content.length]),
          whole.map((r) => [r.header, r.content.length]),
        );
      }
      const by = new Map(whole.map((r) => [r.header.path, r]));
      const listed = dec.decode(await mustRun("tar", ["-tf", "-"], { stdin: tar })).trim()
        .split("\n");
      assertEquals([...by.keys()], listed);
      const big = by.get("big.bin")!;
      assertEquals(big.header.type, "file");
      assertEquals(big.header.size, 70_001);
      assertEquals(big.content, await Deno.readFile(`${dir}/big.bin`));
      assertEquals(big.header.mtime, 1_600_000_000);
      const link = by.get("big-link.bin")!;
      assertEquals([link.header.type, link.header.linkname, link.header.size], [
        "link",
        "big.bin",
        0,
      ]);
      assertEquals(dec.decode(by.get("grüße.txt")!.content), "non-ascii\n");
      assertEquals(by.get("setuid")!.header.mode, 0o4755);
      assertEquals([by.get("fifo")!.header.type, by.get("fifo")!.header.mode], ["fifo", 0o640]);
      if (format !== "ustar") {
        assertEquals(by.get("long-symlink")!.header.type, "symlink");
        assertEquals(by.get("long-symlink")!.header.linkname, `/${"t".repeat(150)}`);
        assertEquals(dec.decode(by.get(longName)!.content), "long\n");
      }
      assertEquals(by.get("setuid")!.header.uid, Deno.uid());
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("TarReader: ustar prefix field joins long paths", async () => {
  const dir = await tempDir();
  try {
    const name = `${"p".repeat(120)}/${"q".repeat(80)}`; // fits prefix (155) + name (100)
    await Deno.mkdir(`${dir}/${"p".repeat(120)}`);
    await Deno.writeTextFile(`${dir}/${name}`, "x");
    const tar = await mustRun("tar", ["--format=ustar", "-C", dir, "-cf", "-", name]);
    assertEquals(readAll(tar).map((r) => r.header.path), [name]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TarReader: devices, pax overrides, header-only types with a size", () => {
  const tar = makeTar([
    { path: "dev/null", type: "char", devmajor: 1, devminor: 3, mode: 0o666 },
    { path: "dev/sda", type: "block", devmajor: 8, devminor: 0, mode: 0o660 },
    {
      path: "short",
      content: "abc",
      pax: { uid: "70000", gid: "80000", mtime: "1700000000.5", path: "renamed" },
    },
    { path: "dir", type: "directory", size: 1024 }, // the size of a directory is not a body
    { path: "after", content: "ok" },
  ]);
  const read = readAll(tar);
  assertEquals(read.map((r) => r.header.path), ["dev/null", "dev/sda", "renamed", "dir", "after"]);
  assertEquals([read[0]!.header.devmajor, read[0]!.header.devminor], [1, 3]);
  assertEquals([read[1]!.header.type, read[1]!.header.devmajor], ["block", 8]);
  assertEquals([read[2]!.header.uid, read[2]!.header.gid, read[2]!.header.mtime], [
    70000,
    80000,
    1700000000.5,
  ]);
  assertEquals(read[2]!.header.mtimeNs, 1_700_000_000_500_000_000n);
  assertEquals(read[0]!.header.mtimeNs, undefined); // whole seconds: no nanoseconds record
  assertEquals(read[3]!.header.size, 0);
  assertEquals(dec.decode(read[4]!.content), "ok");
  // nanoseconds exactly (a double would round them), before the epoch too
  const ns = readAll(makeTar([
    { path: "a", pax: { mtime: "1700000000.123456789" } },
    { path: "b", pax: { mtime: "-1.25" } },
    { path: "c", pax: { mtime: "5.1234567891234" } }, // more than 9 digits: truncated
  ]));
  assertEquals(ns.map((r) => r.header.mtimeNs), [
    1_700_000_000_123_456_789n,
    -1_250_000_000n,
    5_123_456_789n,
  ]);
});

Deno.test("TarReader: SCHILY.xattr records from GNU tar --xattrs, values as raw bytes", async () => {
  const dir = await tempDir({ prefix: "skiff-tar-" });
  try {
    await Deno.writeTextFile(`${dir}/ping`, "x");
    await Deno.writeTextFile(`${dir}/plain`, "y");
    // a binary value with a NUL, a newline and bytes that are not UTF-8
    const value = [0, 10, 0xff, 0xfe, 61, 32];
    await mustRun("python3", [
      "-c",
      `import os; os.setxattr("${dir}/ping", "user.skiff", bytes(${JSON.stringify(value)}))`,
    ]);
    const tar = await mustRun("tar", [
      "--format=pax",
      "--xattrs",
      "--xattrs-include=*",
      "-C",
      dir,
      "-cf",
      "-",
      "ping",
      "plain",
    ]);
    const read = readAll(tar, 100);
    assertEquals(read.map((r) => r.header.path), ["ping", "plain"]);
    assertEquals(read[0]!.header.xattrs, new Map([["user.skiff", new Uint8Array(value)]]));
    assertEquals(dec.decode(read[0]!.content), "x");
    assertEquals(read[1]!.header.xattrs, undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // hand-made: security.capability's 20 bytes, and an empty value (still an xattr)
  const cap = new Uint8Array([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const read = readAll(makeTar([{
    path: "bin/ping",
    content: "z",
    pax: { "SCHILY.xattr.security.capability": cap, "SCHILY.xattr.user.empty": "" },
  }]));
  assertEquals(read[0]!.header.xattrs?.get("security.capability"), cap);
  assertEquals(read[0]!.header.xattrs?.get("user.empty"), new Uint8Array(0));
  assertThrows(
    () => readAll(makeTar([{ path: "x", pax: { "SCHILY.xattr.": "v" } }])),
    Error,
    "a pax xattr record has no name",
  );
});

Deno.test("TarReader: no end blocks is fine between entries, truncation is not", () => {
  const entries = [{ path: "a", content: "x".repeat(1000) }, { path: "b", content: "y" }];
  assertEquals(readAll(makeTar(entries, { end: false })).map((r) => r.header.path), ["a", "b"]);
  const full = makeTar(entries, { end: false });
  for (const cut of [100, 512 + 700, 1536 + 100, full.length - 100]) {
    const e = assertThrows(() => readAll(full.subarray(0, cut)));
    assert(e.message.includes("truncated"), e.message);
  }
  // a declared size larger than the data that follows
  const liar = makeTar([{ path: "liar", content: "short", size: 10_000 }], { end: false });
  const e = assertThrows(() => readAll(liar));
  assert(e.message.includes(`entry "liar" declares 10000 bytes`), e.message);
});

Deno.test("TarReader: refuses bad checksums, sparse files, unknown types, bad names", () => {
  const cases: [Uint8Array, string][] = [
    [makeTar([{ path: "a", content: "x", badChecksum: true }]), "checksum"],
    [makeTar([{ path: "sparse", type: "S" }]), "sparse"],
    [makeTar([{ path: "s2", content: "x", pax: { "GNU.sparse.major": "1" } }]), "sparse"],
    [makeTar([{ path: "vol", type: "V" }]), "type 'V'"],
    [makeTar([{ path: "", content: "x" }]), "empty name"],
  ];
  const bad = makeTar([{ path: "abc", content: "x" }]);
  bad[1] = 0xff; // not UTF-8, checksum fixed below
  bad.fill(0x20, 148, 156);
  bad.set(
    new TextEncoder().encode(
      bad.subarray(0, 512).reduce((a, b) => a + b, 0).toString(8)
        .padStart(6, "0") + "\0 ",
    ),
    148,
  );
  cases.push([bad, "UTF-8"]);
  for (const [tar, message] of cases) {
    const e = assertThrows(() => readAll(tar), Error, undefined, message);
    assert(e.message.includes(message), `${message}: ${e.message}`);
  }
});

Deno.test("TarReader: what follows the end blocks is ignored", () => {
  const tar = makeTar([{ path: "a", content: "x" }]);
  const padded = new Uint8Array(tar.length + 9000);
  padded.set(tar);
  padded.fill(7, tar.length); // not even zeros
  assertEquals(readAll(padded).map((r) => r.header.path), ["a"]);
});
