// Referrers of referrers, between two real Distribution registries: a signature on an SBOM, an
// attestation of the SBOM in its fallback index and a signature on that, carried by copy and sync;
// the depth bound (a chain of signatures longer than it); and a referrer graph with loops (a
// fallback index that lists the image itself and itself), which ends.

import { assertEquals, assertMatch } from "../_assert.ts";
import { FaultProxy } from "../_proxy.ts";
import { sha256 } from "../_images.ts";
import { pushImage, putManifest } from "../_push.ts";
import {
  describe,
  pushArtifact,
  type PushedDesc,
  pushFallback,
  pushSignature,
} from "../_referrers.ts";
import { startRegistry } from "../_registry.ts";
import { copy } from "../../lib/copy/copy.ts";
import { sync } from "../../lib/copy/sync.ts";

const SPDX = "application/spdx+json";
const INTOTO = "application/vnd.in-toto+json";
const options = {
  credentials: () => undefined,
  retry: { baseDelay: 10, maxDelay: 100, attempts: 2 },
  config: { registries: {} },
};
const enc = new TextEncoder();

async function head(url: string, repo: string, ref: string): Promise<string | undefined> {
  const res = await fetch(`${url}/v2/${repo}/manifests/${ref}`, {
    method: "HEAD",
    headers: {
      accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
    },
  });
  await res.body?.cancel();
  return res.status === 200 ? res.headers.get("docker-content-digest") ?? undefined : undefined;
}

async function fallbackOf(url: string, repo: string, subject: string): Promise<string[]> {
  const res = await fetch(`${url}/v2/${repo}/manifests/sha256-${subject.slice(7)}`, {
    headers: { accept: "application/vnd.oci.image.index.v1+json" },
  });
  if (res.status !== 200) {
    await res.body?.cancel();
    return [];
  }
  const doc = await res.json() as { manifests: { digest: string }[] };
  return doc.manifests.map((m) => m.digest);
}

async function image(url: string, repo: string, tag: string): Promise<PushedDesc> {
  await pushImage(url, repo, tag, [{
    mediaType: "application/vnd.oci.image.layer.v1.tar",
    bytes: enc.encode(`layer of ${repo}`),
  }]);
  return await describe(url, repo, tag);
}

