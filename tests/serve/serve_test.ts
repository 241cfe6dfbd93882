// `skiff serve` with real clients: skopeo copies every stored image from it byte for byte (the
// digests the fixture's registry has), skiff pulls from it, and the distribution API's other
// routes (tags and catalog with paging, the referrers API, digests of a converted Docker image)
// answer as the spec says.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { mustRun, run, sha256 } from "../_images.ts";
import { OCI_INDEX } from "../_referrers.ts";
import { DOCKER_LIST, servedStore, SPDX, startServe, VULN } from "../_serve.ts";
import { tempDir } from "../_temp.ts";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const MANIFEST_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  DOCKER_LIST,
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

/** Every blob of a layout skopeo wrote, each checked against the store's file of that name. */
async function sameBlobs(layout: string, store: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(`${layout}/blobs/sha256`)) {
    const copied = await Deno.readFile(`${layout}/blobs/sha256/${e.name}`);
    const stored = await Deno.readFile(`${store}/blobs/sha256/${e.name}`);
    assertEquals(sha256(copied), `sha256:${e.name}`);
    assertEquals(sha256(stored), `sha256:${e.name}`);
    n++;
  }
  return n;
}

Deno.test("skiff serve: skopeo and skiff pull every stored image byte for byte", async (t) => {
  const s = await servedStore();
  const server = await startServe(["--store", s.store]);
  const fx = s.fx;
  const get = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init);
  try {
    await t.step("/v2/ and the catalog: each stored HOST/REPO once, as REPO", async () => {
      const base = await get("/v2/");
      assertEquals(base.status, 200);
      assertEquals(base.headers.get("docker-distribution-api-version"), "registry/2.0");
      assertEquals(await base.json(), {});
      const catalog = await get("/v2/_catalog");
      assertEquals(await catalog.json(), {
        repositories: [
          "library/skiffdemo",
          "test/docker",
          "test/docker-one",
          "test/multi",
          "test/multi-one",
          "test/single",
        ],
      });
    });

    for (
      const [name, digest, all] of [
        ["test/single:1", s.single.digest, false],
        ["test/multi:1", fx.multi.digest, true],
      ] as const
    ) {
      await t.step(`skopeo copy ${name} into oci: keeps the registry's digests`, async () => {
        const out = `${await tempDir()}/out`;
        await mustRun("skopeo", [
          "copy",
          "--quiet",
          ...(all ? ["--all"] : []),
          "--src-tls-verify=false",
          `docker://${server.host}/${name}`,
          `oci:${out}:x`,
        ]);
        const index = JSON.parse(await Deno.readTextFile(`${out}/index.json`));
        assertEquals(index.manifests[0].digest, digest);
        // an index with its attestation, or a manifest with its config and two layers
        assert((await sameBlobs(out, s.store)) >= 4);
      });
    }

    await t.step(
      "a Docker list and a Docker manifest: skopeo gets the registry's bytes",
      async () => {
        for (
          const [name, digest] of [
            ["test/docker:1", fx.dockerList],
            ["library/skiffdemo:1", fx.dockerList],
            ["test/docker-one:1", s.dockerOne],
          ] as const
        ) {
          const out = `${await tempDir()}/dir`;
          await mustRun("skopeo", [
            "copy",
            "--quiet",
            "--all",
            "--src-tls-verify=false",
            `docker://${server.host}/${name}`,
            `dir:${out}`,
          ]);
          assertEquals(sha256(await Deno.readFile(`${out}/manifest.json`)), digest, name);
          const raw = await mustRun("skopeo", [
            "inspect",
            "--raw",
            "--tls-verify=false",
            `docker://${fx.host}/${name.startsWith("library/") ? "test/docker:1" : name}`,
          ]);
          assertEquals(sha256(raw), digest);
        }
      },
    );

    await t.step(
      "a converted image answers by both digests, and by tag as Accept says",
      async () => {
        const index = JSON.parse(await Deno.readTextFile(`${s.store}/index.json`));
        const entry = index.manifests.find((m: { annotations: Record<string, string> }) =>
          m.annotations["org.opencontainers.image.ref.name"] === `${fx.host}/test/docker:1`
        );
        assertEquals(entry.annotations["dev.skiff.source.digest"], fx.dockerList);
        const stored = entry.digest as string;
        for (
          const [reference, accept, type, digest] of [
            [fx.dockerList, MANIFEST_TYPES, DOCKER_LIST, fx.dockerList],
            [stored, MANIFEST_TYPES, OCI_INDEX, stored],
            ["1", MANIFEST_TYPES, DOCKER_LIST, fx.dockerList],
            ["1", "", DOCKER_LIST, fx.dockerList], // no Accept: the registry's form
            ["1", OCI_INDEX, OCI_INDEX, stored], // a client of OCI only: the conversion
            ["1", `${DOCKER_LIST};q=0.5`, DOCKER_LIST, fx.dockerList],
          ] as const
        ) {
          for (const method of ["GET", "HEAD"]) {
            const res = await get(`/v2/test/docker/manifests/${reference}`, {
              method,
              headers: accept ? { accept } : {},
            });
            assertEquals(res.status, 200, `${method} ${reference} ${accept}`);
            assertEquals(res.headers.get("content-type"), type);
            assertEquals(res.headers.get("docker-content-digest"), digest);
            assertEquals(res.headers.get("etag"), `"${digest}"`);
            const bytes = new Uint8Array(await res.arrayBuffer());
            if (method === "GET") {
              assertEquals(sha256(bytes), digest);
              assertEquals(res.headers.get("content-length"), String(bytes.byteLength));
            } else {
              assertEquals(bytes.byteLength, 0);
              assert(Number(res.headers.get("content-length")) > 0);
            }
          }
        }
        // the ETag answers a conditional request
        const again = await get(`/v2/test/docker/manifests/1`, {
          headers: { accept: MANIFEST_TYPES, "if-none-match": `"${fx.dockerList}"` },
        });
        assertEquals(again.status, 304);
        await again.body?.cancel();
      },
    );

    await t.step("one platform of an index: the tag answers with the index", async () => {
      // what the tag named at the registry; the platform the store lacks is unknown
      for (
        const [accept, digest] of [
          [MANIFEST_TYPES, s.multiOne.index],
          [OCI_MANIFEST, s.multiOne.amd64],
        ] as const
      ) {
        const res = await get("/v2/test/multi-one/manifests/1", { headers: { accept } });
        assertEquals(res.status, 200);
        assertEquals(sha256(new Uint8Array(await res.arrayBuffer())), digest);
      }
      const arm = await get(`/v2/test/multi-one/manifests/${s.multiOne.arm64}`);
      assertEquals(arm.status, 404);
      assertEquals((await arm.json()).errors[0].code, "MANIFEST_UNKNOWN");
      const out = `${await tempDir()}/one`;
      await mustRun("skopeo", [
        "copy",
        "--quiet",
        "--override-arch",
        "amd64",
        "--src-tls-verify=false",
        `docker://${server.host}/test/multi-one:1`,
        `oci:${out}:x`,
      ]);
      const index = JSON.parse(await Deno.readTextFile(`${out}/index.json`));
      assertEquals(index.manifests[0].digest, s.multiOne.amd64);
      const all = await run("skopeo", [
        "copy",
        "--all",
        "--src-tls-verify=false",
        `docker://${server.host}/test/multi-one:1`,
        `oci:${out}-all:x`,
      ]);
      assert(all.code !== 0, "the arm64 platform is not in the store");
    });

    await t.step(
      "the referrers API lists what the store keeps, filtered by artifactType",
      async () => {
        const res = await get(`/v2/test/single/referrers/${s.single.digest}`);
        assertEquals(res.status, 200);
        assertEquals(res.headers.get("content-type"), OCI_INDEX);
        const body = await res.json();
        assertEquals(body.mediaType, OCI_INDEX);
        const listed = (body.manifests as { digest: string; artifactType: string }[])
          .map((m) => `${m.artifactType} ${m.digest}`).sort();
        assertEquals(listed, [`${SPDX} ${s.sbom.digest}`, `${VULN} ${s.vuln.digest}`].sort());
        const filtered = await get(
          `/v2/test/single/referrers/${s.single.digest}?artifactType=${encodeURIComponent(SPDX)}`,
        );
        assertEquals(filtered.headers.get("oci-filters-applied"), "artifactType");
        assertEquals(
          (await filtered.json()).manifests.map((m: { digest: string }) => m.digest),
          [s.sbom.digest],
        );
        // a subject nothing refers to: an empty list, never a 404 (the API exists)
        const none = await get(`/v2/test/single/referrers/sha256:${"0".repeat(64)}`);
        assertEquals(none.status, 200);
        assertEquals((await none.json()).manifests, []);
        // skiff's own client: the API, and the cosign-style tag
        const r = await skiff(["referrers", "--json", `${server.host}/test/single:1`]);
        assertEquals(r.code, 0, r.stderr);
        const result = JSON.parse(r.stdout);
        assertEquals(result.api, true);
        const found = (result.referrers as { digest: string; source: string }[])
          .map((x) => `${x.source} ${x.digest}`).sort();
        assertEquals(
          found,
          [
            `referrers-api ${s.sbom.digest}`,
            `referrers-api ${s.vuln.digest}`,
            `cosign-tag ${s.signature}`,
          ].sort(),
        );
      },
    );

    await t.step("tags/list and _catalog page with n, last and Link", async () => {
      const hex = s.single.digest.slice(7);
      const all = ["1", `sha256-${hex}`, `sha256-${hex}.sig`];
      const whole = await get("/v2/test/single/tags/list");
      assertEquals(await whole.json(), { name: "test/single", tags: all });
      assertEquals(whole.headers.get("link"), null);
      const walk = async (first: string, field: string) => {
        const seen: string[] = [];
        let next: string | undefined = first;
        for (let i = 0; next !== undefined; i++) {
          assert(i < 10, "the Link chain ends");
          const res = await get(next);
          assertEquals(res.status, 200);
          const page = (await res.json())[field] as string[];
          assertEquals(page.length, 1);
          seen.push(...page);
          const link = res.headers.get("link");
          next = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1] : undefined;
        }
        return seen;
      };
      assertEquals(await walk("/v2/test/single/tags/list?n=1", "tags"), all);
      assertEquals((await walk("/v2/_catalog?n=1", "repositories")).length, 6);
      const after = await get(`/v2/test/single/tags/list?last=1`);
      assertEquals((await after.json()).tags, all.slice(1));
      const zero = await get(`/v2/test/single/tags/list?n=0`);
      assertEquals((await zero.json()).tags, []);
      const bad = await get(`/v2/test/single/tags/list?n=-1`);
      assertEquals(bad.status, 400);
      assertEquals((await bad.json()).errors[0].code, "PAGINATION_NUMBER_INVALID");
    });

    await t.step("skiff pulls from it: the digests the registry has", async () => {
      const store = `${await tempDir()}/again`;
      for (
        const [name, digest] of [
          ["test/multi:1", fx.multi.digest],
          ["library/skiffdemo:1", fx.dockerList],
          ["test/single:1", s.single.digest],
        ] as const
      ) {
        const r = await skiff([
          "pull",
          "-q",
          "--platform",
          "all",
          "--store",
          store,
          "--json",
          `${server.host}/${name}`,
        ]);
        assertEquals(r.code, 0, r.stderr);
        assertEquals(JSON.parse(r.stdout).digest, digest, name);
      }
      const fsck = await skiff(["fsck", "--store", store]);
      assertEquals(fsck.code, 0, fsck.stdout + fsck.stderr);
    });

    await t.step("the access log: one escaped line per request", () => {
      const lines = server.stderr().trim().split("\n");
      assert(lines.length > 20);
      for (const line of lines) {
        assertMatch(
          line,
          /^127\.0\.0\.1:\d+ - \[[^\]]+\] "(GET|HEAD) \/v2\/\S*" \d{3} (\d+|-) ".*" \d+ms$/,
        );
      }
    });
  } finally {
    const { code } = await server.stop();
    assertEquals(code, 0);
    await s.stop();
  }
});
