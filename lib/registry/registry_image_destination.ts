/**
 * A registry repository as an image destination: the upload protocol (HEAD, mount, POST, streamed
 * PATCHes, PUT with the digest), resumed from the offset the registry reports, and manifests PUT
 * children first, the tag last.
 *
 * @module
 */

import type {
  DestinationRequestOptions,
  ImageDestination,
  WriteBlobOptions,
  WrittenBlob,
} from "../image/image_destination.ts";
import type { BlobLocation } from "../image/image_source.ts";
import { WriteLostError } from "../image/write_lost_error.ts";
import type { Reference } from "../reference/parse_reference.ts";
import type { CredentialResolver } from "../transport/auth_fetch.ts";
import { createPushTransport, type PushTransport } from "../transport/create_push_transport.ts";
import { discard } from "../transport/fetcher.ts";
import { isLoopback } from "../transport/is_loopback.ts";
import { RegistryError } from "../transport/registry_error.ts";
import { isNetworkError, sleep } from "../transport/retry_fetch.ts";
import { storedCredentials } from "../transport/stored_credentials.ts";
import { INDEX_MEDIA_TYPES } from "../oci/media_types.ts";
import { formatBytes } from "../progress/format.ts";
import type { Descriptor } from "../oci/parse_manifest.ts";
import { RegistryClient } from "./registry_client.ts";
import type { RemoteOptions } from "./remote_options.ts";

/** Options for {@linkcode RegistryImageDestination}. */
export interface RegistryImageDestinationOptions
  extends Omit<RemoteOptions, "client" | "config" | "signal"> {
  /**
   * Bytes per `PATCH`: a blob larger than 1 MiB is streamed in `PATCH`es of this size (one for
   * most layers), then committed with `PUT ?digest=`; a smaller one goes in one `PUT`.
   * @default {64 MiB}
   */
  chunkSize?: number;
  /**
   * The last bytes sent that are kept, so a broken `PATCH` is resumed from the registry's offset
   * without reading the source again (a registry further behind gets the blob again from 0).
   * @default {4 MiB}
   */
  resendBuffer?: number;
  /**
   * How many times one blob's upload is resumed after a broken request.
   * @default {5}
   */
  resumes?: number;
}

/** The default `PATCH` size. */
export const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;
/** Blobs up to this size go in one `PUT`. */
const MONOLITHIC_LIMIT = 1024 * 1024;

/** An upload session: where to send next, and what the registry has. */
interface Session {
  location: string;
  offset: number;
}

/**
 * Writes images into one repository of a registry.
 *
 * - `hasBlob` is a `HEAD`; `mountBlob` a `POST ?mount=&from=` (201: mounted; 202: the session it
 *   opens is used for the upload).
 * - `writeBlob` starts a session (`POST`, a 202 with `Location`), streams the blob in `PATCH`es
 *   of up to `chunkSize` with `Content-Range` (one `PUT` for a blob up to 1 MiB), checking each
 *   answer's `Location` and `Range`, and commits with `PUT ?digest=` only after the stream ended
 *   verified; the answer's `Docker-Content-Digest` must be the digest sent. A broken request is
 *   followed by a `GET` of the session, and the upload goes on from the offset its `Range` reports
 *   (the last `resendBuffer` bytes are kept for that). A stream that fails (digest mismatch,
 *   abort) cancels the session (`DELETE`): nothing is committed.
 * - `putManifest` PUTs by digest, or by tag for the root, with the manifest's media type, and
 *   checks the digest the registry answers.
 *
 * @example Push a manifest whose blobs are there
 * ```ts ignore
 * import { RegistryImageDestination } from "./registry_image_destination.ts";
 * import { parseReference } from "../reference/parse_reference.ts";
 *
 * const dest = new RegistryImageDestination(parseReference("127.0.0.1:5000/team/app:1"));
 * const bytes = new TextEncoder().encode("{}");
 * console.log(await dest.hasBlob({ mediaType: "x", digest: "sha256:" + "0".repeat(64), size: 1 }));
 * ```
 */
