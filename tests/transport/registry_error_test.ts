import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_assert.ts";
import { ERROR_BODY_LIMIT, redactUrl, RegistryError } from "../../lib/transport/registry_error.ts";

const URL_ = "https://r.example/v2/library/alpine/manifests/3.20";

Deno.test("RegistryError.fromResponse: OCI error body gives codes and a one-line message", async () => {
  const body = JSON.stringify({
    errors: [
      { code: "MANIFEST_UNKNOWN", message: "manifest unknown\nsecond line", detail: { x: 1 } },
      { code: "NAME_UNKNOWN", message: "repository name not known to registry" },
    ],
  });
  const res = new Response(body, { status: 404, headers: { "content-type": "application/json" } });
  const err = await RegistryError.fromResponse(res, "GET", URL_, "fetch manifest alpine:3.20");
  assert(err instanceof RegistryError);
  assert(err instanceof Error);
  assertEquals(err.name, "RegistryError");
  assertEquals(err.status, 404);
  assertEquals(err.method, "GET");
  assertEquals(err.url, URL_);
  assertEquals(err.codes, [
    { code: "MANIFEST_UNKNOWN", message: "manifest unknown\nsecond line" },
    { code: "NAME_UNKNOWN", message: "repository name not known to registry" },
  ]);
  assert(err.hasCode("NAME_UNKNOWN"));
  assert(!err.hasCode("DENIED"));
  assertEquals(
    err.message,
    "Cannot fetch manifest alpine:3.20: 404 not found: MANIFEST_UNKNOWN: manifest unknown " +
      "second line; NAME_UNKNOWN: repository name not known to registry",
  );
  assert(!/[\r\n]/.test(err.message), "one line");
  assertEquals(err.retryAfter, undefined);
});

Deno.test("RegistryError.fromResponse: without an action the message names method and URL", async () => {
  const res = new Response(JSON.stringify({ errors: [{ code: "DENIED" }] }), { status: 403 });
  const err = await RegistryError.fromResponse(res, "GET", URL_);
  assertEquals(err.message, `Cannot GET ${URL_}: 403 denied: DENIED`);
  assertEquals(err.codes, [{ code: "DENIED", message: "" }]);
});

Deno.test("RegistryError.fromResponse: a plain-text body is quoted, trimmed and on one line", async () => {
  const res = new Response("  upstream\r\nconnect error  \n", { status: 502 });
  const err = await RegistryError.fromResponse(res, "GET", URL_, "fetch blob");
  assertEquals(err.codes, []);
  assertEquals(err.message, "Cannot fetch blob: 502 bad gateway: upstream connect error");
});

Deno.test("RegistryError.fromResponse: token-server style bodies become an ERROR code", async () => {
  const res = new Response(JSON.stringify({ details: "incorrect username or password" }), {
    status: 401,
  });
  const err = await RegistryError.fromResponse(res, "GET", "https://auth.example/token");
  assertEquals(err.codes, [{ code: "ERROR", message: "incorrect username or password" }]);
  assertStringIncludes(err.message, "401 unauthorized: ERROR: incorrect username or password");
});

Deno.test("RegistryError.fromResponse: an HTML body is not echoed", async () => {
  const html = "<!DOCTYPE html>\n<html><body><h1>502 Bad Gateway</h1><p>nginx SECRET</p></body>" +
    "</html>";
  const err = await RegistryError.fromResponse(
    new Response(html, { status: 502, headers: { "content-type": "text/html" } }),
    "GET",
    URL_,
    "fetch blob",
  );
  assertEquals(err.message, "Cannot fetch blob: 502 bad gateway");
  assert(!err.message.includes("<"));
  assert(!err.message.includes("SECRET"));
});

Deno.test("RegistryError.fromResponse: a HEAD response's body is not read", async () => {
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      c.enqueue(new TextEncoder().encode("should not appear"));
    },
    cancel() {
      cancelled = true;
    },
  });
  const err = await RegistryError.fromResponse(new Response(body, { status: 404 }), "HEAD", URL_);
  assertEquals(err.message, `Cannot HEAD ${URL_}: 404 not found`);
  assert(cancelled, "the body is cancelled");
});

