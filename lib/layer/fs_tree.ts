/**
 * Layers into an in-memory tree of metadata, for writers of file system images (EROFS, ext4):
 * whiteouts applied, the directory unpack's path rules, hardlinks as shared nodes, and file content
 * handed to the format's {@linkcode FsDataStore} as it streams, so it is written once, in order.
 *
 * @module
 */

import { entryPath } from "./_entry_path.ts";
import { compareNames } from "./compare_names.ts";
import { type TarHeader, TarReader } from "../tar/tar_reader.ts";

/** What a node is. Tar has no sockets, so no layer makes one. */
export type FsNodeType = "file" | "directory" | "symlink" | "fifo" | "char" | "block";

/**
 * One inode of the tree. Hardlinked names share one node object; `nlink` is counted by
 * {@linkcode FsTree.finish}.
 *
 * @typeParam L Where the data store put a file's content ({@linkcode FsDataStore.end}).
 */
export interface FsNode<L = unknown> {
  /** The type. */
  type: FsNodeType;
  /** Permission bits with setuid, setgid and sticky (`0o7777` at most); no type bits. Symlinks
   * have 0777, as on Linux. */
  mode: number;
  /** Owner user id, as the layer says (whoever runs skiff). */
  uid: number;
  /** Owner group id. */
  gid: number;
  /** Modification time in seconds since the epoch (may have a fraction, from pax). */
  mtime: number;
  /** The same time in exact nanoseconds, when a pax record gave a fraction. */
  mtimeNs?: bigint;
  /** Extended attributes, name (`security.capability`, `user.x`) to raw value; absent if none. */
  xattrs?: Map<string, Uint8Array>;
  /** A symlink's target, as written (never resolved). */
  target?: string;
  /** A char or block device's major number (0 otherwise). */
  devmajor: number;
  /** A char or block device's minor number (0 otherwise). */
  devminor: number;
  /** A file's size in bytes (0 for every other type; a symlink's size is its target's length). */
  size: number;
  /** Where a file's content went, from {@linkcode FsDataStore.end}; set once its bytes arrived. */
  data?: L;
  /** A directory's entries by name (unsorted; use {@linkcode FsTree.children}). */
  children?: Map<string, FsNode<L>>;
  /** Names (non-directories, counted as layers apply) or 2 + subdirectories (directories,
   * counted by {@linkcode FsTree.finish}). */
  nlink: number;
  /** The index of the layer that made (or last re-declared) the node; an opaque whiteout keeps
   * only what its own layer made. */
  layer: number;
  /** A directory with an opaque whiteout, when whiteouts are kept for overlayfs (formats write
   * it as the xattr `trusted.overlay.opaque=y`). */
  opaque?: true;
}

/**
 * Where a format puts file content: the tree calls `begin`, then `write` for each chunk in order,
 * then `end`, once for every regular file entry of every layer (hardlinks are not files, and
 * `begin(0)`/`end()` is called for empty files too), one file at a time, never interleaved.
 *
 * The store owns the image file and decides where the bytes go: block-aligned, skipping metadata
 * areas it reserved (ext4's group descriptors, bitmaps and inode tables), or kept in memory to be
 * inlined beside an inode later (EROFS tails). Writing as the bytes arrive, in order, is what makes
 * the image streamable: the data is written once and never read back.
 *
 * A file that a later layer deletes or replaces was already written: its bytes stay in the image as
 * dead space (no inode points at them). Stores that keep bytes in memory can drop them when
 * `discard` is called.
 *
 * When `write` or `end` throws (or returns a rejected promise), the layer fails with that error and
 * the tree must not be used further; the image being written is to be deleted by the caller.
 *
 * @typeParam L What `end` returns: the format's description of where the content is (a block
 * address, a list of extents, an inline buffer).
 */
