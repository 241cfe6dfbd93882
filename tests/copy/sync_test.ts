// sync between two real Distribution registries: every tag with its referrers (a cosign-style
// signature tag, an SBOM artifact with a subject and its fallback index), digests kept; a second
// run writes nothing at the destination; a tag that fails does not stop the others.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { startFixture } from "../_fixture.ts";
import { copyBetween, sha256 } from "../_images.ts";
import { FaultProxy } from "../_proxy.ts";
import { putBlob, putManifest } from "../_push.ts";
import { startRegistry } from "../_registry.ts";
import { tempDir } from "../_temp.ts";
import { sync } from "../../lib/copy/sync.ts";
import { copy } from "../../lib/copy/copy.ts";

const enc = new TextEncoder();
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const ACCEPT = [
  OCI_MANIFEST,
  OCI_INDEX,
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
].join(", ");
const anonymous = () => undefined;
const FAST_RETRY = { baseDelay: 10, maxDelay: 100, attempts: 2 };

function json(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
}

async function head(url: string, repo: string, ref: string): Promise<string | undefined> {
  const res = await fetch(`${url}/v2/${repo}/manifests/${ref}`, {
    method: "HEAD",
    headers: { accept: ACCEPT },
  });
  await res.body?.cancel();
  return res.status === 200 ? res.headers.get("docker-content-digest") ?? undefined : undefined;
}

