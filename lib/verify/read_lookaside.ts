/**
 * Reading GPG simple signatures from a lookaside (containers/image `docker_image_src.go`,
 * `docs/signature-protocols.md`): `<base>@<algorithm>=<hex>/signature-1`, `-2`, ... until the first
 * that does not exist (a 404, or a missing file).
 *
 * @module
 */

import { parseDigest } from "../reference/parse_digest.ts";
import { discard, type Fetcher, readCapped } from "../transport/fetcher.ts";
import { redactUrl } from "../transport/registry_error.ts";

export type { Fetcher };

/** The most signatures read for one image (containers/image's `maxLookasideSignatures`). */
export const LOOKASIDE_MAX_SIGNATURES = 128;
/** The most bytes of one signature (containers/image's `MaxSignatureBodySize`). */
export const LOOKASIDE_MAX_SIGNATURE_BYTES = 4 * 1024 * 1024;

/** Options for {@linkcode readLookaside}. */
export interface ReadLookasideOptions {
  /**
   * The fetch for `http(s)://` lookasides (the project's transport: retries and deadlines; no
   * registry credentials, a lookaside is another server). Required for such URLs.
   * @default {undefined}
   */
  fetch?: Fetcher | undefined;
  /**
   * The most signatures read; more is an error, as in containers/image.
   * @default {128}
   */
  maxSignatures?: number;
  /**
   * The most bytes of one signature.
   * @default {4194304}
   */
  maxBytes?: number;
  /**
   * Stops the reading.
   * @default {undefined}
   */
  signal?: AbortSignal | undefined;
}

/**
 * Reads an image's signatures from its lookaside.
 *
 * Each blob must look like a simple signature as containers/image's `signature.FromBlob` sees it:
 * an OpenPGP packet that can start a signed message (compressed data, one-pass signature or
 * signature), or the `\x00simple-signing\n` envelope (taken off here). Anything else (an HTML page
 * served with 200, another format) fails the whole read, as it fails a skopeo copy.
 *
 * @param base The image's lookaside (from {@linkcode lookasideBase}): `file:`, `http:` or `https:`.
 * @param manifestDigest The digest of the manifest the signatures are for.
 * @param options The fetch for HTTP, the caps, a signal.
 * @returns The signature blobs, in order.
 * @throws {Error} `Cannot read signatures from <url>: <why>` (a status other than 200 and 404, a
 *   file that cannot be read, too many or too large signatures, an unknown format).
 *
 * @example Signatures in a directory
 * ```ts ignore
 * import { readLookaside } from "./read_lookaside.ts";
 *
 * const blobs = await readLookaside(new URL("file:///var/lib/containers/sigstore/ns/app"), "sha256:...");
 * console.log(blobs.length);
 * ```
 */
export async function readLookaside(
  base: URL,
  manifestDigest: string,
  options: ReadLookasideOptions = {},
): Promise<Uint8Array[]> {
  const { algorithm, hex } = parseDigest(manifestDigest);
  const max = options.maxSignatures ?? LOOKASIDE_MAX_SIGNATURES;
  const maxBytes = options.maxBytes ?? LOOKASIDE_MAX_SIGNATURE_BYTES;
  const out: Uint8Array[] = [];
  for (let i = 1;; i++) {
    options.signal?.throwIfAborted();
    const url = new URL(base.href);
    url.pathname = `${base.pathname}@${algorithm}=${hex}/signature-${i}`;
    const shown = redact(url);
    if (i > max) {
      throw new Error(
        `Cannot read signatures from ${
          redact(base)
        }: more than ${max} signatures, assuming that is a server error`,
      );
    }
    let blob: Uint8Array | undefined;
    if (url.protocol === "file:") {
      blob = await readSignatureFile(decodeURIComponent(url.pathname), maxBytes, shown);
    } else if (url.protocol === "http:" || url.protocol === "https:") {
      if (!options.fetch) {
        throw new TypeError(`Cannot read signatures from ${shown}: no fetch was given for HTTP`);
      }
      blob = await fetchSignature(options.fetch, url, maxBytes, shown, options.signal);
    } else {
      throw new Error(`Cannot read signatures from ${shown}: unsupported scheme ${url.protocol}`);
    }
    if (blob === undefined) return out;
    out.push(simpleSignatureBlob(blob, shown));
  }
}