Deno.test("referrers of referrers: carried to a bounded depth, loops end", async (t) => {
  await using src = await startRegistry();
  await using dst = await startRegistry();
  const s = src.url;

  // app:1 <- SBOM (fallback index) <- signature (cosign tag)
  //                                <- attestation (the SBOM's fallback index) <- signature
  const app = await image(s, "app", "1");
  const sbom = await pushArtifact(s, "app", app, SPDX, '{"spdxVersion":"SPDX-2.3"}');
  await pushFallback(s, "app", app.digest, [sbom]);
  const sbomSig = await pushSignature(s, "app", sbom.digest);
  const att = await pushArtifact(s, "app", sbom, INTOTO, '{"_type":"statement"}');
  await pushFallback(s, "app", sbom.digest, [att]);
  const attSig = await pushSignature(s, "app", att.digest);

  await t.step("copy carries every level, with the fallback index of each subject", async () => {
    const r = await copy(`${src.host}/app:1`, `${dst.host}/app:1`, options);
    assertEquals(r.referrers, 4);
    assertEquals(await head(dst.url, "app", sbom.digest), sbom.digest);
    assertEquals(await head(dst.url, "app", `sha256-${sbom.digest.slice(7)}.sig`), sbomSig);
    assertEquals(await head(dst.url, "app", att.digest), att.digest);
    assertEquals(await head(dst.url, "app", `sha256-${att.digest.slice(7)}.sig`), attSig);
    assertEquals(await fallbackOf(dst.url, "app", app.digest), [sbom.digest]);
    assertEquals(await fallbackOf(dst.url, "app", sbom.digest), [att.digest]);
    // again: everything is there, nothing is copied
    const again = await copy(`${src.host}/app:1`, `${dst.host}/app:1`, options);
    assertEquals(again.referrers, 0);
  });

  await t.step("referrerDepth 1 carries the image's own referrers only", async () => {
    const r = await copy(`${src.host}/app:1`, `${dst.host}/shallow:1`, {
      ...options,
      referrerDepth: 1,
    });
    assertEquals(r.referrers, 1);
    assertEquals(await head(dst.url, "shallow", sbom.digest), sbom.digest);
    assertEquals(await head(dst.url, "shallow", `sha256-${sbom.digest.slice(7)}.sig`), undefined);
    assertEquals(await head(dst.url, "shallow", att.digest), undefined);
  });

  await t.step("a signature added later to the SBOM travels on the next sync", async () => {
    const first = await sync(`${src.host}/app`, `${dst.host}/synced`, { ...options, tags: "^1$" });
    assertEquals(first.tags.map((x) => [x.tag, x.status, x.referrers]), [["1", "copied", 4]]);
    // a second signature of the SBOM, as a new referrer in its fallback index
    const countersign = await pushArtifact(s, "app", sbom, "application/vnd.dev.sig", "second");
    await pushFallback(s, "app", sbom.digest, [att, countersign]);
    await using watch = FaultProxy.start(dst.url);
    const second = await sync(`${src.host}/app`, `${watch.host}/synced`, {
      ...options,
      tags: "^1$",
    });
    assertEquals(second.tags.map((x) => [x.tag, x.status, x.referrers]), [["1", "up-to-date", 1]]);
    assertEquals(await head(dst.url, "synced", countersign.digest), countersign.digest);
    assertEquals(await fallbackOf(dst.url, "synced", sbom.digest), [
      att.digest,
      countersign.digest,
    ]);
    // a third run: nothing written at all
    const before = watch.seen.length;
    const third = await sync(`${src.host}/app`, `${watch.host}/synced`, {
      ...options,
      tags: "^1$",
    });
    assertEquals(third.tags.map((x) => [x.tag, x.status, x.referrers]), [["1", "up-to-date", 0]]);
    const writes = watch.seen.slice(before).filter((x) => !["GET", "HEAD"].includes(x.method));
    assertEquals(writes.map((w) => `${w.method} ${w.path}`), []);
  });

  await t.step("a chain longer than the depth is cut at the depth (4)", async () => {
    const base = await image(s, "chain", "1");
    const sigs: string[] = [];
    let subject = base.digest;
    for (let i = 0; i < 6; i++) {
      subject = await pushSignature(s, "chain", subject);
      sigs.push(subject);
    }
    const r = await copy(`${src.host}/chain:1`, `${dst.host}/chain:1`, options);
    assertEquals(r.referrers, 4);
    const there = [];
    for (const [i, sig] of sigs.entries()) {
      const of = i === 0 ? base.digest : sigs[i - 1]!;
      there.push(await head(dst.url, "chain", `sha256-${of.slice(7)}.sig`) === sig);
    }
    assertEquals(there, [true, true, true, true, false, false]);
  });

  await t.step("a referrer graph with loops ends: each digest is looked up once", async () => {
    // loop:1 <- A (fallback index); A's fallback index lists loop:1 itself and A itself
    const root = await image(s, "loop", "1");
    const a = await pushArtifact(s, "loop", root, SPDX, "loop");
    await pushFallback(s, "loop", root.digest, [a]);
    await pushFallback(s, "loop", a.digest, [root, a]);
    await using watch = FaultProxy.start(s);
    const r = await copy(`${watch.host}/loop:1`, `${dst.host}/loop:1`, options);
    // A is copied; loop:1 (already there, the image) and A (already there) are present
    assertEquals(r.referrers, 1);
    assertEquals(await head(dst.url, "loop", a.digest), a.digest);
    assertEquals(await fallbackOf(dst.url, "loop", a.digest), [root.digest, a.digest]);
    // each subject's fallback index was read once: the loop was not followed round
    const lookups = watch.seen.filter((x) => /\/manifests\/sha256-[0-9a-f]{64}$/.test(x.path))
      .map((x) => x.path).sort();
    assertEquals(
      lookups,
      [
        `/v2/loop/manifests/sha256-${a.digest.slice(7)}`,
        `/v2/loop/manifests/sha256-${root.digest.slice(7)}`,
      ].sort(),
    );
    // and sync over the loop: every tag done, then a second run writes nothing
    const first = await sync(`${src.host}/loop`, `${dst.host}/loop2`, options);
    assertEquals(first.failed, 0, JSON.stringify(first.tags));
    assertEquals(first.tags.length, 3); // 1 and the two fallback indexes
    await using watchDst = FaultProxy.start(dst.url);
    const second = await sync(`${src.host}/loop`, `${watchDst.host}/loop2`, options);
    assertEquals([second.upToDate, second.failed], [3, 0]);
    const writes = watchDst.seen.filter((x) => !["GET", "HEAD"].includes(x.method));
    assertEquals(writes.map((w) => `${w.method} ${w.path}`), []);
  });

  await t.step(
    "a graph of more than 1000 referrers: none copied, the image is, the limit named",
    async () => {
      // one fallback index listing 1001 artifacts (Distribution checks an index's entries exist)
      const root = await image(s, "wide", "1");
      const first = await pushArtifact(s, "wide", root, SPDX, "wide");
      const bytes = new TextDecoder().decode(
        await (await fetch(`${s}/v2/wide/manifests/${first.digest}`, {
          headers: { accept: first.mediaType },
        })).arrayBuffer(),
      );
      const many: PushedDesc[] = [first];
      for (let i = 1; i < 1001; i++) {
        const doc = JSON.parse(bytes);
        doc.annotations = { n: String(i) };
        const b = enc.encode(JSON.stringify(doc));
        const digest = await putManifest(s, "wide", sha256(b), first.mediaType, b);
        many.push({ mediaType: first.mediaType, digest, size: b.length });
      }
      await pushFallback(s, "wide", root.digest, many);
      // referrers are secondary: the image is copied and tagged, the problem is in the result
      const r = await copy(`${src.host}/wide:1`, `${dst.host}/wide:1`, options);
      assertEquals([r.digest, r.referrers], [root.digest, 0]);
      assertMatch(
        r.referrersError!,
        /^Cannot carry the referrers of sha256:[0-9a-f]{64}: more than 1000 referrers reached \(depth 1\)$/,
      );
      assertEquals(await head(dst.url, "wide", "1"), root.digest);
      assertEquals(await head(dst.url, "wide", first.digest), undefined);
    },
  );
});
