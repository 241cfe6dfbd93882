// Reading untrusted protobuf-JSON documents (sigstore bundles, trusted roots, Rekor bodies) field
// by field. Unknown fields are ignored (as protobuf JSON parsers do), `null` is the same as absent,
// both the lowerCamelCase and the original snake_case names are accepted, and a field of the
// wrong type is a SyntaxError naming its path, e.g. `tlogs[0].publicKey.rawBytes: expected a
// base64 string`.

import { fromBase64 } from "./_bytes.ts";

/** A JSON object being read, with its path for messages. */
export type JsonObject = Record<string, unknown>;

/** Parses JSON text from bytes, refusing invalid UTF-8 and a non-object top level. */
export function parseJsonObject(bytes: Uint8Array, what: string): JsonObject {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new SyntaxError(`${what} is not UTF-8`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(`${what} is not JSON (${(e as Error).message.split("\n")[0]})`);
  }
  return asObject(value, what);
}

/** The value as an object, or a SyntaxError naming the path. */
export function asObject(value: unknown, path: string): JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new SyntaxError(`${path}: expected an object`);
  }
  return value as JsonObject;
}

/** A field's path for messages: `a.b`, or `b` at the top. */
function at(path: string, name: string): string {
  return path === "" ? name : `${path}.${name}`;
}

function snake(camel: string): string {
  return camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** A field's raw value by its lowerCamelCase name (or snake_case), `undefined` when absent. */
export function field(o: JsonObject, name: string): unknown {
  let v = Object.hasOwn(o, name) ? o[name] : undefined;
  if (v === undefined) {
    const s = snake(name);
    if (s !== name && Object.hasOwn(o, s)) v = o[s];
  }
  return v === null ? undefined : v;
}

/** An optional object field. */
export function optObject(o: JsonObject, name: string, path: string): JsonObject | undefined {
  const v = field(o, name);
  return v === undefined ? undefined : asObject(v, `${at(path, name)}`);
}

/** A required object field. */
export function reqObject(o: JsonObject, name: string, path: string): JsonObject {
  const v = optObject(o, name, path);
  if (v === undefined) throw new SyntaxError(`${at(path, name)}: missing`);
  return v;
}

/** An optional string field of at most `max` characters. */
export function optString(
  o: JsonObject,
  name: string,
  path: string,
  max = 4096,
): string | undefined {
  const v = field(o, name);
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new SyntaxError(`${at(path, name)}: expected a string`);
  if (v.length > max) throw new SyntaxError(`${at(path, name)}: longer than ${max} characters`);
  return v;
}

/** A required string field. */
export function reqString(o: JsonObject, name: string, path: string, max = 4096): string {
  const v = optString(o, name, path, max);
  if (v === undefined) throw new SyntaxError(`${at(path, name)}: missing`);
  return v;
}

/** An optional array field of at most `max` elements. */
export function optArray(
  o: JsonObject,
  name: string,
  path: string,
  max: number,
): unknown[] | undefined {
  const v = field(o, name);
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw new SyntaxError(`${at(path, name)}: expected an array`);
  if (v.length > max) throw new SyntaxError(`${at(path, name)}: more than ${max} elements`);
  return v;
}

/** An optional bytes field (base64) whose decoded size is at most `maxBytes`. */
export function optBytes(
  o: JsonObject,
  name: string,
  path: string,
  maxBytes: number,
): Uint8Array | undefined {
  const v = field(o, name);
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new SyntaxError(`${at(path, name)}: expected a base64 string`);
  // checked before decoding: a huge field is refused without being decoded
  if (v.length > Math.ceil(maxBytes / 3) * 4 + 4) {
    throw new SyntaxError(`${at(path, name)}: over the limit of ${maxBytes} bytes`);
  }
  const bytes = fromBase64(v, `${at(path, name)}`);
  if (bytes.byteLength > maxBytes) {
    throw new SyntaxError(`${at(path, name)}: over the limit of ${maxBytes} bytes`);
  }
  return bytes;
}

/** A required bytes field. */
export function reqBytes(o: JsonObject, name: string, path: string, maxBytes: number): Uint8Array {
  const v = optBytes(o, name, path, maxBytes);
  if (v === undefined || v.byteLength === 0) throw new SyntaxError(`${at(path, name)}: missing`);
  return v;
}

/** An optional int64 field (a decimal string or a safe JSON number), as a bigint. */
export function optInt64(o: JsonObject, name: string, path: string): bigint | undefined {
  const v = field(o, name);
  if (v === undefined) return undefined;
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw new SyntaxError(`${at(path, name)}: expected an integer`);
    return BigInt(v);
  }
  if (typeof v !== "string" || !/^-?(0|[1-9][0-9]{0,18})$/.test(v)) {
    throw new SyntaxError(`${at(path, name)}: expected an integer`);
  }
  const n = BigInt(v);
  if (n > 0x7fffffffffffffffn || n < -0x8000000000000000n) {
    throw new SyntaxError(`${at(path, name)}: out of the int64 range`);
  }
  return n;
}

/** An optional enum field (its name, or its number as protobuf JSON allows). */
export function optEnum(o: JsonObject, name: string, path: string): string | number | undefined {
  const v = field(o, name);
  if (v === undefined) return undefined;
  if (typeof v === "string" && v.length <= 128) return v;
  if (typeof v === "number" && Number.isInteger(v)) return v;
  throw new SyntaxError(`${at(path, name)}: expected an enum name`);
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** An optional google.protobuf.Timestamp field (RFC 3339 text). */
export function optTimestamp(o: JsonObject, name: string, path: string): Date | undefined {
  const v = optString(o, name, path, 64);
  if (v === undefined) return undefined;
  const m = RFC3339.exec(v);
  if (!m) throw new SyntaxError(`${at(path, name)}: expected an RFC 3339 time`);
  const ms = m[7] ? Number(m[7].padEnd(3, "0").slice(0, 3)) : 0;
  let t = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, ms);
  if (m[9]) t -= (m[9] === "-" ? -1 : 1) * (+m[10]! * 60 + +m[11]!) * 60_000;
  if (Number.isNaN(t)) throw new SyntaxError(`${at(path, name)}: expected an RFC 3339 time`);
  return new Date(t);
}
