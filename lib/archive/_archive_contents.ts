// An archive read once, in whatever order its entries come, staged where the copy engine will find
// them: the store it loads into. Both archive sources (docker, oci) are made from one of these.
//
// - `manifest.json`, `index.json`, `oci-layout`, `repositories`: in memory (at most maxMetadata).
// - `blobs/<alg>/<hex>` of 1 MiB or more: into the store's ingest file of that blob, verified as
//   it streams, committed only when it matches its name (where the engine finds it present).
// - any other file of 1 MiB or more (a classic `<id>/layer.tar`): hashed into a scratch file in
//   `ingest/`, named by its hash only once a manifest needs it (`provide`).
// - anything smaller: appended to one spool file (checked against its name when it has one),
//   written into `blobs/` only once a manifest needs it.
// - directories are skipped; symlinks and hardlinks are a path map inside the archive (nothing is
//   made on disk); a path seen twice must have the same bytes (or link target) both times.
// - the two zero blocks end the archive: what follows is not read (a stream is cancelled).

import { createHash } from "node:crypto";
import { DigestMismatchError, SizeMismatchError } from "../reference/digest_mismatch_error.ts";
import { isDigest, parseDigest } from "../reference/parse_digest.ts";
import { type ImageConfig, parseImageConfig } from "../oci/parse_image_config.ts";
import type { Descriptor } from "../oci/parse_manifest.ts";
import type { Ingest } from "../store/ingest.ts";
import type { ScratchFile } from "../store/scratch_file.ts";
import type { Store } from "../store/store.ts";
import { DigestVerifier } from "../stream/digest_verifier.ts";
import { type TarHeader, TarReader } from "../tar/tar_reader.ts";
import { ArchiveProblem, show } from "./_archive_problem.ts";
import { archiveBytes } from "./_archive_bytes.ts";

/** The limits of one archive. */
export interface ArchiveLimits {
  /** The most bytes read (all entries together). */
  maxBytes: number;
  /** The largest `manifest.json`, `index.json`, manifest or config read into memory. */
  maxMetadataSize: number;
  /** The most entries (files, directories, links), each remembered until the end. */
  maxEntries: number;
}

/** A file entry of the archive, by its path. */
export interface FileRecord {
  /** The entry's path (normalized). */
  path: string;
  /** The digest of its bytes. */
  digest: string;
  /** Its size. */
  size: number;
  /** Its first bytes (compression magic). */
  head: Uint8Array;
  /** Where the bytes are, when not yet in the store: a scratch file of their own... */
  scratch: ScratchFile | undefined;
  /** ... or at this offset of the spool (a small entry); both undefined: the store's blob. */
  spool: number | undefined;
}

/** The files kept in memory. */
const METADATA = new Set(["manifest.json", "index.json", "oci-layout", "repositories"]);
/** Entries smaller than this are appended to one spool file in ingest, not given a file each:
 * an archive of 100,000 small entries costs 100,000 appends, not 100,000 files and syncs. */
const SPOOL_ENTRY_MAX = 1024 * 1024;

/** An archive's entries, read once and staged in a store. Call `cleanup` when done with it. */
export class ArchiveContents {
  /** Bytes of the archive read. */
  bytes = 0;
  #store: Store;
  #limits: ArchiveLimits;
  #signal: AbortSignal | undefined;
  #files = new Map<string, FileRecord>();
  /** Entries not yet in the store, by the digest of their bytes. */
  #held = new Map<string, FileRecord[]>();
  #links = new Map<string, string>();
  #metadata = new Map<string, Uint8Array>();
  #scratches = new Set<ScratchFile>();
  #spool: Spool | undefined;
  #entries = 0;
  #current: EntrySink | undefined;

  /**
   * @param store Where entries are staged (the store loaded into).
   * @param limits The caps.
   * @param signal Aborts the read.
   */
  constructor(store: Store, limits: ArchiveLimits, signal: AbortSignal | undefined) {
    this.#store = store;
    this.#limits = limits;
    this.#signal = signal;
  }

  /** The store the entries are staged in. */
  get store(): Store {
    return this.#store;
  }

  /** The largest metadata document read. */
  get maxMetadataSize(): number {
    return this.#limits.maxMetadataSize;
  }

  /** How many file entries it has. */
  get fileCount(): number {
    return this.#files.size;
  }

