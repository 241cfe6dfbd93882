// Runs the test suite (`deno test -A --doc --parallel`, plus any arguments given) with TMPDIR
// pointing at a directory of its own, so that everything a run makes in a temporary directory,
// its own or that of skopeo, umoci or the registry, lands in one place. After the run that place
// must be empty: whatever is left is listed, the run fails, and the directory is removed either
// way, so the machine is left as it was found.

const base = Deno.env.get("TMPDIR") ?? "/tmp";
const runDir = await Deno.makeTempDir({ dir: base, prefix: "skiff-test-run-" });
// traversable by the unprivileged user some tests run skiff as (every test's own directory
// inside is 0700 unless the test opens it up)
await Deno.chmod(runDir, 0o755);
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
  // a suite that hangs must not hold CI until its limit: after SUITE_MINUTES it is stopped, and
  // the run fails saying so (the suite takes about 3 minutes on the 2-core machines)
  const SUITE_MINUTES = Number(Deno.env.get("SKIFF_TEST_MINUTES") ?? "40");
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    console.error(`tests did not finish in ${SUITE_MINUTES} minutes: stopping them`);
    child.kill("SIGKILL");
  }, SUITE_MINUTES * 60_000);
  code = (await child.status).code;
  clearTimeout(timer);
  if (timedOut) code = 1;
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
