import { assert, assertEquals, assertRejects, assertStringIncludes } from "../_assert.ts";
import { type AuthOptions, scopeFor, withAuth } from "../../lib/transport/auth_fetch.ts";
import type { Fetcher } from "../../lib/transport/fetcher.ts";

const REGISTRY = "https://registry.example";
const REALM = "https://auth.example/token";
const BASIC_UP = "Basic " + btoa("user:pass");

interface Seen {
  url: URL;
  method: string;
  authorization: string | null;
}

interface TokenReply {
  token?: string;
  access_token?: string;
  expires_in?: number;
  issued_at?: string;
}

interface FakeOptions {
  /** The WWW-Authenticate realm the registry names. */
  realm?: string;
  /** What the token server answers for the n-th token (1-based) with the given scopes. */
  tokenReply?: (n: number, scopes: string[]) => TokenReply;
  /** Tokens the registry refuses even though the token server issued them. */
  refused?: (token: string) => boolean;
  /** Makes the token server wait for this promise before answering. */
  tokenGate?: Promise<void>;
  /** Extra routes, tried before the registry's own. */
  route?: (request: Request, authorized: boolean) => Response | undefined;
}

/**
 * A registry at registry.example (bearer auth, tokens scoped per repository) and its token server
 * at auth.example, in one fetcher; every request is logged.
 */
function fakeRegistry(options: FakeOptions = {}) {
  const seen: Seen[] = [];
  const tokenRequests: URL[] = [];
  const issued = new Map<string, string[]>(); // token -> scopes
  let n = 0;
  const realm = options.realm ?? REALM;
  const fetcher: Fetcher = async (request) => {
    const url = new URL(request.url);
    const authorization = request.headers.get("authorization");
    seen.push({ url, method: request.method, authorization });
    if (url.origin === new URL(realm).origin && url.pathname === new URL(realm).pathname) {
      tokenRequests.push(url);
      if (options.tokenGate) await options.tokenGate;
      const scopes = url.searchParams.getAll("scope");
      const token = `tok${++n}`;
      issued.set(token, scopes);
      const reply = options.tokenReply?.(n, scopes) ?? { token };
      // the token the client will send is whichever field it is expected to use
      const sent = reply.token || reply.access_token;
      if (sent && sent !== token) issued.set(sent, scopes);
      return Response.json(reply);
    }
    if (url.origin !== REGISTRY) {
      return options.route?.(request, false) ?? new Response("not here", { status: 404 });
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs|tags)\//.exec(url.pathname);
    const repo = m?.[1];
    const bearer = authorization?.startsWith("Bearer ") ? authorization.slice(7) : undefined;
    const scopes = bearer !== undefined ? issued.get(bearer) : undefined;
    const authorized = bearer !== undefined && scopes !== undefined &&
      !options.refused?.(bearer) &&
      (repo === undefined || scopes.includes(`repository:${repo}:pull`));
    const routed = options.route?.(request, authorized);
    if (routed) return routed;
    if (!authorized) {
      const scope = repo ? `,scope="repository:${repo}:pull"` : "";
      return new Response(JSON.stringify({ errors: [{ code: "UNAUTHORIZED" }] }), {
        status: 401,
        headers: {
          "www-authenticate": `Bearer realm="${realm}",service="registry.example"${scope}`,
        },
      });
    }
    return new Response(`ok ${url.pathname}`);
  };
  return {
    fetcher,
    seen,
    tokenRequests,
    registryRequests: () => seen.filter((s) => s.url.origin === REGISTRY),
  };
}

function auth(next: Fetcher, extra: Partial<AuthOptions> = {}): Fetcher {
  return withAuth(next, { registry: "registry.example", host: "registry.example", ...extra });
}

const get = (path: string, init?: RequestInit) => new Request(REGISTRY + path, init);

Deno.test("withAuth: anonymous bearer flow", async () => {
  const fake = fakeRegistry();
  const res = await auth(fake.fetcher)(get("/v2/library/alpine/manifests/3.20"));
  assertEquals(res.status, 200);
  assertEquals(await res.text(), "ok /v2/library/alpine/manifests/3.20");
  assertEquals(fake.tokenRequests.length, 1);
  const t = fake.tokenRequests[0]!;
  assertEquals(t.searchParams.get("service"), "registry.example");
  assertEquals(t.searchParams.getAll("scope"), ["repository:library/alpine:pull"]);
  const tokenHop = fake.seen.find((s) => s.url.origin === "https://auth.example")!;
  assertEquals(tokenHop.authorization, null, "anonymous: no credentials on the token request");
  assertEquals(fake.registryRequests().map((s) => s.authorization), [null, "Bearer tok1"]);
});

