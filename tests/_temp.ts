// Temporary directories that do not outlive the test module that made them: `tempDir()` is
// `Deno.makeTempDir()` plus a promise to remove the directory when the module's tests are over
// (the `unload` event, which `deno test` fires for every module, passed or failed). Tests that
// finish with a directory early remove it themselves; this is the net under them.
//
// `deno task test` runs the suite with TMPDIR pointing at a directory of its own and fails when
// anything is left in it (tests/_run.ts), so a leak is found, not only swept away.

const made = new Set<string>();
let listening = false;

function removeAll(): void {
  for (const path of made) {
    try {
      Deno.removeSync(path, { recursive: true });
    } catch {
      // already gone, or a mount point still busy: the run's check reports what stays
    }
  }
  made.clear();
}

/** `Deno.makeTempDir(options)`, removed (with everything in it) when the test module ends. */
export async function tempDir(options: Deno.MakeTempOptions = {}): Promise<string> {
  const path = await Deno.makeTempDir({ prefix: "skiff-test-", ...options });
  made.add(path);
  if (!listening) {
    listening = true;
    globalThis.addEventListener("unload", removeAll);
  }
  return path;
}

/** The same, synchronously. */
export function tempDirSync(options: Deno.MakeTempOptions = {}): string {
  const path = Deno.makeTempDirSync({ prefix: "skiff-test-", ...options });
  made.add(path);
  if (!listening) {
    listening = true;
    globalThis.addEventListener("unload", removeAll);
  }
  return path;
}

/** The names in a directory, sorted. */
export async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}
