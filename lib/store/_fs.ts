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
