/**
 * Layers onto a directory: tar entries become files, directories, links, fifos and device nodes;
 * OCI whiteouts delete what lower layers put there; no entry can write outside the root.
 *
 * @module
 */

import { lchownSync, lutimesSync } from "node:fs";
import { applyLayer } from "../layer/apply_layer.ts";
import { type LayerHandler, type LayerNode, LayerTree } from "../layer/layer_tree.ts";
import { mknod } from "./_mknod.ts";
import type { ApplyLayerOptions } from "./sink.ts";

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

/**
 * Builds a root filesystem in `root` from layers applied in order: the layer rules are a
 * {@linkcode LayerTree}'s (the one interpreter every sink follows), and this writer performs its
 * decisions on the directory, deciding nothing itself (it never looks at the disk to decide).
 *
 * The path guard is the tree's: names are taken relative to the root (`/` and `./` dropped), `..`
 * that would climb above it is refused, and the directories on the way to an entry are resolved
 * inside the root, so a symlink in the root (absolute or relative, planted by any layer) leads to
 * a place inside it, never out; an entry's own name is never followed (whatever is there is
 * replaced). A hardlink's target is resolved the same way and must be a file inside the root.
 *
 * Whiteouts (`.wh.NAME`, `.wh..wh..opq`) delete from the layers below and never appear in the
 * result. Directories are made 0700 and get their modes, owners and times from
 * {@linkcode RootfsWriter.finish}, once nothing more is written into them (a parent no layer
 * declared: 0755, 0:0, mtime 0).
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
  /** Bytes of file content written so far. */
  bytes = 0;

  #owners: boolean;
  #tree: LayerTree;
  #file: { handle: Deno.FsFile; path: string; node: LayerNode } | undefined;
  /** The tree's decisions, performed on the directory. */
  #handler: LayerHandler = {
    create: (path, node) => this.#create(path, node),
    link: (path, _node, target) => Deno.linkSync(this.#path(target), this.#path(path)),
    remove: (path, node) => {
      Deno.removeSync(this.#path(path), { recursive: node.type === "directory" });
    },
    content: (chunk) => this.#data(chunk),
    contentEnd: () => this.#end(),
  };

  /**
   * Makes a writer for an existing, empty directory.
   *
   * @param root The directory.
   * @param options Limits and ownership.
   */
  constructor(root: string, options: RootfsWriterOptions = {}) {
    this.root = root;
    this.#owners = options.owners ?? isRoot();
    this.#tree = new LayerTree({
      maxEntries: options.maxEntries ?? 1_000_000,
      skipDevices: !this.#owners, // only root makes device nodes
    });
  }

  /** Entries read so far (whiteouts included). */
  get entries(): number {
    return this.#tree.entries;
  }

  /** Whiteouts applied so far. */
  get whiteouts(): number {
    return this.#tree.whiteouts;
  }

  /** Device nodes skipped because the caller may not make them. */
  get skippedDevices(): number {
    return this.#tree.skippedDevices;
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
    try {
      await applyLayer(tar, this.#tree, this.#handler, options);
    } finally {
      this.#closeFile();
    }
  }

  /**
   * Sets the directories' modes, owners and times, deepest first (after their contents, which
   * would change the times, and so that read-only directories were writable while filled). A
   * root no layer declared only gets mode 0755.
   */
  finish(): void {
    const dirs: { path: string; node: LayerNode; depth: number }[] = [];
    const walk = (node: LayerNode, path: string, depth: number) => {
      dirs.push({ path, node, depth });
      for (const [name, child] of node.children!) {
        if (child.type === "directory") {
          walk(child, path === "" ? name : `${path}/${name}`, depth + 1);
        }
      }
    };
    walk(this.#tree.root, "", 0);
    dirs.sort((a, b) => b.depth - a.depth);
    for (const { path, node } of dirs) {
      const full = this.#path(path);
      if (node === this.#tree.root && node.layer === -1) {
        Deno.chmodSync(full, 0o755);
        continue;
      }
      if (this.#owners) Deno.chownSync(full, node.uid, node.gid);
      Deno.chmodSync(full, node.mode);
      Deno.utimeSync(full, node.mtime, node.mtime);
    }
  }

  #path(rel: string): string {
    return rel === "" ? this.root : `${this.root}/${rel}`;
  }

  #create(rel: string, node: LayerNode): void {
    const path = this.#path(rel);
    switch (node.type) {
      case "file":
        this.#file = {
          handle: Deno.openSync(path, { write: true, createNew: true, mode: 0o600 }),
          path,
          node,
        };
        break;
      case "directory":
        Deno.mkdirSync(path, { mode: 0o700 }); // its metadata once filled: finish()
        break;
      case "symlink":
        Deno.symlinkSync(node.target!, path);
        if (this.#owners) lchownSync(path, node.uid, node.gid);
        lutimesSync(path, node.mtime, node.mtime);
        break;
      case "fifo":
      case "char":
      case "block":
        mknod(path, node.type, 0o600, node.devmajor, node.devminor);
        this.#setMeta(path, node);
        Deno.utimeSync(path, node.mtime, node.mtime);
        break;
    }
  }

  #data(bytes: Uint8Array): void {
    const file = this.#file!;
    let at = 0;
    while (at < bytes.byteLength) {
      at += file.handle.writeSync(at === 0 ? bytes : bytes.subarray(at));
    }
    this.bytes += bytes.byteLength;
  }

  #end(): void {
    const file = this.#file!;
    this.#file = undefined;
    try {
      file.handle.utimeSync(file.node.mtime, file.node.mtime);
    } finally {
      file.handle.close();
    }
    this.#setMeta(file.path, file.node);
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
  #setMeta(path: string, node: LayerNode): void {
    if (this.#owners) Deno.chownSync(path, node.uid, node.gid);
    Deno.chmodSync(path, node.mode);
  }
}

function isRoot(): boolean {
  try {
    return Deno.uid() === 0;
  } catch {
    return false;
  }
}
