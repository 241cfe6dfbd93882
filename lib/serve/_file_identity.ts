// What tells a file from another, or from itself changed since: `skiff serve` remembers what it
// read by it (index.json's reading, a blob file's verdict).

/**
 * A file's identity: device, inode, size, and modification and change times. A file replaced
 * (another inode) or written (its change time moves, whatever the writer does with its
 * modification time) has another.
 *
 * @param info The file's `stat` (of an open file: the identity of what is read).
 * @returns The identity, as a string to compare.
 */
export function fileIdentity(info: Deno.FileInfo): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mtime?.getTime()}:${info.ctime?.getTime()}`;
}
