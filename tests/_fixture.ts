// The standard test images, built by the tests and pushed to a real registry with skopeo:
//   test/single:1   an OCI image manifest (2 layers)
//   test/multi:1    an OCI index: linux/amd64, linux/arm64/v8, and a BuildKit attestation
//   test/docker:1   the same two platforms as a Docker manifest list of schema 2 manifests
//                   (converted by `skopeo copy --all --format v2s2`)

import { type Desc, layerOf, LayoutBuilder, noise, push } from "./_images.ts";
import { type RegistryServer, startRegistry } from "./_registry.ts";

export interface Fixture {
  registry: RegistryServer;
  /** `127.0.0.1:PORT` */
  host: string;
  single: Desc;
  multi: Desc;
  amd64: Desc;
  arm64: Desc;
  attestation: Desc;
  /** The registry's digest of test/docker:1 (a Docker manifest list). */
  dockerList: string;
  /** Size of the largest layer. */
  bigLayerSize: number;
  stop(): Promise<void>;
}

export async function startFixture(): Promise<Fixture> {
  const registry = await startRegistry();
  const b = await LayoutBuilder.create();
  try {
    const base = await layerOf({
      "etc/": "",
      "etc/os-release": "NAME=skiff-test\n",
      "bin/hello": "#!/bin/sh\necho hello\n",
    });
    const big = await layerOf({ "data/blob.bin": noise(2 * 1024 * 1024 + 123) });
    const amd64 = await b.image([base, big], { architecture: "amd64" });
    const arm64 = await b.image([base], { architecture: "arm64", variant: "v8" });
    const attestation = await b.attestation(amd64);
    const multi = await b.index([amd64, arm64, attestation]);
    const plain = await b.index([amd64, arm64]);
    const single = await b.image([base, big], {
      architecture: Deno.build.arch === "aarch64" ? "arm64" : "amd64",
    });
    await b.tag("single", single);
    await b.tag("multi", multi);
    await b.tag("plain", plain);
    await push(b.dir, "single", `${registry.host}/test/single:1`);
    await push(b.dir, "multi", `${registry.host}/test/multi:1`, ["--all"]);
    await push(b.dir, "plain", `${registry.host}/test/docker:1`, ["--all", "--format", "v2s2"]);
    const head = await fetch(`${registry.url}/v2/test/docker/manifests/1`, {
      method: "HEAD",
      headers: { accept: "application/vnd.docker.distribution.manifest.list.v2+json" },
    });
    const dockerList = head.headers.get("docker-content-digest")!;
    return {
      registry,
      host: registry.host,
      single,
      multi,
      amd64,
      arm64,
      attestation,
      dockerList,
      bigLayerSize: big.size,
      stop: () => registry.stop(),
    };
  } catch (e) {
    await registry.stop();
    throw e;
  } finally {
    await b.remove();
  }
}

/** The platform skiff picks by default on this machine. */
export const HOST_ARCH = Deno.build.arch === "aarch64" ? "arm64" : "amd64";
