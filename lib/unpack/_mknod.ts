// mknod(2) through libc, for fifos and device nodes: neither Deno nor node:fs can make them.
// Loaded on the first fifo or device of an unpack (it needs --allow-ffi, which -A includes).

const S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

const ERRNO: Record<number, string> = {
  1: "EPERM: operation not permitted",
  2: "ENOENT: no such file or directory",
  13: "EACCES: permission denied",
  17: "EEXIST: file exists",
  28: "ENOSPC: no space left on device",
  30: "EROFS: read-only file system",
};

const symbols = {
  mknod: { parameters: ["buffer", "u32", "u64"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

let libc: Deno.DynamicLibrary<typeof symbols> | undefined;

function open(): Deno.DynamicLibrary<typeof symbols> {
  if (libc) return libc;
  try {
    libc = Deno.dlopen("libc.so.6", symbols);
  } catch (e) {
    throw new Error(
      `Cannot make fifos or device nodes: libc's mknod is not reachable (${
        (e as Error).message
      }); ` +
        `run with --allow-ffi (included in -A)`,
    );
  }
  return libc;
}

/** The kernel's dev_t of a major and minor number (glibc's `makedev`). */
function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) |
    (mi & 0xffn);
}

/**
 * Makes a fifo or a device node at `path` with permission bits `mode` (before the umask; the
 * caller sets the exact bits after).
 */
export function mknod(
  path: string,
  type: "fifo" | "char" | "block",
  mode: number,
  major = 0,
  minor = 0,
): void {
  const lib = open();
  const kind = type === "fifo" ? S_IFIFO : type === "char" ? S_IFCHR : S_IFBLK;
  const cPath = new TextEncoder().encode(`${path}\0`);
  const dev = type === "fifo" ? 0n : makedev(major, minor);
  const r = lib.symbols.mknod(cPath, kind | (mode & 0o7777), dev);
  if (r !== 0) {
    const pointer = lib.symbols.__errno_location();
    const errno = pointer ? new Deno.UnsafePointerView(pointer).getInt32() : 0;
    throw new Error(`mknod ${path}: ${ERRNO[errno] ?? `errno ${errno}`}`);
  }
}
