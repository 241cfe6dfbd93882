/**
 * The one interpreter of the OCI layer rules: tar entries, layer after layer, into a merged tree
 * of metadata, with every decision told to a handler as it is made, so that a sink performs it
 * (on a directory, into a disk image, into a flattened tar) without deciding anything itself.
 *
 * @module
 */

import { entryPath } from "./_entry_path.ts";
import { compareNames } from "./compare_names.ts";
import type { TarHeader } from "../tar/tar_reader.ts";

/** What a node is. Tar has no sockets, so no layer makes one. */
export type LayerNodeType = "file" | "directory" | "symlink" | "fifo" | "char" | "block";

/**
 * One inode of the merged tree. Hardlinked names share one node object; a directory has one
 * name.
 *
 * @typeParam D What a sink attaches to a node (`data`): where a file's content went in a disk
 * image, the names an export writes it under.
 */
export interface LayerNode<D = unknown> {
  /** The type. */
  type: LayerNodeType;
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
  /** A file's size in bytes (0 for every other type; a symlink's is its target's length). */
  size: number;
  /** A directory's entries by name, in the order they were made (sorted: {@linkcode
   * LayerTree.children}). */
  children?: Map<string, LayerNode<D>>;
  /** Names (non-directories, counted as layers apply) or 2 + subdirectories (directories,
   * counted by {@linkcode LayerTree.finish}). */
  nlink: number;
  /** The layer (its index, base first) whose entry made the node, or last declared the
   * directory; -1 for the root no layer declared. */
  layer: number;
  /** That entry's index in its layer's tar (every header counts, whiteouts too); -1 for the root
   * no layer declared. A parent no layer declared has the index of the entry that implied it. */
  entry: number;
  /** A directory with an opaque whiteout kept for overlayfs ({@linkcode overlayWhiteouts}):
   * formats write it as the xattr `trusted.overlay.opaque=y`. */
  opaque?: true;
  /** What a sink attached to the node (the tree never reads it). */
  data?: D;
}

/**
 * What a sink is told as the tree applies an entry, in order, before {@linkcode LayerTree.apply}
 * returns: each method performs one decision (none decides anything). Paths are real paths
 * relative to the root (symlinks on the way resolved, `/`-separated, `""` for the root).
 */
export interface LayerHandler<D = unknown> {
  /**
   * A node was made at `path`: what the entry declares, or a parent directory it implies (0755,
   * 0:0, mtime 0). A file's content follows through `content` and `contentEnd`.
   */
  create?(path: string, node: LayerNode<D>): void;
  /** A directory already there (the root: `""`) was declared again and has the entry's
   * metadata now, or was marked opaque. */
  update?(path: string, node: LayerNode<D>): void;
  /** A second name for a node already there (a hardlink); `target` is the real path of the name
   * the entry linked to. */
  link?(path: string, node: LayerNode<D>, target: string): void;
  /** A name left the tree (replaced by the entry that follows, whited out, hidden by an opaque
   * whiteout): `node` is what it named, a directory with all it held. */
  remove?(path: string, node: LayerNode<D>): void;
  /** A non-directory lost its last name: what the sink attached to it can be given back. */
  release?(node: LayerNode<D>): void;
  /**
   * The next bytes of the file `create` made ({@linkcode applyLayer} passes them on): valid
   * during the call only (the tar reader's buffer).
   *
   * @returns Nothing, or a promise awaited before the next chunk (back-pressure).
   */
  content?(chunk: Uint8Array, node: LayerNode<D>): void | Promise<void>;
  /** The file's content is complete. */
  contentEnd?(node: LayerNode<D>): void;
}

/** A whiteout entry, as a {@linkcode ConvertWhiteout} hook sees it. */
export interface Whiteout {
  /** What it hides: `dir/NAME` for `dir/.wh.NAME`, or the directory an opaque whiteout
   * (`.wh..wh..opq`) empties, relative to the root (`""`: the root). */
  path: string;
  /** An opaque whiteout. */
  opaque: boolean;
  /** The whiteout's own entry. */
  header: TarHeader;
}

