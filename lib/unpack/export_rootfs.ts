/**
 * `exportRootfs()`: an image's flattened root filesystem as one tar stream, through the unpack
 * pipeline and a {@linkcode TarSink}.
 *
 * @module
 */

import type { Reference } from "../reference/parse_reference.ts";
import type { ImageId } from "../store/resolve_stored_image.ts";
import { TarSink } from "./tar_sink.ts";
import { unpackImage, type UnpackImageOptions, type UnpackImageResult } from "./unpack_image.ts";

/** Options for {@linkcode exportRootfs}: those of the unpack pipeline. */
export type ExportRootfsOptions = UnpackImageOptions;

/** What {@linkcode exportRootfs} returns. */
export interface ExportedRootfs {
  /** The tar; it errors with the export's error, and cancelling it stops the export. */
  readable: ReadableStream<Uint8Array>;
  /** Settles when the export ends: what was exported, or why it failed. */
  result: Promise<UnpackImageResult>;
}

/**
 * Exports an image's root filesystem as one tar, as `docker export` or `crane export` do: the
 * layers applied in order, whiteouts and all, and what survives written with the image's owners,
 * modes, times, links, device numbers and xattrs (pax), whoever runs it; nothing is written to
 * disk but the store. The image comes from the store, or is pulled while it is read (see
 * `unpackImage()`). The same image gives the same bytes.
 *
 * The tar is complete only when `result` resolves: on a failure (a digest mismatch, a hostile
 * layer) the stream errors, so whoever writes it to a file must keep what it wrote aside until
 * then.
 *
 * @param reference The image.
 * @param options Store, platform, pull policy and options, limits, progress and signal.
 * @returns The tar stream and the result.
 * @throws {SyntaxError} When the reference is malformed (through `result` and the stream).
 *
 * @example Export an image to a file
 * ```ts ignore
 * import { exportRootfs } from "./export_rootfs.ts";
 *
 * const { readable, result } = exportRootfs("alpine:3.20", { store: "./images" });
 * await Deno.writeFile("alpine.tar.part", readable);
 * console.log((await result).entries);
 * await Deno.rename("alpine.tar.part", "alpine.tar");
 * ```
 */
export function exportRootfs(
  reference: string | Reference | ImageId,
  options: ExportRootfsOptions = {},
): ExportedRootfs {
  const cancelled = new AbortController();
  const signal = options.signal
    ? AbortSignal.any([options.signal, cancelled.signal])
    : cancelled.signal;
  const stream = new TransformStream<Uint8Array, Uint8Array>(
    undefined,
    { highWaterMark: 8 },
    { highWaterMark: 0 },
  );
  const writer = stream.writable.getWriter();
  const write = async (chunk: Uint8Array) => {
    await writer.ready;
    signal.throwIfAborted();
    writer.write(chunk).catch(() => {}); // a failure shows in writer.ready
  };
  const result = (async () => {
    try {
      const r = await unpackImage(
        reference,
        (image) => new TarSink(image, write, { signal }),
        { ...options, signal },
      );
      await writer.close();
      return r;
    } catch (e) {
      // the pipeline words its errors for an unpack; this is an export
      const error = e instanceof Error && e.constructor === Error &&
          e.message.startsWith("Cannot unpack ")
        ? new Error(`Cannot export ${e.message.slice("Cannot unpack ".length)}`, { cause: e })
        : e;
      await writer.abort(error).catch(() => {});
      throw error;
    }
  })();
  result.catch(() => {}); // reported through the stream and to whoever awaits it
  // cancelling the tar stops the export
  const readable = withCancel(
    stream.readable,
    () => cancelled.abort(new Error("Cannot export: the tar stream was cancelled")),
  );
  return { readable, result };
}

function withCancel(
  readable: ReadableStream<Uint8Array>,
  onCancel: () => void,
): ReadableStream<Uint8Array> {
  const reader = readable.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel(reason) {
      onCancel();
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
