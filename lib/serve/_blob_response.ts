// Blobs as `skiff serve` sends them: the store's file as it is, with `Range` (RFC 9110), and never
// a blob whose bytes are not the ones its digest names.
//
// Verification. The store verified every blob on its way in, but a disk can change a file later
// (what `skiff fsck` looks for). So the size is checked on every request (the file against the
// size the repository's manifests give), and the digest once per file: the first full GET of a
// blob hashes it while it streams and holds its last piece back until the digest matched; on a
// mismatch the response is broken off (the client never gets a complete wrong blob) and the blob
// is refused from then on. A file that verified is remembered by its identity (device, inode,
// size, modification and change times, read from the opened file), and later requests of it are
// streamed by Deno itself from the file to the socket with no JavaScript per piece: the fast path.
// A range of a blob not verified yet first hashes the whole file (the cost of one full read).
// What this does not see: a change the file system does not report (silent media corruption) in
// a blob already verified in this server's lifetime; `skiff fsck` (which re-hashes every blob)
// is the answer to that, as it is for the store as a whole.

import { DigestVerifier } from "../stream/digest_verifier.ts";

/** What a `Range` header asks of a representation of `size` bytes. */
export type RangeRequest =
  | { kind: "whole" }
  | { kind: "range"; start: number; end: number }
  | { kind: "unsatisfiable" };

/**
 * Reads a `Range` header as RFC 9110 (section 14) says: one `bytes=` range (`a-b`, `a-`, `-n`) is
 * served; a header that is not valid, names another unit or several ranges is ignored (the whole
 * representation, which the RFC allows); a valid range that starts past the end is unsatisfiable
 * (416).
 *
 * @param header The header, or `null`.
 * @param size The representation's size.
 * @returns What to send.
 */
export function parseRange(header: string | null, size: number): RangeRequest {
  if (header === null) return { kind: "whole" };
  const m = /^\s*bytes\s*=\s*(.*)$/i.exec(header);
  if (!m) return { kind: "whole" };
  const specs = m[1]!.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (specs.length !== 1) return { kind: "whole" };
  const spec = /^(\d*)-(\d*)$/.exec(specs[0]!);
  if (!spec || (spec[1] === "" && spec[2] === "")) return { kind: "whole" };
  if (spec[1] === "") {
    const suffix = Number(spec[2]);
    if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "range", start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(spec[1]);
  const last = spec[2] === "" ? Infinity : Number(spec[2]);
  if (last < start) return { kind: "whole" }; // invalid: ignored
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "range", start, end: Math.min(last, size - 1) };
}

/** How a blob file was found: intact (its digest matched) or damaged. */
interface Checked {
  identity: string;
  intact: boolean;
}

/** The most blob files remembered as checked. */
const REMEMBERED = 100_000;
/** The pieces of a stream read through JavaScript. */
const PIECE = 1024 * 1024;

/** Options for {@linkcode BlobFiles.respond}. */
export interface BlobRespondOptions {
  /** Headers every answer carries. */
  headers: Headers;
  /** Called when a blob is found damaged. */
  onDamaged: (digest: string, problem: string) => void;
  /** Makes the error answer for a blob that is not served (404). */
  unknown: (detail: string) => Response;
}

/** The blob files served, the ones checked, and the JavaScript streams in flight. */
export class BlobFiles {
  readonly #checked = new Map<string, Checked>();
  /** The streams in flight, each with what closes its file. */
  readonly #streams = new Map<ReadableStreamDefaultController<Uint8Array>, () => void>();

  /** How many responses stream through JavaScript (verifying, or a bounded range) right now. */
  get streaming(): number {
    return this.#streams.size;
  }

  /** Breaks off every JavaScript stream in flight (a shutdown whose grace ran out). */
  cut(): void {
    for (const [controller, close] of this.#streams) {
      controller.error(new Error("the server is shutting down"));
      close();
    }
    this.#streams.clear();
  }

