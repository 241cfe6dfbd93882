// Referrers are secondary data: a source whose referrers are malformed (an invalid digest, a
// `Link` loop, more than the cap) does not fail the copy or the sync of the image they refer to.
// The image is copied and tagged, the others' referrers still travel, and the problem is a
// warning that names the image and --no-referrers, with its own field in --json and its own
// count in sync's summary. The source is a registry of the tests' own (it says what the real one
// would refuse to store); the destination is the real registry.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { type HostileRegistry, startHostileRegistry } from "../_hostile_registry.ts";
import { mustRun, sha256 } from "../_images.ts";
import { startRegistry } from "../_registry.ts";
import { tempDir } from "../_temp.ts";
import { copy } from "../../lib/copy/copy.ts";
import { sync } from "../../lib/copy/sync.ts";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const SIGNATURE = "application/vnd.dev.sigstore.bundle.v0.3+json";
const options = {
  credentials: () => undefined,
  retry: { baseDelay: 10, maxDelay: 100, attempts: 2 },
  config: { registries: {} },
};

interface Served {
  /** The index `app:1` (two platforms). */
  index: string;
  amd64: string;
  arm64: string;
  /** The signature of arm64 its referrers list (a valid referrer). */
  signature: string;
}

/** Serves `app:1`, an index of two images; arm64 has one valid referrer, a signature. */
function serveImage(evil: HostileRegistry): Served {
  const layer = evil.blob("app", "layer bytes");
  const image = (architecture: string) => {
    const config = evil.blob("app", JSON.stringify({ architecture, os: "linux", rootfs: {} }));
    const doc = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layer }],
    };
    const digest = evil.manifest("app", undefined, doc);
    return { digest, size: new TextEncoder().encode(JSON.stringify(doc)).length };
  };
  const amd64 = image("amd64");
  const arm64 = image("arm64");
  const index = evil.manifest("app", "1", {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      { mediaType: OCI_MANIFEST, ...amd64, platform: { os: "linux", architecture: "amd64" } },
      { mediaType: OCI_MANIFEST, ...arm64, platform: { os: "linux", architecture: "arm64" } },
    ],
  });
  const empty = evil.blob("app", "{}");
  const body = evil.blob("app", '{"signature":"not a real one"}');
  const sigDoc = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: SIGNATURE,
    config: { mediaType: "application/vnd.oci.empty.v1+json", ...empty },
    layers: [{ mediaType: SIGNATURE, ...body }],
    subject: { mediaType: OCI_MANIFEST, ...arm64 },
  };
  const signature = evil.manifest("app", undefined, sigDoc);
  const size = new TextEncoder().encode(JSON.stringify(sigDoc)).length;
  const list = (manifests: unknown[], link?: string) =>
    new Response(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }), {
      headers: { "content-type": OCI_INDEX, ...(link ? { link } : {}) },
    });
  // the registry has the referrers API (sync asks once, about a digest nothing has): the index
  // and amd64 have no referrer, arm64 its signature
  evil.route(`/v2/app/referrers/sha256:${"0".repeat(64)}`, () => list([]));
  evil.route(`/v2/app/referrers/${index}`, () => list([]));
  evil.route(`/v2/app/referrers/${amd64.digest}`, () => list([]));
  evil.route(
    `/v2/app/referrers/${arm64.digest}`,
    () => list([{ mediaType: OCI_MANIFEST, digest: signature, size, artifactType: SIGNATURE }]),
  );
  return { index, amd64: amd64.digest, arm64: arm64.digest, signature };
}

/** The ways a subject's referrers can be malformed, each with what its message says. */
function malformed(evil: HostileRegistry, subject: string, how: string): RegExp {
  const path = `/v2/app/referrers/${subject}`;
  const list = (manifests: unknown[], link?: string) =>
    new Response(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }), {
      headers: { "content-type": OCI_INDEX, ...(link ? { link } : {}) },
    });
  if (how === "invalid digest") {
    evil.route(path, () => list([{ mediaType: OCI_MANIFEST, digest: "sha256:nothex", size: 1 }]));
    return /referrers manifests\[0\] has an invalid digest/;
  }
  if (how === "Link loop") {
    evil.route(path, () => list([], `<${path}>; rel="next"`));
    return /Link header leads back to a page already read/;
  }
  // more than the cap: 10,001 descriptors
  const many = Array.from({ length: 10_001 }, (_, i) => ({
    mediaType: OCI_MANIFEST,
    digest: sha256(new TextEncoder().encode(`referrer ${i}`)),
    size: 100,
  }));
  evil.route(path, () => list(many));
  return /the registry lists more than 10000/;
}

async function head(url: string, repo: string, ref: string): Promise<number> {
  const res = await fetch(`${url}/v2/${repo}/manifests/${ref}`, {
    method: "HEAD",
    headers: { accept: `${OCI_MANIFEST}, ${OCI_INDEX}` },
  });
  await res.body?.cancel();
  return res.status;
}

