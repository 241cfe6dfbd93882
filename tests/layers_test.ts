import { assertEquals } from "./_assert.ts";
import {
  findCycles,
  folderGraph,
  type Graph,
  privateImports,
  upwardImports,
} from "./_check_imports.ts";

const graph = (edges: [string, string][]): Graph => {
  const g: Graph = new Map();
  for (const [a, b] of edges) g.set(a, (g.get(a) ?? new Set()).add(b));
  return g;
};

Deno.test("the import check finds a cycle between files, and only the files in it", () => {
  const cycles = findCycles(graph([
    ["a.ts", "b.ts"],
    ["b.ts", "c.ts"],
    ["c.ts", "a.ts"],
    ["c.ts", "d.ts"],
    ["d.ts", "e.ts"],
  ]));
  assertEquals(cycles, [["a.ts", "b.ts", "c.ts"]]);
  assertEquals(findCycles(graph([["a.ts", "b.ts"], ["b.ts", "c.ts"]])), []);
  assertEquals(findCycles(graph([["a.ts", "a.ts"]])), [["a.ts"]]);
});

Deno.test("the import check finds a cycle between folders made of files that have none", () => {
  const edges: [string, string][] = [
    ["lib/image/copy_image.ts", "lib/registry/registry_image_source.ts"],
    ["lib/registry/registry_image_source.ts", "lib/image/image_source.ts"],
  ];
  assertEquals(findCycles(graph(edges)), []);
  assertEquals(findCycles(folderGraph(edges)), [["image", "registry"]]);
});

Deno.test("the import check refuses an import sideways or up the layers", () => {
  const layers = [["reference"], ["oci"], ["registry", "store"], ["pull"]];
  assertEquals(
    upwardImports([
      ["lib/oci/parse_manifest.ts", "lib/reference/parse_digest.ts"],
      ["lib/pull/pull.ts", "lib/store/store.ts"],
      ["lib/store/store.ts", "lib/registry/registry_client.ts"],
      ["lib/oci/parse_manifest.ts", "lib/pull/pull.ts"],
      ["lib/store/store.ts", "lib/store/_fs.ts"],
      ["lib/nowhere/x.ts", "lib/oci/a.ts"],
    ], layers),
    [
      "store -> registry: lib/store/store.ts imports lib/registry/registry_client.ts",
      "oci -> pull: lib/oci/parse_manifest.ts imports lib/pull/pull.ts",
      "nowhere is in no layer (lib/nowhere/x.ts imports lib/oci/a.ts)",
    ],
  );
});

Deno.test("the import check refuses an import of a private (_) file from outside its folder", () => {
  assertEquals(
    privateImports([
      ["lib/store/store.ts", "lib/store/_fs.ts"],
      ["lib/cli/commands/pull.ts", "lib/cli/_shared.ts"],
      ["lib/store/list_images.ts", "lib/oci/platform_check.ts"],
      ["lib/archive/load.ts", "lib/store/_locks.ts"],
      ["lib/pull/pull.ts", "lib/oci/_platform_rule.ts"],
      ["mod.ts", "lib/store/_entry.ts"],
    ]),
    [
      "lib/archive/load.ts imports lib/store/_locks.ts, private to lib/store/",
      "lib/pull/pull.ts imports lib/oci/_platform_rule.ts, private to lib/oci/",
      "mod.ts imports lib/store/_entry.ts, private to lib/store/",
    ],
  );
});
