/**
 * The flattened root filesystem as one tar stream (`docker export`, `crane export`): the layers
 * applied to a {@linkcode LayerTree}, whiteouts and all, and the entries that survive written out
 * with the image's owners, modes, times, links, devices and xattrs.
 *
 * @module
 */

import { applyLayer } from "../layer/apply_layer.ts";
import { type LayerHandler, type LayerNode, LayerTree } from "../layer/layer_tree.ts";
import { TarReader } from "../tar/tar_reader.ts";
import { type TarEntry, TarWriter } from "../tar/tar_writer.ts";
import type { ApplyLayerOptions, SinkImage, UnpackSink } from "./sink.ts";

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

const OUT_BUFFER = 1024 * 1024;

/** A name a hardlink entry gave a node: where that entry is, whose turn in the output it takes. */
interface LinkName {
  path: string;
  layer: number;
  entry: number;
}

/** What the export attaches to a node: the names hardlink entries gave it, in order. */
type Node = LayerNode<LinkName[]>;

/** One entry of the output, at its place in the layers. */
interface Emit {
  node: Node;
  path: string;
  /** This entry's body is the node's content. */
  content: boolean;
  /** A hardlink to this path. */
  linkTo?: string;
  /** The order its name was made in (the node's own name first): ties at one place. */
  order: number;
}

/**
 * A sink that writes the image's flattened root filesystem as one tar.
 *
 * Two passes: while the layers are applied, only their headers are kept, in a
 * {@linkcode LayerTree} (the rules every sink follows: whiteouts, opaque directories, entries
 * replacing entries, parents resolved through the image's own symlinks inside the root); at
 * `finish()`, each layer that still has entries in the tree is read again (verified, from the
 * store) and those entries are written in layer order, each at its final path and at the place of
 * the entry that made it (a node's `layer` and `entry`), and then the directories (parents
 * first): GNU tar sets a directory's time once it has moved past it, so a directory written
 * before the files of a later layer would get the time of extraction. A file whose path was
 * removed while a hardlink to it survived is written under the hardlink's name. Parents no layer
 * made are written as directories 0755 owned by 0:0 at time 0. The output needs no root to make
 * and is the same bytes for the same image.
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
  #signal: AbortSignal | undefined;
  #tree: LayerTree<LinkName[]>;
  /** The first pass keeps what only the export needs: the size of the files, the link names. */
  #handler: LayerHandler<LinkName[]> = {
    create: (_path, node) => {
      if (node.type === "file") this.bytes += node.size;
    },
    link: (path, node) => {
      (node.data ??= []).push({ path, layer: this.#tree.layer, entry: this.#tree.entry });
    },
  };

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
    this.#signal = options.signal;
    this.#tree = new LayerTree({ maxEntries: options.maxEntries ?? image.maxEntries });
  }

  /** Tar entries read (first pass), whiteouts included. */
  get entries(): number {
    return this.#tree.entries;
  }

  /** Whiteouts applied. */
  get whiteouts(): number {
    return this.#tree.whiteouts;
  }

  /**
   * Applies one layer's headers to the tree (the content is read again by `finish()`).
   *
   * @param tar The layer's uncompressed tar.
   * @param options Abort signal.
   * @returns Resolves once the layer was read.
   */
  async applyLayer(tar: AsyncIterable<Uint8Array>, options: ApplyLayerOptions = {}): Promise<void> {
    await applyLayer(tar, this.#tree, this.#handler, options);
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
    for (let layer = 0; layer <= this.#tree.layer; layer++) {
      const at = plan.get(layer);
      if (!at) continue; // nothing of it survived: not read again
      const reader = new TarReader();
      let entry = 0;
      let body = false;
      for await (const chunk of this.#image.rereadLayer(layer, this.#signal)) {
        this.#signal?.throwIfAborted();
        if (reader.done) continue;
        for (const event of reader.push(chunk)) {
          if (event.kind === "entry") {
            body = false;
            for (const emit of at.get(entry) ?? []) {
              await out.header(outEntry(emit));
              if (emit.content && emit.node.type === "file") body = true;
            }
            entry++;
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
    for (const emit of dirs) await out.header(outEntry(emit));
    await out.end();
  }

  /** Nothing to remove: the caller discards what was written. */
  abort(): void {}

  /**
   * The surviving nodes by layer and entry, in order: a file's content under its first name
   * still in the tree (its own, else the first hardlink's), at its own entry; its other names as
   * hardlinks to that one, at the entries that made them; the directories in tree order.
   */
  #plan(): { plan: Map<number, Map<number, Emit[]>>; dirs: Emit[] } {
    const plan = new Map<number, Map<number, Emit[]>>();
    const add = (layer: number, entry: number, emit: Emit) => {
      let at = plan.get(layer);
      if (!at) plan.set(layer, at = new Map());
      let list = at.get(entry);
      if (!list) at.set(entry, list = []);
      list.push(emit);
    };
    const names = new Map<Node, string[]>();
    const dirs: Emit[] = [];
    const walk = (dir: Node, prefix: string) => {
      for (const [name, child] of dir.children!) {
        const path = prefix === "" ? name : `${prefix}/${name}`;
        if (child.type === "directory") {
          dirs.push({ node: child, path, content: false, order: 0 });
          walk(child, path);
        } else {
          const list = names.get(child);
          if (list) list.push(path);
          else names.set(child, [path]);
        }
      }
    };
    walk(this.#tree.root, "");
    for (const [node, paths] of names) {
      const links = node.data ?? [];
      // each name's hardlink entry (-1: the node's own name), the last one given that path
      const reached = paths.map((path) => ({
        path,
        link: links.findLastIndex((l) => l.path === path),
      }))
        .sort((a, b) => a.link - b.link);
      const carrier = reached[0]!;
      add(node.layer, node.entry, { node, path: carrier.path, content: true, order: carrier.link });
      for (const { path, link } of reached.slice(1)) {
        const at = link === -1 ? node : links[link]!;
        add(at.layer, at.entry, { node, path, content: false, linkTo: carrier.path, order: link });
      }
    }
    for (const at of plan.values()) {
      for (const list of at.values()) {
        // the one entry that takes the body last
        list.sort((a, b) => Number(a.content) - Number(b.content) || a.order - b.order);
      }
    }
    return { plan, dirs };
  }
}

function outEntry(emit: Emit): TarEntry {
  const node = emit.node;
  const base = {
    mode: node.mode,
    uid: node.uid,
    gid: node.gid,
    mtime: node.mtime,
    mtimeNs: node.mtimeNs,
    devmajor: node.devmajor,
    devminor: node.devminor,
    xattrs: node.xattrs,
  };
  if (emit.linkTo !== undefined) {
    return { ...base, path: emit.path, type: "link", size: 0, linkname: emit.linkTo };
  }
  const type = node.type;
  return {
    ...base,
    path: type === "directory" ? `${emit.path}/` : emit.path,
    type,
    size: type === "file" ? node.size : 0,
    linkname: type === "symlink" ? node.target! : "",
  };
}
