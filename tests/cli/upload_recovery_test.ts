// A registry whose upload session is behind what skiff sent: it answers a chunk (PATCH) or a
// commit (PUT) with 416 and a Range behind, and its session says the same when asked. push and
// copy start the blob over in a new upload session, reading it again from its start, and the
// blob that arrives is intact (skopeo reads the image back, verifying every blob). When every
// session is lost, the one line says so in words. The registry is the real one behind the tests'
// fault proxy, which plays the forgetful registry.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { mustRun, noise, sha256 } from "../_images.ts";
import { FaultProxy, type Rule } from "../_proxy.ts";
import { pushImage } from "../_push.ts";
import { startRegistry } from "../_registry.ts";
import { tempDir } from "../_temp.ts";
import { copy } from "../../lib/copy/copy.ts";

const LAYER = "application/vnd.oci.image.layer.v1.tar";
const MiB = 1024 * 1024;
const BEHIND = "0-1048575"; // 1 MiB: further back than the 4 MiB skiff keeps to send again

/** `size` bytes that are not all alike: 1 MiB of noise, repeated (noise itself is slow to make). */
function bytesOf(size: number, seed: string): Uint8Array {
  const unit = noise(MiB, seed);
  const out = new Uint8Array(size);
  for (let at = 0; at < size; at += MiB) out.set(unit.subarray(0, Math.min(MiB, size - at)), at);
  out[size - 1] = 1; // and not a repetition to the end
  return out;
}

/**
 * A forgetful registry: the upload requests `pick` chooses (up to `times` of them) are answered
 * 416 with a Range behind, and the GET of that session that follows says the same. `pick` is told
 * whether the session had a PATCH (a `PUT ?digest=` after one is a commit, else a small blob's
 * one PUT with its bytes).
 */
function forgetful(
  pick: (req: Request, url: URL, patched: boolean) => boolean,
  times = 1,
): Rule {
  let left = times;
  const lost = new Set<string>();
  const patched = new Set<string>();
  return (req, url) => {
    const session = url.pathname.includes("/blobs/uploads/") ? url.pathname : undefined;
    if (!session) return undefined;
    if (req.method === "GET" && lost.has(session)) {
      lost.delete(session);
      return { kind: "status", status: 204, headers: { range: BEHIND, location: session } };
    }
    const chosen = left > 0 && pick(req, url, patched.has(session));
    if (req.method === "PATCH") patched.add(session);
    if (!chosen) return undefined;
    left--;
    lost.add(session);
    return { kind: "status", status: 416, headers: { range: BEHIND } };
  };
}

/**
 * A registry that dropped the session (it expired): 404 BLOB_UPLOAD_UNKNOWN to the first upload
 * request `pick` chooses.
 */
function expired(pick: (req: Request, url: URL, patched: boolean) => boolean): Rule {
  let dropped = false;
  const patched = new Set<string>();
  return (req, url) => {
    if (!url.pathname.includes("/blobs/uploads/")) return undefined;
    const chosen = !dropped && pick(req, url, patched.has(url.pathname));
    if (req.method === "PATCH") patched.add(url.pathname);
    if (!chosen) return undefined;
    dropped = true;
    return {
      kind: "status",
      status: 404,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        errors: [{ code: "BLOB_UPLOAD_UNKNOWN", message: "blob upload unknown to registry" }],
      }),
    };
  };
}

/** The commit of a chunked upload: `PUT ?digest=` on a session that had a PATCH. */
const isCommit = (req: Request, _url: URL, patched: boolean) => req.method === "PUT" && patched;
/** A small blob's one `PUT ?digest=` with its bytes. */
const isWhole = (req: Request, _url: URL, patched: boolean) => req.method === "PUT" && !patched;

/**
 * What the registry serves for `ref`: the digest of its manifest as skopeo reads it, after skopeo
 * copied the image out (every blob fetched and checked against its digest, or the copy fails).
 */