export class RegistryImageDestination implements ImageDestination {
  /** The registry's name. */
  readonly registry: string;
  /** The repository written to. */
  readonly repository: string;
  #client: RegistryClient;
  #transport: PushTransport;
  #chunkSize: number;
  #resendBuffer: number;
  #resumes: number;
  #onDebug: ((line: string) => void) | undefined;
  /** Sessions a mount attempt opened (202), by digest, for the upload that follows. */
  #opened = new Map<string, Session>();

  /**
   * Makes a destination.
   *
   * @param ref The repository (its tag is not used here: the engine passes it to `putManifest`).
   * @param options Credentials, transport, chunk size.
   */
  constructor(ref: Reference, options: RegistryImageDestinationOptions = {}) {
    this.registry = ref.registry;
    this.repository = ref.repository;
    this.#chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    this.#resendBuffer = options.resendBuffer ?? 4 * 1024 * 1024;
    this.#resumes = options.resumes ?? 5;
    this.#onDebug = options.onDebug;
    const credentials = resolverOf(options);
    this.#client = new RegistryClient(ref.registry, {
      credentials,
      ...(options.plainHttp ? { plainHttp: true } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    });
    this.#transport = createPushTransport({
      registry: ref.registry,
      host: this.#client.host,
      allowInsecure: options.plainHttp === true || isLoopback(this.#client.host),
      credentials,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
      ...(options.onDebug ? { onDebug: options.onDebug } : {}),
    });
  }

  /** `registry/repository`. */
  get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /**
   * Asks whether the repository has a blob (`HEAD`).
   *
   * @param descriptor The blob.
   * @param options Abort signal.
   * @returns `true` when it is there with that size.
   * @throws {RegistryError} When the registry refuses.
   */
  async hasBlob(descriptor: Descriptor, options: DestinationRequestOptions = {}): Promise<boolean> {
    const res = await this.#fetch("HEAD", this.#path(`blobs/${descriptor.digest}`), {}, options);
    if (res.status === 404) {
      await discard(res);
      return false;
    }
    if (res.status !== 200) {
      throw await this.#error(res, "HEAD", `check blob ${descriptor.digest} in ${this.name}`);
    }
    await discard(res);
    const length = res.headers.get("content-length");
    return length === null || Number(length) === descriptor.size;
  }

  /**
   * Tells whether a source's blobs can be mounted: another repository of this registry.
   *
   * @param from Where the source keeps its blobs.
   * @returns `true` for the same registry.
   */
  canMount(from: BlobLocation): boolean {
    return from.registry === this.registry && from.repository !== this.repository;
  }

  /**
   * Asks the registry to mount a blob from another of its repositories
   * (`POST .../blobs/uploads/?mount=DIGEST&from=REPO`).
   *
   * @param descriptor The blob.
   * @param from The repository it is in.
   * @param options Abort signal.
   * @returns `true` on 201 (mounted); `false` on 202 (the session opened is used to upload).
   * @throws {RegistryError} When the registry refuses.
   */
  async mountBlob(
    descriptor: Descriptor,
    from: BlobLocation,
    options: DestinationRequestOptions = {},
  ): Promise<boolean> {
    const query = new URLSearchParams({ mount: descriptor.digest, from: from.repository });
    const res = await this.#fetch("POST", this.#path(`blobs/uploads/?${query}`), {}, options);
    const action = `mount blob ${descriptor.digest} from ${from.repository} into ${this.name}`;
    if (res.status === 201) {
      await discard(res);
      const said = res.headers.get("docker-content-digest")?.trim();
      if (said && said !== descriptor.digest) {
        throw new Error(`Cannot ${action}: the registry answered the digest ${clip(said)}`);
      }
      return true;
    }
    if (res.status === 202) {
      this.#opened.set(descriptor.digest, await this.#session(res, action));
      return false;
    }
    throw await this.#error(res, "POST", action);
  }

  /**
   * Uploads a blob from a stream; commits it when the stream ends normally (verified).
   *
   * @param descriptor The blob.
   * @param content Its bytes.
   * @param options Progress and abort signal.
   * @returns What was sent.
   * @throws {RegistryError} When the registry refuses a request.
   * @throws {Error} When the upload cannot go on (no `Location`, a `Range` that is not what was
   *   sent, a session lost, a commit answered with another digest).
   */
  async writeBlob(
    descriptor: Descriptor,
    content: ReadableStream<Uint8Array>,
    options: WriteBlobOptions = {},
  ): Promise<WrittenBlob> {
    const what = `upload blob ${descriptor.digest} to ${this.name}`;
    const feed = new Feed(content.getReader(), Math.min(this.#resendBuffer, descriptor.size));
    let session = this.#opened.get(descriptor.digest);
    this.#opened.delete(descriptor.digest);
    const stats: Stats = { sent: 0, resent: 0, resumes: this.#resumes };
    let committed = false;
    try {
      session ??= await this.#start(what, options);
      const size = descriptor.size;
      if (size <= MONOLITHIC_LIMIT) {
        // the whole blob, verified (its end read), in one PUT
        const bytes = await feed.readAll(size);
        await this.#putWhole(session, descriptor, bytes, stats, what, options);
      } else {
        for (;;) {
          while (session.offset < size) {
            const end = Math.min(size, session.offset + this.#chunkSize);
            await this.#patch(session, feed, end, stats, what, options);
            options.onProgress?.(session.offset);
          }
          // the end of the stream is where the digest is compared: only then the commit
          await feed.finish();
          if (await this.#commit(session, feed, descriptor, stats, what, options)) break;
          // the registry refused the commit (416) and its session is behind the end: the bytes
          // it lacks go again, from the resend buffer (further back: a WriteLostError above)
        }
      }
      committed = true;
      return { sent: stats.sent, resent: stats.resent };
    } catch (error) {
      await feed.cancel(error);
      throw error;
    } finally {
      if (!committed && session) await this.#cancel(session);
    }
  }

  /**
   * PUTs a manifest by digest, or by tag, with its media type; checks the digest answered.
   *
   * @param descriptor The manifest's descriptor.
   * @param bytes Its bytes.
   * @param options The tag and an abort signal.
   * @throws {RegistryError} When the registry refuses it.
   */
  async putManifest(
    descriptor: Descriptor,
    bytes: Uint8Array,
    options: DestinationRequestOptions & { tag?: string } = {},
  ): Promise<void> {
    const reference = options.tag ?? descriptor.digest;
    const what = `push manifest ${descriptor.digest} to ${this.name}` +
      (options.tag !== undefined ? `:${options.tag}` : "");
    const url = await this.#url(this.#path(`manifests/${reference}`), options.signal);
    let res: Response | undefined;
    for (let attempt = 1, unknownChild = 0;; attempt++) {
      try {
        res = await this.#transport.sendOnce(
          new Request(url, {
            method: "PUT",
            headers: { "content-type": descriptor.mediaType },
            body: bytes as Uint8Array<ArrayBuffer>,
            ...(options.signal ? { signal: options.signal } : {}),
          }),
        );
      } catch (error) {
        if (options.signal?.aborted || !isNetworkError(error) || attempt >= 3) throw error;
        continue;
      }
      // after a 401 the auth layer holds a fresh token: the bytes are sent again once
      if ((res.status === 401 && attempt === 1) || (res.status >= 500 && attempt < 3)) {
        await discard(res);
        continue;
      }
      if (res.status === 400 && INDEX_MEDIA_TYPES.has(descriptor.mediaType) && unknownChild < 3) {
        // an index whose children were pushed just before, and that the registry says it does not
        // know: Distribution's filesystem driver rewrites a manifest's link file in place, so
        // another copy pushing the same child at that moment (sync copies tags side by side) makes
        // it briefly unreadable, and object-store registries are eventually consistent. Asked
        // again after a pause, 3 times; any other refusal stands.
        const error = await this.#error(res, "PUT", what);
        if (!error.codes.some((c) => c.code === "MANIFEST_BLOB_UNKNOWN")) throw error;
        unknownChild++;
        attempt = 0;
        await sleep(100 * unknownChild, options.signal);
        continue;
      }
      break;
    }
    if (res.status !== 201 && res.status !== 200) throw await this.#error(res, "PUT", what);
    await discard(res);
    const said = res.headers.get("docker-content-digest")?.trim();
    if (said && said !== descriptor.digest) {
      throw new Error(
        `Cannot ${what}: the registry answered the digest ${clip(said)}, not the one sent`,
      );
    }
  }

  // --- the upload protocol ---

  async #start(what: string, options: DestinationRequestOptions): Promise<Session> {
    const res = await this.#fetch("POST", this.#path("blobs/uploads/"), {}, options);
    if (res.status !== 202) throw await this.#error(res, "POST", what);
    return await this.#session(res, what);
  }

  /** A session from a 202: its `Location` (required), and where it starts. */
  async #session(res: Response, what: string): Promise<Session> {
    await discard(res);
    const location = res.headers.get("location");
    if (!location) {
      throw new Error(`Cannot ${what}: the registry answered 202 without a Location`);
    }
    const base = await this.#client.baseUrl();
    return { location: new URL(location, base + "/").toString(), offset: 0 };
  }

  /**
   * Sends the bytes from `session.offset` to `end` in one `PATCH`, streamed from the feed; a
   * broken send is followed by a `GET` of the session, and the bytes from the offset it reports
   * are sent again (from the feed's resend buffer) in the next `PATCH`.
   */
  async #patch(
    session: Session,
    feed: Feed,
    end: number,
    stats: Stats,
    what: string,
    options: WriteBlobOptions,
  ): Promise<void> {
    for (;;) {
      const start = session.offset;
      let handed = start;
      const body = feed.body(start, end, (n) => {
        stats.sent += n;
        handed += n;
        // progress as the bytes go out, at most every 1 MiB (the registry confirms at the end)
        if (handed === end || (handed & 0xfffff) < n) options.onProgress?.(handed);
      });
      let res: Response;
      try {
        res = await this.#transport.sendOnce(
          new Request(session.location, {
            method: "PATCH",
            headers: {
              "content-type": "application/octet-stream",
              "content-range": `${start}-${end - 1}`,
              "content-length": String(end - start),
            },
            body,
            ...(options.signal ? { signal: options.signal } : {}),
          }),
        );
      } catch (error) {
        if (options.signal?.aborted || feed.failure || !isNetworkError(error)) {
          throw feed.failure?.error ?? error;
        }
        await this.#resume(session, feed, stats, what, error, options);
        continue;
      }
      if (res.status === 401 || res.status === 416 || res.status >= 500) {
        // a 401 leaves a fresh token cached: the bytes go again, from where the registry is; a
        // 416 says the session is at another offset than this PATCH began at: the GET tells it
        const reason = res.status === 416 ? "416 range not satisfiable" : `status ${res.status}`;
        await discard(res);
        await this.#resume(session, feed, stats, what, reason, options);
        continue;
      }
      if (res.status === 404) throw await this.#sessionLost(res, "PATCH", what, stats);
      if (res.status !== 202) throw await this.#error(res, "PATCH", what);
      await discard(res);
      const have = rangeEnd(res.headers.get("range"));
      if (have !== undefined && have !== end) {
        throw new Error(`Cannot ${what}: the registry has ${have} bytes after a PATCH to ${end}`);
      }
      session.location = this.#next(res, session.location);
      session.offset = end;
      return;
    }
  }

  /**
   * After a broken send: asks the registry where the session is (`GET`, its `Range`), and sets
   * the offset to it when the bytes from there are still in the resend buffer. Further back (or
   * a session gone, or an offset past what was sent) is a {@linkcode WriteLostError}: the engine
   * starts the blob over in a new session, reading it again from its start.
   */
  async #resume(
    session: Session,
    feed: Feed,
    stats: Stats,
    what: string,
    cause: unknown,
    options: DestinationRequestOptions,
  ): Promise<void> {
    feed.invalidate(); // the body of the send that broke reads no more
    const reason = cause instanceof Error ? cause.message : String(cause);
    if (stats.resumes-- <= 0) {
      throw new Error(
        `Cannot ${what}: the upload broke ${this.#resumes + 1} times (the last: ${reason})`,
        { cause },
      );
    }
    const res = await this.#transport.fetch(
      new Request(session.location, options.signal ? { signal: options.signal } : {}),
    );
    if (res.status === 404) {
      await discard(res);
      throw new WriteLostError(
        what,
        `the registry dropped the upload session after a broken request (${reason})`,
        stats.sent,
        { cause },
      );
    }
    if (res.status !== 204 && res.status !== 200) throw await this.#error(res, "GET", what);
    await discard(res);
    const have = rangeEnd(res.headers.get("range")) ?? 0;
    if (have > feed.delivered) {
      throw new WriteLostError(
        what,
        `the registry says its upload session holds ${formatBytes(have)}, more than the ` +
          `${formatBytes(feed.delivered)} sent (after: ${reason})`,
        stats.sent,
        { cause },
      );
    }
    if (have < feed.replayableFrom) {
      throw new WriteLostError(
        what,
        `the registry kept only ${formatBytes(have)} of the ${formatBytes(feed.delivered)} ` +
          `sent (after: ${reason}), further back than the last ` +
          `${formatBytes(feed.delivered - feed.replayableFrom)} skiff keeps to send again`,
        stats.sent,
        { cause },
      );
    }
    this.#onDebug?.(
      `upload from ${session.offset} broke (${reason}); the registry has ${have} bytes: resuming there`,
    );
    stats.resent += feed.delivered - have;
    session.location = this.#next(res, session.location);
    session.offset = have;
  }

  /**
   * A 404 to a request of an upload session (`BLOB_UPLOAD_UNKNOWN`: it expired or was dropped;
   * `BLOB_UPLOAD_INVALID`: it refuses the bytes at that offset): the upload starts over in a new
   * session, from the blob's start.
   */
  async #sessionLost(
    res: Response,
    method: string,
    what: string,
    stats: Stats,
  ): Promise<WriteLostError> {
    const error = await this.#error(res, method, what);
    const said = error.message.startsWith(`Cannot ${what}: `)
      ? error.message.slice(`Cannot ${what}: `.length)
      : error.message;
    return new WriteLostError(
      what,
      `the registry no longer takes the upload session (${said})`,
      stats.sent,
      { cause: error },
    );
  }

  /**
   * Commits a session whose bytes are all sent: `PUT ?digest=`; checks the digest answered.
   * Returns `false` when the registry refused it with 416 (its session is not at the end): the
   * session's offset is then where the registry is, and what it lacks is to be sent again.
   */
  async #commit(
    session: Session,
    feed: Feed,
    descriptor: Descriptor,
    stats: Stats,
    what: string,
    options: DestinationRequestOptions,
  ): Promise<boolean> {
    for (let attempt = 1;; attempt++) {
      let res: Response;
      try {
        res = await this.#transport.sendOnce(
          this.#putRequest(session, descriptor, undefined, options),
        );
      } catch (error) {
        if (options.signal?.aborted || !isNetworkError(error) || attempt > stats.resumes) {
          throw error;
        }
        // the commit may have happened before the connection broke
        if (await this.hasBlob(descriptor, options)) return true;
        continue;
      }
      if (
        (res.status === 401 && attempt === 1) || (res.status >= 500 && attempt <= stats.resumes)
      ) {
        await discard(res);
        if (res.status !== 401 && await this.hasBlob(descriptor, options)) return true;
        continue;
      }
      if (res.status === 416) {
        await discard(res);
        await this.#resume(session, feed, stats, what, "416 range not satisfiable", options);
        return false;
      }
      if (res.status === 404) throw await this.#sessionLost(res, "PUT", what, stats);
      await this.#committed(res, descriptor, what);
      return true;
    }
  }

  /**
   * A small blob in one `PUT ?digest=` with its bytes. A broken request is sent again; when the
   * registry dropped the session meanwhile, in a new one (the bytes are all here). A 416 (the
   * session is not at 0) is a {@linkcode WriteLostError}: the blob starts over in a new session.
   */
  async #putWhole(
    session: Session,
    descriptor: Descriptor,
    bytes: Uint8Array,
    stats: Stats,
    what: string,
    options: WriteBlobOptions,
  ): Promise<void> {
    let unauthorized = false;
    for (;;) {
      let res: Response;
      try {
        stats.sent += bytes.byteLength;
        res = await this.#transport.sendOnce(this.#putRequest(session, descriptor, bytes, options));
      } catch (error) {
        if (options.signal?.aborted || !isNetworkError(error) || stats.resumes-- <= 0) throw error;
        stats.resent += bytes.byteLength;
        if (await this.hasBlob(descriptor, options)) return;
        Object.assign(session, await this.#start(what, options));
        continue;
      }
      if (res.status === 401 && !unauthorized) {
        unauthorized = true;
        stats.resent += bytes.byteLength;
        await discard(res);
        continue;
      }
      if (res.status >= 500 && stats.resumes-- > 0) {
        await discard(res);
        stats.resent += bytes.byteLength;
        if (await this.hasBlob(descriptor, options)) return;
        Object.assign(session, await this.#start(what, options));
        continue;
      }
      if (res.status === 416) {
        await discard(res);
        throw new WriteLostError(
          what,
          `the registry refused the blob's ${formatBytes(bytes.byteLength)} in its upload ` +
            `session (416 range not satisfiable: the session is not at its start)`,
          stats.sent,
        );
      }
      await this.#committed(res, descriptor, what);
      session.offset = bytes.byteLength;
      options.onProgress?.(session.offset);
      return;
    }
  }

  #putRequest(
    session: Session,
    descriptor: Descriptor,
    bytes: Uint8Array | undefined,
    options: DestinationRequestOptions,
  ): Request {
    const url = new URL(session.location);
    url.searchParams.set("digest", descriptor.digest);
    return new Request(url, {
      method: "PUT",
      headers: {
        "content-type": "application/octet-stream",
        ...(bytes ? { "content-length": String(bytes.byteLength) } : {}),
      },
      ...(bytes ? { body: bodyOf(bytes) } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /** Checks a commit's answer: 201, and the digest sent. */
  async #committed(res: Response, descriptor: Descriptor, what: string): Promise<void> {
    if (res.status !== 201) throw await this.#error(res, "PUT", what);
    await discard(res);
    const said = res.headers.get("docker-content-digest")?.trim();
    if (said && said !== descriptor.digest) {
      throw new Error(
        `Cannot ${what}: the registry answered the digest ${clip(said)}, not the one sent`,
      );
    }
  }

  /** Cancels a session that will not be committed (best effort). */
  async #cancel(session: Session): Promise<void> {
    try {
      const res = await this.#transport.fetch(new Request(session.location, { method: "DELETE" }));
      await discard(res);
    } catch {
      // the session expires on its own on the registry
    }
  }

  /** The next request's URL: the answer's `Location`, else the current one. */
  #next(res: Response, current: string): string {
    const location = res.headers.get("location");
    return location ? new URL(location, current).toString() : current;
  }

  #path(rest: string): string {
    return `/v2/${this.repository}/${rest}`;
  }

  async #url(path: string, signal?: AbortSignal): Promise<string> {
    return (await this.#client.baseUrl(signal)) + path;
  }

  async #fetch(
    method: string,
    path: string,
    headers: HeadersInit,
    options: DestinationRequestOptions,
  ): Promise<Response> {
    const url = await this.#url(path, options.signal);
    return await this.#transport.fetch(
      new Request(url, { method, headers, ...(options.signal ? { signal: options.signal } : {}) }),
    );
  }

  async #error(res: Response, method: string, action: string): Promise<RegistryError> {
    let hint: string | undefined;
    if (res.status === 401 || res.status === 403) {
      hint = `writing to ${this.repository} needs credentials with push access: skiff login ` +
        this.registry;
    }
    return await RegistryError.fromResponse(res, method, undefined, action, hint);
  }
}