Deno.test("withAuth: tokens are cached per scope", async () => {
  const fake = fakeRegistry();
  const fetcher = auth(fake.fetcher);
  for (const path of ["/v2/a/manifests/1", "/v2/a/blobs/sha256:00", "/v2/a/tags/list"]) {
    const res = await fetcher(get(path));
    assertEquals(res.status, 200, path);
    await res.body?.cancel();
  }
  assertEquals(fake.tokenRequests.length, 1, "one token for repository a");
  // the challenge is known now: later requests send a token up front, without a 401 first
  assertEquals(
    fake.registryRequests().map((s) => s.authorization),
    [null, "Bearer tok1", "Bearer tok1", "Bearer tok1"],
  );

  const res = await fetcher(get("/v2/b/manifests/1"));
  assertEquals(res.status, 200);
  assertEquals(fake.tokenRequests.length, 2, "a new token for repository b");
  assertEquals(fake.tokenRequests[1]!.searchParams.getAll("scope"), ["repository:b:pull"]);
  assertEquals(fake.registryRequests().at(-1)!.authorization, "Bearer tok2");

  // and a's token is still the cached one
  await (await fetcher(get("/v2/a/manifests/2"))).text();
  assertEquals(fake.tokenRequests.length, 2);
  assertEquals(fake.registryRequests().at(-1)!.authorization, "Bearer tok1");
});

Deno.test("withAuth: a token whose expires_in is under 60 s lives 60 s", async () => {
  // issued 40 s ago with expires_in 30: dead if 30 were believed, alive for 20 s more at 60
  const fake = fakeRegistry({
    tokenReply: (n) => ({
      token: `tok${n}`,
      expires_in: 30,
      issued_at: new Date(Date.now() - 40_000).toISOString(),
    }),
  });
  const fetcher = auth(fake.fetcher);
  await (await fetcher(get("/v2/a/manifests/1"))).text();
  await (await fetcher(get("/v2/a/manifests/2"))).text();
  assertEquals(fake.tokenRequests.length, 1);
});

Deno.test("withAuth: an expired token is renewed before it is sent", async () => {
  for (const [expiresIn, issuedAgo] of [[300, 295_000], [30, 55_000], [undefined, 59_000]]) {
    const fake = fakeRegistry({
      tokenReply: (n) => ({
        token: `tok${n}`,
        ...(expiresIn !== undefined ? { expires_in: expiresIn } : {}),
        issued_at: new Date(Date.now() - issuedAgo!).toISOString(),
      }),
    });
    const fetcher = auth(fake.fetcher);
    await (await fetcher(get("/v2/a/manifests/1"))).text();
    const res = await fetcher(get("/v2/a/manifests/2"));
    assertEquals(res.status, 200);
    assertEquals(fake.tokenRequests.length, 2, `expires_in ${expiresIn}, issued ${issuedAgo} ago`);
    // renewed before sending: no request went out with the expired token
    assertEquals(
      fake.registryRequests().map((s) => s.authorization),
      [null, "Bearer tok1", "Bearer tok2"],
    );
  }
});

Deno.test("withAuth: a long-lived token is reused", async () => {
  const fake = fakeRegistry({
    tokenReply: (n) => ({
      token: `tok${n}`,
      expires_in: 300,
      issued_at: new Date(Date.now() - 100_000).toISOString(),
    }),
  });
  const fetcher = auth(fake.fetcher);
  await (await fetcher(get("/v2/a/manifests/1"))).text();
  await (await fetcher(get("/v2/a/manifests/2"))).text();
  assertEquals(fake.tokenRequests.length, 1);
});

Deno.test("withAuth: token and access_token", async () => {
  const replies: [TokenReply, string][] = [
    [{ token: "T" }, "Bearer T"],
    [{ access_token: "A" }, "Bearer A"],
    [{ token: "T", access_token: "A" }, "Bearer T"],
    [{ token: "", access_token: "A" }, "Bearer A"],
  ];
  for (const [reply, want] of replies) {
    const fake = fakeRegistry({ tokenReply: () => reply });
    const res = await auth(fake.fetcher)(get("/v2/a/manifests/1"));
    assertEquals(res.status, 200, JSON.stringify(reply));
    assertEquals(fake.registryRequests().at(-1)!.authorization, want);
  }
});

