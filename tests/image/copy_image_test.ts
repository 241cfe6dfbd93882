// The copy engine between two real Distribution registries: byte-identical digests (skopeo's view
// of the destination), platform subsets, a cross-repository mount, a lying source, a cut source,
// and a destination that breaks in the middle of an upload.

import { assert, assertEquals, assertMatch, assertRejects } from "../_assert.ts";
import { type Fixture, startFixture } from "../_fixture.ts";
import { layerOf, LayoutBuilder, mustRun, noise, push, sha256, skopeoDigest } from "../_images.ts";
import { CutProxy } from "../_cut_proxy.ts";
import { FaultProxy } from "../_proxy.ts";
import { type RegistryServer, startRegistry } from "../_registry.ts";
import { copyImage, type CopyImageOptions } from "../../lib/image/copy_image.ts";
import { parseReference } from "../../lib/reference/parse_reference.ts";
import { DigestMismatchError } from "../../lib/reference/digest_mismatch_error.ts";
import { RegistryClient } from "../../lib/registry/registry_client.ts";
import { RegistryImageDestination } from "../../lib/registry/registry_image_destination.ts";
import { RegistryImageSource } from "../../lib/registry/registry_image_source.ts";

const FAST_RETRY = { baseDelay: 10, maxDelay: 100 };
const anonymous = () => undefined;

async function blobStatus(host: string, repository: string, digest: string): Promise<number> {
  const res = await fetch(`http://${host}/v2/${repository}/blobs/${digest}`, { method: "HEAD" });
  await res.body?.cancel();
  return res.status;
}

/** Copies `from` (host/repo:tag) to `to` (host/repo:tag) with the engine. */
async function copy(
  from: string,
  to: string,
  options: CopyImageOptions & { chunkSize?: number } = {},
) {
  const src = parseReference(from);
  const dst = parseReference(to);
  const source = new RegistryImageSource(
    new RegistryClient(src.registry, { credentials: anonymous, retry: FAST_RETRY }),
    src.repository,
  );
  const destination = new RegistryImageDestination(dst, {
    credentials: anonymous,
    retry: FAST_RETRY,
    ...(options.chunkSize ? { chunkSize: options.chunkSize } : {}),
  });
  return await copyImage(source, src.tag ?? src.digest!, destination, {
    ...options,
    ...(dst.tag ? { tag: dst.tag } : {}),
  });
}

/** A one-platform image with a zstd layer and a 3 MiB gzip one, and a Docker schema 2 image. */
async function pushExtras(fx: Fixture): Promise<void> {
  const b = await LayoutBuilder.create();
  try {
    const plain = await layerOf({ "z/data.bin": noise(300_000, "zstd layer") });
    const tar = await mustRun("gzip", ["-d", "-c"], { stdin: plain.bytes });
    const zst = await mustRun("zstd", ["-q", "-c", "-3"], { stdin: tar });
    const zstd = {
      mediaType: "application/vnd.oci.image.layer.v1.tar+zstd",
      digest: sha256(zst),
      size: zst.byteLength,
      bytes: zst,
      diffId: plain.diffId,
    };
    const big = await layerOf({ "big.bin": noise(3 * 1024 * 1024 + 17, "three") });
    await b.tag("zstd", await b.image([zstd, big]));
    const dockerLayer = await layerOf({ "d/x": "docker\n" });
    await b.tag("v2s2", await b.image([dockerLayer]));
    const base = await layerOf({ "etc/os-release": "NAME=three\n" });
    const images = [];
    for (const architecture of ["amd64", "arm64", "s390x"]) {
      images.push(await b.image([base], { architecture }));
    }
    const attestation = await b.attestation(images[0]!);
    await b.tag("three", await b.index([...images, attestation]));
    await push(b.dir, "three", `${fx.host}/test/three:1`, ["--all"]);
    await push(b.dir, "zstd", `${fx.host}/test/zstd:1`);
    await push(b.dir, "v2s2", `${fx.host}/test/v2s2:1`, ["--format", "v2s2"]);
  } finally {
    await b.remove();
  }
}

