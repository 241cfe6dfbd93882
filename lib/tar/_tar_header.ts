// Encodes tar headers (ustar, with a pax extended header where ustar cannot say it: long or
// non-ASCII names, large ids, sizes and times, fractional times, xattrs). Deterministic: the same
// header always gives the same bytes.

import type { TarEntryType } from "./tar_reader.ts";

const BLOCK = 512;
const encoder = new TextEncoder();
const FLAGS: Record<TarEntryType, string> = {
  file: "0",
  link: "1",
  symlink: "2",
  char: "3",
  block: "4",
  directory: "5",
  fifo: "6",
};
const MAX_ID = 0o7777777;
const MAX_NUMBER = 0o77777777777;

/** What one entry of the output says. */
export interface OutHeader {
  path: string;
  type: TarEntryType;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  /** The exact time in nanoseconds, when the input said it (pax): `mtime` is a double. */
  mtimeNs?: bigint | undefined;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs?: ReadonlyMap<string, Uint8Array> | undefined;
}

/** The header blocks for an entry (a pax header first when needed). */
export function encodeHeader(h: OutHeader): Uint8Array {
  const path = encoder.encode(h.path);
  const link = encoder.encode(h.linkname);
  const records: [string, Uint8Array][] = [];
  const ascii = (b: Uint8Array) => b.every((c) => c < 0x80);
  if (path.byteLength > 100 || !ascii(path)) records.push(["path", path]);
  if (link.byteLength > 100 || !ascii(link)) records.push(["linkpath", link]);
  if (h.uid > MAX_ID) records.push(["uid", encoder.encode(String(h.uid))]);
  if (h.gid > MAX_ID) records.push(["gid", encoder.encode(String(h.gid))]);
  if (h.size > MAX_NUMBER) records.push(["size", encoder.encode(String(h.size))]);
  const [whole, paxTime] = timeFields(h);
  if (paxTime !== undefined) records.push(["mtime", encoder.encode(paxTime)]);
  for (const name of [...(h.xattrs?.keys() ?? [])].sort()) {
    records.push([`SCHILY.xattr.${name}`, h.xattrs!.get(name)!]);
  }
  const ustar = ustarBlock({
    name: records.some(([k]) => k === "path") ? asciiPrefix(path) : path,
    flag: FLAGS[h.type],
    size: h.type === "file" ? h.size : 0,
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    mtime: whole,
    link: records.some(([k]) => k === "linkpath") ? asciiPrefix(link) : link,
    devmajor: h.devmajor,
    devminor: h.devminor,
  });
  if (records.length === 0) return ustar;
  const body = paxRecords(records);
  const padded = Math.ceil(body.byteLength / BLOCK) * BLOCK;
  const out = new Uint8Array(BLOCK + padded + BLOCK);
  out.set(
    ustarBlock({
      name: encoder.encode("././@PaxHeader"),
      flag: "x",
      size: body.byteLength,
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: 0,
      link: new Uint8Array(),
      devmajor: 0,
      devminor: 0,
    }),
  );
  out.set(body, BLOCK);
  out.set(ustar, BLOCK + padded);
  return out;
}

/** The first bytes of a name that fit ustar's field, ASCII only (readers take the pax record). */
function asciiPrefix(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (const c of bytes) {
    if (out.length === 100) break;
    out.push(c < 0x80 ? c : 0x5f);
  }
  return new Uint8Array(out);
}

/**
 * The seconds for ustar's field (floored) and the time as pax writes it: the decimal number, its
 * fraction without trailing zeros (`-1.5`, `1700000000.123456789`), or undefined when ustar can
 * say it. From the exact nanoseconds when the input had them: a double holds only about 0.2
 * microseconds of a time near 2023, so `1700000000.123456789` would come out as `.123456717`.
 */
function timeFields(h: OutHeader): [number, string | undefined] {
  let whole: number;
  let text: string;
  if (h.mtimeNs === undefined) {
    whole = Math.floor(h.mtime);
    text = h.mtime.toFixed(9);
  } else {
    const ns = h.mtimeNs;
    const abs = ns < 0n ? -ns : ns;
    const sec = abs / 1_000_000_000n;
    whole = Number(ns < 0n && abs % 1_000_000_000n !== 0n ? -sec - 1n : ns < 0n ? -sec : sec);
    text = `${ns < 0n ? "-" : ""}${sec}.${String(abs % 1_000_000_000n).padStart(9, "0")}`;
  }
  text = text.replace(/\.?0+$/, "");
  if (text === "-0") text = "0";
  const ustar = text === String(whole) && whole >= 0 && whole <= MAX_NUMBER;
  return [whole, ustar ? undefined : text];
}

/** `"%d %s=%s\n"`, the length counting the whole record, itself included. */
function paxRecords(records: [string, Uint8Array][]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [key, value] of records) {
    const rest = encoder.encode(` ${key}=`).byteLength + value.byteLength + 1;
    let length = rest + 1;
    while (String(length).length + rest !== length) length = String(length).length + rest;
    const record = new Uint8Array(length);
    const head = encoder.encode(`${length} ${key}=`);
    record.set(head);
    record.set(value, head.byteLength);
    record[length - 1] = 0x0a;
    parts.push(record);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

interface Fields {
  name: Uint8Array;
  flag: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  link: Uint8Array;
  devmajor: number;
  devminor: number;
}

function ustarBlock(f: Fields): Uint8Array {
  const b = new Uint8Array(BLOCK);
  b.set(f.name.subarray(0, 100), 0);
  octal(b, 100, 8, f.mode & 0o7777);
  octal(b, 108, 8, f.uid > MAX_ID ? 0 : f.uid);
  octal(b, 116, 8, f.gid > MAX_ID ? 0 : f.gid);
  octal(b, 124, 12, f.size > MAX_NUMBER ? 0 : f.size);
  octal(b, 136, 12, f.mtime < 0 || f.mtime > MAX_NUMBER ? 0 : f.mtime);
  b[156] = f.flag.charCodeAt(0);
  b.set(f.link.subarray(0, 100), 157);
  b.set(encoder.encode("ustar\x0000"), 257);
  if (f.flag === "3" || f.flag === "4") {
    octal(b, 329, 8, f.devmajor);
    octal(b, 337, 8, f.devminor);
  }
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of b) sum += c;
  b.set(encoder.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  return b;
}

function octal(b: Uint8Array, at: number, width: number, n: number): void {
  b.set(encoder.encode(n.toString(8).padStart(width - 1, "0") + "\0"), at);
}