/** The size of the pieces a body is handed to `fetch` in. */
const BODY_PIECE = 64 * 1024;

/**
 * A request body for bytes in memory, as a stream of 64 KiB pieces (its length is given in
 * `Content-Length`). Measured against Distribution 2.8 on loopback, 128 MiB in 8 MiB `PATCH`es:
 * 5.45 s as `Uint8Array` bodies, 4.2 s as 1 MiB pieces, 1.6 s as 64 KiB pieces (noisy, shared
 * machine; the order held in every run).
 */
function bodyOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.byteLength) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.subarray(at, at + BODY_PIECE));
      at += BODY_PIECE;
    },
  }, { highWaterMark: 0 });
}

/** Counts for one blob's upload. */
interface Stats {
  sent: number;
  resent: number;
  resumes: number;
}

/**
 * The blob's verified stream, fed to `PATCH` bodies: it remembers the last bytes it handed out
 * (a ring of `keep` bytes), so a send the registry did not fully receive can be repeated from the
 * offset the registry reports without reading the source again.
 */
class Feed {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #ring: Uint8Array;
  #left: Uint8Array | undefined;
  /** Bytes read from the stream so far (the ring holds the last of them). */
  delivered = 0;
  /** Set when reading the stream failed (a digest mismatch, a source that broke for good). */
  failure: { error: unknown } | undefined;
  /** Bumped by every new body and by `invalidate()`: an older body reads nothing more. */
  #generation = 0;

