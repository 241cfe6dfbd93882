import { assertEquals } from "../_assert.ts";
import { parseRetryAfter } from "../../lib/transport/parse_retry_after.ts";

Deno.test("parseRetryAfter: delay seconds", () => {
  assertEquals(parseRetryAfter("0"), 0);
  assertEquals(parseRetryAfter("1"), 1);
  assertEquals(parseRetryAfter(" 120 "), 120);
  assertEquals(parseRetryAfter(null), undefined);
  assertEquals(parseRetryAfter(""), undefined);
  assertEquals(parseRetryAfter("soon"), undefined);
});

Deno.test("parseRetryAfter: HTTP dates, relative to now, never negative", () => {
  const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
  assertEquals(parseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now), 30);
  assertEquals(parseRetryAfter("Wed, 21 Oct 2015 07:29:00 GMT", now), 60);
  assertEquals(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now + 500), 0);
  assertEquals(parseRetryAfter("Wed, 21 Oct 2015 07:28:01 GMT", now + 500), 1, "rounded up");
  assertEquals(parseRetryAfter("Tue, 20 Oct 2015 07:28:00 GMT", now), 0, "past date");
});

Deno.test("parseRetryAfter: values that are neither seconds nor an HTTP date are unreadable", () => {
  // RFC 9110 section 10.2.3: delay-seconds is 1*DIGIT; anything else must be an HTTP-date.
  // V8's Date.parse is lenient and reads "-1" and "1.5" as dates in 2001.
  for (const value of ["-1", "1.5", "5s"]) {
    assertEquals(parseRetryAfter(value, Date.now()), undefined, JSON.stringify(value));
  }
});
