// What a destination registry answers to writes is checked, and credentials never leave the
// registry's host: a manifest PUT or a mount answered with another digest fails the push or the
// copy in one line; an upload session (or a blob) handed out on another host gets no
// Authorization. Against the real registry, through the tests' own lying fronts; the CLI as a user
// runs it, and the module where it is the entry.

import { assert, assertEquals, assertMatch, assertRejects } from "../_assert.ts";
import { PASSWORD, startAuthFixture, USER } from "../_auth_fixture.ts";
import { skiff } from "../_cli.ts";
import { startFixture } from "../_fixture.ts";
import { skopeoDigest } from "../_images.ts";
import { FaultProxy } from "../_proxy.ts";
import { tempDir } from "../_temp.ts";
import { copy } from "../../lib/copy/copy.ts";
import { push } from "../../lib/copy/push.ts";

const WRONG = `sha256:${"0".repeat(64)}`;
const anonymous = () => undefined;
const NO_CONFIG = { registries: {} };

async function status(url: string): Promise<number> {
  const res = await fetch(url, { method: "HEAD" });
  await res.body?.cancel();
  return res.status;
}

Deno.test("a manifest PUT or a mount answered with another digest fails in one line", async (t) => {
  const fx = await startFixture();
  const dir = await tempDir({ prefix: "skiff-answers-" });
  try {
    const store = `${dir}/store`;
    const pulled = await skiff(["pull", "-q", "--store", store, `${fx.host}/test/single:1`]);
    assertEquals(pulled.code, 0, pulled.stderr);
    await using liar = FaultProxy.start(fx.registry.url);
    // a manifest PUT (by digest or by tag) "stored" under another digest
    liar.on((req, url) =>
      req.method === "PUT" && url.pathname.includes("/manifests/") &&
        url.pathname.startsWith("/v2/lied-manifest/")
        ? { kind: "status", status: 201, headers: { "docker-content-digest": WRONG } }
        : undefined
    );
    // a mount answered 201 for another blob
    liar.on((req, url) =>
      req.method === "POST" && url.searchParams.has("mount") &&
        url.pathname.startsWith("/v2/lied-mount/")
        ? { kind: "status", status: 201, headers: { "docker-content-digest": WRONG } }
        : undefined
    );
    const manifestLie =
      /^skiff: Cannot push manifest sha256:[0-9a-f]{64} to .*: the registry answered the digest sha256:0{64}, not the one sent\n$/;

    await t.step("push: the manifest PUT's digest is checked (CLI and module)", async () => {
      const r = await skiff([
        "push",
        "-q",
        "--store",
        store,
        `${fx.host}/test/single:1`,
        `${liar.host}/lied-manifest/push:1`,
      ]);
      assertEquals(r.code, 1, r.stderr);
      assertEquals(r.stdout, "");
      assertMatch(r.stderr, manifestLie);
      const e = await assertRejects(() =>
        push(`${fx.host}/test/single:1`, `${liar.host}/lied-manifest/module:1`, {
          store,
          credentials: anonymous,
        })
      );
      assertMatch(e.message, /the registry answered the digest sha256:0{64}, not the one sent$/);
    });

    await t.step("copy: the manifest PUT's digest is checked", async () => {
      const r = await skiff([
        "copy",
        "-q",
        "--no-referrers",
        `${fx.host}/test/single:1`,
        `${liar.host}/lied-manifest/copy:1`,
      ]);
      assertEquals(r.code, 1, r.stderr);
      assertMatch(r.stderr, manifestLie);
    });

    await t.step("copy: a mount answered 201 for another digest (CLI and module)", async () => {
      // same registry, two repositories: the blobs are mounted, not uploaded
      const r = await skiff([
        "copy",
        "-q",
        "--no-referrers",
        `${liar.host}/test/single:1`,
        `${liar.host}/lied-mount/copy:1`,
      ]);
      assertEquals(r.code, 1, r.stderr);
      assertMatch(
        r.stderr,
        /^skiff: Cannot mount blob sha256:[0-9a-f]{64} from test\/single into .*lied-mount\/copy: the registry answered the digest sha256:0{64}\n$/,
      );
      assertEquals(await status(`${fx.registry.url}/v2/lied-mount/copy/manifests/1`), 404);
      const e = await assertRejects(() =>
        copy(`${liar.host}/test/single:1`, `${liar.host}/lied-mount/module:1`, {
          credentials: anonymous,
          config: NO_CONFIG,
          referrers: false,
        })
      );
      assertMatch(
        e.message,
        /^Cannot mount blob .*: the registry answered the digest sha256:0{64}$/,
      );
      assertEquals(await status(`${fx.registry.url}/v2/lied-mount/module/manifests/1`), 404);
      // and the same copy through an honest front mounts every blob
      const ok = await skiff([
        "copy",
        "--json",
        "--no-referrers",
        `${liar.host}/test/single:1`,
        `${liar.host}/mounted/copy:1`,
      ]);
      assertEquals(ok.code, 0, ok.stderr);
      assertEquals(JSON.parse(ok.stdout).blobs.mounted, 3);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
    await fx.stop();
  }
});

interface Seen {
  method: string;
  path: string;
  authorization: string | null;
}

/**
 * A registry front on 127.0.0.1 that forwards to `upstream` (credentials and all), and hands out
 * upload sessions on another host: a storage server on 127.0.0.2 that forwards them to `upstream`
 * with credentials of its own (what a pre-signed URL carries). With `redirectBlobs`, blob GETs are
 * redirected to that host too (a CDN). `seen` is what the other host was sent.
 */
function frontWithForeignStorage(
  upstream: string,
  authorization: string,
  options: { redirectBlobs?: boolean } = {},
) {
  const seen: Seen[] = [];
  const forward = async (req: Request, url: URL, auth: string | null) => {
    const headers = new Headers(req.headers);
    headers.delete("host");
    headers.delete("authorization");
    if (auth !== null) headers.set("authorization", auth);
    return await fetch(upstream + url.pathname + url.search, {
      method: req.method,
      headers,
      redirect: "manual",
      ...(req.body ? { body: req.body } : {}),
    });
  };
  const storage = Deno.serve({ hostname: "127.0.0.2", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    seen.push({
      method: req.method,
      path: url.pathname,
      authorization: req.headers.get("authorization"),
    });
    const res = await forward(req, url, authorization);
    const headers = new Headers(res.headers);
    const location = headers.get("location");
    if (location !== null) {
      const next = new URL(location, upstream);
      headers.set("location", `${storageUrl}${next.pathname}${next.search}`);
    }
    return new Response(res.body, { status: res.status, headers });
  });
  const storageUrl = `http://127.0.0.2:${storage.addr.port}`;
  const front = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    if (options.redirectBlobs && req.method === "GET" && /\/blobs\/sha256:/.test(url.pathname)) {
      return new Response(null, {
        status: 307,
        headers: { location: `${storageUrl}${url.pathname}?signature=test` },
      });
    }
    const res = await forward(req, url, req.headers.get("authorization"));
    const headers = new Headers(res.headers);
    const location = headers.get("location");
    if (req.method === "POST" && res.status === 202 && location !== null) {
      const next = new URL(location, upstream);
      headers.set("location", `${storageUrl}${next.pathname}${next.search}`);
    }
    return new Response(res.body, { status: res.status, headers });
  });
  return {
    host: `127.0.0.1:${front.addr.port}`,
    seen,
    async [Symbol.asyncDispose]() {
      await front.shutdown();
      await storage.shutdown();
    },
  };
}

