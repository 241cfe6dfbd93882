/**
 * How Linux file systems say what an inode is: the type bits of its mode (`S_IF*`), and the type
 * a directory entry carries (`FT_*` of `include/linux/fs_types.h`, which EROFS's `EROFS_FT_*` and
 * ext4's `EXT4_FT_*` are).
 *
 * @module
 */

import type { LayerNodeType } from "../layer/layer_tree.ts";

const MODE_TYPE: Record<LayerNodeType, number> = {
  file: 0o100000,
  directory: 0o040000,
  char: 0o020000,
  block: 0o060000,
  fifo: 0o010000,
  symlink: 0o120000,
};

const DIRENT_TYPE: Record<LayerNodeType, number> = {
  file: 1,
  directory: 2,
  char: 3,
  block: 4,
  fifo: 5,
  symlink: 7,
};

/**
 * The mode of an inode: the type bits and the permission bits (setuid, setgid, sticky included).
 *
 * @param type The node's type.
 * @param mode Its permission bits.
 * @returns `S_IF*` | `mode & 0o7777`.
 *
 * @example A setuid file
 * ```ts
 * import { inodeMode } from "./linux_file_type.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(inodeMode("file", 0o4755), 0o104755);
 * ```
 */
export function inodeMode(type: LayerNodeType, mode: number): number {
  return MODE_TYPE[type] | (mode & 0o7777);
}

/**
 * The file type a directory entry names its inode with.
 *
 * @param type The node's type.
 * @returns 1 (file) to 7 (symlink).
 *
 * @example A directory
 * ```ts
 * import { direntType } from "./linux_file_type.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(direntType("directory"), 2);
 * ```
 */
export function direntType(type: LayerNodeType): number {
  return DIRENT_TYPE[type];
}
