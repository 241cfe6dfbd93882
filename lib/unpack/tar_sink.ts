/**
 * The flattened root filesystem as one tar stream (`docker export`, `crane export`): the layers
 * applied in memory, whiteouts and all, and the entries that survive written out with the
 * image's owners, modes, times, links, devices and xattrs.
 *
 * @module
 */

import { entryPath } from "../layer/_entry_path.ts";
import type { ApplyLayerOptions, SinkImage, UnpackSink } from "./sink.ts";
import { type TarEntryType, type TarHeader, TarReader } from "../tar/tar_reader.ts";
import { type TarEntry, TarWriter } from "../tar/tar_writer.ts";

/** Options for {@linkcode TarSink}. */
export interface TarSinkOptions {
  /**
   * The most entries (whiteouts included) all layers together may have.
   * @default {1000000}
   */
  maxEntries?: number;
  /** Stops the second pass (the output). */
  signal?: AbortSignal;
}

/** Writes bytes to the output; resolves when it can take more. */
export type TarOutput = (chunk: Uint8Array) => Promise<void>;

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";
const MAX_SYMLINK_HOPS = 40;
const OUT_BUFFER = 1024 * 1024;

interface Inode {
  layer: number;
  seq: number;
  header: TarHeader;
  /** Every path of the inode, in the order they were made. */
  paths: Node[];
}

interface Node {
  name: string;
  parent: Node | undefined;
  type: Exclude<TarEntryType, "link">;
  header: TarHeader;
  children: Map<string, Node> | undefined;
  inode: Inode | undefined;
  /** Where it was made: the entry (layer, seq) whose turn in the output it takes. */
  layer: number;
  seq: number;
  /** The order of making, for nodes made at the same entry (parents first). */
  made: number;
  /** The last layer that wrote this path (an opaque whiteout keeps those of its own layer). */
  touched: number;
  /** Set while the output is planned: still in the tree at the end. */
  reachable: boolean;
}

interface Emit {
  node: Node;
  path: string;
  /** This entry's body is the node's content. */
  content: boolean;
  /** A hardlink to this path. */
  linkTo?: string;
}

/**
 * A sink that writes the image's flattened root filesystem as one tar.
 *
 * Two passes: while the layers are applied, only their headers are kept, in a tree in memory
 * that follows the same rules as the directory unpack (whiteouts, opaque directories, entries
 * replacing entries, parents resolved through the image's own symlinks inside the root); at
 * `finish()`, each layer that still has entries in the tree is read again (verified, from the
 * store) and those entries are written in layer order, each at its final path, and then the
 * directories (parents first): GNU tar sets a directory's time once it has moved past it, so a
 * directory written before the files of a later layer would get the time of extraction. A file whose
 * path was removed while a hardlink to it survived is written under the hardlink's name.
 * Parents no layer made are written as directories 0755 owned by 0:0 at time 0. The output
 * needs no root to make and is the same bytes for the same image.
 *
 * @example Flatten two layers
 * ```ts ignore
 * import { TarSink } from "./tar_sink.ts";
 * import { unpackImage } from "./unpack_image.ts";
 *
 * const out = await Deno.open("rootfs.tar", { write: true, create: true, truncate: true });
 * const writer = out.writable.getWriter();
 * await unpackImage("alpine:3.20", (image) => new TarSink(image, (c) => writer.write(c)));
 * await writer.close();
 * ```
 */
export class TarSink implements UnpackSink {
  /** Tar entries read (first pass), whiteouts included. */
  entries = 0;
  /** Whiteouts applied. */
  whiteouts = 0;
  /**
   * Bytes of file content: while the layers are read (the first pass), what they hold, so that
   * each layer's share can be told; from `finish()` on, what is written to the output (less,
   * when later layers delete or replace files).
   */
  bytes = 0;
  /** Always 0: a tar holds device nodes whoever makes it. */
  readonly skippedDevices = 0;

  #image: SinkImage;
  #write: TarOutput;
  #maxEntries: number;
  #signal: AbortSignal | undefined;
  #root: Node;
  #layer = -1;
  #seq = 0;
  #made = 0;

  /**
   * Makes the sink.
   *
   * @param image The image (from the pipeline's sink factory): its layers are read again.
   * @param write Takes the output's bytes, in order (a chunk is not reused after).
   * @param options Limits and signal.
   */
  constructor(image: SinkImage, write: TarOutput, options: TarSinkOptions = {}) {
    this.#image = image;
    this.#write = write;
    this.#maxEntries = options.maxEntries ?? image.maxEntries;
    this.#signal = options.signal;
    this.#root = this.#node("", undefined, "directory", implicitDir(""), -1, -1);
  }