Deno.test("withAuth: a token response without a token is an error", async () => {
  const fake = fakeRegistry({ tokenReply: () => ({ expires_in: 300 }) });
  await assertRejects(
    () => auth(fake.fetcher)(get("/v2/a/manifests/1")),
    Error,
    "token response has no token",
  );
});

Deno.test("withAuth: concurrent first requests for one scope share one token request", async () => {
  let open!: () => void;
  const fake = fakeRegistry({ tokenGate: new Promise<void>((r) => open = r) });
  const fetcher = auth(fake.fetcher);
  const pending = [1, 2, 3, 4].map((i) => fetcher(get(`/v2/a/blobs/sha256:0${i}`)));
  await new Promise((r) => setTimeout(r, 10));
  open();
  const responses = await Promise.all(pending);
  for (const res of responses) {
    assertEquals(res.status, 200);
    await res.body?.cancel();
  }
  assertEquals(fake.tokenRequests.length, 1);
});

Deno.test("withAuth: concurrent requests for a new scope share one token request", async () => {
  let open!: () => void;
  const gate = new Promise<void>((r) => open = r);
  let gated = false;
  const fake = fakeRegistry();
  const slowTokens: Fetcher = async (request) => {
    if (gated && new URL(request.url).origin === "https://auth.example") await gate;
    return fake.fetcher(request);
  };
  const fetcher = auth(slowTokens);
  await (await fetcher(get("/v2/a/manifests/1"))).text();
  gated = true;
  const pending = [1, 2, 3].map((i) => fetcher(get(`/v2/b/blobs/sha256:0${i}`)));
  await new Promise((r) => setTimeout(r, 10));
  open();
  for (const res of await Promise.all(pending)) {
    assertEquals(res.status, 200);
    await res.body?.cancel();
  }
  assertEquals(fake.tokenRequests.length, 2, "one for a, one shared by the three b requests");
  assertEquals(fake.tokenRequests[1]!.searchParams.getAll("scope"), ["repository:b:pull"]);
});

Deno.test("withAuth: a refused cached token is replaced once", async () => {
  const revoked = new Set<string>();
  const fake = fakeRegistry({ refused: (t) => revoked.has(t) });
  const fetcher = auth(fake.fetcher);
  await (await fetcher(get("/v2/a/manifests/1"))).text();
  revoked.add("tok1");
  const res = await fetcher(get("/v2/a/manifests/2"));
  assertEquals(res.status, 200);
  assertEquals(fake.tokenRequests.length, 2);
  assertEquals(
    fake.registryRequests().map((s) => s.authorization),
    [null, "Bearer tok1", "Bearer tok1", "Bearer tok2"],
  );
});

Deno.test("withAuth: gives up with the 401 when a fresh token is refused too", async () => {
  const fake = fakeRegistry({ refused: () => true });
  const fetcher = auth(fake.fetcher);
  const first = await fetcher(get("/v2/a/manifests/1"));
  assertEquals(first.status, 401);
  assertEquals((await first.json()).errors[0].code, "UNAUTHORIZED");
  assertEquals(fake.tokenRequests.length, 1);
  assertEquals(fake.registryRequests().length, 2);

  // with a token already sent, one fresh token and one more try, then the 401
  const second = await fetcher(get("/v2/a/manifests/1"));
  assertEquals(second.status, 401);
  await second.body?.cancel();
  assertEquals(fake.tokenRequests.length, 2);
  assertEquals(
    fake.registryRequests().map((s) => s.authorization),
    [null, "Bearer tok1", "Bearer tok1", "Bearer tok2"],
  );
});

