import { assertEquals, assertThrows } from "../_assert.ts";
import { parseRepository } from "../../lib/reference/parse_repository.ts";

Deno.test("parseRepository: normalizes like references, with no tag or digest", () => {
  const cases: [string, string, string, string][] = [
    ["alpine", "docker.io", "library/alpine", "docker.io/library/alpine"],
    ["index.docker.io/org/app", "docker.io", "org/app", "docker.io/org/app"],
    ["127.0.0.1:5000/team/app", "127.0.0.1:5000", "team/app", "127.0.0.1:5000/team/app"],
    ["localhost/a/b/c", "localhost", "a/b/c", "localhost/a/b/c"],
  ];
  for (const [input, registry, repository, canonical] of cases) {
    const r = parseRepository(input);
    assertEquals([r.registry, r.repository, r.tag, r.digest], [
      registry,
      repository,
      undefined,
      undefined,
    ]);
    assertEquals(r.toString(), canonical);
  }
});

Deno.test("parseRepository: a tag or digest is refused, saying so", () => {
  assertThrows(() => parseRepository("alpine:3.20"), SyntaxError, "names a tag");
  assertThrows(() => parseRepository("127.0.0.1:5000/app:latest"), SyntaxError, "names a tag");
  assertThrows(
    () => parseRepository(`alpine@sha256:${"a".repeat(64)}`),
    SyntaxError,
    "names a digest",
  );
  assertThrows(() => parseRepository("Alpine"), SyntaxError, "lowercase");
  assertThrows(() => parseRepository(""), SyntaxError, "empty");
});
