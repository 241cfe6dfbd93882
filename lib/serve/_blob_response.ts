// Blobs as `skiff serve` sends them: the store's file as it is, with `Range` (RFC 9110), and never
// a blob whose bytes are not the ones its digest names.
//
// Verification. The store verified every blob on its way in, but a disk can change a file later
// (what `skiff fsck` looks for). So the size is checked on every request (the file against the
// size the repository's manifests give), and the digest once per file: before the first byte of a
// blob's first GET (whole or a range) is sent, its file is hashed whole; a blob that does not
// match is refused (404, as if absent: a mirror's client then asks the registry behind it) and
// its damage logged. A file that verified is remembered by its identity (device, inode, size,
// modification and change times, read from the opened file), so later requests cost no hashing,
// and every body is streamed by Deno itself from the file to the socket, with no JavaScript per
// piece (only a range that ends before the blob does goes through a stream of ours).
//
// Hashing first rather than while streaming: the first request of a blob waits for one read of
// it (about 0.1 s for 128 MiB here) before its first byte, but the bytes then take the same fast
// path as every later request, a damaged blob is a clean 404 instead of a connection broken off at
// its end, and no garbage piles up: the pieces a JavaScript stream hands to Deno's HTTP server
// cannot be reused (Deno still holds them after the next pull: a ring of two 1 MiB buffers sent
// wrong bytes in 7 of 7 downloads), so a hashing stream allocated 1 MiB per piece, and the
// server's memory grew by 69 MiB while one 64 MiB blob was served that way (V8 collects such
// buffers late).
//
// What this does not see: a change the file system does not report (silent media corruption) in a
// blob already verified in this server's lifetime; `skiff fsck` (which re-hashes every blob) is the
// answer to that, as it is for the store as a whole.

import { DigestMismatchError, SizeMismatchError } from "../reference/digest_mismatch_error.ts";
import { DigestVerifier } from "../stream/digest_verifier.ts";
import { fileIdentity } from "./_file_identity.ts";

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
  /** The hashing of blob files under way, by digest and identity. */
  readonly #verifying = new Map<string, Promise<string | undefined>>();
  /** The streams in flight, each with what closes its file. */
  readonly #streams = new Map<ReadableStreamDefaultController<Uint8Array>, () => void>();

  /** How many responses stream through JavaScript (a range that ends early) right now. */
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
      const identity = fileIdentity(info);
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
      if (known?.intact !== true) {
        const problem = await this.#verify(path, digest, size, identity);
        if (problem !== undefined) {
          options.onDamaged(digest, problem);
          return options.unknown("damaged in the store");
        }
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
      handedOver = true;
      return new Response(file.readable, { status: 200, headers });
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

  /**
   * Hashes a blob's file whole, through a handle of its own (a request for the same file that
   * comes meanwhile waits for this one, and a client that leaves closes nothing it reads), and
   * remembers the verdict: a problem's description, or `undefined` when intact.
   */
  async #verify(
    path: string,
    digest: string,
    size: number,
    identity: string,
  ): Promise<string | undefined> {
    const key = `${digest} ${identity}`;
    let verdict = this.#verifying.get(key);
    if (!verdict) {
      verdict = (async () => {
        const verifier = new DigestVerifier({ digest, size });
        const buffer = new Uint8Array(PIECE);
        using file = await Deno.open(path, { read: true });
        const info = await file.stat();
        if (fileIdentity(info) !== identity) return "its file changed while it was read";
        try {
          for (;;) {
            const n = await file.read(buffer);
            if (n === null) break;
            verifier.update(buffer.subarray(0, n));
          }
          verifier.verify();
        } catch (e) {
          if (!(e instanceof DigestMismatchError || e instanceof SizeMismatchError)) throw e;
          this.#remember(digest, { identity, intact: false });
          return e.message;
        }
        this.#remember(digest, { identity, intact: true });
        return undefined;
      })();
      this.#verifying.set(key, verdict);
      verdict.finally(() => this.#verifying.delete(key)).catch(() => {});
    }
    return await verdict;
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