  #keep: number;

  constructor(reader: ReadableStreamDefaultReader<Uint8Array>, keep: number) {
    this.#reader = reader;
    this.#keep = Math.max(1, keep);
    this.#ring = new Uint8Array(0); // allocated by the first PATCH body (never for a small blob)
  }

  /** The first offset still held for a resend. */
  get replayableFrom(): number {
    return Math.max(0, this.delivered - this.#keep);
  }

  /** A small blob whole, and the end of its stream (where it is verified). */
  async readAll(size: number): Promise<Uint8Array> {
    const out = new Uint8Array(size);
    let filled = 0;
    for (;;) {
      const value = await this.#read();
      if (value === undefined) break;
      if (filled + value.byteLength > size) {
        // the verifier upstream refuses this too; never hold more than the size
        throw new Error(`Cannot read blob: more than its ${size} bytes`);
      }
      out.set(value, filled);
      filled += value.byteLength;
    }
    return out.subarray(0, filled);
  }

  /**
   * A body for the bytes `from`..`to`: first what the ring still holds (a resend), then new bytes
   * from the stream, in pieces of at most 64 KiB.
   */
  body(from: number, to: number, onSent: (n: number) => void): ReadableStream<Uint8Array> {
    let at = from;
    const generation = ++this.#generation;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (generation !== this.#generation) {
          // a send that was answered (or broke) before its body was read whole: the fetch may
          // still pull it, but the ring must not move ahead of the body that replaces it
          controller.error(new Error("Cannot send: the request was answered already"));
          return;
        }
        if (at >= to) {
          controller.close();
          return;
        }
        let piece: Uint8Array;
        if (at < this.delivered) {
          piece = this.#replay(at, Math.min(to, this.delivered, at + BODY_PIECE));
        } else {
          let value: Uint8Array | undefined;
          try {
            value = await this.#read();
          } catch (error) {
            this.failure = { error };
            controller.error(error);
            return;
          }
          if (value === undefined) {
            controller.error(new Error(`Cannot read blob: it ended at ${this.delivered} bytes`));
            return;
          }
          if (value.byteLength > BODY_PIECE) {
            this.#left = value.subarray(BODY_PIECE);
            value = value.subarray(0, BODY_PIECE);
          }
          if (this.delivered + value.byteLength > to) {
            const fits = to - this.delivered;
            this.#left = this.#left
              ? concat(value.subarray(fits), this.#left)
              : value.subarray(fits);
            value = value.subarray(0, fits);
          }
          this.#remember(value);
          piece = value;
        }
        at += piece.byteLength;
        onSent(piece.byteLength);
        controller.enqueue(piece);
      },
    }, { highWaterMark: 0 });
  }

  /** Makes every body handed out so far read no more (a new one is made for a resend). */
  invalidate(): void {
    this.#generation++;
  }

  /** Reads the end of the stream: it must end here (this is where it is verified). */
  async finish(): Promise<void> {
    const more = await this.#read();
    if (more !== undefined) throw new Error("Cannot read blob: more bytes than its size");
  }

  async cancel(reason: unknown): Promise<void> {
    await this.#reader.cancel(reason).catch(() => {});
  }

  async #read(): Promise<Uint8Array | undefined> {
    if (this.#left) {
      const left = this.#left;
      this.#left = undefined;
      return left;
    }
    const { done, value } = await this.#reader.read();
    return done ? undefined : value;
  }

  /** Copies bytes just read into the ring. */
  #remember(bytes: Uint8Array): void {
    if (this.#ring.byteLength === 0) this.#ring = new Uint8Array(this.#keep);
    const ring = this.#ring;
    const n = ring.byteLength;
    let src = bytes;
    if (src.byteLength > n) src = src.subarray(src.byteLength - n);
    let pos = (this.delivered + bytes.byteLength - src.byteLength) % n;
    let off = 0;
    while (off < src.byteLength) {
      const count = Math.min(n - pos, src.byteLength - off);
      ring.set(src.subarray(off, off + count), pos);
      off += count;
      pos = (pos + count) % n;
    }
    this.delivered += bytes.byteLength;
  }

  /** Bytes `from`..`to` from the ring (the caller keeps them within what it holds). */
  #replay(from: number, to: number): Uint8Array {
    const n = this.#ring.byteLength;
    const start = from % n;
    const count = Math.min(to - from, n - start);
    return this.#ring.slice(start, start + count);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

/** The end of a `Range: 0-N` (or `bytes=0-N`) answer, as a byte count (N + 1; `0-0` is 0). */
function rangeEnd(header: string | null): number | undefined {
  const m = header ? /^(?:bytes=)?0-(\d+)$/.exec(header.trim()) : null;
  if (!m) return undefined;
  const n = Number(m[1]);
  return n === 0 ? 0 : n + 1;
}

/** A server's string, cut short for a message. */
function clip(text: string): string {
  const s = text.replace(/[^\x20-\x7e]/g, "?");
  return s.length > 80 ? s.slice(0, 80) + "..." : s;
}

function resolverOf(options: RegistryImageDestinationOptions): CredentialResolver {
  const given = options.credentials;
  if (typeof given === "function") return given;
  if (given !== undefined) return () => given;
  return storedCredentials({
    ...(options.onWarning ? { onWarning: options.onWarning } : {}),
    ...(options.onDebug ? { onDebug: options.onDebug } : {}),
  });
}
