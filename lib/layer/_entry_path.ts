// The lexical half of the path guard: an entry's name (or a hardlink's target) as components
// relative to the root. The other half, symlinks met on the way, is RootfsWriter's resolveDir.

/**
 * Splits a tar path into components under the root: leading `/` and `./` are dropped (absolute
 * names are taken as relative to the root, as every container runtime does), `.` is skipped and
 * `..` removes the previous component.
 *
 * @returns The components; an empty list is the root itself.
 * @throws {Error} When `..` would climb above the root.
 */
export function entryPath(name: string): string[] {
  const out: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length === 0) throw new Error(`"${name}" climbs out of the root with ".."`);
      out.pop();
      continue;
    }
    out.push(part);
  }
  return out;
}