export interface FsDataStore<L> {
  /**
   * A file's content starts.
   *
   * @param size How many bytes will follow (exactly this many, in `write` calls).
   * @param node The file's node (its metadata; `data` is not set yet).
   */
  begin(size: number, node: FsNode<L>): void;
  /**
   * The next bytes of the current file. The chunk is only valid during the call (the tar
   * reader's buffer is reused): copy what is kept.
   *
   * @param chunk The bytes.
   * @returns Nothing, or a promise the tree awaits before the next chunk (back-pressure).
   */
  write(chunk: Uint8Array): void | Promise<void>;
  /**
   * The current file is complete.
   *
   * @returns Where its content is; stored in the node's `data`.
   */
  end(): L;
  /**
   * Optional: a file's node left the tree (deleted or replaced by a later layer, and no hardlink
   * keeps it), after its `end`. Stores that buffer content can free it; bytes already in the image stay dead.
   *
   * @param data The location `end` returned for it.
   */
  discard?(data: L): void;
}

/** Options for {@linkcode FsTree}. */
export interface FsTreeOptions {
  /**
   * The most entries (whiteouts included) all layers together may have.
   * @default {1000000}
   */
  maxEntries?: number;
  /**
   * `apply`: whiteouts delete from the layers below (a flattened root filesystem). `overlay`: they
   * are kept in overlayfs's form, for one layer's image stacked by overlayfs: `.wh.NAME` becomes a
   * character device 0:0 named `NAME`, `.wh..wh..opq` marks its directory `opaque`.
   * @default {"apply"}
   */
  whiteouts?: "apply" | "overlay";
}

/** Options for {@linkcode FsTree.applyLayer}. */
export interface FsTreeApplyOptions {
  /** Stops between chunks. */
  signal?: AbortSignal;
}

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";
const MAX_SYMLINK_HOPS = 40;
/** The longest name (one path component) Linux file systems hold, in bytes. */
const NAME_MAX = 255;
/** The longest symlink target Linux holds (PATH_MAX - 1), in bytes. */
const LINK_MAX = 4095;
/** The deepest directory: as deep as a path of PATH_MAX bytes can go ("a/a/..."). */
const MAX_DEPTH = 2048;

/**
 * Builds a file system tree in memory from layers applied in order, with the same rules as
 * {@linkcode RootfsWriter} (the directory unpack), so the two give the same tree:
 *
 * - names are taken relative to the root (`/` and `./` dropped); `..` that would climb above it is
 *   refused, and so is a component longer than 255 bytes, a symlink target longer than 4095 or a
 *   directory deeper than 2048 (no Linux file system holds them);
 * - the directories on the way to an entry are looked up by name in the tree; a symlink met on the
 *   way is resolved inside the tree as if the root were `/` (as the directory unpack, umoci and
 *   containerd do), so nothing can point out of it; an entry's own name is never followed: a
 *   non-directory there is replaced, a directory there is kept (its metadata updated) when the
 *   entry is a directory and replaced otherwise; a file on the way is an error;
 * - a hardlink must name an existing non-directory in the tree; both names share one node;
 * - whiteouts (`.wh.NAME`) delete from the layers below; an opaque whiteout (`.wh..wh..opq`)
 *   empties its directory of everything earlier layers put there; neither appears in the tree;
 * - missing parent directories are made with mode 0755, owner 0:0 and mtime 0 (no wall clock).
 *
 * Only metadata is kept: file content goes to the {@linkcode FsDataStore} as it arrives.
 *
 * @typeParam L The data store's location type.
 *
 * @example Build a tree from one layer, keeping content in memory
 * ```ts
 * import { type FsDataStore, FsTree } from "./fs_tree.ts";
 * import assert from "node:assert/strict";
 *
 * // a one-entry tar: the file "hello" with 2 bytes
 * const header = new Uint8Array(512);
 * const put = (at: number, s: string) => header.set(new TextEncoder().encode(s), at);
 * put(0, "hello");
 * put(100, "0000644\0");
 * put(124, "00000000002\0");
 * put(136, "00000000000\0");
 * put(156, "0");
 * put(257, "ustar\x0000");
 * put(148, "        ");
 * put(148, header.reduce((a, b) => a + b, 0).toString(8).padStart(6, "0") + "\0 ");
 * const body = new Uint8Array(512);
 * body.set([104, 105]);
 *
 * const chunks: number[] = [];
 * const store: FsDataStore<number[]> = {
 *   begin() {},
 *   write(chunk) {
 *     chunks.push(...chunk);
 *   },
 *   end: () => chunks,
 * };
 * const tree = new FsTree(store);
 * await tree.applyLayer((async function* () {
 *   yield header;
 *   yield body;
 * })());
 * tree.finish();
 * const [name, node] = tree.children(tree.root)[0]!;
 * assert.equal(name, "hello");
 * assert.deepEqual(node.data, [104, 105]);
 * assert.equal(node.nlink, 1);
 * ```
 */