Deno.test("withAuth: Authorization is not sent to another origin on a redirect", async () => {
  const fake = fakeRegistry({
    route: (request, authorized) => {
      const url = new URL(request.url);
      if (url.origin === "https://cdn.example") return new Response("blob bytes");
      if (authorized && url.pathname.startsWith("/v2/a/blobs/")) {
        return new Response(null, {
          status: 307,
          headers: { location: "https://cdn.example/data/abc?X-Amz-Signature=s" },
        });
      }
      return undefined;
    },
  });
  const res = await auth(fake.fetcher)(
    get("/v2/a/blobs/sha256:00", { headers: { authorization: "Bearer from-caller" } }),
  );
  assertEquals(res.status, 200);
  assertEquals(await res.text(), "blob bytes");
  const cdn = fake.seen.filter((s) => s.url.origin === "https://cdn.example");
  assertEquals(cdn.length, 1);
  assertEquals(cdn[0]!.authorization, null);
  assertEquals(cdn[0]!.url.searchParams.get("X-Amz-Signature"), "s");
  assertEquals(fake.registryRequests().at(-1)!.authorization, "Bearer tok1");
});

Deno.test("withAuth: Authorization is sent on a same-host redirect", async () => {
  const fake = fakeRegistry({
    route: (request, authorized) => {
      const url = new URL(request.url);
      if (authorized && url.pathname === "/v2/a/manifests/latest") {
        return new Response(null, { status: 301, headers: { location: "/v2/a/manifests/v2" } });
      }
      return undefined;
    },
  });
  const res = await auth(fake.fetcher)(get("/v2/a/manifests/latest"));
  assertEquals(res.status, 200);
  assertEquals(await res.text(), "ok /v2/a/manifests/v2");
  const last = fake.registryRequests().at(-1)!;
  assertEquals(last.url.pathname, "/v2/a/manifests/v2");
  assertEquals(last.authorization, "Bearer tok1");
});

Deno.test("withAuth: a redirect from HTTPS to plain HTTP is refused", async () => {
  const fake = fakeRegistry({
    route: (request, authorized) =>
      authorized && new URL(request.url).origin === REGISTRY
        ? new Response(null, { status: 302, headers: { location: "http://cdn.example/x" } })
        : undefined,
  });
  await assertRejects(
    () => auth(fake.fetcher)(get("/v2/a/blobs/sha256:00")),
    Error,
    "plain HTTP",
  );
  assert(!fake.seen.some((s) => s.url.protocol === "http:"));
});

Deno.test("withAuth: credentials from another origin's challenge are not sent to its realm", async () => {
  // A blob redirect target on another origin answers 401 with its own Bearer challenge. It is not
  // the registry, so neither the user's credentials nor a token may go to the realm it names.
  const fake = fakeRegistry({
    route: (request, authorized) => {
      const url = new URL(request.url);
      if (url.origin === "https://cdn.example") {
        return new Response("no", {
          status: 401,
          headers: { "www-authenticate": 'Bearer realm="https://evil.example/token"' },
        });
      }
      if (url.origin === "https://evil.example") return Response.json({ token: "evil" });
      if (authorized && url.pathname.startsWith("/v2/a/blobs/")) {
        return new Response(null, {
          status: 307,
          headers: { location: "https://cdn.example/data/abc" },
        });
      }
      return undefined;
    },
  });
  const fetcher = auth(fake.fetcher, {
    credentials: () => ({ username: "user", password: "pass" }),
  });
  await (await fetcher(get("/v2/a/manifests/1"))).text();
  const res = await fetcher(get("/v2/a/blobs/sha256:00"));
  assertEquals(res.status, 401);
  await res.body?.cancel();
  const leaked = fake.seen.filter((s) =>
    s.authorization !== null && s.url.origin !== REGISTRY && s.url.origin !== "https://auth.example"
  );
  assertEquals(leaked.map((s) => `${s.url.origin} ${s.authorization}`), []);
  assert(!fake.seen.some((s) => s.url.origin === "https://evil.example"), "no request to evil");
  // and later requests to the registry still use the registry's own realm
  await (await fetcher(get("/v2/b/manifests/1"))).text();
  assertEquals(fake.tokenRequests.at(-1)!.searchParams.getAll("scope"), ["repository:b:pull"]);
});

Deno.test("withAuth: credentials are sent as Basic on the token request", async () => {
  const asked: string[] = [];
  const fake = fakeRegistry();
  const fetcher = auth(fake.fetcher, {
    registry: "docker.io",
    host: "registry.example",
    credentials: (registry) => {
      asked.push(registry);
      return Promise.resolve({ username: "user", password: "pass" });
    },
  });
  const res = await fetcher(get("/v2/a/manifests/1"));
  assertEquals(res.status, 200);
  const tokenHop = fake.seen.find((s) => s.url.origin === "https://auth.example")!;
  assertEquals(tokenHop.authorization, BASIC_UP);
  assertEquals(asked, ["docker.io"]);
  // the password itself never goes to the registry
  assert(fake.registryRequests().every((s) => s.authorization !== BASIC_UP));
});