  /**
   * Applies one layer's headers to the tree (the content is read again by `finish()`).
   *
   * @param tar The layer's uncompressed tar.
   * @param options Abort signal.
   * @returns Resolves once the layer was read.
   */
  async applyLayer(tar: AsyncIterable<Uint8Array>, options: ApplyLayerOptions = {}): Promise<void> {
    const reader = new TarReader();
    this.#layer++;
    this.#seq = 0;
    let current: TarHeader | undefined;
    for await (const chunk of tar) {
      options.signal?.throwIfAborted();
      if (reader.done) continue;
      for (const event of reader.push(chunk)) {
        if (event.kind !== "entry") continue;
        current = event.header;
        try {
          this.#entry(event.header);
        } catch (e) {
          throw new Error(`entry "${current.path}": ${(e as Error).message}`, { cause: e });
        } finally {
          this.#seq++;
        }
      }
    }
    reader.end();
  }

  /**
   * Writes the tar: each layer with surviving entries is read again and its entries written at
   * their final paths, then the two end blocks.
   *
   * @returns Resolves once everything was handed to the output.
   */
  async finish(): Promise<void> {
    const { plan, dirs } = this.#plan();
    this.bytes = 0; // from here on: what is written
    const out = new TarWriter({ write: this.#write }, { bufferSize: OUT_BUFFER });
    for (let layer = 0; layer <= this.#layer; layer++) {
      const at = plan.get(layer);
      if (!at) continue; // nothing of it survived: not read again
      const reader = new TarReader();
      let seq = 0;
      let body = false;
      for await (const chunk of this.#image.rereadLayer(layer, this.#signal)) {
        this.#signal?.throwIfAborted();
        if (reader.done) continue;
        for (const event of reader.push(chunk)) {
          if (event.kind === "entry") {
            body = false;
            for (const emit of at.get(seq) ?? []) {
              await out.header(outHeader(emit));
              if (emit.content && emit.node.type === "file") body = true;
            }
            seq++;
          } else if (event.kind === "data") {
            if (!body) continue;
            await out.body(event.bytes);
            this.bytes += event.bytes.byteLength;
          } else body = false;
        }
      }
      reader.end();
    }
    // directories last: tar readers set a directory's time when they are done with it, and
    // files of later layers would change it again
    for (const emit of dirs) await out.header(outHeader(emit));
    await out.end();
  }

  /** Nothing to remove: the caller discards what was written. */
  abort(): void {}

  /** The surviving nodes, by layer and entry, in order. */
  #plan(): { plan: Map<number, Map<number, Emit[]>>; dirs: Emit[] } {
    const plan = new Map<number, Map<number, Emit[]>>();
    const add = (layer: number, seq: number, emit: Emit) => {
      let at = plan.get(layer);
      if (!at) plan.set(layer, at = new Map());
      let list = at.get(seq);
      if (!list) at.set(seq, list = []);
      list.push(emit);
    };
    const paths = new Map<Node, string>();
    const all: Node[] = [];
    const dirs: Emit[] = [];
    const walk = (dir: Node, prefix: string) => {
      for (const child of dir.children!.values()) {
        const path = prefix === "" ? child.name : `${prefix}/${child.name}`;
        child.reachable = true;
        paths.set(child, path);
        all.push(child);
        if (child.children) walk(child, path);
      }
    };
    walk(this.#root, "");
    for (const node of all) {
      const path = paths.get(node)!;
      if (node.type === "directory") {
        dirs.push({ node, path, content: false });
        continue;
      }
      const inode = node.inode!;
      const carrier = inode.paths.find((n) => n.reachable)!;
      if (node === carrier) add(inode.layer, inode.seq, { node, path, content: true });
      else add(node.layer, node.seq, { node, path, content: false, linkTo: paths.get(carrier)! });
    }
    for (const at of plan.values()) {
      for (const list of at.values()) {
        // parents before children; the one entry that takes the body last
        list.sort((a, b) => Number(a.content) - Number(b.content) || a.node.made - b.node.made);
      }
    }
    return { plan, dirs };
  }

  #node(
    name: string,
    parent: Node | undefined,
    type: Node["type"],
    header: TarHeader,
    layer: number,
    seq: number,
  ): Node {
    return {
      name,
      parent,
      type,
      header,
      children: type === "directory" ? new Map() : undefined,
      inode: undefined,
      layer,
      seq,
      made: this.#made++,
      touched: layer,
      reachable: false,
    };
  }

  #entry(h: TarHeader): void {
    if (++this.entries > this.#maxEntries) {
      throw new Error(`more than ${this.#maxEntries} entries (the maxEntries limit)`);
    }
    if (h.type === "file") this.bytes += h.size;
    const parts = entryPath(h.path);
    if (parts.length === 0) {
      if (h.type !== "directory") throw new Error(`a ${h.type} cannot replace the root`);
      return; // the root's own entry: not part of the output
    }
    const name = parts[parts.length - 1]!;
    if (name.startsWith(WHITEOUT)) return this.#whiteout(parts);
    const target = h.type === "link" ? this.#linkTarget(h.linkname) : undefined;
    const parent = this.#resolveDir(parts.slice(0, -1), true)!;
    const existing = parent.children!.get(name);
    if (existing) {
      existing.touched = this.#layer;
      if (existing.type === "directory" && h.type === "directory") {
        existing.header = h;
        return;
      }
      if (target === existing) return; // a hardlink to itself
      parent.children!.delete(name);
    }
    if (target) {
      const node = this.#node(name, parent, target.type, target.header, this.#layer, this.#seq);
      node.inode = target.inode;
      target.inode!.paths.push(node);
      parent.children!.set(name, node);
      return;
    }
    const type = h.type as Node["type"];
    const node = this.#node(name, parent, type, h, this.#layer, this.#seq);
    if (type !== "directory") {
      node.inode = { layer: this.#layer, seq: this.#seq, header: h, paths: [node] };
    }
    parent.children!.set(name, node);
  }

  #whiteout(parts: string[]): void {
    this.whiteouts++;
    const name = parts[parts.length - 1]!;
    const parent = this.#resolveDir(parts.slice(0, -1), false);
    if (parent === undefined) return;
    if (name === OPAQUE) return this.#opaque(parent);
    if (name.startsWith(`${WHITEOUT}${WHITEOUT}`)) return;
    const target = name.slice(WHITEOUT.length);
    if (target === "" || target === "." || target === "..") {
      throw new Error("a whiteout must name an entry");
    }
    parent.children!.delete(target);
  }