/**
 * containerd's `ConvertWhiteout`: what a tree does with a whiteout instead of applying it.
 * `undefined`: apply it (delete what it hides); a header: apply that entry instead (a 0:0
 * character device, for overlayfs); `"opaque"`: mark the directory opaque.
 */
export type ConvertWhiteout = (whiteout: Whiteout) => TarHeader | "opaque" | undefined;

/** Options for {@linkcode LayerTree}. */
export interface LayerTreeOptions {
  /**
   * The most entries (whiteouts included) all layers together may have.
   * @default {1000000}
   */
  maxEntries?: number;
  /**
   * What a whiteout does ({@linkcode overlayWhiteouts} keeps them for overlayfs).
   * @default {undefined: whiteouts delete from the layers below}
   */
  convertWhiteout?: ConvertWhiteout;
  /**
   * `layer`: the tree holds one layer alone, its lower layers being elsewhere (a per-layer image
   * stacked by overlayfs), so a hardlink to a name the tree lacks points below it and is refused
   * as such. `image`: the tree holds every layer.
   * @default {"image"}
   */
  scope?: "image" | "layer";
  /**
   * Skip char and block devices (counted in `skippedDevices`): a directory unpack that may not
   * make them. Nothing is made, nothing replaced.
   * @default {false}
   */
  skipDevices?: boolean;
}

/** What {@linkcode LayerTree.apply} did with an entry. */
export interface LayerDecision<D = unknown> {
  /**
   * `create`: a node made where nothing was; `replace`: made where another was (`removed`);
   * `update`: a directory (or the root) declared again; `link`: a hardlink added; `whiteout`:
   * what it hides removed (`removed`, when there was something); `opaque`: a directory emptied of
   * lower layers' entries, or marked opaque; `none`: nothing to do (a hardlink to itself, aufs
   * metadata); `skip`: a device skipped.
   */
  kind: "create" | "replace" | "update" | "link" | "whiteout" | "opaque" | "none" | "skip";
  /** The real path the decision is about (`""`: the root; empty for `skip` and `none`). */
  path: string;
  /** The node made, updated or linked (the directory for `opaque`). */
  node?: LayerNode<D>;
  /** What the entry replaced or whited out. */
  removed?: LayerNode<D>;
}

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";
/** Symlinks followed on the way to one entry, at most (as Linux's MAXSYMLINKS). */
const MAX_SYMLINK_HOPS = 40;
/** The longest name (one path component) Linux file systems hold, in bytes. */
const NAME_MAX = 255;
/** The longest symlink target Linux holds (PATH_MAX - 1), in bytes. */
const LINK_MAX = 4095;
/** The deepest directory: as deep as a path of PATH_MAX bytes can go ("a/a/..."). */
const MAX_DEPTH = 2048;
const NO_DECISION = { kind: "none", path: "" } as const;
const encoder = new TextEncoder();

