// Small file-system helpers shared by the store: atomic writes and "exists" checks.

import { createTempFile } from "./_temp_files.ts";

/**
 * Writes a file atomically: the bytes go to a temporary file `tmp-<uuid>` in `tempDir` (same file
 * system, locked while it is written, so that gc removes it only once its writer is dead), which
 * is then renamed over `path`. Readers see the old file or the new one, never a mix.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  tempDir: string,
): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const name = `tmp-${crypto.randomUUID()}`;
  const temp = `${tempDir}/${name}`;
  using file = await createTempFile(tempDir, name);
  try {
    await writeAll(file, bytes);
    await file.syncData();
    await Deno.rename(temp, path);
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw e;
  }
}

/** The size of a file, or `undefined` when it does not exist. */
export async function fileSize(path: string): Promise<number | undefined> {
  try {
    const info = await Deno.stat(path);
    return info.isFile ? info.size : undefined;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/**
 * Hashes a file as it is read, 1 MiB at a time (any size; `node:crypto` loaded on first use):
 * its hex digest and size, or `undefined` when it does not exist.
 */
export async function hashFile(
  path: string,
  algorithm: string,
  signal?: AbortSignal,
): Promise<{ hex: string; size: number } | undefined> {
  const { createHash } = await import("node:crypto");
  const hash = createHash(algorithm);
  const buffer = new Uint8Array(1024 * 1024);
  let size = 0;
  try {
    using file = await Deno.open(path);
    for (;;) {
      signal?.throwIfAborted();
      const n = await file.read(buffer);
      if (n === null) break;
      hash.update(buffer.subarray(0, n));
      size += n;
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  return { hex: hash.digest("hex"), size };
}

/** Writes all of `bytes` to `file`, looping over short writes. */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.byteLength) {
    at += await file.write(at === 0 ? bytes : bytes.subarray(at));
  }
}

/** A write refused because the store is read-only (a read-only mount, or no write permission). */
export function isReadOnlyError(e: unknown): boolean {
  return e instanceof Deno.errors.PermissionDenied ||
    (e instanceof Error &&
      ["EROFS", "EACCES", "EPERM"].includes((e as { code?: string }).code ?? ""));
}

/** The store path must be a directory (or not exist yet). */
export async function refuseNonDirectory(dir: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    if ((e as { code?: string }).code === "ENOTDIR") {
      throw new Error(`Cannot open store ${dir}: a part of the path is a file`, { cause: e });
    }
    throw new Error(`Cannot open store ${dir}: ${(e as Error).message}`, { cause: e });
  }
  if (!info.isDirectory) {
    throw new Error(`Cannot open store ${dir}: it is a file, not a directory`);
  }
}