Deno.test("uploads and blobs on another host get no Authorization (push, copy)", async (t) => {
  const fx = await startAuthFixture();
  const basic = `Basic ${btoa(`${USER}:${PASSWORD}`)}`;
  const login = ["-u", USER, "--password-stdin"];
  const readBack = (ref: string) => skopeoDigest(ref, `${USER}:${PASSWORD}`);
  try {
    await t.step("push: the upload session's Location is on another host", async () => {
      const { dir, env } = await fx.home();
      try {
        const store = `${dir}/store`;
        const pulled = await skiff(
          ["pull", "-q", ...login, "--store", store, `${fx.basic.host}/private/app:1`],
          { env, stdin: PASSWORD },
        );
        assertEquals(pulled.code, 0, pulled.stderr);
        await using front = frontWithForeignStorage(fx.basic.url, basic);
        const r = await skiff([
          "push",
          "-q",
          ...login,
          "--store",
          store,
          `${fx.basic.host}/private/app:1`,
          `${front.host}/pushed/app:1`,
        ], { env, stdin: PASSWORD });
        assertEquals(r.code, 0, r.stderr);
        assertEquals(r.stdout, `${front.host}/pushed/app:1 ${fx.image.digest}\n`);
        // the config and both layers went to the other host: a PATCH for the large one, PUTs
        assert(front.seen.some((s) => s.method === "PATCH"), JSON.stringify(front.seen));
        assertEquals(front.seen.filter((s) => s.method === "PUT").length, 3);
        assertEquals(front.seen.filter((s) => s.authorization !== null), []);
        assertEquals(await readBack(`${fx.basic.host}/pushed/app:1`), fx.image.digest);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });

    await t.step("copy: blobs redirected to, and uploaded to, another host", async () => {
      const { dir, env } = await fx.home();
      try {
        await using source = frontWithForeignStorage(fx.basic.url, basic, {
          redirectBlobs: true,
        });
        await using destination = frontWithForeignStorage(fx.basic.url, basic);
        const r = await skiff([
          "copy",
          "-q",
          ...login,
          "--no-referrers",
          `${source.host}/private/app:1`,
          `${destination.host}/copied/app:1`,
        ], { env, stdin: PASSWORD });
        assertEquals(r.code, 0, r.stderr);
        assertEquals(r.stdout, `${destination.host}/copied/app:1 ${fx.image.digest}\n`);
        assertEquals(source.seen.filter((s) => s.method === "GET").length, 3);
        assertEquals(source.seen.filter((s) => s.authorization !== null), []);
        assert(destination.seen.some((s) => s.method === "PATCH"));
        assertEquals(destination.seen.filter((s) => s.authorization !== null), []);
        assertEquals(await readBack(`${fx.basic.host}/copied/app:1`), fx.image.digest);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  } finally {
    await fx.stop();
  }
});