  /** Reads the tar once, to its end-of-archive blocks (what follows them is not read). */
  async read(input: string | ReadableStream<Uint8Array>): Promise<void> {
    const reader = new TarReader();
    for await (const chunk of archiveBytes(input, this.#signal)) {
      this.bytes += chunk.byteLength;
      if (this.bytes > this.#limits.maxBytes) {
        throw new ArchiveProblem(`it is larger than the limit of ${this.#limits.maxBytes} bytes`);
      }
      for (const event of reader.push(chunk)) {
        if (event.kind === "entry") {
          this.#current = await this.#begin(event.header);
        } else if (event.kind === "data") {
          await this.#current!.data(event.bytes);
        } else {
          await this.#current!.end();
          this.#current = undefined;
        }
      }
      // the two zero blocks end the archive, as GNU tar reads it: a stream that goes on (zeros
      // forever, say) is cancelled here, not read to its end or to the size limit
      if (reader.done) break;
    }
    reader.end();
    if (this.#current) throw new ArchiveProblem("the archive ends inside an entry");
  }

  /** A metadata file (`manifest.json`, `index.json`, ...), when the archive has it. */
  metadata(path: string): Uint8Array | undefined {
    return this.#metadata.get(path);
  }

  /** The file a path names (through links), or `undefined`. */
  resolve(path: string): FileRecord | undefined {
    let p = archivePath(path);
    for (let hops = 0; hops < 16; hops++) {
      const f = this.#files.get(p);
      if (f) return f;
      const next = this.#links.get(p);
      if (next === undefined) return undefined;
      p = next;
    }
    throw new ArchiveProblem(`${show(path)} is a chain of more than 16 links`);
  }

  /** The file a path in `manifest.json` names (through links), or an error. */
  need(path: string, what: string): FileRecord {
    const found = this.resolve(path);
    if (!found) throw new ArchiveProblem(`${what} is ${show(path)}, which the archive lacks`);
    return found;
  }

  /**
   * An entry's config: parsed from the staged bytes, or read through the store's typed read when
   * it is in the store already.
   */
  async readConfig(f: FileRecord): Promise<ImageConfig> {
    if (f.size > this.#limits.maxMetadataSize) {
      throw new ArchiveProblem(
        `${show(f.path)} is larger than ${this.#limits.maxMetadataSize} bytes`,
      );
    }
    if (f.spool !== undefined) return parseImageConfig(await this.#spool!.read(f.spool, f.size));
    if (f.scratch) return parseImageConfig(await f.scratch.read(0, f.size));
    return await this.#store.readConfig({ digest: f.digest });
  }

  /** Whether the store has the blob, once the archive's entry of those bytes is committed. */
  async provide(digest: string, size: number): Promise<boolean> {
    const held = this.#held.get(digest)?.find((f) => f.size === size);
    if (held) await this.commit(held);
    return await this.#store.hasBlob(digest, size);
  }

  /** The sha256 of a compressed layer's tar, read back from ingest or the store. */
  async diffIdOf(f: FileRecord, compression: "gzip" | "zstd"): Promise<string> {
    const { decompress } = await import("../stream/decompress.ts");
    const hash = createHash("sha256");
    try {
      for await (const chunk of decompress(await this.#bytesOf(f, 0), compression)) {
        this.#signal?.throwIfAborted();
        hash.update(chunk);
      }
    } catch (e) {
      throw new ArchiveProblem(
        `layer ${show(f.path)} is not valid ${compression} data (${(e as Error).message})`,
      );
    }
    return `sha256:${hash.digest("hex")}`;
  }

  /**
   * A blob's bytes from an offset, for a copy out of the archive: from the store when it is
   * there, else from where the archive's entry of those bytes is staged.
   */
  async openBlob(descriptor: Descriptor, offset = 0): Promise<ReadableStream<Uint8Array>> {
    const { digest, size } = descriptor;
    const held = this.#held.get(digest)?.find((f) => f.size === size);
    if (held) return await this.#bytesOf(held, offset);
    if (!(await this.#store.hasBlob(digest, size))) {
      throw new ArchiveProblem(`the blob ${digest} (${size} bytes) is not in the archive`);
    }
    const file = await Deno.open(this.#store.blobPath(digest), { read: true });
    if (offset > 0) await file.seek(offset, Deno.SeekMode.Start);
    return file.readable;
  }

  /** How many distinct blobs of the archive are in the store. */
  blobCount(): number {
    return new Set(
      [...this.#files.values()].filter((f) => !this.#held.has(f.digest)).map((f) => f.digest),
    ).size;
  }

  /** Removes what was not committed (scratch files, the spool, a partial blob). */
  async cleanup(): Promise<void> {
    if (this.#current) await this.#current.abort().catch(() => {});
    for (const scratch of this.#scratches) await scratch.remove();
    this.#scratches.clear();
    await this.#spool?.remove();
  }

  /** Names verified bytes in blobs/ (they hashed to `digest`): a scratch file is synced and
   * renamed there, a spooled entry written there. */
  async commit(f: FileRecord): Promise<void> {
    const held = this.#held.get(f.digest);
    if (!held) return; // in the store already
    if (!(await this.#store.hasBlob(f.digest, f.size))) {
      if (f.spool !== undefined) {
        await this.#store.putBlob(f.digest, await this.#spool!.read(f.spool, f.size));
      } else {
        await f.scratch!.commit(f.digest);
        this.#scratches.delete(f.scratch!);
      }
    }
    // every record of the same bytes is in the store now
    for (const other of held) {
      if (other.scratch !== undefined && this.#scratches.delete(other.scratch)) {
        await other.scratch.remove();
      }
      other.scratch = undefined;
      other.spool = undefined;
    }
    this.#held.delete(f.digest);
  }

  /** A staged entry's bytes from an offset. */
  async #bytesOf(f: FileRecord, offset: number): Promise<ReadableStream<Uint8Array>> {
    if (f.scratch) return await f.scratch.readable(offset);
    if (f.spool === undefined) {
      const file = await Deno.open(this.#store.blobPath(f.digest), { read: true });
      if (offset > 0) await file.seek(offset, Deno.SeekMode.Start);
      return file.readable;
    }
    const bytes = await this.#spool!.read(f.spool + offset, f.size - offset);
    return new ReadableStream({
      start(controller) {
        controller.enqueue(bytes);
        controller.close();
      },
    });
  }

  async #begin(header: TarHeader): Promise<EntrySink> {
    this.#signal?.throwIfAborted();
    if (++this.#entries > this.#limits.maxEntries) {
      throw new ArchiveProblem(`it has more than ${this.#limits.maxEntries} entries`);
    }
    const path = archivePath(header.path);
    switch (header.type) {
      case "directory":
        return IGNORE;
      case "symlink":
      case "link": {
        if (header.linkname.startsWith("/")) {
          throw new ArchiveProblem(
            `entry ${show(header.path)} links to an absolute path ${show(header.linkname)}`,
          );
        }
        const base = header.type === "symlink" ? path.split("/").slice(0, -1).join("/") : "";
        const target = archivePath(base === "" ? header.linkname : `${base}/${header.linkname}`, {
          link: header.path,
        });
        const known = this.#links.get(path);
        if (this.#files.has(path) || (known !== undefined && known !== target)) this.#twice(path);
        this.#links.set(path, target);
        return IGNORE;
      }
      case "file":
        break;
      default:
        throw new ArchiveProblem(
          `entry ${show(header.path)} is a ${header.type}, which no image archive holds`,
        );
    }
    const { maxBytes, maxMetadataSize } = this.#limits;
    if (header.size > maxBytes) {
      throw new ArchiveProblem(
        `entry ${show(header.path)} declares ${header.size} bytes, more than the archive's ` +
          `limit of ${maxBytes}`,
      );
    }
    if (METADATA.has(path)) {
      if (header.size > maxMetadataSize) {
        throw new ArchiveProblem(
          `${path} is ${header.size} bytes, larger than the limit of ${maxMetadataSize}`,
        );
      }
      return new MemorySink(header.size, (bytes) => {
        const known = this.#metadata.get(path);
        if (known !== undefined && !equalBytes(known, bytes)) this.#twice(path);
        this.#metadata.set(path, bytes);
      });
    }
    const named = blobDigest(path);
    const done = (record: FileRecord) => this.#record(record);
    if (header.size < SPOOL_ENTRY_MAX) {
      this.#spool ??= new Spool(await this.#store.createScratch("load"));
      return new StagingSink(this.#spool, header.size, path, named, done);
    }
    if (named !== undefined) {
      const ingest = await this.#store.openIngest(named, header.size);
      return new BlobSink(ingest, header.size, path, done);
    }
    const scratch = await this.#store.createScratch("load");
    this.#scratches.add(scratch);
    return new StagingSink(scratch, header.size, path, undefined, done);
  }

  /** Keeps a file entry's record: a path given twice must have the same bytes both times. */
  #record(record: FileRecord): void {
    const known = this.#files.get(record.path);
    if (this.#links.has(record.path) || (known !== undefined && known.digest !== record.digest)) {
      this.#twice(record.path);
    }
    this.#files.set(record.path, record);
    if (record.scratch !== undefined || record.spool !== undefined) {
      const held = this.#held.get(record.digest);
      if (held) held.push(record);
      else this.#held.set(record.digest, [record]);
    }
  }

  #twice(path: string): never {
    throw new ArchiveProblem(
      `it has two entries ${show(path)} that differ (which one counts is not clear)`,
    );
  }
}

/** One file the small entries are appended to, through a 1 MiB buffer (no sync: what is used is
 * written to blobs/ by `putBlob`, which syncs). */
class Spool {
  #file: ScratchFile;
  #buffer = new Uint8Array(SPOOL_ENTRY_MAX);
  #buffered = 0;

  constructor(file: ScratchFile) {
    this.#file = file;
  }

  /** The bytes appended so far: where the next append begins. */
  get size(): number {
    return this.#file.size + this.#buffered;
  }

  async append(bytes: Uint8Array): Promise<void> {
    if (this.#buffered + bytes.byteLength > this.#buffer.byteLength) await this.#flush();
    if (bytes.byteLength > this.#buffer.byteLength) {
      await this.#file.append(bytes);
      return;
    }
    this.#buffer.set(bytes, this.#buffered);
    this.#buffered += bytes.byteLength;
  }

  async read(offset: number, size: number): Promise<Uint8Array> {
    await this.#flush();
    return await this.#file.read(offset, size);
  }

  async #flush(): Promise<void> {
    if (this.#buffered === 0) return;
    const bytes = this.#buffer.subarray(0, this.#buffered);
    this.#buffered = 0;
    await this.#file.append(bytes);
  }

  async remove(): Promise<void> {
    await this.#file.remove();
  }
}

/** Where one entry's bytes go as the tar reader hands them over. */
interface EntrySink {
  data(bytes: Uint8Array): Promise<void>;
  end(): Promise<void>;
  abort(): Promise<void>;
}

const IGNORE: EntrySink = {
  data: () => Promise.resolve(),
  end: () => Promise.resolve(),
  abort: () => Promise.resolve(),
};

/** A metadata file, into memory. */
class MemorySink implements EntrySink {
  #bytes: Uint8Array;
  #fill = 0;
  #done: (bytes: Uint8Array) => void;
  constructor(size: number, done: (bytes: Uint8Array) => void) {
    this.#bytes = new Uint8Array(size);
    this.#done = done;
  }
  data(bytes: Uint8Array): Promise<void> {
    this.#bytes.set(bytes, this.#fill);
    this.#fill += bytes.byteLength;
    return Promise.resolve();
  }
  end(): Promise<void> {
    this.#done(this.#bytes);
    return Promise.resolve();
  }
  abort(): Promise<void> {
    return Promise.resolve();
  }
}

/** The first bytes of an entry, kept for the compression check. */
class Head {
  bytes = new Uint8Array(4);
  fill = 0;
  take(chunk: Uint8Array): void {
    if (this.fill >= 4) return;
    const n = Math.min(4 - this.fill, chunk.byteLength);
    this.bytes.set(chunk.subarray(0, n), this.fill);
    this.fill += n;
  }
  get value(): Uint8Array {
    return this.bytes.subarray(0, this.fill);
  }
}

/** An entry named by its digest: into the blob's ingest file, committed only when it matches. */
class BlobSink implements EntrySink {
  #ingest: Ingest;
  #verifier: DigestVerifier;
  #head = new Head();
  #path: string;
  #done: (record: FileRecord) => void;
  #started: Promise<void>;
  constructor(ingest: Ingest, size: number, path: string, done: (record: FileRecord) => void) {
    this.#ingest = ingest;
    this.#path = path;
    this.#done = done;
    this.#verifier = new DigestVerifier({ digest: ingest.digest, size }, {
      what: `entry ${path}`,
    });
    this.#started = ingest.complete ? Promise.resolve() : ingest.truncate();
  }
  async data(bytes: Uint8Array): Promise<void> {
    await this.#started;
    this.#head.take(bytes);
    this.#verifier.update(bytes);
    if (!this.#ingest.complete) await this.#ingest.write(bytes);
  }
  async end(): Promise<void> {
    await this.#started;
    try {
      this.#verifier.verify();
    } catch (e) {
      if (e instanceof DigestMismatchError || e instanceof SizeMismatchError) {
        throw new ArchiveProblem(
          `entry ${show(this.#path)} does not match its name: its bytes hash to ` +
            `${e instanceof DigestMismatchError ? e.actual : "another size"}`,
        );
      }
      throw e;
    }
    if (!this.#ingest.complete) await this.#ingest.commit();
    this.#ingest.close();
    this.#done({
      path: this.#path,
      digest: this.#ingest.digest,
      size: this.#ingest.size,
      head: this.#head.value,
      scratch: undefined,
      spool: undefined,
    });
  }
  async abort(): Promise<void> {
    if (!this.#ingest.complete) await this.#ingest.remove();
    this.#ingest.close();
  }
}

/**
 * Any other file: hashed while it is appended to where it is staged, named later if it is used:
 * a small entry to the spool (where it begins is kept), a large one to a scratch file of its own
 * (not synced here: most such files are never used; synced when committed). One named by its
 * digest (`blobs/<alg>/<hex>`: a small one) is checked against its name.
 */
class StagingSink implements EntrySink {
  #target: Spool | ScratchFile;
  #offset: number;
  #size: number;
  #path: string;
  #named: string | undefined;
  #hash;
  #algorithm: string;
  #head = new Head();
  #done: (record: FileRecord) => void;
  constructor(
    target: Spool | ScratchFile,
    size: number,
    path: string,
    named: string | undefined,
    done: (record: FileRecord) => void,
  ) {
    this.#target = target;
    this.#offset = target.size;
    this.#size = size;
    this.#path = path;
    this.#named = named;
    this.#algorithm = named === undefined ? "sha256" : parseDigest(named).algorithm;
    this.#hash = createHash(this.#algorithm);
    this.#done = done;
  }
  async data(bytes: Uint8Array): Promise<void> {
    this.#head.take(bytes);
    this.#hash.update(bytes);
    await this.#target.append(bytes);
  }
  end(): Promise<void> {
    const digest = `${this.#algorithm}:${this.#hash.digest("hex")}`;
    if (this.#named !== undefined && digest !== this.#named) {
      throw new ArchiveProblem(
        `entry ${show(this.#path)} does not match its name: its bytes hash to ${digest}`,
      );
    }
    const scratch = this.#target instanceof Spool ? undefined : this.#target;
    scratch?.close();
    this.#done({
      path: this.#path,
      digest,
      size: this.#size,
      head: this.#head.value,
      scratch,
      spool: scratch ? undefined : this.#offset,
    });
    return Promise.resolve();
  }
  abort(): Promise<void> {
    if (!(this.#target instanceof Spool)) this.#target.close();
    return Promise.resolve();
  }
}

/** A tar path made relative and normalized; one that is absolute or climbs out is refused. */
function archivePath(raw: string, context: { link?: string } = {}): string {
  const what = () =>
    context.link !== undefined
      ? `entry ${show(context.link)} links to ${show(raw)}, which`
      : `entry ${show(raw)}`;
  if (raw.startsWith("/")) throw new ArchiveProblem(`${what()} has an absolute path`);
  const parts: string[] = [];
  for (const part of raw.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length === 0) throw new ArchiveProblem(`${what()} escapes the archive`);
      parts.pop();
    } else {
      parts.push(part);
    }
  }
  return parts.join("/");
}

/** The digest of a `blobs/<alg>/<hex>` path; an ill-formed one under blobs/ is refused. */
function blobDigest(path: string): string | undefined {
  const m = /^blobs\/([^/]+)\/([^/]+)$/.exec(path);
  if (!m) return undefined;
  const digest = `${m[1]}:${m[2]}`;
  if (!isDigest(digest)) {
    throw new ArchiveProblem(`entry ${show(path)} is not named by a valid digest`);
  }
  parseDigest(digest);
  return digest;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
