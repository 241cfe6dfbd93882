/**
 * `applyLayer()`: one layer's tar into a {@linkcode LayerTree}, its file content to the handler.
 *
 * @module
 */

import { type TarHeader, TarReader } from "../tar/tar_reader.ts";
import type { LayerHandler, LayerNode, LayerTree } from "./layer_tree.ts";

/** Options for {@linkcode applyLayer}. */
export interface ApplyLayerOptions {
  /** Stops between chunks; what the handler made stays for its owner to remove. */
  signal?: AbortSignal;
}

/**
 * Reads one layer's tar (uncompressed) and applies it on top of the tree: each entry's header to
 * {@linkcode LayerTree.apply} (which tells the handler what it decides), and the content of each
 * file the tree made to the handler's `content` and `contentEnd`, in order, as it streams. A body
 * of an entry that made no file (a whiteout's, say) is read past. What follows the two end blocks
 * is not parsed (the caller hashes it).
 *
 * @param tar The tar bytes, in chunks.
 * @param tree The tree (the layer becomes its next one).
 * @param handler Told every decision, and given the files' content.
 * @param options Abort signal.
 * @returns Resolves once the layer is applied.
 * @throws {Error} `entry "PATH": ...` when an entry is hostile or impossible, a limit is passed,
 * or the handler fails; `Cannot read tar: ...` when the tar is malformed or truncated.
 *
 * @example Collect a layer's files and their content
 * ```ts
 * import { applyLayer } from "./apply_layer.ts";
 * import { LayerTree } from "./layer_tree.ts";
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
 * const tree = new LayerTree<string>();
 * await applyLayer((async function* () {
 *   yield header;
 *   yield body;
 * })(), tree, {
 *   content: (chunk, node) => void (node.data = (node.data ?? "") + new TextDecoder().decode(chunk)),
 * });
 * assert.equal(tree.find("hello")?.data, "hi");
 * ```
 */
export async function applyLayer<D>(
  tar: AsyncIterable<Uint8Array>,
  tree: LayerTree<D>,
  handler: LayerHandler<D> = {},
  options: ApplyLayerOptions = {},
): Promise<void> {
  const signal = options.signal;
  const reader = new TarReader();
  tree.beginLayer();
  let current: TarHeader | undefined;
  /** The file whose content is being read, when the entry made one. */
  let file: LayerNode<D> | undefined;
  for await (const chunk of tar) {
    signal?.throwIfAborted();
    if (reader.done) continue; // what follows the end blocks is hashed by the caller, not parsed
    for (const event of reader.push(chunk)) {
      try {
        if (event.kind === "data") {
          if (!file) continue;
          const pending = handler.content?.(event.bytes, file);
          if (pending) await pending;
        } else if (event.kind === "entry") {
          current = event.header;
          const decision = tree.apply(event.header, handler);
          file = (decision.kind === "create" || decision.kind === "replace") &&
              decision.node?.type === "file"
            ? decision.node
            : undefined;
        } else if (file) {
          const done = file;
          file = undefined;
          handler.contentEnd?.(done);
        }
      } catch (e) {
        throw new Error(`entry "${current?.path ?? "?"}": ${(e as Error).message}`, { cause: e });
      }
    }
  }
  reader.end();
}
