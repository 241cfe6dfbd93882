// `deno task bench --serve`: `skopeo copy` of the 4 x 128 MiB image from `skiff serve` (the store
// a skiff pull filled) against the same copy from the Distribution registry that holds it, one
// client and four at once. Each round starts a fresh `skiff serve`, so its first copy pays the
// verification of every blob (each file hashed whole before its first byte); the copies after it
// are served from files already verified. The tools take turns going first.

export interface ServeSample {
  wall: number;
  rss: number;
}

export type Measure = (cmd: string[]) => Promise<ServeSample>;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A `skiff serve` of `store` on a free loopback port; its address, pid and stop. */
async function startServe(cli: string, store: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", cli, "serve", "--quiet", "--json", "--addr", "127.0.0.1:0"],
    env: { SKIFF_STORE: store },
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("skiff serve exited before it listened");
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  const { port } = JSON.parse(out.slice(0, out.indexOf("\n"))) as { port: number };
  return {
    host: `127.0.0.1:${port}`,
    peakRssMiB: async () => {
      const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
      return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
    },
    stop: async () => {
      child.kill("SIGTERM");
      const { code } = await child.status;
      if (code !== 0) throw new Error(`skiff serve exited with ${code}`);
    },
  };
}

/** Runs the rounds and prints the table; returns the summary for .bench/last-serve.json. */
export async function benchServe(
  registryHost: string,
  repo: string,
  bytes: number,
  store: string,
  work: string,
  rounds: number,
  cli: string,
  measure: Measure,
): Promise<Record<string, unknown>> {
  const copy = (host: string, out: string) => [
    "skopeo",
    "copy",
    "-q",
    "--src-tls-verify=false",
    `docker://${host}/${repo}:1`,
    `oci:${out}:x`,
  ];
  const four = (host: string, out: string) => [
    "bash",
    "-euc",
    [1, 2, 3, 4].map((i) => `${copy(host, `${out}-${i}`).join(" ")} & p${i}=$!;`).join(" ") +
    " wait $p1; wait $p2; wait $p3; wait $p4",
  ];
  const samples: Record<string, ServeSample[]> = {
    "registry": [],
    "serve, first": [],
    "serve": [],
    "registry x4": [],
    "serve x4": [],
  };
  const peaks: number[] = [];
  const clean = async () => {
    for await (const e of Deno.readDir(work)) {
      await Deno.remove(`${work}/${e.name}`, { recursive: true });
    }
  };
  for (let round = 0; round < rounds; round++) {
    const server = await startServe(cli, store);
    try {
      const one: [string, () => Promise<ServeSample>][] = [
        ["registry", () => measure(copy(registryHost, `${work}/r`))],
        ["serve, first", () => measure(copy(server.host, `${work}/s`))],
      ];
      // the fresh server's first copy verifies; alternate whether the registry goes before it
      for (const [name, run] of round % 2 === 0 ? one : [...one].reverse()) {
        samples[name]!.push(await run());
        await clean();
      }
      const rest: [string, string[]][] = [
        ["serve", copy(server.host, `${work}/s`)],
        ["registry x4", four(registryHost, `${work}/r`)],
        ["serve x4", four(server.host, `${work}/s`)],
      ];
      const order = round % 2 === 0 ? rest : [rest[1]!, rest[2]!, rest[0]!];
      for (const [name, cmd] of order) {
        samples[name]!.push(await measure(cmd));
        await clean();
      }
      peaks.push(await server.peakRssMiB());
    } finally {
      await server.stop();
    }
    const last = (name: string) => samples[name]!.at(-1)!.wall.toFixed(2);
    console.error(
      `bench: serve round ${round + 1}: one client: registry ${last("registry")} s, serve ${
        last("serve")
      } s (first ${last("serve, first")} s); four: registry ${last("registry x4")} s, serve ${
        last("serve x4")
      } s`,
    );
  }
  const med = (name: string) => median(samples[name]!.map((s) => s.wall));
  const mib = bytes / 1024 ** 2;
  const summary = {
    repository: repo,
    bytes,
    rounds,
    seconds: Object.fromEntries(Object.keys(samples).map((k) => [k, med(k)])),
    servePeakRssMiB: Math.max(...peaks),
    samples,
  };
  const f = (x: number) => x.toFixed(2);
  const rows = [
    ["skopeo copy from", "registry", "skiff serve", "serve/registry", "target"],
    [
      `one client (${mib.toFixed(0)} MiB)`,
      `${f(med("registry"))} s`,
      `${f(med("serve"))} s`,
      f(med("serve") / med("registry")),
      "<= 1.0",
    ],
    [
      "one client, first (verifies)",
      `${f(med("registry"))} s`,
      `${f(med("serve, first"))} s`,
      f(med("serve, first") / med("registry")),
      "",
    ],
    [
      `four clients at once (${(4 * mib).toFixed(0)} MiB)`,
      `${f(med("registry x4"))} s`,
      `${f(med("serve x4"))} s`,
      f(med("serve x4") / med("registry x4")),
      "<= 1.0",
    ],
    ["skiff serve peak RSS", "", `${summary.servePeakRssMiB.toFixed(0)} MiB`, "", ""],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join("  "));
  return summary;
}
