// Integration: pull() against the real Distribution registry, images pushed by skopeo, and what
// skiff wrote read back by skopeo and umoci.

import { assert, assertEquals, assertMatch, assertRejects } from "../_assert.ts";
import { HOST_ARCH, startFixture } from "../_fixture.ts";
import { mustRun, run, sha256 } from "../_images.ts";
import { FaultProxy } from "../_proxy.ts";
import { checkStore } from "../_store_check.ts";
import { pull } from "../../lib/pull/pull.ts";
import { PlatformNotFoundError } from "../../lib/oci/choose_platform.ts";
import { RegistryError } from "../../lib/transport/registry_error.ts";
import { MediaType } from "../../lib/oci/media_types.ts";
import { tempDir } from "../_temp.ts";

async function tempStore(): Promise<string> {
  return `${await tempDir({ prefix: "skiff-store-" })}/store`;
}

async function skopeoInspect(store: string, name: string): Promise<Record<string, unknown>> {
  return JSON.parse(new TextDecoder().decode(
    await mustRun("skopeo", ["inspect", `oci:${store}:${name}`]),
  ));
}

async function registryManifest(url: string, repo: string, ref: string, accept: string) {
  const res = await fetch(`${url}/v2/${repo}/manifests/${ref}`, { headers: { accept } });
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { digest: sha256(bytes), json: JSON.parse(new TextDecoder().decode(bytes)) };
}