Deno.test("copyImage: registry to registry", async (t) => {
  const fx = await startFixture();
  let dest: RegistryServer | undefined;
  try {
    await pushExtras(fx);
    dest = await startRegistry();
    const to = dest.host;

    await t.step("every kind of root arrives with the source's digest, byte for byte", async () => {
      const cases = [
        ["test/multi:1", "an OCI index with an attestation"],
        ["test/docker:1", "a Docker manifest list"],
        ["test/v2s2:1", "a Docker schema 2 image"],
        ["test/zstd:1", "an OCI image with a zstd layer"],
        ["test/single:1", "an OCI image"],
      ];
      for (const [repo, what] of cases) {
        const result = await copy(`${fx.host}/${repo}`, `${to}/copied/${repo}`);
        const want = await skopeoDigest(`${fx.host}/${repo}`);
        assertEquals(result.digest, want, what);
        assertEquals(result.sourceDigest, want, what);
        assertEquals(result.root, "same", what);
        assertEquals(await skopeoDigest(`${to}/copied/${repo}`), want, what);
      }
      // every manifest of the index, the attestation too, is there by digest
      for (const d of [fx.amd64, fx.arm64, fx.attestation]) {
        assertEquals(await skopeoDigest(`${to}/copied/test/multi@${d.digest}`), d.digest);
      }
    });

    await t.step(
      "an index refused as naming an unknown child is sent again, 3 times at most",
      async () => {
        // Distribution's filesystem driver rewrites a manifest's link in place: a child pushed by
        // another copy at that moment is briefly unknown (sync copies tags side by side)
        const unknown = JSON.stringify({
          errors: [{ code: "MANIFEST_BLOB_UNKNOWN", message: "blob unknown to registry" }],
        });
        for (const refusals of [1, 4]) {
          await using proxy = FaultProxy.start(dest!.url);
          let refused = 0;
          proxy.on((req, url) => {
            if (req.method !== "PUT" || url.pathname !== `/v2/race/${refusals}/manifests/1`) return;
            if (refused++ >= refusals) return;
            return { kind: "status", status: 400, body: unknown };
          });
          const copying = copy(`${fx.host}/test/multi:1`, `${proxy.host}/race/${refusals}:1`);
          if (refusals === 1) {
            const result = await copying;
            assertEquals(result.digest, fx.multi.digest);
            assertEquals(await skopeoDigest(`${to}/race/1:1`), fx.multi.digest);
          } else {
            const e = await assertRejects(() => copying, Error);
            assertMatch(
              e.message,
              /^Cannot push manifest .*race\/4:1: 400 .*MANIFEST_BLOB_UNKNOWN/,
            );
            const tag = await fetch(`${dest!.url}/v2/race/4/manifests/1`, { method: "HEAD" });
            assertEquals(tag.status, 404, "no tag after the refusals");
          }
          const puts = proxy.seen.filter((x) =>
            x.method === "PUT" && x.path === `/v2/race/${refusals}/manifests/1`
          );
          assertEquals(puts.length, refusals === 1 ? 2 : 4);
        }
      },
    );

    await t.step("a second copy sends nothing: every blob is there", async () => {
      const again = await copy(`${fx.host}/test/multi:1`, `${to}/copied/test/multi:1`);
      assertEquals(again.blobs.copied, 0);
      assert(again.blobs.existing > 0);
      assertEquals(again.bytesSent, 0);
    });

    await t.step("one platform: its manifest alone, with its own digest", async () => {
      const result = await copy(`${fx.host}/test/multi:1`, `${to}/one/multi:1`, {
        platforms: [{ os: "linux", architecture: "arm64", variant: "v8" }],
      });
      assertEquals(result.root, "platform");
      assertEquals(result.digest, fx.arm64.digest);
      assertEquals(result.platforms, ["linux/arm64/v8"]);
      assertEquals(await skopeoDigest(`${to}/one/multi:1`), fx.arm64.digest);
      // the amd64 image's big layer was not copied
      assertEquals(result.blobs.copied, 2);
    });

    await t.step("two platforms of three: the index is rewritten (a new digest)", async () => {
      const source = `${fx.host}/test/three:1`;
      const result = await copy(source, `${to}/two/three:1`, {
        platforms: [
          { os: "linux", architecture: "amd64" },
          { os: "linux", architecture: "arm64" },
        ],
      });
      assertEquals(result.root, "rewritten");
      assertEquals(result.sourceDigest, await skopeoDigest(source));
      assert(result.digest !== result.sourceDigest, "a subset has another digest");
      assertEquals(await skopeoDigest(`${to}/two/three:1`), result.digest);
      const raw = (ref: string) =>
        mustRun("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`]);
      const before = JSON.parse(new TextDecoder().decode(await raw(source)));
      const after = JSON.parse(new TextDecoder().decode(await raw(`${to}/two/three:1`)));
      // s390x is gone; amd64's attestation stays with it; every other field is as it was
      assertEquals(after, {
        ...before,
        manifests: [before.manifests[0], before.manifests[1], before.manifests[3]],
      });
      assertEquals(result.platforms, ["linux/amd64", "linux/arm64"]);
    });

    await t.step("both platforms of two: nothing to rewrite, the same digest", async () => {
      const result = await copy(`${fx.host}/test/multi:1`, `${to}/both/multi:1`, {
        platforms: [
          { os: "linux", architecture: "amd64" },
          { os: "linux", architecture: "arm64" },
        ],
      });
      assertEquals(result.root, "same");
      assertEquals(result.digest, fx.multi.digest);
      assertEquals(await skopeoDigest(`${to}/both/multi:1`), fx.multi.digest);
    });

    await t.step("same registry: blobs are mounted, not sent", async () => {
      await using proxy = FaultProxy.start(fx.registry.url);
      const result = await copy(`${proxy.host}/test/multi:1`, `${proxy.host}/mounted/multi:1`);
      const mounts = proxy.seen.filter((r) => r.method === "POST" && r.path.includes("mount="));
      assert(mounts.length > 0, "mount requests were made");
      assert(mounts.every((r) => r.status === 201), "every mount was answered 201");
      assertEquals(result.blobs.mounted, mounts.length);
      assertEquals(result.blobs.copied, 0);
      assertEquals(
        proxy.seen.filter((r) => r.method === "PATCH" || r.path.includes("digest=")),
        [],
      );
      assertEquals(await skopeoDigest(`${fx.host}/mounted/multi:1`), fx.multi.digest);
    });

    await t.step("a lying source: the upload is cancelled before the commit; no tag", async () => {
      await using proxy = FaultProxy.start(fx.registry.url);
      const layer = fx.amd64; // its big layer is the one flipped
      const manifest = JSON.parse(
        new TextDecoder().decode(
          await mustRun("skopeo", [
            "inspect",
            "--raw",
            "--tls-verify=false",
            `docker://${fx.host}/test/multi@${layer.digest}`,
          ]),
        ),
      );
      const big = manifest.layers[1].digest as string;
      proxy.on((req, url) =>
        req.method === "GET" && url.pathname.endsWith(big) ? { kind: "flip", at: 1000 } : undefined
      );
      const destProxy = FaultProxy.start(dest!.url);
      try {
        const error = await assertRejects(
          () => copy(`${proxy.host}/test/multi:1`, `${destProxy.host}/lied/multi:1`, { jobs: 1 }),
          DigestMismatchError,
        );
        assertMatch(error.message, new RegExp(`expected ${big}`));
        // the session for the lying blob was started, never committed, and cancelled
        const commits = destProxy.seen.filter((r) =>
          r.path.includes(`digest=${encodeURIComponent(big)}`)
        );
        assertEquals(commits, []);
        assert(destProxy.seen.some((r) => r.method === "DELETE"), "the session was cancelled");
      } finally {
        await destProxy.stop();
      }
      assertEquals(await blobStatus(to, "lied/multi", big), 404);
      const tag = await fetch(`${dest!.url}/v2/lied/multi/manifests/1`, { method: "HEAD" });
      await tag.body?.cancel();
      assertEquals(tag.status, 404);
    });

    await t.step("a cut source is resumed with a Range request, not read again", async () => {
      await using proxy = FaultProxy.start(fx.registry.url);
      const manifest = JSON.parse(
        new TextDecoder().decode(
          await mustRun("skopeo", [
            "inspect",
            "--raw",
            "--tls-verify=false",
            `docker://${fx.host}/test/zstd:1`,
          ]),
        ),
      );
      const big = manifest.layers[1].digest as string;
      let cut = false;
      proxy.on((req, url) => {
        if (cut || req.method !== "GET" || !url.pathname.endsWith(big)) return undefined;
        cut = true;
        return { kind: "cut", after: 1_000_000 };
      });
      const result = await copy(`${proxy.host}/test/zstd:1`, `${to}/resumed-source/zstd:1`, {
        jobs: 1,
      });
      const ranged = proxy.seen.filter((r) => r.headers.range !== undefined);
      assertEquals(ranged.length, 1);
      assertMatch(ranged[0]!.headers.range!, /^bytes=\d+-$/);
      assert(Number(/\d+/.exec(ranged[0]!.headers.range!)![0]) > 0, "resumed past zero");
      assertEquals(await skopeoDigest(`${to}/resumed-source/zstd:1`), result.sourceDigest);
    });

    await t.step(
      "a destination that breaks in the middle: the upload goes on from the registry's Range",
      async () => {
        await using proxy = FaultProxy.start(dest!.url);
        const chunk = 1024 * 1024;
        let patches = 0;
        proxy.on((req) => {
          // the third chunk of the 3 MiB layer never reaches the registry: the gateway fails it
          if (req.method !== "PATCH") return undefined;
          return ++patches === 3 ? { kind: "status", status: 502 } : undefined;
        });
        const result = await copy(`${fx.host}/test/zstd:1`, `${proxy.host}/resumed-dest/zstd:1`, {
          chunkSize: chunk,
          jobs: 1,
        });
        assertEquals(await skopeoDigest(`${to}/resumed-dest/zstd:1`), result.sourceDigest);
        const posts = proxy.seen.filter((r) =>
          r.method === "POST" && r.path.includes("/blobs/uploads/")
        );
        const status = proxy.seen.filter((r) => r.method === "GET" && r.path.includes("/uploads/"));
        assertEquals(status.length, 1, "one GET asked the registry where the session is");
        assertEquals(status[0]!.status, 204);
        const ranges = proxy.seen.filter((r) => r.method === "PATCH").map((r) =>
          r.headers["content-range"]
        );
        // chunk 3 was refused; the next PATCH starts where the registry said, at 2 MiB, not at 0
        assertEquals(ranges.slice(0, 4), [
          `0-${chunk - 1}`,
          `${chunk}-${2 * chunk - 1}`,
          `${2 * chunk}-${3 * chunk - 1}`,
          `${2 * chunk}-${3 * chunk - 1}`,
        ]);
        // one session per uploaded blob (config, two layers): none was restarted
        assertEquals(posts.length, result.blobs.copied);
        assert(
          result.bytesResent > 0 && result.bytesResent <= chunk,
          `resent ${result.bytesResent}`,
        );
      },
    );
    await t.step(
      "a connection cut inside a PATCH: the session is asked, then resumed (or, lost, restarted)",
      async () => {
        const chunk = 1024 * 1024;
        await using proxy = new CutProxy(dest!.host, [{ patch: 3, after: 200_000 }]);
        const lines: string[] = [];
        const src = parseReference(`${fx.host}/test/zstd:1`);
        const result = await copyImage(
          new RegistryImageSource(
            new RegistryClient(src.registry, { credentials: anonymous, retry: FAST_RETRY }),
            src.repository,
          ),
          "1",
          new RegistryImageDestination(parseReference(`${proxy.host}/cut/zstd:1`), {
            credentials: anonymous,
            retry: FAST_RETRY,
            chunkSize: chunk,
            onDebug: (line) => lines.push(line),
          }),
          { tag: "1", jobs: 1, onDebug: (line) => lines.push(line) },
        );
        // the broken PATCH is followed by a GET of its session. Distribution 2.8 answers it in
        // one of two ways, depending on whether the partial body reached its file before the
        // connection broke: the offset before that PATCH (the upload goes on from there, in the
        // same session, from the resend buffer), or 404 when the file holds more than its state
        // says (the blob starts over, in a new session, from a new source stream)
        const requests = proxy.seen.map((r) =>
          r.line.split(" ")[0]! + (r.range ? ` ${r.range}` : "")
        ).filter((r) => /^(POST|PATCH|GET|DELETE|PUT)/.test(r));
        const cut = requests.indexOf(`PATCH ${2 * chunk}-${3 * chunk - 1}`);
        assert(cut > 0, requests.join("; "));
        assertEquals(requests[cut + 1], "GET");
        const resumed = requests[cut + 2] === `PATCH ${2 * chunk}-${3 * chunk - 1}`;
        if (resumed) {
          assert(result.bytesResent > 0 && result.bytesResent <= chunk, `${result.bytesResent}`);
          assert(lines.some((l) => /the registry has 2097152 bytes: resuming there/.test(l)));
        } else {
          assertEquals(requests.slice(cut + 2, cut + 5), [
            "DELETE",
            "POST",
            `PATCH 0-${chunk - 1}`,
          ]);
          assert(lines.some((l) => /dropped the upload session/.test(l)), lines.join("\n"));
          assert(result.bytesResent >= 2 * chunk, `resent ${result.bytesResent}`);
        }
        assertEquals(result.blobs.copied, 3);
        assertEquals(await skopeoDigest(`${to}/cut/zstd:1`), result.sourceDigest);
      },
    );
  } finally {
    await dest?.stop();
    await fx.stop();
  }
});