export class FsTree<L = unknown> {
  /** The root directory. */
  readonly root: FsNode<L>;
  /** Entries read so far (whiteouts included). */
  entries = 0;
  /** Whiteouts applied so far. */
  whiteouts = 0;
  /** Bytes of file content received so far. */
  bytes = 0;
  /** Device nodes skipped: always 0 here (an image holds them whoever runs skiff); kept so the
   * tree has the counters of {@linkcode RootfsWriter}. */
  readonly skippedDevices = 0;

  #store: FsDataStore<L>;
  #maxEntries: number;
  #overlay: boolean;
  #layerIndex = -1;
  #file: FsNode<L> | undefined;

  /**
   * Makes an empty tree (a root directory 0755, owner 0:0, mtime 0, until a layer declares it).
   *
   * @param store Where file content goes.
   * @param options Limits.
   */
  constructor(store: FsDataStore<L>, options: FsTreeOptions = {}) {
    this.#store = store;
    this.#maxEntries = options.maxEntries ?? 1_000_000;
    this.#overlay = options.whiteouts === "overlay";
    this.root = newNode("directory", 0o755, -1);
  }

  /**
   * Applies one layer's tar stream (uncompressed) on top of the tree.
   *
   * @param tar The tar bytes, in chunks.
   * @param options Abort signal.
   * @throws {Error} When the tar is malformed or truncated, an entry is hostile (climbs out of the
   * root, a hardlink to nothing or to a directory), a limit is passed, or the data store fails.
   */
  async applyLayer(
    tar: AsyncIterable<Uint8Array>,
    options: FsTreeApplyOptions = {},
  ): Promise<void> {
    const signal = options.signal;
    const reader = new TarReader();
    this.#layerIndex++;
    this.#file = undefined;
    let current: TarHeader | undefined;
    for await (const chunk of tar) {
      signal?.throwIfAborted();
      if (reader.done) continue; // what follows the end blocks is hashed by the caller
      for (const event of reader.push(chunk)) {
        try {
          if (event.kind === "data") {
            if (!this.#file) continue;
            this.bytes += event.bytes.byteLength;
            const pending = this.#store.write(event.bytes);
            if (pending) await pending;
          } else if (event.kind === "entry") {
            current = event.header;
            this.#entry(event.header);
          } else this.#endFile();
        } catch (e) {
          const path = current?.path ?? "?";
          throw new Error(`entry "${path}": ${(e as Error).message}`, { cause: e });
        }
      }
    }
    reader.end();
  }

  /** Counts directories' links (2 + subdirectories; other nodes count their names as they go).
   * Call once, after the last layer. */
  finish(): void {
    const walk = (dir: FsNode<L>) => {
      dir.nlink = 2;
      for (const child of dir.children!.values()) {
        if (child.type !== "directory") continue;
        dir.nlink++;
        walk(child);
      }
    };
    walk(this.root);
  }

  /**
   * A directory's entries sorted by name as bytes (UTF-8 order, as `strcmp` compares them):
   * the order EROFS requires and the one every format here writes, so images are deterministic.
   *
   * @param dir A directory node.
   * @returns `[name, node]` pairs, sorted.
   */
  children(dir: FsNode<L>): [string, FsNode<L>][] {
    return [...(dir.children ?? [])].sort((a, b) => compareNames(a[0], b[0]));
  }

  /**
   * Every node once, depth first in sorted order, directories before their contents, hardlinked
   * nodes at their first name.
   *
   * @returns `[path, node, parent]` triples; the root's path is `""` and its parent itself.
   */
  *walk(): Generator<[string, FsNode<L>, FsNode<L>]> {
    const seen = new Set<FsNode<L>>();
    const visit = function* (
      tree: FsTree<L>,
      path: string,
      node: FsNode<L>,
      parent: FsNode<L>,
    ): Generator<[string, FsNode<L>, FsNode<L>]> {
      if (seen.has(node)) return;
      seen.add(node);
      yield [path, node, parent];
      if (node.type !== "directory") return;
      for (const [name, child] of tree.children(node)) {
        yield* visit(tree, path === "" ? name : `${path}/${name}`, child, node);
      }
    };
    yield* visit(this, "", this.root, this.root);
  }

  #endFile(): void {
    const file = this.#file;
    if (!file) return;
    this.#file = undefined;
    file.data = this.#store.end();
  }