/**
 * The merged tree of an image's layers, built by applying their entries in order, by the rules
 * every container runtime applies (the OCI image spec's changesets, as containerd's
 * `pkg/archive` applies them):
 *
 * - names are taken relative to the root (`/` and `./` dropped); `..` that would climb above it is
 *   refused, and so is a component longer than 255 bytes, a symlink target longer than 4095 or a
 *   directory deeper than 2048 (no Linux file system holds them);
 * - the directories on the way to an entry are looked up in the tree; a symlink met on the way is
 *   resolved inside the tree as if the root were `/` (40 hops at most), so nothing points out of
 *   it; an entry's own name is never followed: what is there is replaced, except a directory
 *   declared again (its metadata updated); a file on the way is an error;
 * - a hardlink must name an existing non-directory in the tree; both names share one node;
 * - a whiteout (`.wh.NAME`) deletes what the layers below put there; an opaque whiteout
 *   (`.wh..wh..opq`) empties its directory of everything but what its own layer made or declared
 *   (a directory the layer declared before the marker is emptied of lower layers' entries in
 *   turn); neither appears in the tree; `.wh..wh.*` aufs metadata is ignored;
 * - a parent no layer declared is made with mode 0755, owner 0:0 and mtime 0 (no wall clock);
 * - the root can only be a directory.
 *
 * Each decision is told to a {@linkcode LayerHandler} as it is made; {@linkcode applyLayer} reads a
 * layer's tar into the tree and hands file content to the handler. Only metadata is kept; each
 * node records the layer and the entry that made it.
 *
 * @typeParam D What sinks attach to nodes.
 *
 * @example Apply two layers' headers, a whiteout in the second
 * ```ts
 * import { LayerTree } from "./layer_tree.ts";
 * import assert from "node:assert/strict";
 *
 * const header = (path: string, type: "file" | "directory" = "file") => ({
 *   path, type, size: 0, mode: 0o644, uid: 0, gid: 0, mtime: 0, linkname: "", devmajor: 0,
 *   devminor: 0,
 * });
 * const tree = new LayerTree();
 * tree.beginLayer();
 * tree.apply(header("etc/", "directory"));
 * tree.apply(header("etc/passwd"));
 * tree.apply(header("etc/shadow"));
 * tree.beginLayer();
 * const removed: string[] = [];
 * const decision = tree.apply(header("etc/.wh.shadow"), { remove: (path) => removed.push(path) });
 * assert.equal(decision.kind, "whiteout");
 * assert.deepEqual(removed, ["etc/shadow"]);
 * assert.deepEqual([...tree.walk()].map(([path]) => path), ["", "etc", "etc/passwd"]);
 * assert.equal(tree.find("etc/passwd")?.layer, 0);
 * ```
 */
export class LayerTree<D = unknown> {
  /** The root directory. */
  readonly root: LayerNode<D>;
  /** Entries applied so far (whiteouts included). */
  entries = 0;
  /** Whiteouts among them. */
  whiteouts = 0;
  /** Devices skipped (`skipDevices`). */
  skippedDevices = 0;

  #maxEntries: number;
  #convert: ConvertWhiteout | undefined;
  #oneLayer: boolean;
  #skipDevices: boolean;
  #layer = -1;
  #entry = -1;
  /** Names this layer linked to nodes of lower layers: an opaque whiteout keeps them. */
  #linkedHere = new Map<LayerNode<D>, Set<string>>();

  /**
   * Makes an empty tree: a root directory 0755, owner 0:0, mtime 0, until a layer declares it.
   *
   * @param options Limits and the whiteout hook.
   */
  constructor(options: LayerTreeOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 1_000_000;
    this.#convert = options.convertWhiteout;
    this.#oneLayer = options.scope === "layer";
    this.#skipDevices = options.skipDevices === true;
    this.root = newNode("directory", 0o755, -1, -1);
  }

  /** The index of the layer being applied (-1 before the first). */
  get layer(): number {
    return this.#layer;
  }

  /** The index, in its layer, of the entry being applied or applied last (-1 before the first). */
  get entry(): number {
    return this.#entry;
  }

  /**
   * Starts the next layer: entries applied from now on are its own.
   *
   * @returns Its index (0 for the base layer).
   */
  beginLayer(): number {
    this.#entry = -1;
    this.#linkedHere = new Map();
    return ++this.#layer;
  }