  /**
   * Answers a `GET` or `HEAD` of a blob from its file.
   *
   * @param request The request (method, `Range`, `If-Range`, `If-None-Match`).
   * @param path The blob's file.
   * @param digest Its digest.
   * @param size The size its descriptors give.
   * @param options Headers, and what to do about a damaged blob.
   * @returns The response.
   */
  async respond(
    request: Request,
    path: string,
    digest: string,
    size: number,
    options: BlobRespondOptions,
  ): Promise<Response> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return options.unknown("not in the store");
      throw e;
    }
    let handedOver = false;
    try {
      const info = await file.stat();
      if (!info.isFile) return options.unknown("not in the store");
      const identity = `${info.dev}:${info.ino}:${info.size}:${info.mtime?.getTime()}:` +
        `${info.ctime?.getTime()}`;
      const checked = this.#checked.get(digest);
      const known = checked?.identity === identity ? checked : undefined;
      if (known?.intact === false) return options.unknown("damaged in the store");
      if (info.size !== size) {
        const problem = `its file has ${info.size} bytes, its descriptor says ${size}`;
        this.#remember(digest, { identity, intact: false });
        options.onDamaged(digest, problem);
        return options.unknown("damaged in the store");
      }
      const etag = `"${digest}"`;
      const headers = new Headers(options.headers);
      headers.set("content-type", "application/octet-stream");
      headers.set("docker-content-digest", digest);
      headers.set("etag", etag);
      headers.set("accept-ranges", "bytes");
      if (matchesEtag(request.headers.get("if-none-match"), etag)) {
        return new Response(null, { status: 304, headers });
      }
      if (request.method === "HEAD") {
        headers.set("content-length", String(size));
        return new Response(null, { status: 200, headers });
      }
      const ifRange = request.headers.get("if-range");
      const range = ifRange !== null && ifRange.trim() !== etag
        ? { kind: "whole" as const }
        : parseRange(request.headers.get("range"), size);
      if (range.kind === "unsatisfiable") {
        headers.set("content-range", `bytes */${size}`);
        headers.set("content-length", "0");
        return new Response(null, { status: 416, headers });
      }
      let intact = known?.intact === true;
      if (range.kind === "range" && !intact) {
        // a part cannot be checked alone: the whole file first
        const problem = await this.#hashWhole(file, digest, size, request.signal);
        if (problem !== undefined) {
          this.#remember(digest, { identity, intact: false });
          options.onDamaged(digest, problem);
          return options.unknown("damaged in the store");
        }
        this.#remember(digest, { identity, intact: true });
        intact = true;
      }
      if (range.kind === "range") {
        headers.set("content-range", `bytes ${range.start}-${range.end}/${size}`);
        headers.set("content-length", String(range.end - range.start + 1));
        await file.seek(range.start, Deno.SeekMode.Start);
        const body = range.end === size - 1
          ? file.readable
          : this.#bounded(file, range.end - range.start + 1);
        handedOver = true;
        return new Response(body, { status: 206, headers });
      }
      headers.set("content-length", String(size));
      const body = intact ? file.readable : this.#verifying(file, digest, size, identity, options);
      handedOver = true;
      return new Response(body, { status: 200, headers });
    } finally {
      if (!handedOver) file.close();
    }
  }

  #remember(digest: string, checked: Checked): void {
    this.#checked.delete(digest);
    if (this.#checked.size >= REMEMBERED) {
      this.#checked.delete(this.#checked.keys().next().value!);
    }
    this.#checked.set(digest, checked);
  }

  /** Hashes a whole open file; a problem's description, or `undefined` when it is intact. */
  async #hashWhole(
    file: Deno.FsFile,
    digest: string,
    size: number,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    const verifier = new DigestVerifier({ digest, size });
    const buffer = new Uint8Array(PIECE);
    await file.seek(0, Deno.SeekMode.Start);
    try {
      for (;;) {
        signal.throwIfAborted();
        const n = await file.read(buffer);
        if (n === null) break;
        verifier.update(buffer.subarray(0, n));
      }
      verifier.verify();
      return undefined;
    } catch (e) {
      if (signal.aborted) throw e;
      return (e as Error).message;
    }
  }

  /** The file from where it is, `length` bytes, through JavaScript. */
  #bounded(file: Deno.FsFile, length: number): ReadableStream<Uint8Array> {
    let left = length;
    return this.#stream(file, async (controller) => {
      const buffer = new Uint8Array(Math.min(PIECE, left));
      const n = await file.read(buffer);
      if (n === null) throw new Error("the file ended early");
      left -= n;
      controller.enqueue(buffer.subarray(0, n));
      return left === 0;
    });
  }

  /** The whole file, hashed as it goes; the last piece is sent only once the digest matched. */
  #verifying(
    file: Deno.FsFile,
    digest: string,
    size: number,
    identity: string,
    options: BlobRespondOptions,
  ): ReadableStream<Uint8Array> {
    const verifier = new DigestVerifier({ digest, size });
    return this.#stream(file, async (controller) => {
      const buffer = new Uint8Array(Math.max(1, Math.min(PIECE, size - verifier.bytes)));
      const n = await file.read(buffer);
      const piece = n === null ? new Uint8Array(0) : buffer.subarray(0, n);
      try {
        verifier.update(piece);
        if (n !== null && verifier.bytes < size) {
          controller.enqueue(piece);
          return false;
        }
        verifier.verify();
      } catch (e) {
        this.#remember(digest, { identity, intact: false });
        options.onDamaged(digest, (e as Error).message);
        throw e;
      }
      this.#remember(digest, { identity, intact: true });
      if (piece.byteLength > 0) controller.enqueue(piece);
      return true;
    });
  }

  /** A pull stream over an open file: `step` reads and enqueues, and says when it is done. */
  #stream(
    file: Deno.FsFile,
    step: (controller: ReadableStreamDefaultController<Uint8Array>) => Promise<boolean>,
  ): ReadableStream<Uint8Array> {
    let open = true;
    const close = () => {
      if (open) {
        open = false;
        file.close();
      }
    };
    let self: ReadableStreamDefaultController<Uint8Array> | undefined;
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        self = controller;
        this.#streams.set(controller, close);
      },
      pull: async (controller) => {
        try {
          if (await step(controller)) {
            this.#streams.delete(controller);
            close();
            controller.close();
          }
        } catch (e) {
          this.#streams.delete(controller);
          close();
          controller.error(e);
        }
      },
      cancel: () => {
        if (self) this.#streams.delete(self);
        close();
      },
    }, { highWaterMark: 0 });
  }
}

/** Whether an `If-None-Match` header lists the entity tag (or `*`). */
export function matchesEtag(header: string | null, etag: string): boolean {
  if (header === null) return false;
  return header.split(",").some((t) => {
    const tag = t.trim().replace(/^W\//, "");
    return tag === "*" || tag === etag;
  });
}
