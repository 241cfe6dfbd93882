import { assert, assertEquals, assertRejects, assertStringIncludes } from "../_assert.ts";
import { ResponseTimeoutError } from "../../lib/transport/with_deadline.ts";
import {
  isNetworkError,
  RETRYABLE_STATUSES,
  sleep,
  withRetry,
} from "../../lib/transport/retry_fetch.ts";
import type { Fetcher } from "../../lib/transport/fetcher.ts";

const FAST = { baseDelay: 1, maxDelay: 2 };

/** A fetcher that answers with the given statuses in turn (the last one repeats). */
function sequence(statuses: number[], headers: Record<string, string> = {}) {
  const seen: Request[] = [];
  const fetcher: Fetcher = (request) => {
    seen.push(request);
    const status = statuses[Math.min(seen.length, statuses.length) - 1]!;
    return Promise.resolve(new Response(`body ${seen.length}`, { status, headers }));
  };
  return { fetcher, seen };
}

Deno.test("withRetry: retries 408, 429, 500, 502, 503 and 504 until a success", async () => {
  for (const status of [408, 429, 500, 502, 503, 504]) {
    const { fetcher, seen } = sequence([status, status, 200]);
    const res = await withRetry(fetcher, FAST)(new Request("https://r.example/v2/"));
    assertEquals(res.status, 200, `status ${status}`);
    assertEquals(await res.text(), "body 3", `status ${status}`);
    assertEquals(seen.length, 3, `status ${status}`);
    assert(RETRYABLE_STATUSES.has(status));
  }
});

Deno.test("withRetry: does not retry 404, 401, 403 or 200", async () => {
  for (const status of [404, 401, 403, 200]) {
    const { fetcher, seen } = sequence([status, 200]);
    const res = await withRetry(fetcher, FAST)(new Request("https://r.example/v2/"));
    assertEquals(res.status, status);
    assertEquals(await res.text(), "body 1", "the first response is returned, unread");
    assertEquals(seen.length, 1, `status ${status}`);
  }
});

Deno.test("withRetry: retries a network TypeError, then succeeds", async () => {
  let calls = 0;
  const fetcher: Fetcher = () => {
    calls++;
    if (calls < 3) return Promise.reject(new TypeError(`connection reset ${calls}`));
    return Promise.resolve(new Response("ok"));
  };
  const reasons: string[] = [];
  const res = await withRetry(fetcher, { ...FAST, onRetry: (_a, r) => reasons.push(r) })(
    new Request("https://r.example/v2/"),
  );
  assertEquals(await res.text(), "ok");
  assertEquals(calls, 3);
  assertEquals(reasons, ["connection reset 1", "connection reset 2"]);
});

Deno.test("withRetry: bounded attempts return the last response", async () => {
  const { fetcher, seen } = sequence([503]);
  const attempts: number[] = [];
  const res = await withRetry(fetcher, { ...FAST, attempts: 3, onRetry: (a) => attempts.push(a) })(
    new Request("https://r.example/v2/"),
  );
  assertEquals(res.status, 503);
  assertEquals(await res.text(), "body 3", "the last response, body intact");
  assertEquals(seen.length, 3);
  assertEquals(attempts, [1, 2]);
});

Deno.test("withRetry: bounded attempts throw the last network error", async () => {
  let calls = 0;
  const fetcher: Fetcher = () => Promise.reject(new TypeError(`network down ${++calls}`));
  await assertRejects(
    () => withRetry(fetcher, { ...FAST, attempts: 4 })(new Request("https://r.example/v2/")),
    TypeError,
    "network down 4",
  );
  assertEquals(calls, 4);
});

Deno.test("withRetry: errors that are not network failures are not retried", async () => {
  let calls = 0;
  const fetcher: Fetcher = () => {
    calls++;
    return Promise.reject(new RangeError("programming error"));
  };
  await assertRejects(
    () => withRetry(fetcher, FAST)(new Request("https://r.example/v2/")),
    RangeError,
  );
  assertEquals(calls, 1);
  assert(isNetworkError(new TypeError("x")));
  assert(!isNetworkError(new DOMException("aborted", "AbortError")));
  assert(!isNetworkError("a string"));
});

Deno.test("withRetry: every attempt gets the whole request, body included", async () => {
  const bodies: string[] = [];
  const fetcher: Fetcher = async (request) => {
    bodies.push(`${request.method} ${request.headers.get("x-test")} ${await request.text()}`);
    return new Response(null, { status: bodies.length < 3 ? 500 : 201 });
  };
  const res = await withRetry(fetcher, FAST)(
    new Request("https://r.example/upload", {
      method: "PUT",
      body: "payload",
      headers: { "x-test": "yes" },
    }),
  );
  assertEquals(res.status, 201);
  assertEquals(bodies, ["PUT yes payload", "PUT yes payload", "PUT yes payload"]);
});