Deno.test("withAuth: non-ASCII credentials are encoded as UTF-8", async () => {
  const fake = fakeRegistry();
  await auth(fake.fetcher, { credentials: () => ({ username: "ü", password: "€" }) })(
    get("/v2/a/manifests/1"),
  );
  const tokenHop = fake.seen.find((s) => s.url.origin === "https://auth.example")!;
  const bytes = Uint8Array.from(atob(tokenHop.authorization!.slice(6)), (c) => c.charCodeAt(0));
  assertEquals(new TextDecoder().decode(bytes), "ü:€");
});

Deno.test("withAuth: a registry token is sent as is, without a token request", async () => {
  const fake = fakeRegistry({
    route: (request) =>
      request.headers.get("authorization") === "Bearer ready"
        ? new Response("ready ok")
        : undefined,
  });
  const res = await auth(fake.fetcher, { credentials: () => ({ registryToken: "ready" }) })(
    get("/v2/a/manifests/1"),
  );
  assertEquals(await res.text(), "ready ok");
  assertEquals(fake.tokenRequests.length, 0);
});

/** A registry with htpasswd-style Basic auth. */
function basicRegistry() {
  const seen: Seen[] = [];
  const fetcher: Fetcher = (request) => {
    const url = new URL(request.url);
    const authorization = request.headers.get("authorization");
    seen.push({ url, method: request.method, authorization });
    if (authorization === BASIC_UP) return Promise.resolve(new Response("basic ok"));
    return Promise.resolve(
      new Response(null, {
        status: 401,
        headers: { "www-authenticate": 'Basic realm="Registry Realm"' },
      }),
    );
  };
  return { fetcher, seen };
}

Deno.test("withAuth: a Basic challenge gets the credentials", async () => {
  const fake = basicRegistry();
  const fetcher = auth(fake.fetcher, {
    credentials: () => ({ username: "user", password: "pass" }),
  });
  assertEquals(await (await fetcher(get("/v2/a/manifests/1"))).text(), "basic ok");
  assertEquals(await (await fetcher(get("/v2/b/manifests/1"))).text(), "basic ok");
  assertEquals(fake.seen.map((s) => s.authorization), [null, BASIC_UP, BASIC_UP]);
});

Deno.test("withAuth: a Basic challenge without credentials returns the 401", async () => {
  const fake = basicRegistry();
  const res = await auth(fake.fetcher)(get("/v2/a/manifests/1"));
  assertEquals(res.status, 401);
  assertEquals(fake.seen.length, 1);
});

Deno.test("withAuth: wrong Basic credentials are tried once, then the 401", async () => {
  const fake = basicRegistry();
  const fetcher = auth(fake.fetcher, { credentials: () => ({ username: "user", password: "no" }) });
  assertEquals((await fetcher(get("/v2/a/manifests/1"))).status, 401);
  assertEquals((await fetcher(get("/v2/a/manifests/1"))).status, 401);
  assertEquals(fake.seen.length, 3, "no retry loop once the credentials were sent");
});

Deno.test("withAuth: a plain-HTTP token realm for an HTTPS registry is refused", async () => {
  const fake = fakeRegistry({ realm: "http://auth.example/token" });
  await assertRejects(
    () =>
      auth(fake.fetcher, { credentials: () => ({ username: "user", password: "pass" }) })(
        get("/v2/a/manifests/1"),
      ),
    Error,
    "not HTTPS",
  );
  assertEquals(fake.tokenRequests.length, 0);
  assert(!fake.seen.some((s) => s.url.protocol === "http:"));
});

Deno.test("withAuth: a plain-HTTP registry gets no credentials unless allowed", async () => {
  const seen: (string | null)[] = [];
  const fetcher: Fetcher = (request) => {
    seen.push(request.headers.get("authorization"));
    return Promise.resolve(
      new Response(null, { status: 401, headers: { "www-authenticate": 'Basic realm="r"' } }),
    );
  };
  const creds = () => ({ username: "user", password: "pass" });
  const res = await withAuth(fetcher, {
    registry: "registry.example",
    host: "registry.example",
    credentials: creds,
  })(new Request("http://registry.example/v2/a/manifests/1"));
  assertEquals(res.status, 401);
  assertEquals(seen, [null]);

  seen.length = 0;
  await withAuth(fetcher, {
    registry: "127.0.0.1:5000",
    host: "127.0.0.1:5000",
    credentials: creds,
    allowInsecure: true,
  })(new Request("http://127.0.0.1:5000/v2/a/manifests/1"));
  assertEquals(seen, [null, BASIC_UP]);
});