async function readBack(ref: string, dir: string): Promise<string> {
  await mustRun("skopeo", [
    "copy",
    "--quiet",
    "--src-tls-verify=false",
    `docker://${ref}`,
    `oci:${dir}:x`,
  ]);
  return sha256(
    await mustRun("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`]),
  );
}

Deno.test("push and copy: a 416 with the registry's session behind starts the blob over", async (t) => {
  await using src = await startRegistry();
  await using dst = await startRegistry();
  const dir = await tempDir({ prefix: "skiff-416-" });
  // one layer of 6 MiB (a PATCH, then the commit) and a small config (one PUT with its bytes)
  const image = await pushImage(src.url, "app", "1", [{
    mediaType: LAYER,
    bytes: bytesOf(6 * MiB, "416"),
  }]);
  const env = { HOME: dir, DOCKER_CONFIG: `${dir}/.docker`, REGISTRY_AUTH_FILE: "" };

  await t.step("copy: the commit of the 6 MiB layer refused, its session at 1 MiB", async () => {
    await using proxy = FaultProxy.start(dst.url);
    proxy.on(forgetful(isCommit));
    const r = await skiff(["copy", "-q", "--json", `${src.host}/app:1`, `${proxy.host}/copied:1`], {
      env,
    });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stderr, "");
    const out = JSON.parse(r.stdout);
    assertEquals(out.digest, image.digest);
    assert(out.bytesResent >= 6 * MiB, `resent ${out.bytesResent}`);
    // the refused session cancelled, a new one from the start
    const uploads = proxy.seen.filter((s) => s.path.includes("/blobs/uploads/"));
    const refused = uploads.findIndex((s) => s.status === 416);
    assertEquals(
      uploads.slice(refused, refused + 4).map((s) => s.method),
      ["PUT", "GET", "DELETE", "POST"],
    );
    assertEquals(await readBack(`${dst.host}/copied:1`, `${dir}/copied`), image.digest);
  });

  await t.step(
    "push: the config's one PUT refused; a chunk (PATCH) refused; a session gone",
    async () => {
      const store = `${dir}/store`;
      const pulled = await skiff(["pull", "-q", "--store", store, `${src.host}/app:1`], { env });
      assertEquals(pulled.code, 0, pulled.stderr);
      const cases: [string, Rule, number][] = [
        ["config", forgetful(isWhole), 416],
        ["chunk", forgetful((req) => req.method === "PATCH"), 416],
        ["expired", expired((req) => req.method === "PATCH"), 404],
        ["expired-commit", expired(isCommit), 404],
      ];
      for (const [what, rule, status] of cases) {
        await using proxy = FaultProxy.start(dst.url);
        proxy.on(rule);
        const r = await skiff([
          "push",
          "-q",
          "--store",
          store,
          `${src.host}/app:1`,
          `${proxy.host}/pushed-${what}:1`,
        ], { env });
        assertEquals(r.code, 0, `${what}: ${r.stderr}`);
        assertEquals(r.stdout, `${proxy.host}/pushed-${what}:1 ${image.digest}\n`);
        const refused = proxy.seen.filter((s) =>
          s.status === status && s.path.includes("/blobs/uploads/")
        );
        assertEquals(refused.length, 1, what);
        assertEquals(
          await readBack(`${dst.host}/pushed-${what}:1`, `${dir}/${what}`),
          image.digest,
        );
      }
    },
  );

  await t.step(
    "the module: a PATCH in the middle refused, the session behind the resend buffer",
    async () => {
      await using proxy = FaultProxy.start(dst.url);
      let patches = 0;
      proxy.on(forgetful((req) => req.method === "PATCH" && ++patches === 6));
      const lines: string[] = [];
      const r = await copy(`${src.host}/app:1`, `${proxy.host}/module:1`, {
        credentials: () => undefined,
        config: { registries: {} },
        chunkSize: MiB,
        onDebug: (line) => lines.push(line),
      });
      assertEquals(r.digest, image.digest);
      assert(
        lines.some((l) =>
          /the registry kept only 1\.0 MiB of the 6\.0 MiB sent .*; writing sha256:\S+ again from its start$/
            .test(l)
        ),
        lines.join("\n"),
      );
      assertEquals(await readBack(`${dst.host}/module:1`, `${dir}/module`), image.digest);
    },
  );

  await t.step("a 416 before its PATCH's body was read: that body stops being sent", async () => {
    // Deno's fetch goes on reading a request's body after the answer came; the body of the
    // refused PATCH must stop there (it would move the resend buffer under the resend)
    const big = await pushImage(src.url, "big", "1", [{
      mediaType: LAYER,
      bytes: bytesOf(32 * MiB, "big"),
    }]);
    await using proxy = FaultProxy.start(dst.url);
    let refused: string | undefined;
    let drained = 0;
    const bodyEnded = Promise.withResolvers<void>();
    proxy.on((req, url) => {
      if (req.method === "PATCH" && refused === undefined) {
        refused = url.pathname;
        // the refused body, read here to count what skiff sent of it
        (async () => {
          try {
            for await (const piece of req.body!) drained += piece.byteLength;
          } catch {
            // skiff stopped sending it
          }
          bodyEnded.resolve();
        })();
        return { kind: "status", status: 416, headers: { range: "0-0" } };
      }
      // the session is asked where it is once that body has ended, however it ended
      if (req.method === "GET" && url.pathname === refused) {
        return { kind: "wait", until: bodyEnded.promise };
      }
      return undefined;
    });
    const r = await copy(`${src.host}/big:1`, `${proxy.host}/big:1`, {
      credentials: () => undefined,
      config: { registries: {} },
    });
    assertEquals(r.digest, big.digest);
    assert(drained < 32 * MiB, `the refused PATCH's body was sent whole (${drained} bytes)`);
    assertEquals(await readBack(`${dst.host}/big:1`, `${dir}/big`), big.digest);
  });

  await t.step("every session lost: exit 1, one line that says what happened, no tag", async () => {
    await using proxy = FaultProxy.start(dst.url);
    proxy.on(forgetful(isCommit, 100));
    const r = await skiff(["copy", "-q", `${src.host}/app:1`, `${proxy.host}/lost:1`], { env });
    assertEquals(r.code, 1);
    const lines = r.stderr.trim().split("\n");
    assertEquals(lines.length, 1, r.stderr);
    assertMatch(
      lines[0]!,
      /^skiff: Cannot upload blob sha256:[0-9a-f]{64} to 127\.0\.0\.1:\d+\/lost: it was lost 3 times, and written again from the blob's start after each; the last time the registry kept only 1\.0 MiB of the 6\.0 MiB sent \(after: 416 range not satisfiable\), further back than the last 4\.0 MiB skiff keeps to send again$/,
    );
    const head = await fetch(`${dst.url}/v2/lost/manifests/1`, { method: "HEAD" });
    await head.body?.cancel();
    assertEquals(head.status, 404);
  });
});
