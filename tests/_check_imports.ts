// The import rule of docs/DESIGN.md ("Layers"), checked by `deno task check`: imports point down
// only. There is no cycle between two files, and none between two folders of lib/ (a folder
// belongs to one layer of LAYERS, and imports only layers below its own: lib/oci imports only
// lib/reference, lib/store never reaches lib/registry, and so on). A `_`-prefixed file is private
// to its folder of lib/ (subfolders included): nothing outside it imports it, mod.ts and cli.ts
// neither. The graph is Deno's own (`deno info --json`), so type-only and dynamic imports count.
//
//   deno run -A tests/_check_imports.ts [ROOT...]   (default: mod.ts, cli.ts, the unpack worker)

/**
 * The layers of lib/, lowest first. A folder imports only folders of lower layers: never one of
 * its own layer (lib/store and lib/registry know nothing of each other), never one above.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ["deno.json"],
  ["reference", "progress", "lib/version.ts"],
  ["oci"],
  ["tar"],
  ["stream", "transport"],
  ["verify"],
  ["image"],
  ["layer"],
  ["disk"],
  ["registry", "store"],
  ["serve"],
  ["pull"],
  ["unpack", "copy"],
  ["archive"],
  ["cli"],
  ["mod.ts", "cli.ts", "tests/_docs.ts"],
];

/** Every import between folders that does not point down, as "a -> b: file imports file". */
export function upwardImports(
  edges: [string, string][],
  layers: readonly (readonly string[])[] = LAYERS,
): string[] {
  const rank = new Map<string, number>();
  layers.forEach((names, i) => names.forEach((n) => rank.set(n, i)));
  const out: string[] = [];
  for (const [from, to] of edges) {
    const a = layerOf(from), b = layerOf(to);
    if (a === b) continue;
    const ra = rank.get(a), rb = rank.get(b);
    if (ra === undefined || rb === undefined) {
      out.push(`${ra === undefined ? a : b} is in no layer (${from} imports ${to})`);
    } else if (rb >= ra) {
      out.push(`${a} -> ${b}: ${from} imports ${to}`);
    }
  }
  return out;
}

/**
 * Every import of a private file (its name starts with `_`) from outside its folder of lib/, as
 * "file imports file, private to lib/folder/". The folder is the layer's (`lib/cli/commands/x.ts`
 * may import `lib/cli/_shared.ts`).
 */
export function privateImports(edges: [string, string][]): string[] {
  const out: string[] = [];
  for (const [from, to] of edges) {
    if (!/^lib\/.*\/_[^/]*$/.test(to)) continue;
    if (layerOf(from) === layerOf(to)) continue;
    out.push(`${from} imports ${to}, private to lib/${layerOf(to)}/`);
  }
  return out;
}

/** One edge list: module (or folder) -> what it imports. */
export type Graph = Map<string, Set<string>>;

/**
 * The strongly connected components of a graph with more than one member, or with an edge to
 * itself: each is a cycle (Tarjan's algorithm, iterative so a deep graph cannot overflow).
 */
export function findCycles(graph: Graph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const nodes = new Set<string>(graph.keys());
  for (const targets of graph.values()) for (const t of targets) nodes.add(t);
  for (const start of [...nodes].sort()) {
    if (index.has(start)) continue;
    const work: { node: string; edges: string[]; at: number }[] = [];
    const enter = (node: string) => {
      index.set(node, next);
      low.set(node, next);
      next++;
      stack.push(node);
      onStack.add(node);
      work.push({ node, edges: [...(graph.get(node) ?? [])].sort(), at: 0 });
    };
    enter(start);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      if (frame.at < frame.edges.length) {
        const to = frame.edges[frame.at++]!;
        if (!index.has(to)) enter(to);
        else if (onStack.has(to)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(to)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) !== index.get(frame.node)) continue;
      const members: string[] = [];
      for (;;) {
        const m = stack.pop()!;
        onStack.delete(m);
        members.push(m);
        if (m === frame.node) break;
      }
      if (members.length > 1 || graph.get(frame.node)?.has(frame.node)) {
        cycles.push(members.sort());
      }
    }
  }
  return cycles;
}

/** The folder of lib/ a project file belongs to ("oci" for lib/oci/x.ts), or its own name. */
export function layerOf(path: string): string {
  const m = /^lib\/([^/]+)\//.exec(path);
  return m ? m[1]! : path;
}

