// Referrers: the real registry (Distribution 2.8 has no referrers API, so the tag schema's index
// and cosign-style tags are what it holds), and a registry of the tests' own that speaks the OCI
// 1.1 referrers API, pages included, and lies.

import { assert, assertEquals, assertMatch, assertRejects } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { sha256 } from "../_images.ts";
import { putBlob, putManifest } from "../_push.ts";
import { startRegistry } from "../_registry.ts";
import { listReferrers } from "../../lib/registry/list_referrers.ts";
import { ManifestError } from "../../lib/oci/parse_manifest.ts";

const enc = new TextEncoder();
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const EMPTY = "application/vnd.oci.empty.v1+json";
const SPDX = "application/spdx+json";

function json(value: unknown): Uint8Array<ArrayBuffer> {
  return enc.encode(JSON.stringify(value));
}

Deno.test("referrers: a registry without the API, read through the tag schema and cosign tags", async (t) => {
  await using registry = await startRegistry();
  const url = registry.url;
  const repo = "test/signed";
  // the subject: a small image
  const layer = enc.encode("not really a tar, never unpacked here");
  const layerDigest = await putBlob(url, repo, layer);
  const config = json({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: [] },
  });
  const configDigest = await putBlob(url, repo, config);
  const subjectBytes = json({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: configDigest,
      size: config.length,
    },
    layers: [{
      mediaType: "application/vnd.oci.image.layer.v1.tar",
      digest: layerDigest,
      size: layer.length,
    }],
  });
  const subject = await putManifest(url, repo, "1", OCI_MANIFEST, subjectBytes);
  const subjectDesc = { mediaType: OCI_MANIFEST, digest: subject, size: subjectBytes.length };
  const hex = subject.slice("sha256:".length);

  // an SBOM artifact with a subject, and the fallback index a client keeps for it
  const empty = enc.encode("{}");
  const emptyDigest = await putBlob(url, repo, empty);
  const sbom = json({ spdxVersion: "SPDX-2.3", name: "signed" });
  const sbomDigest = await putBlob(url, repo, sbom);
  const artifactBytes = json({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: SPDX,
    config: { mediaType: EMPTY, digest: emptyDigest, size: empty.length },
    layers: [{ mediaType: SPDX, digest: sbomDigest, size: sbom.length }],
    subject: subjectDesc,
    annotations: { "org.opencontainers.image.created": "2026-12-01T00:00:00Z" },
  });
  const artifact = await putManifest(url, repo, sha256(artifactBytes), OCI_MANIFEST, artifactBytes);
  const fallback = json({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [{
      mediaType: OCI_MANIFEST,
      digest: artifact,
      size: artifactBytes.length,
      artifactType: SPDX,
      annotations: { "org.opencontainers.image.created": "2026-12-01T00:00:00Z" },
    }],
  });
  await putManifest(url, repo, `sha256-${hex}`, OCI_INDEX, fallback);

  // a cosign-style signature: a simple-signing layer with the signature in an annotation
  const payload = json({ critical: { image: { "docker-manifest-digest": subject } } });
  const payloadDigest = await putBlob(url, repo, payload);
  const sigConfig = json({ architecture: "", os: "", rootfs: { type: "layers", diff_ids: [] } });
  const sigConfigDigest = await putBlob(url, repo, sigConfig);
  const signatureBytes = json({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: sigConfigDigest,
      size: sigConfig.length,
    },
    layers: [{
      mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
      digest: payloadDigest,
      size: payload.length,
      annotations: { "dev.cosignproject.cosign/signature": "MEUCIQD-not-a-real-signature" },
    }],
  });
  const signature = await putManifest(url, repo, `sha256-${hex}.sig`, OCI_MANIFEST, signatureBytes);

  await t.step("listReferrers: the fallback index's entries, then the cosign tag", async () => {
    const result = await listReferrers(`${registry.host}/${repo}:1`);
    assertEquals(result.subject, subject);
    assertEquals(result.api, false);
    assertEquals(result.referrers.map((r) => [r.digest, r.source, r.artifactType, r.tag]), [
      [artifact, "referrers-tag", SPDX, undefined],
      [signature, "cosign-tag", "application/vnd.oci.image.config.v1+json", `sha256-${hex}.sig`],
    ]);
    assertEquals(result.referrers[1]!.size, signatureBytes.length);
  });

  await t.step("--artifact-type keeps only that type; by digest the same", async () => {
    const result = await listReferrers(`${registry.host}/${repo}@${subject}`, {
      artifactType: SPDX,
    });
    assertEquals(result.referrers.map((r) => r.digest), [artifact]);
  });

  await t.step("nothing refers to an image: an empty list, not an error", async () => {
    const result = await listReferrers(`${registry.host}/${repo}@${artifact}`);
    assertEquals(result.referrers, []);
  });

  await t.step("a manifest where the fallback index belongs: one clear error", async () => {
    await putManifest(url, repo, `sha256-${artifact.slice(7)}`, OCI_MANIFEST, subjectBytes);
    await assertRejects(
      () => listReferrers(`${registry.host}/${repo}@${artifact}`, { cosignTags: false }),
      ManifestError,
      "holds a manifest, not an index",
    );
  });

  await t.step("skiff referrers: a table, and --json", async () => {
    const table = await skiff(["referrers", `${registry.host}/${repo}:1`]);
    assertEquals(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split("\n");
    assertMatch(lines[0]!, /^DIGEST +ARTIFACT TYPE +SIZE +FOUND BY$/);
    assertMatch(lines[1]!, new RegExp(`^${artifact} +application/spdx\\+json +\\d+ B +index$`));
    assertMatch(lines[2]!, new RegExp(`^${signature} .* tag sha256-${hex}\\.sig$`));
    const j = await skiff(["referrers", "--json", "--no-cosign", `${registry.host}/${repo}:1`]);
    assertEquals(j.code, 0, j.stderr);
    const parsed = JSON.parse(j.stdout);
    assertEquals(parsed.subject, subject);
    assertEquals(parsed.referrers.map((r: { digest: string }) => r.digest), [artifact]);
  });
});