  #entry(h: TarHeader): void {
    if (++this.entries > this.#maxEntries) {
      throw new Error(`more than ${this.#maxEntries} entries (the maxEntries limit)`);
    }
    const parts = entryPath(h.path);
    if (parts.length === 0) {
      if (h.type !== "directory") throw new Error(`a ${h.type} cannot replace the root`);
      setMeta(this.root, h);
      this.root.layer = this.#layerIndex;
      return;
    }
    const name = parts[parts.length - 1]!;
    if (name.startsWith(WHITEOUT)) {
      return this.#overlay ? this.#overlayWhiteout(parts, h) : this.#whiteout(parts);
    }
    for (const part of parts) {
      // 3 UTF-8 bytes per UTF-16 unit at most: only long names need encoding
      if (part.length > 85 && new TextEncoder().encode(part).length > NAME_MAX) {
        throw new Error(`a name is longer than ${NAME_MAX} bytes`);
      }
    }
    const linked = h.type === "link" ? this.#linkTarget(h.linkname) : undefined;
    const parent = this.#resolveDir(parts.slice(0, -1), true)!;
    const existing = parent.children!.get(name);
    if (existing) {
      if (existing.type === "directory" && h.type === "directory") {
        setMeta(existing, h);
        existing.layer = this.#layerIndex;
        return;
      }
      if (linked === existing) return; // a hardlink to itself: nothing to do
      this.#drop(existing);
    }
    if (linked) {
      linked.nlink++;
      parent.children!.set(name, linked);
      return;
    }
    const node = newNode<L>(h.type as FsNodeType, 0, this.#layerIndex);
    node.nlink = 1;
    setMeta(node, h);
    switch (h.type) {
      case "file":
        node.size = h.size;
        this.#store.begin(h.size, node);
        this.#file = node;
        break;
      case "directory":
        node.children = new Map();
        break;
      case "symlink":
        node.mode = 0o777; // what Linux gives every symlink (the tar's bits mean nothing)
        node.target = h.linkname;
        node.size = new TextEncoder().encode(h.linkname).length;
        if (node.size > LINK_MAX) {
          throw new Error(`a symlink target is longer than ${LINK_MAX} bytes`);
        }
        break;
      case "char":
      case "block":
        node.devmajor = h.devmajor;
        node.devminor = h.devminor;
        break;
    }
    parent.children!.set(name, node);
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
    const existing = parent.children!.get(target);
    if (existing) {
      parent.children!.delete(target);
      this.#drop(existing);
    }
  }

  /** A whiteout kept for overlayfs: a 0:0 character device, or the directory marked opaque. */
  #overlayWhiteout(parts: string[], h: TarHeader): void {
    this.whiteouts++;
    const name = parts[parts.length - 1]!;
    const parent = this.#resolveDir(parts.slice(0, -1), true)!;
    if (name === OPAQUE) {
      parent.opaque = true;
      return;
    }
    if (name.startsWith(`${WHITEOUT}${WHITEOUT}`)) return; // other aufs metadata: ignored
    const target = name.slice(WHITEOUT.length);
    if (target === "" || target === "." || target === "..") {
      throw new Error("a whiteout must name an entry");
    }
    const existing = parent.children!.get(target);
    if (existing) this.#drop(existing);
    const node = newNode<L>("char", 0, this.#layerIndex);
    setMeta(node, { ...h, mode: 0 });
    node.nlink = 1;
    parent.children!.set(target, node);
  }