async function getJson(url: string, repo: string, ref: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/v2/${repo}/manifests/${ref}`, { headers: { accept: ACCEPT } });
  return await res.json();
}

/** Pushes, next to the image tagged `tag`, a cosign-style signature and an SBOM with a subject. */
async function addReferrers(url: string, repo: string, tag: string) {
  const subject = (await head(url, repo, tag))!;
  const subjectBytes = new Uint8Array(
    await (await fetch(`${url}/v2/${repo}/manifests/${tag}`, { headers: { accept: ACCEPT } }))
      .arrayBuffer(),
  );
  const subjectType = (JSON.parse(new TextDecoder().decode(subjectBytes)) as { mediaType: string })
    .mediaType;
  const hex = subject.slice(7);
  const empty = enc.encode("{}");
  const emptyDigest = await putBlob(url, repo, empty);
  const sbom = json({ spdxVersion: "SPDX-2.3", name: tag });
  const sbomDigest = await putBlob(url, repo, sbom);
  const artifactBytes = json({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: "application/spdx+json",
    config: { mediaType: "application/vnd.oci.empty.v1+json", digest: emptyDigest, size: 2 },
    layers: [{ mediaType: "application/spdx+json", digest: sbomDigest, size: sbom.length }],
    subject: { mediaType: subjectType, digest: subject, size: subjectBytes.length },
  });
  const artifact = await putManifest(url, repo, sha256(artifactBytes), OCI_MANIFEST, artifactBytes);
  await putManifest(
    url,
    repo,
    `sha256-${hex}`,
    OCI_INDEX,
    json({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{
        mediaType: OCI_MANIFEST,
        digest: artifact,
        size: artifactBytes.length,
        artifactType: "application/spdx+json",
      }],
    }),
  );
  const payload = json({ critical: { image: { "docker-manifest-digest": subject } } });
  const payloadDigest = await putBlob(url, repo, payload);
  const signatureBytes = json({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: "application/vnd.oci.empty.v1+json", digest: emptyDigest, size: 2 },
    layers: [{
      mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
      digest: payloadDigest,
      size: payload.length,
      annotations: { "dev.cosignproject.cosign/signature": "MEUCIQ-not-a-real-signature" },
    }],
  });
  const signature = await putManifest(url, repo, `sha256-${hex}.sig`, OCI_MANIFEST, signatureBytes);
  return { subject, artifact, signature, hex };
}

Deno.test("sync: every tag and its referrers, incrementally, between two registries", async (t) => {
  const fx = await startFixture();
  await using dest = await startRegistry();
  try {
    // the source repository: three tags (an index with attestations, a single image, a Docker
    // manifest list), copied there with the engine's own registry reads, plus referrers
    const src = fx.registry.url;
    for (
      const [from, tag] of [["test/multi:1", "multi"], ["test/single:1", "single"], [
        "test/docker:1",
        "docker",
      ]] as [string, string][]
    ) {
      const [repo, ref] = from.split(":");
      const bytes = new Uint8Array(
        await (await fetch(`${src}/v2/${repo}/manifests/${ref}`, { headers: { accept: ACCEPT } }))
          .arrayBuffer(),
      );
      const type = (JSON.parse(new TextDecoder().decode(bytes)) as { mediaType: string }).mediaType;
      // same registry: mount every blob the manifest needs into the mirror's source repository
      const mount = async (doc: Record<string, unknown>, from: string) => {
        const blobs = [doc.config, ...(doc.layers as unknown[] ?? [])].filter(Boolean) as {
          digest: string;
        }[];
        for (const b of blobs) {
          const r = await fetch(
            `${src}/v2/mirror/src/blobs/uploads/?mount=${b.digest}&from=${from}`,
            { method: "POST" },
          );
          await r.body?.cancel();
        }
      };
      const doc = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
      if (Array.isArray(doc.manifests)) {
        for (const m of doc.manifests as { digest: string; mediaType: string }[]) {
          const child = new Uint8Array(
            await (await fetch(`${src}/v2/${repo}/manifests/${m.digest}`, {
              headers: { accept: ACCEPT },
            })).arrayBuffer(),
          );
          await mount(JSON.parse(new TextDecoder().decode(child)), repo!);
          await putManifest(src, "mirror/src", m.digest, m.mediaType, child);
        }
      } else {
        await mount(doc, repo!);
      }
      await putManifest(src, "mirror/src", tag!, type, bytes);
    }
    const refs = await addReferrers(src, "mirror/src", "single");
    const source = `${fx.host}/mirror/src`;
    await using watch = FaultProxy.start(dest.url);
    const watched = `${watch.host}/mirror/dst`;
    const options = { credentials: anonymous, retry: FAST_RETRY, config: { registries: {} } };

    await t.step("first run: every tag copied, digests kept, referrers carried", async () => {
      const report = await sync(source, watched, options);
      assertEquals(report.tags.map((r) => [r.tag, r.status]).sort(), [
        ["docker", "copied"],
        ["multi", "copied"],
        ["sha256-" + refs.hex, "copied"],
        ["sha256-" + refs.hex + ".sig", "copied"],
        ["single", "copied"],
      ]);
      assertEquals([report.copied, report.upToDate, report.failed], [5, 0, 0]);
      for (const tag of ["multi", "single", "docker"]) {
        assertEquals(
          await head(dest.url, "mirror/dst", tag),
          await head(src, "mirror/src", tag),
          tag,
        );
      }
      // the referrers: the signature tag and the SBOM, with their digests
      assertEquals(await head(dest.url, "mirror/dst", `sha256-${refs.hex}.sig`), refs.signature);
      assertEquals(await head(dest.url, "mirror/dst", refs.artifact), refs.artifact);
      const fallback = await getJson(dest.url, "mirror/dst", `sha256-${refs.hex}`);
      assertEquals(
        (fallback.manifests as { digest: string }[]).map((m) => m.digest),
        [refs.artifact],
      );
    });

    await t.step("second run over an unchanged source: nothing written at all", async () => {
      const before = watch.seen.length;
      const report = await sync(source, watched, options);
      assertEquals([report.copied, report.upToDate, report.failed], [0, 5, 0]);
      const writes = watch.seen.slice(before).filter((r) => !["GET", "HEAD"].includes(r.method));
      assertEquals(writes.map((w) => `${w.method} ${w.path}`), []);
    });

    await t.step("--tags picks; a dry run says what it would copy and writes nothing", async () => {
      const other = `${watch.host}/mirror/other`;
      const before = watch.seen.length;
      const report = await sync(source, other, {
        ...options,
        tags: "^(single|multi)$",
        dryRun: true,
      });
      assertEquals(report.tags.map((r) => [r.tag, r.status]).sort(), [
        ["multi", "would-copy"],
        ["single", "would-copy"],
      ]);
      const writes = watch.seen.slice(before).filter((r) => !["GET", "HEAD"].includes(r.method));
      assertEquals(writes, []);
      assertEquals(await head(dest.url, "mirror/other", "single"), undefined);
    });

    await t.step(
      "a tag that fails does not stop the others; the CLI says so and exits 1",
      async () => {
        // the source serves the manifest of 'single' corrupted: that tag fails, the others copy
        await using lying = FaultProxy.start(src);
        lying.on((req, url) =>
          req.method === "GET" && url.pathname.endsWith("/manifests/single")
            ? { kind: "flip", at: 10 }
            : undefined
        );
        const store = await tempDir();
        const r = await skiff([
          "sync",
          "--no-referrers",
          `${lying.host}/mirror/src`,
          `${dest.host}/mirror/partial`,
        ], { env: { SKIFF_CONFIG: `${store}/none.json` } });
        assertEquals(r.code, 1, r.stderr);
        const lines = r.stdout.trim().split("\n").sort();
        assertEquals(lines.length, 5, r.stdout);
        assertMatch(lines.find((l) => l.includes(" single"))!, /^failed +single: .*digest/);
        assertMatch(lines.find((l) => l.includes(" multi "))!, /^copied +multi sha256:/);
        assertMatch(r.stderr, /skiff: sync: 4 copied, 0 up to date, 1 failed\n$/);
        assertEquals(await head(dest.url, "mirror/partial", "single"), undefined);
        assertEquals(
          await head(dest.url, "mirror/partial", "multi"),
          await head(src, "mirror/src", "multi"),
        );
      },
    );

    await t.step("copy carries the referrers too; --no-referrers does not", async () => {
      const carried = await copy(`${source}:single`, `${dest.host}/copied/with:single`, options);
      assertEquals(carried.referrers, 2); // the SBOM (by digest) and the signature tag
      assertEquals(await head(dest.url, "copied/with", `sha256-${refs.hex}.sig`), refs.signature);
      assertEquals(await head(dest.url, "copied/with", refs.artifact), refs.artifact);
      const fallback = await getJson(dest.url, "copied/with", `sha256-${refs.hex}`);
      assertEquals((fallback.manifests as { digest: string }[]).map((m) => m.digest), [
        refs.artifact,
      ]);
      const again = await copy(`${source}:single`, `${dest.host}/copied/with:single`, options);
      assertEquals(again.referrers, 0); // all there already
      const bare = await copy(`${source}:single`, `${dest.host}/copied/bare:single`, {
        ...options,
        referrers: false,
      });
      assertEquals(bare.referrers, 0);
      assertEquals(await head(dest.url, "copied/bare", `sha256-${refs.hex}.sig`), undefined);
      assertEquals(await head(dest.url, "copied/bare", refs.artifact), undefined);
    });

    await t.step("--config: several sources in one run, --json report", async () => {
      const dir = await tempDir();
      await Deno.writeTextFile(
        `${dir}/sync.json`,
        JSON.stringify({
          sync: [
            { source: source, destination: `${dest.host}/cfg/a`, tags: "^single$" },
            {
              source: source,
              destination: `${dest.host}/cfg/b`,
              tags: "^docker$",
              platform: "linux/amd64",
            },
          ],
        }),
      );
      const r = await skiff(["sync", "--json", "--config", `${dir}/sync.json`], {
        env: { SKIFF_CONFIG: `${dir}/none.json` },
      });
      assertEquals(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as {
        reports: { copied: number; tags: { tag: string }[] }[];
      };
      assertEquals(out.reports.map((x) => x.copied), [1, 1]);
      // the referrers of 'single' travelled with it, though their tags were not picked
      assertEquals(await head(dest.url, "cfg/a", `sha256-${refs.hex}.sig`), refs.signature);
      assertEquals(await head(dest.url, "cfg/a", refs.artifact), refs.artifact);
      const fallback = await getJson(dest.url, "cfg/a", `sha256-${refs.hex}`);
      assertEquals(
        (fallback.manifests as { digest: string; artifactType: string }[]).map((m) => [
          m.digest,
          m.artifactType,
        ]),
        [[refs.artifact, "application/spdx+json"]],
      );
      assert(await head(dest.url, "cfg/b", "docker") !== undefined);
      const bad = await skiff(["sync", "--config", `${dir}/missing.json`]);
      assertEquals(bad.code, 2);
      assertMatch(bad.stderr, /^skiff: Cannot read .*missing\.json/);
    });
  } finally {
    await fx.stop();
  }
});

Deno.test("sync: a tag moved at the source between runs is copied again", async () => {
  const fx = await startFixture();
  await using dest = await startRegistry();
  try {
    const source = `${fx.host}/moving/src`;
    const destination = `${dest.host}/moving/dst`;
    const options = { credentials: anonymous, retry: FAST_RETRY, config: { registries: {} } };
    await copyBetween(`${fx.host}/test/single:1`, `${source}:v`);
    await copyBetween(`${fx.host}/test/single:1`, `${source}:fixed`);

    const first = await skiff(["sync", "--no-referrers", source, destination]);
    assertEquals(first.code, 0, first.stderr);
    assertEquals(await head(dest.url, "moving/dst", "v"), fx.single.digest);

    // the tag moves to another image
    await copyBetween(`${fx.host}/test/multi@${fx.arm64.digest}`, `${source}:v`);
    assertEquals(await head(fx.registry.url, "moving/src", "v"), fx.arm64.digest);
    const second = await skiff(["sync", "--no-referrers", source, destination]);
    assertEquals(second.code, 0, second.stderr);
    assertEquals(
      second.stdout.split("\n").filter(Boolean).sort(),
      [`copied     v ${fx.arm64.digest}`, `up-to-date fixed ${fx.single.digest}`],
    );
    assertEquals(await head(dest.url, "moving/dst", "v"), fx.arm64.digest);
    assertEquals(await head(dest.url, "moving/dst", "fixed"), fx.single.digest);

    // and back, through the module: copied again, then up to date
    await copyBetween(`${fx.host}/test/single:1`, `${source}:v`);
    const back = await sync(source, destination, { ...options, referrers: false });
    assertEquals(back.tags.map((r) => [r.tag, r.status]).sort(), [
      ["fixed", "up-to-date"],
      ["v", "copied"],
    ]);
    assertEquals(await head(dest.url, "moving/dst", "v"), fx.single.digest);
    const again = await sync(source, destination, { ...options, referrers: false });
    assertEquals([again.copied, again.upToDate], [0, 2]);
  } finally {
    await fx.stop();
  }
});