Deno.test("pull: real registry, images pushed by skopeo, read back by skopeo and umoci", async (t) => {
  const fx = await startFixture();
  try {
    await t.step("single OCI manifest by tag", async () => {
      const store = await tempStore();
      const name = `${fx.host}/test/single:1`;
      const result = await pull(name, { store });
      assertEquals(result.reference, name);
      assertEquals(result.digest, fx.single.digest);
      assertEquals(result.indexDigest, undefined);
      assertEquals(result.mediaType, MediaType.OciManifest);
      assertEquals(result.layers.length, 2);
      assertEquals(result.platform?.architecture, HOST_ARCH);
      assertEquals(result.config.rootfs?.diff_ids.length, 2);

      // the registry's view: same manifest digest, same blob digests
      const reg = await registryManifest(
        fx.registry.url,
        "test/single",
        "1",
        MediaType.OciManifest,
      );
      assertEquals(reg.digest, result.digest);
      assertEquals(
        result.layers.map((l) => l.digest),
        reg.json.layers.map((l: { digest: string }) => l.digest),
      );

      // skopeo reads it by name
      const inspected = await skopeoInspect(store, name);
      assertEquals(inspected.Digest, fx.single.digest);
      assertEquals(inspected.Layers, reg.json.layers.map((l: { digest: string }) => l.digest));

      // umoci lists and unpacks it
      const ls = new TextDecoder().decode(await mustRun("umoci", ["ls", "--layout", store]));
      assertEquals(ls.trim(), name);
      const bundle = `${await tempDir()}/bundle`;
      await mustRun("umoci", ["unpack", "--rootless", "--image", `${store}:${name}`, bundle]);
      assertEquals(await Deno.readTextFile(`${bundle}/rootfs/etc/os-release`), "NAME=skiff-test\n");
      assertEquals((await Deno.stat(`${bundle}/rootfs/data/blob.bin`)).size, 2 * 1024 * 1024 + 123);

      const report = await checkStore(store);
      assertEquals(report.corrupt, []);
      assertEquals(report.missing, []);
      assertEquals(report.ingest, []);
      assertEquals(report.names, [name]);
      assertEquals(report.blobs, 4); // manifest, config, 2 layers
    });

    await t.step(
      "OCI index: host platform by default, --platform arm64, attestation never",
      async () => {
        const store = await tempStore();
        const name = `${fx.host}/test/multi:1`;
        const result = await pull(name, { store });
        assertEquals(result.indexDigest, fx.multi.digest);
        assertEquals(result.digest, HOST_ARCH === "amd64" ? fx.amd64.digest : fx.arm64.digest);

        const arm = await pull(name, { store, platform: "linux/arm64" });
        assertEquals(arm.digest, fx.arm64.digest);
        assertEquals(arm.platform, { os: "linux", architecture: "arm64", variant: "v8" });
        // v8 matched leniently in both directions
        assertEquals(
          (await pull(name, { store, platform: "linux/arm64/v8" })).digest,
          fx.arm64.digest,
        );
        assertEquals(
          (await pull(name, { store, platform: "linux/aarch64" })).digest,
          fx.arm64.digest,
        );

        const amd = await pull(name, { store, platform: "linux/amd64" });
        assertEquals(amd.digest, fx.amd64.digest);

        // a second platform of the same index: the name becomes the index (its exact bytes), and
        // keeps both platforms
        const index = JSON.parse(await Deno.readTextFile(`${store}/index.json`));
        assertEquals(index.manifests.length, 1);
        assertEquals(index.manifests[0].digest, fx.multi.digest);
        assertEquals(index.manifests[0].mediaType, MediaType.OciIndex);
        assertEquals(index.manifests[0].annotations["dev.skiff.index.digest"], undefined);
        for (const platform of ["linux/amd64", "linux/arm64"]) {
          const r = await pull(name, { store, platform, policy: "never" });
          assertEquals(r.indexDigest, fx.multi.digest);
        }

        for (const platform of ["unknown/unknown", "linux/s390x", "windows/amd64"]) {
          const e = await assertRejects(
            () => pull(name, { store, platform }),
            PlatformNotFoundError,
          ) as PlatformNotFoundError;
          assertEquals([...e.available].sort(), ["linux/amd64", "linux/arm64/v8"]);
        }
        // the attestation was never fetched
        await assertRejects(
          () => Deno.stat(`${store}/blobs/sha256/${fx.attestation.digest.slice(7)}`),
          Deno.errors.NotFound,
        );

        // skopeo reads the index entry (and the host's platform in it)
        const inspected = await skopeoInspect(store, name);
        assertEquals(inspected.Digest, fx.multi.digest);
        assertEquals(inspected.Architecture, HOST_ARCH);
        const report = await checkStore(store);
        assertEquals([report.corrupt, report.missing, report.ingest], [[], [], []]);
      },
    );

    await t.step(
      "Docker manifest list of schema 2 manifests: stored as OCI, as skopeo does",
      async () => {
        const store = await tempStore();
        const name = `${fx.host}/test/docker:1`;
        const result = await pull(name, { store, platform: "linux/arm64" });
        assertEquals(result.indexDigest, fx.dockerList);
        // the registry's manifest is Docker schema 2 ...
        const reg = await registryManifest(
          fx.registry.url,
          "test/docker",
          result.digest,
          MediaType.DockerManifest,
        );
        assertEquals(reg.digest, result.digest);
        assertEquals(reg.json.mediaType, MediaType.DockerManifest);
        // ... kept byte for byte in blobs/, and named through its OCI conversion
        assertEquals(
          sha256(await Deno.readFile(`${store}/blobs/sha256/${result.digest.slice(7)}`)),
          result.digest,
        );
        assertEquals(result.mediaType, MediaType.OciManifest);
        const index = JSON.parse(await Deno.readTextFile(`${store}/index.json`));
        assertEquals(index.manifests[0].mediaType, MediaType.OciManifest);
        assertEquals(index.manifests[0].digest, result.storedDigest);
        assert(result.storedDigest !== result.digest);
        assertEquals(
          index.manifests[0].annotations["dev.skiff.source.digest"],
          result.digest,
        );
        // config and layers are the registry's blobs, unchanged
        assertEquals(result.manifest.config.digest, reg.json.config.digest);
        assertEquals(
          result.layers.map((l) => l.digest),
          reg.json.layers.map((l: { digest: string }) => l.digest),
        );
        assertEquals(result.manifest.config.mediaType, MediaType.OciConfig);
        assertEquals(result.layers.map((l) => l.mediaType), [MediaType.OciLayerGzip]);
        const inspected = await skopeoInspect(store, name);
        assertEquals(inspected.Digest, result.storedDigest);
        assertEquals(inspected.Architecture, "arm64");
        const bundle = `${await tempDir()}/bundle`;
        await mustRun("umoci", ["unpack", "--rootless", "--image", `${store}:${name}`, bundle]);
        assertEquals(
          await Deno.readTextFile(`${bundle}/rootfs/bin/hello`),
          "#!/bin/sh\necho hello\n",
        );
        // pulling it again changes nothing
        const again = await pull(name, { store, platform: "linux/arm64" });
        assertEquals([again.digest, again.bytesFetched], [result.digest, 0]);
        const report = await checkStore(store);
        assertEquals([report.corrupt, report.missing, report.ingest], [[], [], []]);
      },
    );

    await t.step("by digest: an index digest, a manifest digest, and name:tag@digest", async () => {
      const store = await tempStore();
      const byIndex = await pull(`${fx.host}/test/multi@${fx.multi.digest}`, {
        store,
        platform: "linux/arm64",
      });
      assertEquals(byIndex.reference, `${fx.host}/test/multi@${fx.multi.digest}`);
      assertEquals(byIndex.digest, fx.arm64.digest);
      const byManifest = await pull(`${fx.host}/test/multi@${fx.amd64.digest}`, { store });
      assertEquals(byManifest.digest, fx.amd64.digest);
      assertEquals(byManifest.indexDigest, undefined);
      // tag and digest: the digest is what is fetched, the name keeps both
      const both = await pull(`${fx.host}/test/multi:nonexistent-tag@${fx.amd64.digest}`, {
        store,
      });
      assertEquals(both.reference, `${fx.host}/test/multi:nonexistent-tag@${fx.amd64.digest}`);
      assertEquals(both.digest, fx.amd64.digest);
      const inspected = await skopeoInspect(store, both.reference);
      assertEquals(inspected.Digest, fx.amd64.digest);
      const ls = new TextDecoder().decode(await mustRun("umoci", ["ls", "--layout", store]));
      assertEquals(ls.trim().split("\n").length, 3);
      // a digest the registry does not have
      const missing = "sha256:" + "0".repeat(64);
      const e = await assertRejects(
        () => pull(`${fx.host}/test/multi@${missing}`, { store }),
        RegistryError,
      );
      assertMatch(e.message, /not found/);
    });

    await t.step(
      "re-pull: one HEAD request, no blob fetched; by digest: no request at all",
      async () => {
        const store = await tempStore();
        await using proxy = FaultProxy.start(fx.registry.url);
        const name = `${proxy.host}/test/single:1`;
        const first = await pull(name, { store });
        // every blob's bytes counted once (blobs copied side by side once lost each other's counts)
        const manifest = JSON.parse(
          await Deno.readTextFile(`${store}/blobs/sha256/${first.digest.slice(7)}`),
        ) as { config: { size: number }; layers: { size: number }[] };
        assertEquals(
          first.bytesFetched,
          manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0),
        );
        const before = proxy.seen.length;
        const indexBefore = await Deno.readTextFile(`${store}/index.json`);
        const again = await pull(name, { store });
        // nothing new: nothing written, not even the time
        assertEquals(await Deno.readTextFile(`${store}/index.json`), indexBefore);
        assertEquals(again.digest, first.digest);
        assertEquals(again.bytesFetched, 0);
        const seen = proxy.seen.slice(before);
        assertEquals(seen.map((r) => `${r.method} ${r.path}`), [
          `HEAD /v2/test/single/manifests/1`,
        ]);

        const pinned = `${proxy.host}/test/single@${first.digest}`;
        await pull(pinned, { store });
        const n = proxy.seen.length;
        await pull(pinned, { store });
        assertEquals(proxy.seen.length, n);
      },
    );

    await t.step("unknown repository and tag: RegistryError saying not found", async () => {
      const store = await tempStore();
      for (const ref of [`${fx.host}/test/nope:1`, `${fx.host}/test/single:nope`]) {
        const e = await assertRejects(() => pull(ref, { store }), RegistryError) as RegistryError;
        assertEquals(e.status, 404);
        assertMatch(e.message, /not found/);
      }
      const index = JSON.parse(await Deno.readTextFile(`${store}/index.json`));
      assertEquals(index.manifests, []);
    });

    await t.step("progress events: typed, complete, in order", async () => {
      const store = await tempStore();
      const events: string[] = [];
      const bytes = new Map<string, number>();
      await pull(`${fx.host}/test/single:1`, {
        store,
        onProgress: (e) => {
          events.push(e.type);
          if (e.type === "blob-progress") bytes.set(e.digest, e.bytes);
        },
      });
      assertEquals(events[0], "resolved");
      assertEquals(events[1], "manifest");
      assertEquals(events.at(-1), "done");
      assertEquals(events.filter((e) => e === "blob-done").length, 3);
      assertEquals(events.filter((e) => e === "blob-start").length, 3);
      assert([...bytes.values()].includes(fx.bigLayerSize));
    });

    await t.step("concurrency: jobs=1 and jobs=8 give the same store", async () => {
      const a = await tempStore();
      const b = await tempStore();
      await pull(`${fx.host}/test/single:1`, { store: a, jobs: 1 });
      await pull(`${fx.host}/test/single:1`, { store: b, jobs: 8 });
      const list = async (s: string) => {
        const names: string[] = [];
        for await (const e of Deno.readDir(`${s}/blobs/sha256`)) names.push(e.name);
        return names.sort();
      };
      assertEquals(await list(a), await list(b));
      await assertRejects(
        () => pull(`${fx.host}/test/single:1`, { store: a, jobs: 0 }),
        RangeError,
      );
    });

    await t.step("the store is a valid layout before the first blob arrives", async () => {
      const store = await tempStore();
      const controller = new AbortController();
      const seen: string[] = [];
      await assertRejects(
        () =>
          pull(`${fx.host}/test/single:1`, {
            store,
            signal: controller.signal,
            onProgress: (e) => {
              if (e.type === "resolved") {
                seen.push(Deno.readTextFileSync(`${store}/oci-layout`));
                seen.push(Deno.readTextFileSync(`${store}/index.json`));
                controller.abort(new Error("stop here"));
              }
            },
          }),
        Error,
        "stop here",
      );
      assertEquals(JSON.parse(seen[0]!), { imageLayoutVersion: "1.0.0" });
      assertEquals(JSON.parse(seen[1]!).manifests, []);
      const r = await run("skopeo", ["inspect", `oci:${store}:${fx.host}/test/single:1`]);
      // the name is not there: nothing half-written was named
      assertEquals(r.code, 1);
      assertMatch(r.stderr, /no descriptor found for reference/);
    });
  } finally {
    await fx.stop();
  }
});
