/**
 * Layers onto a directory: tar entries become files, directories, links, fifos and device nodes;
 * OCI whiteouts delete what lower layers put there; no entry can write outside the root.
 *
 * @module
 */

import { lchownSync, lutimesSync } from "node:fs";
import { entryPath } from "../layer/_entry_path.ts";
import { mknod } from "./_mknod.ts";
import type { ApplyLayerOptions } from "./sink.ts";
import { type TarHeader, TarReader } from "../tar/tar_reader.ts";

export type { ApplyLayerOptions } from "./sink.ts";

/** Options for {@linkcode RootfsWriter}. */
export interface RootfsWriterOptions {
  /**
   * The most entries (whiteouts included) all layers together may have.
   * @default {1000000}
   */
  maxEntries?: number;
  /**
   * Set owners from the tar and make device nodes (both need root); otherwise files belong to
   * the caller and device nodes are skipped and counted.
   * @default {true when running as root}
   */
  owners?: boolean;
}

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";
const MAX_SYMLINK_HOPS = 40;

/**
 * Builds a root filesystem in `root` from layers applied in order.
 *
 * The path guard: names are taken relative to the root (`/` and `./` dropped), `..` that would
 * climb above it is refused, and the directories on the way to an entry are resolved inside the
 * root, so a symlink in the root (absolute or relative, planted by any layer) leads to a place
 * inside it, never out; an entry's own name is never followed (whatever is there is replaced). A
 * hardlink's target is resolved the same way and must be a file inside the root.
 *
 * Whiteouts (`.wh.NAME`, `.wh..wh..opq`) delete from the layers below and never appear in the
 * result. Directories' modes, owners and times are set by {@linkcode RootfsWriter.finish}, once
 * nothing more is written into them.
 *
 * @example Apply one layer
 * ```ts
 * import { RootfsWriter } from "./rootfs_writer.ts";
 * import assert from "node:assert/strict";
 *
 * // a one-entry tar: the directory "etc/"
 * const header = new Uint8Array(512);
 * const put = (at: number, s: string) => header.set(new TextEncoder().encode(s), at);
 * put(0, "etc/");
 * put(100, "0000755\0");
 * put(124, "00000000000\0");
 * put(136, "00000000000\0");
 * put(156, "5");
 * put(257, "ustar\x0000");
 * put(148, "        ");
 * put(148, header.reduce((a, b) => a + b, 0).toString(8).padStart(6, "0") + "\0 ");
 *
 * const root = await Deno.makeTempDir();
 * const writer = new RootfsWriter(root, { owners: false });
 * await writer.applyLayer((async function* () {
 *   yield header;
 * })());
 * writer.finish();
 * assert.equal((await Deno.stat(`${root}/etc`)).mode! & 0o777, 0o755);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class RootfsWriter {
  /** The root directory. */
  readonly root: string;
  /** Entries read so far (whiteouts included). */
  entries = 0;
  /** Whiteouts applied so far. */
  whiteouts = 0;
  /** Bytes of file content written so far. */
  bytes = 0;
  /** Device nodes skipped because the caller may not make them. */
  skippedDevices = 0;

  #maxEntries: number;
  #owners: boolean;
  /** Paths (relative, resolved) known to be real directories. */
  #dirs = new Set<string>();
  /** Directory metadata to set at the end ("" is the root). */
  #dirMeta = new Map<string, TarHeader>();
  /** Paths the current layer made: an opaque whiteout keeps them. */
  #layer = new Set<string>();
  #file: { handle: Deno.FsFile; path: string; header: TarHeader } | undefined;

  /**
   * Makes a writer for an existing, empty directory.
   *
   * @param root The directory.
   * @param options Limits and ownership.
   */
  constructor(root: string, options: RootfsWriterOptions = {}) {
    this.root = root;
    this.#maxEntries = options.maxEntries ?? 1_000_000;
    this.#owners = options.owners ?? isRoot();
  }

  /**
   * Applies one layer's tar stream (uncompressed) on top of what is there.
   *
   * @param tar The tar bytes, in chunks.
   * @param options Abort signal.
   * @throws {Error} When the tar is malformed or truncated, an entry is hostile (climbs out of the
   * root, links outside), a limit is passed, or the file system refuses.
   */
  async applyLayer(tar: AsyncIterable<Uint8Array>, options: ApplyLayerOptions = {}): Promise<void> {
    const signal = options.signal;
    const reader = new TarReader();
    this.#layer = new Set();
    let current: TarHeader | undefined;
    try {
      for await (const chunk of tar) {
        signal?.throwIfAborted();
        if (reader.done) continue; // what follows the end blocks is hashed by the caller, not parsed
        for (const event of reader.push(chunk)) {
          try {
            if (event.kind === "data") this.#data(event.bytes);
            else if (event.kind === "entry") {
              current = event.header;
              this.#entry(event.header);
            } else this.#end();
          } catch (e) {
            const path = current?.path ?? "?";
            throw new Error(`entry "${path}": ${(e as Error).message}`, { cause: e });
          }
        }
      }
      reader.end();
    } finally {
      this.#closeFile();
    }
  }

  /**
   * Sets the directories' modes, owners and times, deepest first (after their contents, which
   * would change the times, and so that read-only directories were writable while filled).
   */
  finish(): void {
    if (!this.#dirMeta.has("")) Deno.chmodSync(this.root, 0o755);
    const dirs = [...this.#dirMeta].map(([rel, h]) => ({
      rel,
      h,
      depth: rel === "" ? 0 : rel.split("/").length,
    })).sort((a, b) => b.depth - a.depth);
    for (const { rel, h } of dirs) {
      const path = rel === "" ? this.root : `${this.root}/${rel}`;
      if (this.#owners) Deno.chownSync(path, h.uid, h.gid);
      Deno.chmodSync(path, h.mode);
      Deno.utimeSync(path, h.mtime, h.mtime);
    }
  }

  #entry(h: TarHeader): void {
    if (++this.entries > this.#maxEntries) {
      throw new Error(`more than ${this.#maxEntries} entries (the maxEntries limit)`);
    }
    const parts = entryPath(h.path);
    if (parts.length === 0) {
      if (h.type !== "directory") throw new Error(`a ${h.type} cannot replace the root`);
      this.#dirMeta.set("", h);
      return;
    }
    const name = parts[parts.length - 1]!;
    if (name.startsWith(WHITEOUT)) return this.#whiteout(parts);
    if ((h.type === "char" || h.type === "block") && !this.#owners) {
      this.skippedDevices++;
      return;
    }
    const linkTarget = h.type === "link" ? this.#linkTarget(h.linkname) : undefined;
    const parent = this.#resolveDir(parts.slice(0, -1), true)!;
    const rel = parent === "" ? name : `${parent}/${name}`;
    const path = `${this.root}/${rel}`;
    this.#layer.add(rel);
    const existing = lstat(path);
    if (existing) {
      if (existing.isDirectory && h.type === "directory") {
        this.#dirMeta.set(rel, h);
        return;
      }
      if (linkTarget === path) return; // a hardlink to itself: nothing to do
      this.#remove(rel, existing.isDirectory);
    }
    switch (h.type) {
      case "file":
        this.#file = {
          handle: Deno.openSync(path, { write: true, createNew: true, mode: 0o600 }),
          path,
          header: h,
        };
        break;
      case "directory":
        Deno.mkdirSync(path, { mode: 0o700 });
        this.#dirs.add(rel);
        this.#dirMeta.set(rel, h);
        break;
      case "symlink":
        Deno.symlinkSync(h.linkname, path);
        if (this.#owners) lchownSync(path, h.uid, h.gid);
        lutimesSync(path, h.mtime, h.mtime);
        break;
      case "link":
        Deno.linkSync(linkTarget!, path);
        break;
      case "fifo":
      case "char":
      case "block":
        mknod(path, h.type, 0o600, h.devmajor, h.devminor);
        this.#setMeta(path, h);
        Deno.utimeSync(path, h.mtime, h.mtime);
        break;
    }
  }

  #data(bytes: Uint8Array): void {
    const file = this.#file;
    if (!file) return; // a skipped entry's body
    let at = 0;
    while (at < bytes.byteLength) {
      at += file.handle.writeSync(at === 0 ? bytes : bytes.subarray(at));
    }
    this.bytes += bytes.byteLength;
  }

  #end(): void {
    const file = this.#file;
    if (!file) return;
    this.#file = undefined;
    try {
      file.handle.utimeSync(file.header.mtime, file.header.mtime);
    } finally {
      file.handle.close();
    }
    this.#setMeta(file.path, file.header);
  }

  #closeFile(): void {
    try {
      this.#file?.handle.close();
    } catch {
      // closed already
    }
    this.#file = undefined;
  }

  /** Owner, then mode (a change of owner clears setuid and setgid). */
  #setMeta(path: string, h: TarHeader): void {
    if (this.#owners) Deno.chownSync(path, h.uid, h.gid);
    Deno.chmodSync(path, h.mode);
  }

  #whiteout(parts: string[]): void {
    this.whiteouts++;
    const name = parts[parts.length - 1]!;
    const parent = this.#resolveDir(parts.slice(0, -1), false);
    if (parent === undefined) return; // nothing below to hide
    if (name === OPAQUE) return this.#opaque(parent);
    if (name.startsWith(`${WHITEOUT}${WHITEOUT}`)) return; // other aufs metadata: ignored
    const target = name.slice(WHITEOUT.length);
    if (target === "" || target === "." || target === "..") {
      throw new Error("a whiteout must name an entry");
    }
    const rel = parent === "" ? target : `${parent}/${target}`;
    const existing = lstat(`${this.root}/${rel}`);
    if (existing) this.#remove(rel, existing.isDirectory);
  }

  /** Empties a directory of everything the current layer did not put there. */
  #opaque(dir: string): void {
    const children = [...Deno.readDirSync(dir === "" ? this.root : `${this.root}/${dir}`)];
    for (const child of children) {
      const rel = dir === "" ? child.name : `${dir}/${child.name}`;
      if (!this.#layer.has(rel)) this.#remove(rel, child.isDirectory);
      else if (child.isDirectory) this.#opaque(rel);
    }
  }

  #remove(rel: string, isDirectory: boolean): void {
    const path = `${this.root}/${rel}`;
    if (!isDirectory) {
      Deno.removeSync(path);
      return;
    }
    Deno.removeSync(path, { recursive: true });
    const prefix = `${rel}/`;
    this.#dirs.delete(rel);
    this.#dirMeta.delete(rel);
    for (const d of this.#dirs) if (d.startsWith(prefix)) this.#dirs.delete(d);
    for (const d of this.#dirMeta.keys()) if (d.startsWith(prefix)) this.#dirMeta.delete(d);
  }

  /**
   * Resolves directories inside the root: each component must be a real directory; a symlink
   * is followed as if the root were `/` (its `..` stops at the root). Missing directories are
   * made (mode 0755) when `create` is set.
   *
   * @returns The resolved path relative to the root, or `undefined` when missing.
   */
  #resolveDir(parts: string[], create: boolean): string | undefined {
    if (parts.length === 0) return "";
    const lexical = parts.join("/");
    if (this.#dirs.has(lexical)) return lexical;
    const real: string[] = [];
    const queue = [...parts];
    let hops = 0;
    while (queue.length > 0) {
      const part = queue.shift()!;
      if (part === "" || part === ".") continue;
      if (part === "..") {
        real.pop();
        continue;
      }
      real.push(part);
      const rel = real.join("/");
      if (this.#dirs.has(rel)) continue;
      const path = `${this.root}/${rel}`;
      const info = lstat(path);
      if (!info) {
        if (!create) return undefined;
        Deno.mkdirSync(path);
        Deno.chmodSync(path, 0o755);
        this.#dirs.add(rel);
        this.#layer.add(rel);
        continue;
      }
      if (info.isDirectory) {
        this.#dirs.add(rel);
        continue;
      }
      if (info.isSymlink) {
        if (++hops > MAX_SYMLINK_HOPS) throw new Error(`too many symlinks on the way to "${rel}"`);
        const target = Deno.readLinkSync(path);
        real.pop();
        if (target.startsWith("/")) real.length = 0;
        queue.unshift(...target.split("/"));
        continue;
      }
      throw new Error(`"${rel}" is not a directory`);
    }
    return real.join("/");
  }

  /** A hardlink's target: an existing non-directory inside the root. */
  #linkTarget(linkname: string): string {
    const parts = entryPath(linkname);
    if (parts.length === 0) throw new Error("a hardlink cannot point at the root");
    const parent = this.#resolveDir(parts.slice(0, -1), false);
    const name = parts[parts.length - 1]!;
    const path = parent === undefined
      ? undefined
      : `${this.root}/${parent === "" ? name : `${parent}/${name}`}`;
    const info = path === undefined ? undefined : lstat(path);
    if (!info) throw new Error(`the hardlink target "${linkname}" is not in the root`);
    if (info.isDirectory) throw new Error(`the hardlink target "${linkname}" is a directory`);
    return path!;
  }
}

function lstat(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

function isRoot(): boolean {
  try {
    return Deno.uid() === 0;
  } catch {
    return false;
  }
}