  /**
   * Applies one entry of the current layer: decides what it does to the tree, tells the handler
   * each step (parents made, what is removed, what is made), and returns the decision. A file's
   * content is not the tree's: {@linkcode applyLayer} gives it to the handler.
   *
   * @param h The entry's header, as the tar reader gives it.
   * @param handler Told each step.
   * @returns What was done.
   * @throws {Error} When the entry is hostile or impossible (see the class), or a limit is
   * passed; the tree must not be used further then.
   */
  apply(h: TarHeader, handler: LayerHandler<D> = {}): LayerDecision<D> {
    if (this.#layer < 0) this.beginLayer();
    this.#entry++;
    if (++this.entries > this.#maxEntries) {
      throw new Error(`more than ${this.#maxEntries} entries (the maxEntries limit)`);
    }
    const parts = entryPath(h.path);
    if (parts.length === 0) {
      if (h.type !== "directory") throw new Error(`a ${h.type} cannot replace the root`);
      setMeta(this.root, h);
      this.root.layer = this.#layer;
      this.root.entry = this.#entry;
      handler.update?.("", this.root);
      return { kind: "update", path: "", node: this.root };
    }
    if (parts[parts.length - 1]!.startsWith(WHITEOUT)) return this.#whiteout(parts, h, handler);
    if ((h.type === "char" || h.type === "block") && this.#skipDevices) {
      this.skippedDevices++;
      return { kind: "skip", path: "" };
    }
    return this.#make(parts, h, handler);
  }

  /** Counts directories' links (2 + subdirectories; other nodes count their names as they go).
   * Call once, after the last layer. */
  finish(): void {
    const walk = (dir: LayerNode<D>) => {
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
   * A directory's entries sorted by name as bytes (UTF-8 order, as `strcmp` compares them): the
   * order EROFS requires and the one every format here writes, so images are deterministic.
   *
   * @param dir A directory node.
   * @returns `[name, node]` pairs, sorted.
   */
  children(dir: LayerNode<D>): [string, LayerNode<D>][] {
    return [...(dir.children ?? [])].sort((a, b) => compareNames(a[0], b[0]));
  }

  /**
   * Every node once, depth first in sorted order, directories before their contents, hardlinked
   * nodes at their first name.
   *
   * @returns `[path, node, parent]` triples; the root's path is `""` and its parent itself.
   */
  *walk(): Generator<[string, LayerNode<D>, LayerNode<D>]> {
    const seen = new Set<LayerNode<D>>();
    const stack: [string, LayerNode<D>, LayerNode<D>][] = [["", this.root, this.root]];
    while (stack.length > 0) {
      const [path, node, parent] = stack.pop()!;
      if (seen.has(node)) continue;
      seen.add(node);
      yield [path, node, parent];
      if (node.type !== "directory") continue;
      const children = this.children(node);
      for (let i = children.length - 1; i >= 0; i--) {
        const [name, child] = children[i]!;
        stack.push([path === "" ? name : `${path}/${name}`, child, node]);
      }
    }
  }

  /**
   * The node at a path, as a runtime would find it: the directories on the way resolved through
   * symlinks inside the root; the last component itself not followed.
   *
   * @param path A path in the image (`/etc/passwd`, `usr/bin/../lib`).
   * @returns The node, or undefined when there is none (or the path climbs out of the root).
   */
  find(path: string): LayerNode<D> | undefined {
    let parts: string[];
    try {
      parts = entryPath(path);
    } catch {
      return undefined;
    }
    if (parts.length === 0) return this.root;
    try {
      return this.#resolve(parts.slice(0, -1), undefined)?.[0].children?.get(parts.at(-1)!);
    } catch {
      return undefined; // a file or a symlink loop on the way: nothing there
    }
  }

  /** An entry that is not a whiteout (or the one a whiteout hook made of it). */
  #make(parts: string[], h: TarHeader, handler: LayerHandler<D>): LayerDecision<D> {
    const name = parts[parts.length - 1]!;
    for (const part of parts) {
      // 3 UTF-8 bytes per UTF-16 unit at most: only long names need encoding
      if (part.length > 85 && encoder.encode(part).length > NAME_MAX) {
        throw new Error(`a name is longer than ${NAME_MAX} bytes`);
      }
    }
    const linked = h.type === "link" ? this.#linkTarget(h.linkname) : undefined;
    const [parent, dirPath] = this.#resolve(parts.slice(0, -1), handler)!;
    const path = dirPath === "" ? name : `${dirPath}/${name}`;
    const existing = parent.children!.get(name);
    if (existing && linked?.[0] === existing) {
      this.#markLinked(parent, name); // a hardlink to itself: the name is this layer's
      return NO_DECISION;
    }
    if (existing?.type === "directory" && h.type === "directory") {
      setMeta(existing, h);
      existing.layer = this.#layer;
      existing.entry = this.#entry;
      handler.update?.(path, existing);
      return { kind: "update", path, node: existing };
    }
    if (existing) {
      parent.children!.delete(name);
      this.#drop(path, existing, handler);
    }
    if (linked) {
      const [node, target] = linked;
      node.nlink++;
      parent.children!.set(name, node);
      if (node.layer !== this.#layer) this.#markLinked(parent, name);
      handler.link?.(path, node, target);
      return { kind: "link", path, node, ...(existing ? { removed: existing } : {}) };
    }
    const node = newNode<D>(h.type as LayerNodeType, 0, this.#layer, this.#entry);
    setMeta(node, h);
    switch (h.type) {
      case "file":
        node.size = h.size;
        break;
      case "symlink":
        node.mode = 0o777; // what Linux gives every symlink (the tar's bits mean nothing)
        node.target = h.linkname;
        node.size = encoder.encode(h.linkname).length;
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
    if (node.type !== "directory") node.nlink = 1;
    parent.children!.set(name, node);
    handler.create?.(path, node);
    return existing
      ? { kind: "replace", path, node, removed: existing }
      : { kind: "create", path, node };
  }

  #whiteout(parts: string[], h: TarHeader, handler: LayerHandler<D>): LayerDecision<D> {
    this.whiteouts++;
    const name = parts[parts.length - 1]!;
    const dirParts = parts.slice(0, -1);
    const opaque = name === OPAQUE;
    if (!opaque && name.startsWith(`${WHITEOUT}${WHITEOUT}`)) return NO_DECISION; // aufs metadata
    const target = name.slice(WHITEOUT.length);
    const converted = this.#convert && this.#convert({
      path: (opaque ? dirParts : [...dirParts, target]).join("/"),
      opaque,
      header: h,
    });
    if (converted === "opaque") {
      const [dir, path] = this.#resolve(dirParts, handler)!;
      dir.opaque = true;
      handler.update?.(path, dir);
      return { kind: "opaque", path, node: dir };
    }
    if (converted) {
      checkWhiteoutName(target);
      return this.#make(entryPath(converted.path), converted, handler);
    }
    const resolved = this.#resolve(dirParts, undefined);
    if (!resolved) return NO_DECISION; // nothing below to hide
    const [dir, dirPath] = resolved;
    if (opaque) {
      this.#opaque(dir, dirPath, handler);
      return { kind: "opaque", path: dirPath, node: dir };
    }
    checkWhiteoutName(target);
    const path = dirPath === "" ? target : `${dirPath}/${target}`;
    const existing = dir.children!.get(target);
    if (!existing) return { kind: "whiteout", path };
    dir.children!.delete(target);
    this.#drop(path, existing, handler);
    return { kind: "whiteout", path, removed: existing };
  }

  /** Empties a directory of everything its layer did not make or declare; recurses into the
   * directories it did. */
  #opaque(dir: LayerNode<D>, dirPath: string, handler: LayerHandler<D>): void {
    const linked = this.#linkedHere.get(dir);
    for (const [name, child] of [...dir.children!]) {
      const path = dirPath === "" ? name : `${dirPath}/${name}`;
      if (child.layer !== this.#layer && !linked?.has(name)) {
        dir.children!.delete(name);
        this.#drop(path, child, handler);
      } else if (child.type === "directory") this.#opaque(child, path, handler);
    }
  }

  /** A name left the tree: told once, and files no name keeps any more are released. */
  #drop(path: string, node: LayerNode<D>, handler: LayerHandler<D>): void {
    handler.remove?.(path, node);
    this.#release(node, handler);
  }