  #opaque(dir: Node): void {
    for (const [name, child] of dir.children!) {
      if (child.touched !== this.#layer) dir.children!.delete(name);
      else if (child.children) this.#opaque(child);
    }
  }

  /** The directory at `parts`, resolved inside the root like the directory unpack does. */
  #resolveDir(parts: string[], create: boolean): Node | undefined {
    const stack: Node[] = [this.#root];
    const queue = [...parts];
    let hops = 0;
    while (queue.length > 0) {
      const part = queue.shift()!;
      if (part === "" || part === ".") continue;
      if (part === "..") {
        if (stack.length > 1) stack.pop();
        continue;
      }
      const dir = stack[stack.length - 1]!;
      let child = dir.children!.get(part);
      if (!child) {
        if (!create) return undefined;
        child = this.#node(part, dir, "directory", implicitDir(part), this.#layer, this.#seq);
        dir.children!.set(part, child);
        stack.push(child);
        continue;
      }
      if (child.type === "directory") {
        stack.push(child);
        continue;
      }
      if (child.type === "symlink") {
        if (++hops > MAX_SYMLINK_HOPS) throw new Error(`too many symlinks on the way to "${part}"`);
        const link = child.header.linkname;
        if (link.startsWith("/")) stack.length = 1;
        queue.unshift(...link.split("/"));
        continue;
      }
      throw new Error(
        `"${stack.slice(1).map((n) => n.name).concat(part).join("/")}" is not a directory`,
      );
    }
    return stack[stack.length - 1]!;
  }

  #linkTarget(linkname: string): Node {
    const parts = entryPath(linkname);
    if (parts.length === 0) throw new Error("a hardlink cannot point at the root");
    const parent = this.#resolveDir(parts.slice(0, -1), false);
    const node = parent?.children?.get(parts[parts.length - 1]!);
    if (!node) throw new Error(`the hardlink target "${linkname}" is not in the root`);
    if (node.type === "directory") {
      throw new Error(`the hardlink target "${linkname}" is a directory`);
    }
    return node;
  }
}

function implicitDir(path: string): TarHeader {
  return {
    path,
    type: "directory",
    size: 0,
    mode: 0o755,
    uid: 0,
    gid: 0,
    mtime: 0,
    linkname: "",
    devmajor: 0,
    devminor: 0,
  };
}

function outHeader(emit: Emit): TarEntry {
  const h = emit.node.type === "directory" ? emit.node.header : emit.node.inode!.header;
  const base = {
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    mtime: h.mtime,
    mtimeNs: h.mtimeNs,
    devmajor: h.devmajor,
    devminor: h.devminor,
    xattrs: h.xattrs,
  };
  if (emit.linkTo !== undefined) {
    return { ...base, path: emit.path, type: "link", size: 0, linkname: emit.linkTo };
  }
  const type = emit.node.type;
  return {
    ...base,
    path: type === "directory" ? `${emit.path}/` : emit.path,
    type,
    size: type === "file" ? h.size : 0,
    linkname: type === "symlink" ? h.linkname : "",
  };
}
