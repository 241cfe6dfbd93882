// Tars written byte by byte, for what GNU tar will not write: hostile names, links out of the
// root, devices without mknod rights, a declared size larger than the data, broken checksums.

export interface TarSpec {
  path: string;
  type?: "file" | "directory" | "symlink" | "link" | "fifo" | "char" | "block" | string;
  content?: string | Uint8Array;
  /** The size written in the header, when it must differ from the content's. */
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extra pax records for this entry (a pax header is written when there are any); a value
   * may be raw bytes (an xattr's). */
  pax?: Record<string, string | Uint8Array>;
  /** Corrupt the header checksum. */
  badChecksum?: boolean;
}

const enc = new TextEncoder();
const FLAGS: Record<string, string> = {
  file: "0",
  link: "1",
  symlink: "2",
  char: "3",
  block: "4",
  directory: "5",
  fifo: "6",
};

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

function header(spec: TarSpec, size: number, flag: string, name: string): Uint8Array {
  const h = new Uint8Array(512);
  const put = (at: number, text: string, max: number) => {
    const bytes = enc.encode(text);
    if (bytes.length > max) throw new Error(`tar field too long: ${text}`);
    h.set(bytes, at);
  };
  put(0, name, 100);
  put(100, octal(spec.mode ?? (flag === "5" ? 0o755 : 0o644), 8), 8);
  put(108, octal(spec.uid ?? 0, 8), 8);
  put(116, octal(spec.gid ?? 0, 8), 8);
  put(124, octal(size, 12), 12);
  put(136, octal(spec.mtime ?? 1_700_000_000, 12), 12);
  put(156, flag, 1);
  put(157, spec.linkname && enc.encode(spec.linkname).length <= 100 ? spec.linkname : "", 100);
  put(257, "ustar\x0000", 8);
  put(329, octal(spec.devmajor ?? 0, 8), 8);
  put(337, octal(spec.devminor ?? 0, 8), 8);
  h.fill(0x20, 148, 156);
  let sum = h.reduce((a, b) => a + b, 0);
  if (spec.badChecksum) sum += 1;
  put(148, sum.toString(8).padStart(6, "0") + "\0 ", 8);
  return h;
}

function paxBody(records: Record<string, string | Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [key, value] of Object.entries(records)) {
    const v = typeof value === "string" ? enc.encode(value) : value;
    const body = new Uint8Array([...enc.encode(` ${key}=`), ...v, 0x0a]);
    const bodyLength = body.length;
    let length = bodyLength + String(bodyLength).length;
    if (String(length).length !== String(bodyLength).length) {
      length = bodyLength + String(length).length;
    }
    parts.push(enc.encode(String(length)), body);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function padded(bytes: Uint8Array): Uint8Array[] {
  const pad = -bytes.length & 511;
  return pad ? [bytes, new Uint8Array(pad)] : [bytes];
}

/** A tar of the entries, in order, with the two end blocks unless `end` is false. */
export function makeTar(entries: TarSpec[], options: { end?: boolean } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const spec of entries) {
    const type = spec.type ?? "file";
    const flag = FLAGS[type] ?? type;
    const content = typeof spec.content === "string"
      ? enc.encode(spec.content)
      : spec.content ?? new Uint8Array(0);
    const pax: Record<string, string | Uint8Array> = { ...spec.pax };
    let name = spec.path;
    if (enc.encode(name).length > 100) {
      pax.path = name;
      name = name.slice(0, 90);
    }
    if (spec.linkname && enc.encode(spec.linkname).length > 100) pax.linkpath = spec.linkname;
    if (Object.keys(pax).length > 0) {
      const body = paxBody(pax);
      parts.push(header({ path: "PaxHeader" }, body.length, "x", "PaxHeader"), ...padded(body));
    }
    const size = spec.size ?? content.length;
    parts.push(header(spec, size, flag, name));
    if (content.length > 0) parts.push(...padded(content));
  }
  if (options.end !== false) parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