Deno.test("copy and sync: malformed referrers are a warning; the image and the other referrers go", async (t) => {
  await using dst = await startRegistry();
  for (const how of ["invalid digest", "Link loop", "more than the cap"]) {
    await t.step(`${how}: skiff copy exits 0, says so in one warning and in --json`, async () => {
      await using evil = startHostileRegistry();
      const served = serveImage(evil);
      const says = malformed(evil, served.amd64, how);
      const repo = `copied-${how.replaceAll(" ", "-").toLowerCase()}`;
      const r = await skiff([
        "copy",
        "-q",
        "--json",
        `${evil.host}/app:1`,
        `${dst.host}/${repo}:1`,
      ]);
      assertEquals(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assertEquals(out.digest, served.index);
      assertMatch(out.referrersError, says);
      assertEquals(out.referrers, 1); // arm64's signature went all the same
      const lines = r.stderr.trim().split("\n");
      assertEquals(lines.length, 1, r.stderr);
      assertMatch(
        lines[0]!,
        new RegExp(
          `^skiff: warning: ${dst.host}/${repo}:1 was copied, but not all its referrers: ` +
            `Cannot list referrers of .*@${served.amd64}: .* \\(--no-referrers copies without them\\)$`,
        ),
      );
      assertMatch(lines[0]!, says);
      // the image is there, tagged, whole (skopeo reads every blob of both platforms)
      assertEquals(await head(dst.url, repo, "1"), 200);
      await mustRun("skopeo", [
        "copy",
        "--quiet",
        "--all",
        "--src-tls-verify=false",
        `docker://${dst.host}/${repo}:1`,
        `oci:${await tempDir()}:x`,
      ]);
      // and the valid referrer of the other platform travelled (the fallback index lists it)
      assertEquals(await head(dst.url, repo, served.signature), 200);
      assertEquals(await head(dst.url, repo, `sha256-${served.arm64.slice(7)}`), 200);
      // --no-referrers: nothing asked, nothing said
      const without = await skiff([
        "copy",
        "-q",
        "--no-referrers",
        `${evil.host}/app:1`,
        `${dst.host}/${repo}-none:1`,
      ]);
      assertEquals([without.code, without.stderr], [0, ""]);
    });
  }

  await t.step(
    "skiff sync: the tag is copied, then up to date; the summary counts it apart",
    async () => {
      await using evil = startHostileRegistry();
      const served = serveImage(evil);
      // the root's referrers (a sync looks at those of an up-to-date tag too)
      const says = malformed(evil, served.index, "invalid digest");
      evil.route("/v2/app/tags/list", () => Response.json({ name: "app", tags: ["1"] }));
      const first = await skiff(["sync", `${evil.host}/app`, `${dst.host}/synced`]);
      assertEquals(first.code, 0, first.stderr);
      assertEquals(
        first.stdout,
        `copied     1 ${served.index} (+1 referrers) (referrers not all carried)\n`,
      );
      const lines = first.stderr.trim().split("\n");
      assertEquals(lines.length, 2, first.stderr);
      assertMatch(
        lines[0]!,
        new RegExp(
          `^skiff: warning: ${evil.host}/app:1 was synced, but not all its referrers: Cannot .* ` +
            `\\(--no-referrers syncs without them\\)$`,
        ),
      );
      assertMatch(lines[0]!, says);
      assertEquals(
        lines[1],
        "skiff: sync: 1 copied, 0 up to date, 0 failed (1 without all their referrers)",
      );
      // every run says it again, and the image stays up to date: exit 0
      const again = await skiff(["sync", "--json", `${evil.host}/app`, `${dst.host}/synced`]);
      assertEquals(again.code, 0, again.stderr);
      const report = JSON.parse(again.stdout);
      assertEquals([report.copied, report.upToDate, report.failed, report.referrersFailed], [
        0,
        1,
        0,
        1,
      ]);
      assertEquals(report.tags[0].status, "up-to-date");
      assertMatch(report.tags[0].referrersError, says);
      assertMatch(
        again.stderr,
        /skiff: sync: 0 copied, 1 up to date, 0 failed \(1 without all their referrers\)\n$/,
      );
    },
  );

  await t.step(
    "the module: copy() and sync() return the problem, the image's result stands",
    async () => {
      await using evil = startHostileRegistry();
      const served = serveImage(evil);
      const says = malformed(evil, served.amd64, "Link loop");
      evil.route("/v2/app/tags/list", () => Response.json({ name: "app", tags: ["1"] }));
      const r = await copy(`${evil.host}/app:1`, `${dst.host}/module:1`, options);
      assertEquals(r.digest, served.index);
      assertMatch(r.referrersError!, says);
      const report = await sync(`${evil.host}/app`, `${dst.host}/module-sync`, options);
      assertEquals(report.tags.map((x) => [x.tag, x.status]), [["1", "copied"]]);
      assertEquals([report.failed, report.referrersFailed], [0, 1]);
      assertMatch(report.tags[0]!.referrersError!, says);
      assert(report.tags[0]!.error === undefined);
    },
  );
});
