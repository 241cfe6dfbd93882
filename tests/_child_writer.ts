// A writer in a child process that makes something (a locked temporary, through the module) and
// prints its path, then either dies by SIGKILL, as a kill -9 leaves it (`kill`), or lives, holding
// its locks, until stopped (`hold`).

/** Runs `code` (module code that prints one line: a path) in a child `deno eval`. */
export async function childWriter(
  code: string,
  mode: "kill" | "hold",
): Promise<{ path: string; stop(): Promise<void> }> {
  const tail = mode === "kill"
    ? 'Deno.kill(Deno.pid, "SIGKILL");'
    : "setInterval(() => {}, 60_000);";
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", `${code}\n${tail}`],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  if (mode === "kill") await child.status;
  return {
    path: text.trim(),
    async stop() {
      if (mode === "hold") child.kill("SIGKILL");
      await child.status;
      await child.stdout.cancel().catch(() => {});
    },
  };
}
