// The few assertions the tests use, on top of node:assert (JSR's @std/assert is not reachable
// from the build machines).

import nodeAssert from "node:assert/strict";

export function assert(condition: unknown, message?: string): asserts condition {
  nodeAssert.ok(condition, message);
}

export function assertEquals<T>(actual: unknown, expected: T, message?: string): void {
  nodeAssert.deepEqual(actual, expected, message);
}

export function assertNotEquals(actual: unknown, expected: unknown, message?: string): void {
  nodeAssert.notDeepEqual(actual, expected, message);
}

export function assertMatch(actual: string, pattern: RegExp, message?: string): void {
  nodeAssert.match(actual, pattern, message);
}

export function assertStringIncludes(actual: string, part: string, message?: string): void {
  nodeAssert.ok(
    actual.includes(part),
    message ?? `expected ${JSON.stringify(actual)} to include ${JSON.stringify(part)}`,
  );
}

// deno-lint-ignore no-explicit-any
type ErrorClass = new (...args: any[]) => Error;

function check(e: unknown, kind?: ErrorClass, includes?: string, message?: string): Error {
  if (!(e instanceof Error)) throw new Error(`expected an Error, got ${String(e)}`);
  const got = `${e.name}: ${e.message}`;
  if (kind && !(e instanceof kind)) {
    throw new Error(`expected ${kind.name}, got ${got}${message ? ` (${message})` : ""}`);
  }
  if (includes !== undefined && !got.includes(includes)) {
    throw new Error(`expected message to include "${includes}", got "${e.message}"`);
  }
  return e;
}

export function assertThrows(
  fn: () => unknown,
  kind?: ErrorClass,
  includes?: string,
  message?: string,
): Error {
  try {
    fn();
  } catch (e) {
    return check(e, kind, includes, message);
  }
  throw new Error(`expected a throw${message ? ` (${message})` : ""}`);
}

export async function assertRejects(
  fn: () => Promise<unknown>,
  kind?: ErrorClass,
  includes?: string,
  message?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return check(e, kind, includes, message);
  }
  throw new Error(`expected a rejection${message ? ` (${message})` : ""}`);
}
