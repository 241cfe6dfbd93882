// An index of three platforms on a real registry, for the tests of a subset of a stored index
// (push --platform, rm --platform):
//   test/three:1    OCI index: linux/amd64 [base, onlyAmd64], linux/arm64/v8 [base, onlyArm64],
//                   linux/arm/v7 [base], and a BuildKit attestation of linux/amd64
//   test/three-docker:1   the same three platforms as a Docker manifest list (no attestation)
// `base` is shared by every platform; each `only*` layer belongs to one.

import { type Desc, layerOf, LayoutBuilder, noise, push } from "./_images.ts";
import { type RegistryServer, startRegistry } from "./_registry.ts";

export interface ThreePlatforms {
  registry: RegistryServer;
  host: string;
  index: Desc;
  amd64: Desc;
  arm64: Desc;
  armv7: Desc;
  attestation: Desc;
  base: Desc;
  onlyAmd64: Desc;
  onlyArm64: Desc;
  /** The registry's digest of test/three-docker:1 (a Docker manifest list). */
  dockerList: string;
  stop(): Promise<void>;
}

export async function startThreePlatforms(): Promise<ThreePlatforms> {
  const registry = await startRegistry();
  const b = await LayoutBuilder.create();
  try {
    const base = await layerOf({ "etc/": "", "etc/os-release": "NAME=three\n" });
    const onlyAmd64 = await layerOf({ "amd64.bin": noise(300_000, "amd64") });
    const onlyArm64 = await layerOf({ "arm64.bin": noise(200_000, "arm64") });
    const amd64 = await b.image([base, onlyAmd64], { architecture: "amd64" });
    const arm64 = await b.image([base, onlyArm64], { architecture: "arm64", variant: "v8" });
    const armv7 = await b.image([base], { architecture: "arm", variant: "v7" });
    const attestation = await b.attestation(amd64);
    const index = await b.index([amd64, arm64, armv7, attestation]);
    const plain = await b.index([amd64, arm64, armv7]);
    await b.tag("three", index);
    await b.tag("plain", plain);
    await push(b.dir, "three", `${registry.host}/test/three:1`, ["--all"]);
    await push(b.dir, "plain", `${registry.host}/test/three-docker:1`, [
      "--all",
      "--format",
      "v2s2",
    ]);
    const head = await fetch(`${registry.url}/v2/test/three-docker/manifests/1`, {
      method: "HEAD",
      headers: { accept: "application/vnd.docker.distribution.manifest.list.v2+json" },
    });
    const dockerList = head.headers.get("docker-content-digest")!;
    const blob = (l: { mediaType: string; digest: string; size: number }): Desc => ({
      mediaType: l.mediaType,
      digest: l.digest,
      size: l.size,
    });
    return {
      registry,
      host: registry.host,
      index,
      amd64,
      arm64,
      armv7,
      attestation,
      base: blob(base),
      onlyAmd64: blob(onlyAmd64),
      onlyArm64: blob(onlyArm64),
      dockerList,
      stop: () => registry.stop(),
    };
  } catch (e) {
    await registry.stop();
    throw e;
  } finally {
    await b.remove();
  }
}
