import { assertEquals, assertThrows } from "../_assert.ts";
import { parseArgs } from "../../lib/cli/parse_args.ts";

const OPTIONS = {
  store: { type: "string" as const },
  quiet: { type: "boolean" as const, short: "q" },
  platform: { type: "string" as const, short: "p" },
  header: { type: "string" as const, multiple: true },
};

Deno.test("parseArgs: long, short, joined and separated values, positionals", () => {
  assertEquals(
    parseArgs(["pull", "--store", "/s", "-q", "alpine", "--platform=linux/arm64"], OPTIONS),
    {
      values: { store: "/s", quiet: true, platform: "linux/arm64" },
      positionals: ["pull", "alpine"],
    },
  );
  assertEquals(parseArgs(["-qp", "linux/amd64", "x"], OPTIONS).values, {
    quiet: true,
    platform: "linux/amd64",
  });
  assertEquals(parseArgs(["-plinux/arm64"], OPTIONS).values, { platform: "linux/arm64" });
  assertEquals(parseArgs(["--header", "a", "--header=b"], OPTIONS).values, { header: ["a", "b"] });
  assertEquals(parseArgs(["--store", "/a", "--store", "/b"], OPTIONS).values, { store: "/b" });
});

Deno.test("parseArgs: -- ends options, - alone is a positional, empty values are values", () => {
  assertEquals(parseArgs(["--", "-q", "--store"], OPTIONS).positionals, ["-q", "--store"]);
  assertEquals(parseArgs(["-"], OPTIONS).positionals, ["-"]);
  assertEquals(parseArgs(["--store="], OPTIONS).values, { store: "" });
});

Deno.test("parseArgs: mistakes are SyntaxErrors naming the option", () => {
  const cases: [string[], string][] = [
    [["--nope"], "unknown option --nope"],
    [["-x"], "unknown option -x"],
    [["--store"], "option --store needs a value"],
    [["-p"], "option -p needs a value"],
    [["--quiet=yes"], "option --quiet takes no value"],
  ];
  for (const [args, message] of cases) {
    const e = assertThrows(() => parseArgs(args, OPTIONS), SyntaxError);
    assertEquals(e.message, message);
  }
});