Deno.test("withRetry: Retry-After in seconds and as an HTTP date are honoured", async () => {
  // Both run at once so the test waits about one second, not two.
  const run = async (retryAfter: () => string) => {
    const delays: number[] = [];
    let calls = 0;
    const fetcher: Fetcher = () =>
      Promise.resolve(
        ++calls === 1
          ? new Response(null, { status: 429, headers: { "retry-after": retryAfter() } })
          : new Response("ok"),
      );
    const start = performance.now();
    const res = await withRetry(fetcher, { ...FAST, onRetry: (_a, _r, d) => delays.push(d) })(
      new Request("https://r.example/v2/"),
    );
    const elapsed = performance.now() - start;
    assertEquals(await res.text(), "ok");
    assertEquals(calls, 2);
    return { elapsed, delays };
  };
  // An HTTP date has whole seconds: take the next whole second, at least 50 ms away, so that
  // it is still in the future when parsed and the server means "one second or less".
  if (1000 - Date.now() % 1000 < 50) await sleep(60);
  const nextSecond = Math.ceil(Date.now() / 1000) * 1000;
  const [seconds, date] = await Promise.all([
    run(() => "1"),
    run(() => new Date(nextSecond).toUTCString()),
  ]);
  assertEquals(seconds.delays, [1000]);
  assert(seconds.elapsed >= 950, `waited only ${seconds.elapsed} ms for Retry-After: 1`);
  assertEquals(date.delays, [1000]);
  assert(date.elapsed >= 950, `waited only ${date.elapsed} ms for a Retry-After date`);
});

Deno.test("withRetry: a Retry-After longer than maxRetryAfter returns the response at once", async () => {
  const { fetcher, seen } = sequence([429, 200], { "retry-after": "120" });
  // a guard, so that a retry layer that did wait would fail this test quickly instead of hanging
  const guard = new AbortController();
  // (a hang guard, far below the 120 s and far above any scheduling delay: not a timing check)
  const timer = setTimeout(() => guard.abort(new Error("waited for the Retry-After")), 20_000);
  try {
    const res = await withRetry(fetcher, { ...FAST, maxRetryAfter: 60_000 })(
      new Request("https://r.example/v2/", { signal: guard.signal }),
    );
    assertEquals(res.status, 429);
    assertEquals(res.headers.get("retry-after"), "120");
    assertEquals(await res.text(), "body 1", "the body is left for the caller to report");
    assertEquals(seen.length, 1);
  } finally {
    clearTimeout(timer);
  }
});

Deno.test("withRetry: an abort during a Retry-After wait stops at once", async () => {
  const { fetcher, seen } = sequence([503], { "retry-after": "30" });
  const controller = new AbortController();
  const reason = new Error("stop now");
  const timer = setTimeout(() => controller.abort(reason), 20);
  try {
    const e = await assertRejects(() =>
      withRetry(fetcher, FAST)(
        new Request("https://r.example/v2/", { signal: controller.signal }),
      )
    );
    assertEquals(e, reason);
  } finally {
    clearTimeout(timer);
  }
  // had the wait gone on to its end, a second request would have been sent
  assertEquals(seen.length, 1);
});

Deno.test("withRetry: an aborted request's network error is not retried", async () => {
  const controller = new AbortController();
  let calls = 0;
  const fetcher: Fetcher = () => {
    calls++;
    controller.abort();
    return Promise.reject(new TypeError("connection closed"));
  };
  await assertRejects(
    () =>
      withRetry(fetcher, FAST)(
        new Request("https://r.example/v2/", { signal: controller.signal }),
      ),
    TypeError,
    "connection closed",
  );
  assertEquals(calls, 1);
});

Deno.test("withRetry: a request aborted before it starts is not sent again", async () => {
  const controller = new AbortController();
  controller.abort();
  const { fetcher, seen } = sequence([503, 200]);
  const e = await assertRejects(() =>
    withRetry(fetcher, { baseDelay: 10_000, maxDelay: 10_000 })(
      new Request("https://r.example/v2/", { signal: controller.signal }),
    )
  );
  assertEquals(e.name, "AbortError");
  assert(seen.length <= 1);
});