Deno.test("RegistryError.fromResponse: reads at most 64 KiB of an endless body", async () => {
  const chunk = new TextEncoder().encode("x".repeat(4096));
  let pulled = 0;
  let cancelled = false;
  // "endless" as far as a capped reader can tell; it ends after 16 MiB so that a reader without a
  // cap fails the assertions below instead of hanging the test
  const endless = new ReadableStream<Uint8Array>({
    pull(c) {
      if (pulled >= 16 * 1024 * 1024) return c.close();
      pulled += chunk.byteLength;
      c.enqueue(chunk);
    },
    cancel() {
      cancelled = true;
    },
  });
  const err = await RegistryError.fromResponse(
    new Response(endless, { status: 500 }),
    "GET",
    URL_,
    "fetch blob",
  );
  assertEquals(ERROR_BODY_LIMIT, 64 * 1024);
  assert(pulled <= ERROR_BODY_LIMIT + 4 * chunk.byteLength, `pulled ${pulled} bytes`);
  assert(cancelled, "the rest of the body is cancelled");
  assertEquals(err.status, 500);
  assert(err.message.length < 400, `message of ${err.message.length} characters`);
  assertMatch(err.message, /^Cannot fetch blob: 500 internal server error: x+$/);
});

Deno.test("RegistryError.fromResponse: a huge OCI error body is cut, not parsed whole", async () => {
  const huge = JSON.stringify({ errors: [{ code: "X", message: "y".repeat(1024 * 1024) }] });
  const err = await RegistryError.fromResponse(new Response(huge, { status: 400 }), "GET", URL_);
  // the cut JSON does not parse, so neither codes nor a megabyte of text reach the message
  assertEquals(err.codes, []);
  assert(err.message.length < 400, `message of ${err.message.length} characters`);
});

Deno.test("RegistryError.fromResponse: a body that breaks off still gives the status", async () => {
  let sent = false;
  const broken = new ReadableStream<Uint8Array>({
    pull(c) {
      if (!sent) {
        sent = true;
        c.enqueue(new TextEncoder().encode("partial"));
      } else c.error(new TypeError("connection reset"));
    },
  });
  const err = await RegistryError.fromResponse(new Response(broken, { status: 503 }), "GET", URL_);
  assertEquals(err.status, 503);
  assertStringIncludes(err.message, "503 service unavailable");
});

Deno.test("RegistryError: the URL's query string, fragment and user info are redacted", async () => {
  const url = "https://user:hunter2@cdn.example/blobs/abc?X-Amz-Signature=deadbeef&token=t#frag";
  const err = await RegistryError.fromResponse(new Response("denied", { status: 403 }), "GET", url);
  assertEquals(err.url, "https://cdn.example/blobs/abc");
  for (const secret of ["hunter2", "user", "deadbeef", "Signature", "token=", "frag"]) {
    assert(!err.message.includes(secret), `message leaks ${secret}: ${err.message}`);
  }
  assertEquals(
    new RegistryError({ status: 401, method: "GET", url }).url,
    "https://cdn.example/blobs/abc",
  );
  assertEquals(redactUrl("not a url?secret=1"), "not a url");
});

Deno.test("RegistryError.fromResponse: Retry-After becomes retryAfter", async () => {
  const res = new Response(JSON.stringify({ errors: [{ code: "TOOMANYREQUESTS", message: "" }] }), {
    status: 429,
    headers: { "retry-after": "42" },
  });
  const err = await RegistryError.fromResponse(res, "GET", URL_);
  assertEquals(err.retryAfter, 42);
  assertEquals(err.message, `Cannot GET ${URL_}: 429 too many requests: TOOMANYREQUESTS`);
});

Deno.test("RegistryError: unknown statuses read as error", () => {
  assertEquals(
    new RegistryError({ status: 418, method: "GET", url: URL_, action: "brew" }).message,
    "Cannot brew: 418 error",
  );
});
