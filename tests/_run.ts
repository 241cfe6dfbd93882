// Runs the test suite (`deno test -A --doc --parallel`, plus any arguments given) with TMPDIR
// pointing at a directory of its own, so that everything a run makes in a temporary directory,
// its own or that of skopeo, umoci or the registry, lands in one place. After the run that place
// must be empty: whatever is left is listed, the run fails, and the directory is removed either
// way, so the machine is left as it was found.

const base = Deno.env.get("TMPDIR") ?? "/tmp";
const runDir = await Deno.makeTempDir({ dir: base, prefix: "skiff-test-run-" });
let code = 1;
try {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--doc", "--parallel", ...Deno.args],
    env: { TMPDIR: runDir },
    stdin: "null",
  }).spawn();
  const forward = (signal: Deno.Signal) => () => child.kill(signal);
  const onInt = forward("SIGINT");
  const onTerm = forward("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  code = (await child.status).code;
  Deno.removeSignalListener("SIGINT", onInt);
  Deno.removeSignalListener("SIGTERM", onTerm);

  const left: string[] = [];
  for await (const entry of Deno.readDir(runDir)) left.push(entry.name);
  if (left.length > 0) {
    console.error(
      `tests left ${left.length} entries in the temporary directory: ${left.sort().join(" ")}`,
    );
    if (code === 0) code = 1;
  }
} finally {
  try {
    await Deno.remove(runDir, { recursive: true });
  } catch (e) {
    console.error(`cannot remove ${runDir}: ${(e as Error).message}`);
    if (code === 0) code = 1;
  }
}
Deno.exit(code);