  #release(node: LayerNode<D>, handler: LayerHandler<D>): void {
    if (node.type === "directory") {
      for (const child of node.children!.values()) this.#release(child, handler);
      return;
    }
    if (--node.nlink === 0) handler.release?.(node);
  }

  #markLinked(dir: LayerNode<D>, name: string): void {
    let names = this.#linkedHere.get(dir);
    if (!names) this.#linkedHere.set(dir, names = new Set());
    names.add(name);
  }

  /**
   * Resolves directories in the tree: each component must be a directory; a symlink is followed
   * as if the root were `/` (its `..` stops at the root). Missing directories are made (0755,
   * 0:0, mtime 0, told to the handler) when a handler is given.
   *
   * @returns The directory and its real path, or undefined when missing (no handler given).
   */
  #resolve(
    parts: string[],
    handler: LayerHandler<D> | undefined,
  ): [LayerNode<D>, string] | undefined {
    const stack: LayerNode<D>[] = [this.root];
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
        if (!handler) return undefined;
        child = newNode("directory", 0o755, this.#layer, this.#entry);
        dir.children!.set(part, child);
        handler.create?.([...names, part].join("/"), child);
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
    return [stack[stack.length - 1]!, names.join("/")];
  }

  /** A hardlink's target: an existing non-directory in the tree, and its real path. */
  #linkTarget(linkname: string): [LayerNode<D>, string] {
    const parts = entryPath(linkname);
    if (parts.length === 0) throw new Error("a hardlink cannot point at the root");
    const name = parts[parts.length - 1]!;
    const resolved = this.#resolve(parts.slice(0, -1), undefined);
    const node = resolved?.[0].children?.get(name);
    if (!node && this.#oneLayer) {
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
    return [node, resolved![1] === "" ? name : `${resolved![1]}/${name}`];
  }
}