Deno.test("withAuth: the token request goes through tokenFetch", async () => {
  const fake = fakeRegistry();
  const viaTokenFetch: string[] = [];
  const res = await auth(fake.fetcher, {
    tokenFetch: (request) => {
      viaTokenFetch.push(new URL(request.url).origin);
      return fake.fetcher(request);
    },
  })(get("/v2/a/manifests/1"));
  assertEquals(res.status, 200);
  assertEquals(viaTokenFetch, ["https://auth.example"]);
});

Deno.test("withAuth: debug lines never carry secrets", async () => {
  const lines: string[] = [];
  const fake = fakeRegistry();
  await auth(fake.fetcher, {
    credentials: () => ({ username: "user", password: "pass" }),
    onDebug: (line) => lines.push(line),
  })(get("/v2/a/manifests/1"));
  assert(lines.length > 0);
  for (const line of lines) {
    assert(!line.includes("pass") && !line.includes("tok1") && !line.includes(btoa("user:pass")));
  }
  assertStringIncludes(lines.join("\n"), "repository:a:pull");
});

Deno.test("scopeFor: repository paths and the others", () => {
  const cases: [string, string | undefined][] = [
    ["/v2/library/alpine/manifests/3.20", "repository:library/alpine:pull"],
    ["/v2/a/manifests/sha256:" + "0".repeat(64), "repository:a:pull"],
    ["/v2/org/team/app/blobs/sha256:00", "repository:org/team/app:pull"],
    ["/v2/a/tags/list", "repository:a:pull"],
    ["/v2/manifests/manifests/x", "repository:manifests:pull"],
    ["/v2/a/b/blobs/", "repository:a/b:pull"],
    ["/v2/", undefined],
    ["/v2/_catalog", undefined],
    ["/v2/a/blobs/uploads/", "repository:a:pull,push"],
    ["/v2/a/b/blobs/uploads/0b1c-uuid", "repository:a/b:pull,push"],
    ["/v2/a/referrers/sha256:00", undefined],
    ["/token", undefined],
    ["/", undefined],
  ];
  for (const [path, want] of cases) assertEquals(scopeFor(path), want, path);
  assertEquals(scopeFor("/v2/a/manifests/1", "PUT"), "repository:a:pull,push");
  assertEquals(scopeFor("/v2/a/blobs/sha256:00", "HEAD"), "repository:a:pull");
  assertEquals(scopeFor("/v2/a/blobs/sha256:00", "DELETE"), "repository:a:pull,push");
});

Deno.test("withAuth: a body is sent once; after a 401 the push token is cached for the next send", async () => {
  const seen: string[] = [];
  const bodies: number[] = [];
  const fake = async (req: Request) => {
    const url = new URL(req.url);
    if (url.pathname === "/token") {
      seen.push(`token ${url.searchParams.getAll("scope").join(" ")}`);
      return Response.json({ token: "push-token" });
    }
    const length = req.body ? (await req.arrayBuffer()).byteLength : 0;
    bodies.push(length);
    seen.push(`${req.method} ${req.headers.get("authorization") ?? "-"}`);
    if (req.headers.get("authorization") === "Bearer push-token") {
      return new Response(null, { status: 201 });
    }
    return new Response(null, {
      status: 401,
      headers: {
        "www-authenticate":
          'Bearer realm="https://r.example/token",service="r",scope="repository:a:pull,push"',
      },
    });
  };
  const authed = withAuth(fake, { registry: "r.example", host: "r.example" });
  const put = () =>
    new Request("https://r.example/v2/a/manifests/1", { method: "PUT", body: "{}" });
  const first = await authed(put());
  assertEquals(first.status, 401);
  const second = await authed(put());
  assertEquals(second.status, 201);
  assertEquals(seen, [
    "PUT -",
    "token repository:a:pull,push",
    "PUT Bearer push-token",
  ]);
  assertEquals(bodies, [2, 2]);
});
