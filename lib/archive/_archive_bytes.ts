// An archive's bytes in chunks, whatever holds them (a file, a stream) and however the whole is
// compressed (gzip, zstd, or not).

import { ArchiveProblem } from "./_archive_problem.ts";

const READ_SIZE = 1024 * 1024;

/** The archive's bytes in chunks: a file read 1 MiB at a time, or a stream; gzip or zstd
 * compression of the whole archive is undone. When the consumer stops early (the archive's end
 * blocks came, or it failed), a stream is cancelled, before the decompressor is stopped (which
 * waits for its input): so a stream that stalls after the end holds nothing up. */
export async function* archiveBytes(
  input: string | ReadableStream<Uint8Array>,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  let file: Deno.FsFile | undefined;
  let stream: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let next: () => Promise<Uint8Array | undefined>;
  if (typeof input === "string") {
    try {
      file = await Deno.open(input, { read: true });
    } catch (e) {
      throw new ArchiveProblem((e as Error).message);
    }
    const f = file;
    const buffer = new Uint8Array(READ_SIZE);
    next = async () => {
      const n = await f.read(buffer);
      return n === null ? undefined : buffer.subarray(0, n);
    };
  } else {
    const reader = input.getReader();
    stream = reader;
    next = async () => {
      const r = await reader.read();
      return r.done ? undefined : r.value;
    };
  }
  let decompressed: AsyncIterator<Uint8Array> | undefined;
  try {
    const head = await next();
    if (head === undefined) return;
    const compression = compressionOf(head);
    const rest = async function* () {
      yield head;
      for (let chunk = await next(); chunk !== undefined; chunk = await next()) yield chunk;
    };
    if (compression === "none") {
      for await (const chunk of rest()) {
        signal?.throwIfAborted();
        yield chunk;
      }
      return;
    }
    const { decompress } = await import("../stream/decompress.ts");
    // a file buffer is reused: the decompressor gets copies
    const copied = async function* () {
      for await (const chunk of rest()) yield file ? chunk.slice() : chunk;
    };
    decompressed = decompress(copied(), compression)[Symbol.asyncIterator]();
    for (let r = await decompressed.next(); !r.done; r = await decompressed.next()) {
      signal?.throwIfAborted();
      yield r.value;
    }
  } finally {
    // what follows is not read: the stream's producer sees it closed
    await stream?.cancel().catch(() => {});
    await decompressed?.return?.();
    file?.close();
  }
}

/** gzip, zstd or plain, from the first bytes. */
export function compressionOf(head: Uint8Array): "none" | "gzip" | "zstd" {
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  return "none";
}
