// sync from the real registry into an OCI image layout (oci:DIR): every tag named REPO:TAG, read
// back by skopeo (oci:DIR:REPO:TAG) and umoci; Docker manifests named through their OCI
// conversion; referrers and referrers of referrers kept as fallback indexes and cosign tags; a
// second run over an unchanged source writes nothing (every file, its mtime, index.json's bytes)
// and GETs no blob at the source.

import { assert, assertEquals, assertMatch, assertRejects } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { startFixture } from "../_fixture.ts";
import { mustRun, sha256 } from "../_images.ts";
import { FaultProxy } from "../_proxy.ts";
import { putManifest } from "../_push.ts";
import { describe, pushArtifact, pushFallback, pushSignature } from "../_referrers.ts";
import { startRegistry } from "../_registry.ts";
import { checkStore } from "../_store_check.ts";
import { tempDir } from "../_temp.ts";
import { sync } from "../../lib/copy/sync.ts";
import { RegistryError } from "../../lib/transport/registry_error.ts";

const options = {
  credentials: () => undefined,
  retry: { baseDelay: 10, maxDelay: 100, attempts: 2 },
  config: { registries: {} },
};
const SPDX = "application/spdx+json";

/** Every file under dir: path -> size and mtime. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (at: string) => {
    for await (const e of Deno.readDir(at)) {
      const path = `${at}/${e.name}`;
      const st = await Deno.lstat(path);
      out[path.slice(dir.length)] = `${st.size} ${st.mtime?.getTime()}`;
      if (e.isDirectory) await walk(path);
    }
  };
  await walk(dir);
  return out;
}

async function rawDigest(dir: string, name: string): Promise<string> {
  return sha256(await mustRun("skopeo", ["inspect", "--raw", `oci:${dir}:${name}`]));
}

Deno.test("sync into an OCI layout: names skopeo and umoci read, referrers, a second run writes nothing", async (t) => {
  const fx = await startFixture();
  try {
    const url = fx.registry.url;
    // test/single gets a second tag and referrers: an SBOM (fallback index), a signature of the
    // image (cosign tag), and a signature of the SBOM (a referrer of a referrer)
    const single = await describe(url, "test/single", "1");
    const bytes = new Uint8Array(
      await (await fetch(`${url}/v2/test/single/manifests/1`, {
        headers: { accept: single.mediaType },
      })).arrayBuffer(),
    );
    await putManifest(url, "test/single", "2", single.mediaType, bytes);
    const sbom = await pushArtifact(url, "test/single", single, SPDX, '{"spdxVersion":"SPDX-2.3"}');
    await pushFallback(url, "test/single", single.digest, [sbom]);
    const signature = await pushSignature(url, "test/single", single.digest);
    const sbomSignature = await pushSignature(url, "test/single", sbom.digest);
    const hex = single.digest.slice(7);

    const dir = `${await tempDir()}/mirror`; // not there yet: sync creates it
    // the source through a proxy that sees every request (the names carry its host)
    await using watch = FaultProxy.start(url);
    const repo = (r: string) => `${watch.host}/${r}`;

    await t.step("first run: every tag named REPO:TAG, read back by skopeo", async () => {
      const reports = [];
      for (const r of ["test/single", "test/multi", "test/docker"]) {
        reports.push(await sync(repo(r), `oci:${dir}`, options));
      }
      assertEquals(reports.map((x) => [x.destination, x.failed]), [
        [`oci:${dir}`, 0],
        [`oci:${dir}`, 0],
        [`oci:${dir}`, 0],
      ]);
      assertEquals(
        reports[0]!.tags.map((x) => [x.tag, x.status]).sort(),
        [
          ["1", "copied"],
          ["2", "copied"],
          [`sha256-${hex}`, "copied"],
          [`sha256-${hex}.sig`, "copied"],
          [`sha256-${sbom.digest.slice(7)}.sig`, "copied"],
        ].sort(),
      );
      const report = await checkStore(dir);
      assertEquals([report.corrupt, report.missing], [[], []]);
      assertEquals(
        report.names.sort(),
        [
          `${repo("test/docker")}:1`,
          `${repo("test/multi")}:1`,
          `${repo("test/single")}:1`,
          `${repo("test/single")}:2`,
          `${repo("test/single")}:sha256-${hex}`,
          `${repo("test/single")}:sha256-${hex}.sig`,
          `${repo("test/single")}:sha256-${sbom.digest.slice(7)}.sig`,
        ].sort(),
      );
      // OCI images and indexes: skopeo reads the registry's exact bytes
      assertEquals(await rawDigest(dir, `${repo("test/single")}:1`), single.digest);
      assertEquals(await rawDigest(dir, `${repo("test/single")}:2`), single.digest);
      assertEquals(await rawDigest(dir, `${repo("test/multi")}:1`), fx.multi.digest);
      // a Docker list: its OCI conversion, skopeo reads it and finds both platforms
      const docker = JSON.parse(
        new TextDecoder().decode(
          await mustRun("skopeo", ["inspect", "--raw", `oci:${dir}:${repo("test/docker")}:1`]),
        ),
      ) as { mediaType: string; manifests: { platform: { architecture: string } }[] };
      assertEquals(docker.mediaType, "application/vnd.oci.image.index.v1+json");
      assertEquals(docker.manifests.map((m) => m.platform.architecture), ["amd64", "arm64"]);
      const dockerArm = JSON.parse(
        new TextDecoder().decode(
          await mustRun("skopeo", [
            "inspect",
            "--override-arch",
            "arm64",
            `oci:${dir}:${repo("test/docker")}:1`,
          ]),
        ),
      ) as { Architecture: string };
      assertEquals(dockerArm.Architecture, "arm64");
      // the referrers: the signature and the SBOM's signature under their cosign tags, the SBOM
      // in the fallback index (an index naming it), all with the registry's digests
      assertEquals(await rawDigest(dir, `${repo("test/single")}:sha256-${hex}.sig`), signature);
      assertEquals(
        await rawDigest(dir, `${repo("test/single")}:sha256-${sbom.digest.slice(7)}.sig`),
        sbomSignature,
      );
      const fallback = JSON.parse(
        new TextDecoder().decode(
          await mustRun("skopeo", [
            "inspect",
            "--raw",
            `oci:${dir}:${repo("test/single")}:sha256-${hex}`,
          ]),
        ),
      ) as { manifests: { digest: string; artifactType: string }[] };
      assertEquals(fallback.manifests.map((m) => [m.digest, m.artifactType]), [[
        sbom.digest,
        SPDX,
      ]]);
      assert(
        (await Deno.stat(`${dir}/blobs/sha256/${sbom.digest.slice(7)}`)).isFile,
        "the SBOM's manifest is in the layout",
      );
    });

    await t.step("umoci unpacks a synced tag", async () => {
      const bundle = `${await tempDir()}/bundle`;
      await mustRun("umoci", [
        "unpack",
        "--rootless",
        "--image",
        `${dir}:${repo("test/single")}:1`,
        bundle,
      ]);
      assertEquals(
        await Deno.readTextFile(`${bundle}/rootfs/etc/os-release`),
        "NAME=skiff-test\n",
      );
      // and the layout is a store skiff itself reads, with no network
      const rootfs = `${await tempDir()}/rootfs`;
      const r = await skiff([
        "unpack",
        "--store",
        dir,
        "--pull",
        "never",
        `${repo("test/single")}:1`,
        rootfs,
      ], { env: { SKIFF_CONFIG: `${rootfs}-none.json` } });
      assertEquals(r.code, 0, r.stderr);
      assertEquals(await Deno.readTextFile(`${rootfs}/etc/os-release`), "NAME=skiff-test\n");
    });

    await t.step("second run: nothing written, no blob fetched at the source", async () => {
      const before = await snapshot(dir);
      const index = await Deno.readFile(`${dir}/index.json`);
      const seen = watch.seen.length;
      for (const r of ["test/single", "test/multi", "test/docker"]) {
        const report = await sync(repo(r), `oci:${dir}`, options);
        assertEquals([report.copied, report.failed], [0, 0], r);
        assert(report.tags.every((x) => x.status === "up-to-date"), r);
      }
      const requests = watch.seen.slice(seen);
      assertEquals(requests.filter((x) => x.path.includes("/blobs/")), []);
      assertEquals(requests.filter((x) => x.method !== "HEAD" && x.method !== "GET"), []);
      assertEquals(await snapshot(dir), before);
      assertEquals(await Deno.readFile(`${dir}/index.json`), index);
    });

    await t.step(
      "a dry run writes nothing, creates nothing; an unlistable source leaves no directory",
      async () => {
        const before = await snapshot(dir);
        const report = await sync(repo("test/single"), `oci:${dir}`, { ...options, dryRun: true });
        assert(report.tags.every((x) => x.status === "up-to-date"));
        assertEquals(await snapshot(dir), before);
        const missing = `${await tempDir()}/never`;
        const dry = await sync(repo("test/multi"), `oci:${missing}`, { ...options, dryRun: true });
        assertEquals(dry.tags.map((x) => [x.tag, x.status]), [["1", "would-copy"]]);
        const none = `${await tempDir()}/none`;
        const error = await assertRejects(
          () => sync(repo("test/nothing-here"), `oci:${none}`, options),
          RegistryError,
        );
        assertMatch(error.message, /^Cannot list tags/);
        for (const path of [missing, none]) {
          assertEquals(await Deno.stat(path).then(() => "there", () => "absent"), "absent", path);
        }
      },
    );

    await t.step("a moved tag is copied again and renamed; the others stay", async () => {
      // test/single:2 now names the image test/multi lists for arm64
      const arm = new Uint8Array(
        await (await fetch(`${url}/v2/test/multi/manifests/${fx.arm64.digest}`, {
          headers: { accept: fx.arm64.mediaType },
        })).arrayBuffer(),
      );
      for (
        const blob of JSON.parse(new TextDecoder().decode(arm)).layers.concat([
          JSON.parse(new TextDecoder().decode(arm)).config,
        ])
      ) {
        const r = await fetch(
          `${url}/v2/test/single/blobs/uploads/?mount=${blob.digest}&from=test/multi`,
          { method: "POST" },
        );
        await r.body?.cancel();
      }
      await putManifest(url, "test/single", "2", fx.arm64.mediaType, arm);
      const report = await sync(repo("test/single"), `oci:${dir}`, options);
      assertEquals(
        report.tags.filter((x) => x.status !== "up-to-date").map((x) => [x.tag, x.status]),
        [["2", "copied"]],
      );
      assertEquals(await rawDigest(dir, `${repo("test/single")}:2`), fx.arm64.digest);
      assertEquals(await rawDigest(dir, `${repo("test/single")}:1`), single.digest);
    });

    await t.step(
      "one platform of a Docker list: its manifest, named as its OCI conversion",
      async () => {
        const one = `${await tempDir()}/arm`;
        const first = await sync(repo("test/docker"), `oci:${one}`, {
          ...options,
          platforms: "linux/arm64",
        });
        assertEquals(first.tags.map((x) => [x.tag, x.status]), [["1", "copied"]]);
        const raw = JSON.parse(
          new TextDecoder().decode(
            await mustRun("skopeo", ["inspect", "--raw", `oci:${one}:${repo("test/docker")}:1`]),
          ),
        ) as { mediaType: string };
        assertEquals(raw.mediaType, "application/vnd.oci.image.manifest.v1+json");
        const index = JSON.parse(await Deno.readTextFile(`${one}/index.json`)) as {
          manifests: { annotations: Record<string, string> }[];
        };
        // the registry's digest of the arm64 Docker manifest, which is what the next run compares
        assertMatch(index.manifests[0]!.annotations["dev.skiff.source.digest"]!, /^sha256:/);
        const again = await sync(repo("test/docker"), `oci:${one}`, {
          ...options,
          platforms: "linux/arm64",
        });
        assertEquals(again.tags.map((x) => [x.tag, x.status]), [["1", "up-to-date"]]);
      },
    );

    await t.step("a layout as the source: its names go back as tags, digests kept", async () => {
      await using back = await startRegistry();
      await using seen = FaultProxy.start(back.url);
      // a layout of one repository each (the mixed one is refused: its tags would collide)
      const error = await assertRejects(
        () => sync(`oci:${dir}`, `${seen.host}/mixed`, options),
        Error,
      );
      assertMatch(error.message, /^Cannot sync oci:.*: it holds images of 3 repositories/);
      for (const r of ["test/single", "test/docker"]) {
        const one = `${await tempDir()}/one`;
        await sync(repo(r), `oci:${one}`, options);
        const first = await sync(`oci:${one}`, `${seen.host}/${r}`, options);
        assertEquals([first.source, first.failed], [`oci:${one}`, 0], r);
        assert(first.tags.every((x) => x.status === "copied"), r);
        const at = (tag: string) => describe(back.url, r, tag).then((d) => d.digest);
        if (r === "test/single") {
          assertEquals(
            first.tags.map((x) => x.tag).sort(),
            ["1", "2", `sha256-${hex}`, `sha256-${hex}.sig`, `sha256-${sbom.digest.slice(7)}.sig`]
              .sort(),
          );
          assertEquals(await at("1"), single.digest);
          assertEquals(await at("2"), fx.arm64.digest);
          assertEquals(await at(`sha256-${hex}.sig`), signature);
        } else {
          // the Docker list goes back as the registry had it, not as its OCI conversion
          assertEquals(await at("1"), fx.dockerList);
        }
        const before = seen.seen.length;
        const again = await sync(`oci:${one}`, `${seen.host}/${r}`, options);
        assert(again.tags.every((x) => x.status === "up-to-date"), r);
        const writes = seen.seen.slice(before).filter((x) => !["GET", "HEAD"].includes(x.method));
        assertEquals(writes.map((w) => `${w.method} ${w.path}`), [], r);
      }
      // a layout skopeo wrote, named by bare tags
      const made = `${await tempDir()}/skopeo`;
      await mustRun("skopeo", [
        "copy",
        "--src-tls-verify=false",
        `docker://${fx.host}/test/single:1`,
        `oci:${made}:v1`,
      ]);
      const bare = await sync(`oci:${made}`, `${seen.host}/from-skopeo`, options);
      assertEquals(bare.tags.map((x) => [x.tag, x.status]), [["v1", "copied"]]);
      assertEquals((await describe(back.url, "from-skopeo", "v1")).digest, single.digest);
    });

    await t.step("the CLI: skiff sync SRC oci:DIR, and oci: without a DIR", async () => {
      const cli = `${await tempDir()}/cli`;
      const env = { SKIFF_CONFIG: `${cli}-none.json` };
      const r = await skiff(["sync", "--json", repo("test/multi"), `oci:${cli}`], { env });
      assertEquals(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { destination: string; copied: number };
      assertEquals([out.destination, out.copied], [`oci:${cli}`, 1]);
      assertEquals(await rawDigest(cli, `${repo("test/multi")}:1`), fx.multi.digest);
      const again = await skiff(["sync", repo("test/multi"), `oci:${cli}`], { env });
      assertEquals(again.code, 0, again.stderr);
      assertMatch(again.stdout, /^up-to-date +1 sha256:[0-9a-f]{64}\n$/);
      const bad = await skiff(["sync", repo("test/multi"), "oci:"], { env });
      assertEquals(bad.code, 2);
      assertMatch(bad.stderr, /destination: oci: needs a DIR/);
      // a directory that is not a layout is refused, and left as it was
      const other = await tempDir();
      await Deno.writeTextFile(`${other}/notes.txt`, "mine\n");
      const refused = await skiff(["sync", repo("test/multi"), `oci:${other}`], { env });
      assertEquals(refused.code, 1);
      assertMatch(refused.stderr, /^skiff: Cannot .*\n$/);
      assertEquals([...Deno.readDirSync(other)].map((e) => e.name), ["notes.txt"]);
    });
  } finally {
    await fx.stop();
  }
});