function checkWhiteoutName(target: string): void {
  if (target === "" || target === "." || target === "..") {
    throw new Error("a whiteout must name an entry");
  }
}

function newNode<D>(type: LayerNodeType, mode: number, layer: number, entry: number): LayerNode<D> {
  const node: LayerNode<D> = {
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
    entry,
  };
  if (type === "directory") node.children = new Map();
  return node;
}

function setMeta<D>(node: LayerNode<D>, h: TarHeader): void {
  node.mode = h.mode & 0o7777;
  node.uid = h.uid;
  node.gid = h.gid;
  node.mtime = h.mtime;
  if (h.mtimeNs !== undefined) node.mtimeNs = h.mtimeNs;
  else delete node.mtimeNs;
  if (h.xattrs) node.xattrs = h.xattrs;
  else delete node.xattrs;
}

/**
 * Keeps whiteouts as overlayfs reads them, for one layer's tree stacked by overlayfs (with the
 * tree's `scope: "layer"`): `.wh.NAME` becomes a character device 0:0 named `NAME` (its owner
 * and time the whiteout's), `.wh..wh..opq` marks its directory `opaque`.
 *
 * @param whiteout The whiteout.
 * @returns What the tree makes of it.
 *
 * @example Keep a whiteout as a character device
 * ```ts
 * import { LayerTree, overlayWhiteouts } from "./layer_tree.ts";
 * import assert from "node:assert/strict";
 *
 * const tree = new LayerTree({ convertWhiteout: overlayWhiteouts, scope: "layer" });
 * tree.apply({
 *   path: "etc/.wh.motd", type: "file", size: 0, mode: 0o644, uid: 0, gid: 0, mtime: 0,
 *   linkname: "", devmajor: 0, devminor: 0,
 * });
 * const motd = tree.find("etc/motd");
 * assert.deepEqual([motd?.type, motd?.mode, motd?.devmajor, motd?.devminor], ["char", 0, 0, 0]);
 * ```
 */
export function overlayWhiteouts(whiteout: Whiteout): TarHeader | "opaque" | undefined {
  if (whiteout.opaque) return "opaque";
  return {
    ...whiteout.header,
    path: whiteout.path,
    type: "char",
    mode: 0,
    size: 0,
    linkname: "",
    devmajor: 0,
    devminor: 0,
  };
}
