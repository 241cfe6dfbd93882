// One continuous stream of a source's blob, reopened at the offset reached when the source's
// connection breaks (a registry answers that with a Range request).

import type { Descriptor } from "../oci/parse_manifest.ts";
import { DigestMismatchError, SizeMismatchError } from "../reference/digest_mismatch_error.ts";
import type { DigestVerifier } from "../stream/digest_verifier.ts";
import type { ImageSource } from "./image_source.ts";

/** How many times a broken source stream is reopened for one blob. */
export const SOURCE_RESUMES = 5;

/**
 * Reads `descriptor` from `source` as one stream; when a read fails (not an abort), the blob is
 * opened again from the bytes delivered so far, at most `resumes` times. `onResume` is told the
 * offset each time. Never more than `descriptor.size` bytes are passed on by the reopened streams
 * beyond what the verifier downstream would refuse anyway.
 *
 * With a `verifier`, the bytes are checked here, in the same stream (one stage less than a
 * `DigestVerifyStream` behind it, for every piece of every blob): a piece that would pass the
 * size errors the stream and is not passed on, and the stream ends normally only when the
 * digest and size matched; otherwise it errors instead of closing.
 */
export function resumableBlob(
  source: ImageSource,
  descriptor: Descriptor,
  signal: AbortSignal | undefined,
  onResume?: (offset: number, reason: string) => void,
  resumes = SOURCE_RESUMES,
  verifier?: DigestVerifier,
): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let delivered = 0;
  let left = resumes;
  const open = async () => {
    const stream = await source.blob(descriptor, {
      offset: delivered,
      ...(signal ? { signal } : {}),
    });
    reader = stream.getReader();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        try {
          if (!reader) await open();
          const { done, value } = await reader!.read();
          if (done) {
            verifier?.verify();
            controller.close();
            return;
          }
          verifier?.update(value);
          delivered += value.byteLength;
          controller.enqueue(value);
          return;
        } catch (error) {
          reader?.cancel().catch(() => {});
          reader = undefined;
          if (isMismatch(error) || signal?.aborted || left <= 0 || !isBreak(error)) throw error;
          left--;
          onResume?.(delivered, (error as Error).message);
        }
      }
    },
    async cancel(reason) {
      await reader?.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/** The verifier's refusal: the content is wrong, reading it again would not help. */
function isMismatch(error: unknown): boolean {
  return error instanceof DigestMismatchError || error instanceof SizeMismatchError;
}

/** A broken connection (worth reopening), as opposed to an answer (a 404, a bad range). */
function isBreak(error: unknown): boolean {
  if (error instanceof TypeError) return true;
  if (!(error instanceof Error)) return false;
  return error.name === "ConnectionReset" || error.name === "Interrupted" ||
    error.name === "UnexpectedEof" || /connection|body|reset|closed/i.test(error.message) &&
      !/^Cannot /.test(error.message);
}
