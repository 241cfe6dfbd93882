// A problem with an archive's content: `load` reports it as `Cannot load <archive>: <message>`.

/** What is wrong with the archive (a message without "Cannot load ..."). */
export class ArchiveProblem extends Error {}

/** An untrusted string, quoted, control characters escaped, at most 200 characters. */
export function show(value: string): string {
  const s = value.length > 200 ? value.slice(0, 197) + "..." : value;
  return JSON.stringify(s);
}
