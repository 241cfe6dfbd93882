// The warm re-pull is start-up time: the CLI loads no `node:` module before it knows a blob is
// missing (the first `node:crypto` import costs 7-17 ms, a third of a warm re-pull). The hash
// lives behind dynamic imports (lib/image/_ingest_blob.ts, DigestVerifyStream in copy_image.ts);
// a static import anywhere in the CLI's module graph would load it on every start.

import { assertEquals } from "../_assert.ts";

interface InfoModule {
  specifier: string;
  dependencies?: {
    specifier: string;
    isDynamic?: boolean;
    code?: { specifier: string };
  }[];
}

/** The modules `root` loads at start-up (static imports only), and who imports each. */
async function staticGraph(root: string): Promise<Map<string, string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", root],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: InfoModule[];
  };
  const modules = new Map(info.modules.map((m) => [m.specifier, m]));
  const parent = new Map<string, string>([[info.roots[0]!, ""]]);
  const queue = [info.roots[0]!];
  while (queue.length > 0) {
    const at = queue.shift()!;
    for (const dep of modules.get(at)?.dependencies ?? []) {
      const to = dep.code?.specifier;
      if (dep.isDynamic || to === undefined || parent.has(to)) continue;
      parent.set(to, at);
      queue.push(to);
    }
  }
  return parent;
}

Deno.test("warm path: the CLI imports no node: module statically (the hash loads on demand)", async () => {
  const root = new URL("../../cli.ts", import.meta.url).href;
  const graph = await staticGraph(root);
  const chains: string[] = [];
  for (const specifier of graph.keys()) {
    if (!specifier.startsWith("node:")) continue;
    const chain = [specifier];
    for (let at = graph.get(specifier); at; at = graph.get(at)) {
      chain.push(at.replace(/^.*\/(lib|cli\.ts)/, "$1"));
    }
    chains.push(chain.join(" <- "));
  }
  assertEquals(chains, []);
  // the pull's blob path is in the graph only as a dynamic import
  assertEquals([...graph.keys()].filter((s) => s.endsWith("/_ingest_blob.ts")), []);
});