  /** Empties a directory of everything the current layer did not put there. */
  #opaque(dir: FsNode<L>): void {
    for (const [name, child] of [...dir.children!]) {
      if (child.layer !== this.#layerIndex) {
        dir.children!.delete(name);
        this.#drop(child);
      } else if (child.type === "directory") this.#opaque(child);
    }
  }

  /** A node lost a name (and a directory everything in it): files no name keeps any more are
   * given back to the store. */
  #drop(node: FsNode<L>): void {
    if (node.type === "directory") {
      for (const child of node.children!.values()) this.#drop(child);
      return;
    }
    if (--node.nlink > 0) return;
    if (node.type === "file" && node.data !== undefined) this.#store.discard?.(node.data);
  }

  /**
   * Resolves directories in the tree: each component must be a directory; a symlink is followed
   * as if the root were `/` (its `..` stops at the root). Missing directories are made (0755,
   * 0:0, mtime 0) when `create` is set.
   *
   * @returns The directory, or `undefined` when missing and not `create`.
   */
  #resolveDir(parts: string[], create: boolean): FsNode<L> | undefined {
    const stack: FsNode<L>[] = [this.root];
    const names: string[] = [];
    const queue = [...parts];
    let hops = 0;
    while (queue.length > 0) {
      const part = queue.shift()!;
      if (part === "" || part === ".") continue;
      if (part === "..") {
        if (stack.length > 1) {
          stack.pop();
          names.pop();
        }
        continue;
      }
      const dir = stack[stack.length - 1]!;
      let child = dir.children!.get(part);
      if (!child) {
        if (!create) return undefined;
        child = newNode("directory", 0o755, this.#layerIndex);
        child.children = new Map();
        dir.children!.set(part, child);
      }
      if (child.type === "directory") {
        if (stack.length > MAX_DEPTH) {
          throw new Error(`a path is deeper than ${MAX_DEPTH} directories`);
        }
        stack.push(child);
        names.push(part);
        continue;
      }
      const rel = [...names, part].join("/");
      if (child.type === "symlink") {
        if (++hops > MAX_SYMLINK_HOPS) throw new Error(`too many symlinks on the way to "${rel}"`);
        const target = child.target!;
        if (target.startsWith("/")) {
          stack.length = 1;
          names.length = 0;
        }
        queue.unshift(...target.split("/"));
        continue;
      }
      throw new Error(`"${rel}" is not a directory`);
    }
    return stack[stack.length - 1]!;
  }

  /** A hardlink's target: an existing non-directory in the tree. */
  #linkTarget(linkname: string): FsNode<L> {
    const parts = entryPath(linkname);
    if (parts.length === 0) throw new Error("a hardlink cannot point at the root");
    const parent = this.#resolveDir(parts.slice(0, -1), false);
    const node = parent?.children?.get(parts[parts.length - 1]!);
    if (!node && this.#overlay) {
      // one layer's tree: a target in a lower layer is out of reach, not absent
      throw new Error(
        `the hardlink target "${linkname}" is not in this layer: ` +
          "hardlinks across layers cannot be expressed in one layer's image",
      );
    }
    if (!node) throw new Error(`the hardlink target "${linkname}" is not in the root`);
    if (node.type === "directory") {
      throw new Error(`the hardlink target "${linkname}" is a directory`);
    }
    return node;
  }
}

function newNode<L>(type: FsNodeType, mode: number, layer: number): FsNode<L> {
  const node: FsNode<L> = {
    type,
    mode,
    uid: 0,
    gid: 0,
    mtime: 0,
    devmajor: 0,
    devminor: 0,
    size: 0,
    nlink: 0,
    layer,
  };
  if (type === "directory") node.children = new Map();
  return node;
}

function setMeta<L>(node: FsNode<L>, h: TarHeader): void {
  node.mode = h.mode & 0o7777;
  node.uid = h.uid;
  node.gid = h.gid;
  node.mtime = h.mtime;
  if (h.mtimeNs !== undefined) node.mtimeNs = h.mtimeNs;
  else delete node.mtimeNs;
  if (h.xattrs) node.xattrs = h.xattrs;
  else delete node.xattrs;
}