Deno.test("withRetry: bodies of retried responses are cancelled, the last one is not", async () => {
  const cancelled: number[] = [];
  let calls = 0;
  const fetcher: Fetcher = () => {
    const n = ++calls;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode(`chunk of ${n}`));
      },
      cancel() {
        cancelled.push(n);
      },
    });
    return Promise.resolve(new Response(body, { status: n < 3 ? 502 : 200 }));
  };
  const res = await withRetry(fetcher, FAST)(new Request("https://r.example/v2/"));
  assertEquals(res.status, 200);
  assertEquals(cancelled, [1, 2]);
  await res.body!.cancel();
  assertEquals(cancelled, [1, 2, 3]);
});

Deno.test("sleep: resolves after the delay, rejects with the abort reason", async () => {
  const start = performance.now();
  await sleep(20);
  assert(performance.now() - start >= 15);
  const controller = new AbortController();
  controller.abort(new Error("already"));
  await assertRejects(() => sleep(10_000, controller.signal), Error, "already");
});

Deno.test("withRetry: after the last attempt the error says how many there were and why", async () => {
  const { RegistryError } = await import("../../lib/transport/registry_error.ts");
  let n = 0;
  const always503 = (_req: Request) =>
    Promise.resolve(new Response(null, { status: ++n === 2 ? 502 : 503 }));
  const res = await withRetry(always503, { attempts: 4, baseDelay: 1 })(
    new Request("http://x/v2/"),
  );
  assertEquals(res.status, 503);
  const e = await RegistryError.fromResponse(res, "GET", "http://x/v2/", "ping x");
  assertEquals(
    e.message,
    "Cannot ping x: 503 service unavailable (after 4 attempts: 503, 502, 503 x2)",
  );

  const refused = (_req: Request) =>
    Promise.reject(new TypeError("Cannot GET http://y/: connection refused"));
  const err = await assertRejects(() =>
    withRetry(refused, { attempts: 3, baseDelay: 1 })(new Request("http://y/"))
  );
  assert(err instanceof TypeError);
  assertEquals(
    err.message,
    "Cannot GET http://y/: connection refused (after 3 attempts: each ended the same way)",
  );
});

Deno.test("withRetry: a host that asks for a pause gets it from every request", async () => {
  const sent: { path: string; at: number }[] = [];
  const start = performance.now();
  let first = true;
  const fetcher = (req: Request) => {
    const path = new URL(req.url).pathname;
    sent.push({ path, at: performance.now() - start });
    if (path === "/a" && first) {
      first = false;
      return Promise.resolve(new Response(null, { status: 429, headers: { "retry-after": "1" } }));
    }
    return Promise.resolve(new Response("ok"));
  };
  const retrying = withRetry(fetcher, { baseDelay: 1 });
  const a = retrying(new Request("http://h/a"));
  await new Promise((r) => setTimeout(r, 50));
  const b = retrying(new Request("http://h/b")); // same host, while it is paused
  const c = retrying(new Request("http://other/c")); // another host: not paused
  await Promise.all([a, b, c]);
  const at = (p: string) => sent.filter((s) => s.path === p).map((s) => s.at);
  assert(at("/b")[0]! >= 950, `b was sent at ${at("/b")[0]} ms, during the pause`);
  // the other host was not held back: c went out before the paused b
  const order = sent.map((s) => s.path);
  assert(order.indexOf("/c") < order.indexOf("/b"), `sent in the order ${order.join(" ")}`);
  assertEquals(at("/a").length, 2);
});

Deno.test("withRetry: no retry starts that would end after the deadline", async () => {
  let calls = 0;
  const fetcher = (_req: Request) => {
    calls++;
    return Promise.resolve(new Response(null, { status: 503, headers: { "retry-after": "2" } }));
  };
  const start = performance.now();
  const res = await withRetry(fetcher, { deadline: 1000 })(new Request("http://h/"));
  assertEquals([res.status, calls], [503, 1]);
  assert(performance.now() - start < 500);
});

Deno.test("withRetry: an attempt that took long counts as long for the next one", async () => {
  // every attempt ends like a response deadline: after 300 ms, with a network error; with a
  // 1000 ms budget three attempts fit (they end at about 900 ms) and a fourth could end after
  // it, so it never starts (without the projection it would: it starts at about 900 ms)
  let calls = 0;
  const fetcher = async (req: Request) => {
    calls++;
    await sleep(300, req.signal);
    throw new ResponseTimeoutError("Cannot GET http://h/: no response within 300 ms");
  };
  const e = await assertRejects(
    () => withRetry(fetcher, { deadline: 1000, baseDelay: 1 })(new Request("http://h/")),
    ResponseTimeoutError,
  );
  assert(calls <= 3, `${calls} attempts`);
  assert(calls >= 1);
  assertStringIncludes(e.message, "no response within 300 ms");
});