async function readSignatureFile(
  path: string,
  maxBytes: number,
  shown: string,
): Promise<Uint8Array | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`Cannot read signatures from ${shown}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const info = await file.stat();
    if (!info.isFile) throw new Error(`Cannot read signatures from ${shown}: not a file`);
    if (info.size > maxBytes) {
      throw new Error(`Cannot read signatures from ${shown}: larger than ${maxBytes} bytes`);
    }
    return await readCapped(new Response(file.readable), maxBytes, `signature ${shown}`);
  } catch (e) {
    if (e instanceof RangeError) {
      throw new Error(e.message.replace(/^Cannot read /, "Cannot read signatures from "));
    }
    throw e;
  } finally {
    try {
      file.close();
    } catch {
      // closed by the stream already
    }
  }
}

async function fetchSignature(
  fetch: Fetcher,
  url: URL,
  maxBytes: number,
  shown: string,
  signal: AbortSignal | undefined,
): Promise<Uint8Array | undefined> {
  let response: Response;
  try {
    response = await fetch(new Request(url, { ...(signal ? { signal } : {}) }));
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new Error(`Cannot read signatures from ${shown}: ${(e as Error).message}`, { cause: e });
  }
  if (response.status === 404) {
    await discard(response);
    return undefined;
  }
  if (response.status !== 200) {
    await discard(response);
    throw new Error(`Cannot read signatures from ${shown}: the server answered ${response.status}`);
  }
  try {
    return await readCapped(response, maxBytes, `signature ${shown}`);
  } catch (e) {
    if (e instanceof RangeError) {
      throw new Error(`Cannot read signatures from ${shown}: larger than ${maxBytes} bytes`);
    }
    if (signal?.aborted) throw e;
    throw new Error(`Cannot read signatures from ${shown}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * First bytes that start a simple signature, exactly containers/image's `signature.FromBlob` list:
 * compressed data, one-pass signature and signature packets, old and new format. (Its list has
 * 0x3d where 0x93, a one-pass signature of indeterminate length, would be; kept as it is, so that
 * skiff and skopeo read the same lookaside the same way: 0x3d then fails as a signature.)
 */
const OPENPGP_STARTS = new Set([
  0xa0,
  0xa1,
  0xa2,
  0xa3,
  0xc8,
  0x90,
  0x91,
  0x92,
  0x3d,
  0xc4,
  0x88,
  0x89,
  0x8a,
  0x8b,
  0xc2,
]);

function simpleSignatureBlob(blob: Uint8Array, shown: string): Uint8Array {
  if (blob.byteLength === 0) throw new Error(`Cannot read signatures from ${shown}: it is empty`);
  if (OPENPGP_STARTS.has(blob[0]!)) return blob;
  if (blob[0] === 0x00) {
    const nl = blob.indexOf(0x0a);
    const format = new TextDecoder().decode(
      blob.subarray(1, nl === -1 ? Math.min(blob.length, 65) : nl),
    );
    if (nl !== -1 && format === "simple-signing") return blob.subarray(nl + 1);
    throw new Error(
      `Cannot read signatures from ${shown}: the format ${
        JSON.stringify(format)
      } is not a simple signature`,
    );
  }
  throw new Error(
    `Cannot read signatures from ${shown}: it is not a signature (it starts with byte 0x${
      blob[0]!.toString(16).padStart(2, "0")
    })`,
  );
}

/** A URL without user info, query or fragment (secrets never reach a message). */
function redact(url: URL): string {
  return redactUrl(url.href);
}