/** One path of edges inside a cycle, from `from` back to itself, for the message. */
function pathWithin(graph: Graph, members: Set<string>, from: string): string[] {
  const previous = new Map<string, string>();
  const queue = [from];
  while (queue.length > 0) {
    const node = queue.shift()!;
    for (const to of [...(graph.get(node) ?? [])].sort()) {
      if (!members.has(to)) continue;
      if (to === from) {
        const path = [from];
        for (let at = node; at !== from; at = previous.get(at)!) path.unshift(at);
        path.unshift(from);
        return path;
      }
      if (!previous.has(to)) {
        previous.set(to, node);
        queue.push(to);
      }
    }
  }
  return [from];
}

/** The import graph of the project's own files, from `deno info --json` of the roots. */
async function projectGraph(roots: string[]): Promise<{ files: Graph; edges: [string, string][] }> {
  const base = new URL("../", import.meta.url).href;
  const local = (s: string) => s.startsWith(base) ? s.slice(base.length) : undefined;
  const files: Graph = new Map();
  const edges: [string, string][] = [];
  for (const root of roots) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", root],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error(`Cannot read the import graph of ${root}: deno info failed`);
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: InfoModule[] };
    for (const m of info.modules) {
      const from = local(m.specifier);
      if (!from) continue;
      const targets = files.get(from) ?? new Set<string>();
      files.set(from, targets);
      for (const d of m.dependencies ?? []) {
        for (const s of [d.code?.specifier, d.type?.specifier]) {
          const to = s && local(s);
          if (!to || targets.has(to)) continue;
          targets.add(to);
          edges.push([from, to]);
        }
      }
    }
  }
  return { files, edges };
}

/** One module of `deno info --json`, as far as it is read here. */
interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
}

/** The folder graph: an edge between two folders for every import between their files. */
export function folderGraph(edges: [string, string][]): Graph {
  const folders: Graph = new Map();
  for (const [from, to] of edges) {
    const a = layerOf(from), b = layerOf(to);
    if (a === b) continue;
    const s = folders.get(a) ?? new Set<string>();
    s.add(b);
    folders.set(a, s);
  }
  return folders;
}

/** Every import that takes part in a folder cycle, as "a -> b (file -> file)" lines. */
function folderCycleLines(edges: [string, string][], cycle: string[]): string[] {
  const members = new Set(cycle);
  return edges.filter(([a, b]) =>
    members.has(layerOf(a)) && members.has(layerOf(b)) && layerOf(a) !== layerOf(b)
  ).map(([a, b]) => `    ${layerOf(a)} -> ${layerOf(b)}: ${a} imports ${b}`);
}

if (import.meta.main) {
  // the worker is started by URL (new Worker), so no import reaches it: it is a root of its own;
  // so are the verify layer's entry points until mod.ts exports them
  const roots = Deno.args.length > 0 ? Deno.args : [
    "mod.ts",
    "cli.ts",
    "tests/_docs.ts",
    "lib/unpack/_apply_worker.ts",
    "lib/verify/verify_bundle.ts",
    "lib/verify/verify_cosign_signature.ts",
  ];
  const { files, edges } = await projectGraph(roots);
  const problems: string[] = [];
  for (const cycle of findCycles(files)) {
    const path = pathWithin(files, new Set(cycle), cycle[0]!);
    problems.push(
      `import cycle between ${cycle.join(", ")}: ${path.join(" -> ")}`,
    );
  }
  for (const cycle of findCycles(folderGraph(edges))) {
    problems.push(
      `import cycle between the folders ${cycle.join(", ")} of lib/:`,
      ...folderCycleLines(edges, cycle),
    );
  }
  for (const line of upwardImports(edges)) problems.push(`import against the layers: ${line}`);
  for (const line of privateImports(edges)) problems.push(`import of a private file: ${line}`);
  if (problems.length > 0) {
    console.error(problems.join("\n"));
    console.error(
      "Imports point down only, and _ files are imported only inside their folder " +
        "(docs/DESIGN.md, Layers).",
    );
    Deno.exit(1);
  }
  console.error(
    `imports: ${files.size} files, no cycles between files or folders, no private file imported ` +
      "from outside its folder",
  );
}