/** A registry of the tests' own that answers the referrers API with scripted pages. */
function referrersServer(
  pages: (req: Request, url: URL) => Response | undefined,
): Deno.HttpServer & { host: string } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/v2/") return new Response("{}", { status: 200 });
    return pages(req, url) ?? new Response("not found", { status: 404 });
  });
  const host = `127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  return Object.assign(server, { host });
}

const SUBJECT = "sha256:" + "a".repeat(64);

function entry(n: number, artifactType: string) {
  return {
    mediaType: OCI_MANIFEST,
    digest: "sha256:" + String(n).repeat(64).slice(0, 64),
    size: 100 + n,
    artifactType,
  };
}

Deno.test("referrers: the OCI 1.1 API, with pages, filters and lies", async (t) => {
  const asked: string[] = [];
  let script: "pages" | "unfiltered" | "hostile" | "endless" | "loop" = "pages";
  const server = referrersServer((_req, url) => {
    if (!url.pathname.startsWith("/v2/app/referrers/")) return undefined;
    asked.push(url.pathname + url.search);
    const index = (manifests: unknown[]) =>
      json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests });
    const headers: Record<string, string> = { "content-type": OCI_INDEX };
    if (script === "pages") {
      if (url.searchParams.get("last") === null) {
        headers.link = `</v2/app/referrers/${SUBJECT}?last=1>; rel="next"`;
        return new Response(index([entry(1, SPDX)]), { headers });
      }
      return new Response(index([entry(2, "application/vnd.dev.sigstore.bundle+json")]), {
        headers,
      });
    }
    if (script === "unfiltered") {
      // asked for one type, the registry sends every type and says nothing of filtering
      return new Response(index([entry(1, SPDX), entry(2, "application/x-other")]), { headers });
    }
    if (script === "hostile") {
      return new Response(
        index([{ mediaType: OCI_MANIFEST, digest: "sha256:../../etc", size: 1 }]),
        { headers },
      );
    }
    if (script === "loop") {
      // page 2 links back to page 1
      headers.link = url.search === ""
        ? `</v2/app/referrers/${SUBJECT}?page=2>; rel="next"`
        : `<http://${url.host}/v2/app/referrers/${SUBJECT}>; rel="next"`;
      return new Response(index([entry(asked.length, SPDX)]), { headers });
    }
    headers.link = `</v2/app/referrers/${SUBJECT}?page=${asked.length}>; rel="next"`;
    return new Response(index([entry(asked.length % 10, SPDX)]), { headers });
  });
  const options = { plainHttp: true, cosignTags: false, config: { registries: {} } };
  try {
    await t.step("pages are followed; the API's answer is the list", async () => {
      const result = await listReferrers(`${server.host}/app@${SUBJECT}`, options);
      assertEquals(result.api, true);
      assertEquals(result.referrers.map((r) => r.digest), [
        entry(1, "").digest,
        entry(2, "").digest,
      ]);
      assertEquals(result.referrers.every((r) => r.source === "referrers-api"), true);
      assertEquals(asked, [`/v2/app/referrers/${SUBJECT}`, `/v2/app/referrers/${SUBJECT}?last=1`]);
    });

    await t.step("artifactType is asked for, and applied when the registry did not", async () => {
      script = "unfiltered";
      asked.length = 0;
      const result = await listReferrers(`${server.host}/app@${SUBJECT}`, {
        ...options,
        artifactType: SPDX,
      });
      assertEquals(asked, [
        `/v2/app/referrers/${SUBJECT}?artifactType=${encodeURIComponent(SPDX)}`,
      ]);
      assertEquals(result.referrers.map((r) => r.artifactType), [SPDX]);
    });

    await t.step("a descriptor with a hostile digest fails the call", async () => {
      script = "hostile";
      const e = await assertRejects(
        () => listReferrers(`${server.host}/app@${SUBJECT}`, options),
        ManifestError,
      );
      assertMatch(e.message, /referrers manifests\[0\] has an invalid digest/);
    });

    await t.step("pages without end stop at the cap with one line", async () => {
      script = "endless";
      asked.length = 0;
      const e = await assertRejects(
        () => listReferrers(`${server.host}/app@${SUBJECT}`, options),
        Error,
        "more than 100 pages",
      );
      assert(!e.message.includes("\n"));
      assertEquals(asked.length, 100);
    });

    await t.step("a Link back to a page already read ends there, with one line", async () => {
      script = "loop";
      asked.length = 0;
      await assertRejects(
        () => listReferrers(`${server.host}/app@${SUBJECT}`, options),
        Error,
        "the registry's Link header leads back to a page already read",
      );
      assertEquals(asked, [`/v2/app/referrers/${SUBJECT}`, `/v2/app/referrers/${SUBJECT}?page=2`]);
    });
  } finally {
    await server.shutdown();
  }
});
