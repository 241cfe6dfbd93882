// `skiff serve` as the mirror of container engines, each of its own (storage in temporary
// directories) and each with Docker Hub's own address dead, so that what they pull can only come
// from the mirror: docker (registry-mirrors in daemon.json; docker asks mirrors for Docker Hub's
// images only, so the store names the image docker.io/library/skiffdemo:1), podman (a
// registries.conf mirror entry), and containerd (ctr with a hosts.toml mirror, which sends the
// `ns` parameter: it picks between two registries whose names share a repository).

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { startContainerd } from "../_containerd.ts";
import { startDocker } from "../_docker.ts";
import { podman } from "../_podman.ts";
import { servedStore, startServe } from "../_serve.ts";
import { tempDir } from "../_temp.ts";
import { Store } from "../../lib/store/store.ts";
import { nameImage } from "../../lib/store/name_image.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);
/** A loopback port nothing listens on: Docker Hub, as far as the engines can tell. */
const DEAD = "127.0.0.1:1";

/** The amd64 platform of the stored Docker list: its manifest's and config's digests. */
async function amd64Of(store: string, list: string) {
  const read = async (digest: string) =>
    JSON.parse(await Deno.readTextFile(`${store}/blobs/sha256/${digest.slice(7)}`));
  const entry = (await read(list)).manifests.find((m: { platform: { architecture: string } }) =>
    m.platform.architecture === "amd64"
  );
  const manifest = await read(entry.digest);
  return {
    manifest: entry.digest as string,
    config: manifest.config.digest as string,
    layers: manifest.layers.map((l: { digest: string }) => l.digest) as string[],
  };
}

Deno.test("skiff serve as the mirror of docker, podman and containerd", async (t) => {
  const s = await servedStore();
  const fx = s.fx;
  // a second registry's repository of the same path: test/single on quay.io is another image
  const store = await Store.open(s.store, { create: false });
  await nameImage(store, "quay.io/test/single:1", {
    mediaType: fx.arm64.mediaType,
    digest: fx.arm64.digest,
    size: fx.arm64.size,
  });
  const server = await startServe(["--store", s.store]);
  const amd64 = await amd64Of(s.store, fx.dockerList);
  const dir = await tempDir({ prefix: "skiff-engines-" });
  try {
    await t.step("docker pull through registry-mirrors", async () => {
      const engine = await startDocker({
        registryMirrors: [server.url],
        // Docker Hub itself through a proxy that is not there
        env: { HTTPS_PROXY: `http://${DEAD}`, HTTP_PROXY: `http://${DEAD}`, NO_PROXY: "127.0.0.1" },
      });
      try {
        const pulled = await engine.docker(["pull", "skiffdemo:1"]);
        assertEquals(pulled.code, 0, pulled.stderr + text(pulled.stdout));
        const inspected = await engine.docker([
          "image",
          "inspect",
          "--format",
          "{{.Id}} {{json .RepoDigests}}",
          "skiffdemo:1",
        ]);
        assertEquals(inspected.code, 0, inspected.stderr);
        assertEquals(
          text(inspected.stdout).trim(),
          `${amd64.config} ${JSON.stringify([`skiffdemo@${fx.dockerList}`])}`,
        );
      } finally {
        await engine.stop();
      }
      const log = server.stderr();
      assertMatch(log, /"HEAD \/v2\/library\/skiffdemo\/manifests\/1" 200 \d+ "docker\//);
      assert(log.includes(`"GET /v2/library/skiffdemo/manifests/${fx.dockerList}" 200`));
      for (const blob of [amd64.config, ...amd64.layers]) {
        assert(log.includes(`"GET /v2/library/skiffdemo/blobs/${blob}" 200`), blob);
      }
    });

    await t.step("podman pull through registries.conf mirrors (one with a namespace)", async () => {
      const conf = `${dir}/registries.conf`;
      await Deno.writeTextFile(
        conf,
        `[[registry]]
prefix = "docker.io"
location = "${DEAD}"
insecure = true

[[registry.mirror]]
location = "${server.host}"
insecure = true
`,
      );
      const env = { CONTAINERS_REGISTRIES_CONF: conf };
      const root = `${dir}/podman`;
      const pulled = await podman(root, ["pull", "docker.io/library/skiffdemo:1"], env);
      assertEquals(pulled.code, 0, pulled.stderr);
      const inspected = await podman(root, [
        "image",
        "inspect",
        "--format",
        "{{.Digest}} sha256:{{.Id}}",
        "docker.io/library/skiffdemo:1",
      ], env);
      assertEquals(inspected.code, 0, inspected.stderr);
      assertEquals(text(inspected.stdout).trim(), `${fx.dockerList} ${amd64.config}`);
      // a mirror with a namespace: podman asks for the full form HOST/REPO
      await Deno.writeTextFile(
        conf,
        `[[registry]]
prefix = "quay.io"
location = "${DEAD}"
insecure = true

[[registry.mirror]]
location = "${server.host}/quay.io"
insecure = true
`,
      );
      const quay = await podman(root, ["pull", "--arch", "arm64", "quay.io/test/single:1"], env);
      assertEquals(quay.code, 0, quay.stderr);
      const digest = await podman(root, [
        "image",
        "inspect",
        "--format",
        "{{.Digest}}",
        "quay.io/test/single:1",
      ], env);
      assertEquals(text(digest.stdout).trim(), fx.arm64.digest);
      assertMatch(server.stderr(), /"GET \/v2\/quay\.io\/test\/single\/manifests\/1" 200 /);
      await podman(root, ["rmi", "-a", "-f"], env);
      assertMatch(
        server.stderr(),
        /"GET \/v2\/library\/skiffdemo\/manifests\/1" 200 \d+ "[^"]*(podman|containers)/i,
      );
    });

    await t.step("containerd (ctr, hosts.toml): ns picks the registry", async () => {
      const containerd = await startContainerd();
      try {
        const hosts = `${dir}/hosts`;
        for (const host of ["docker.io", "quay.io", fx.host]) {
          await Deno.mkdir(`${hosts}/${host}`, { recursive: true });
          await Deno.writeTextFile(
            `${hosts}/${host}/hosts.toml`,
            `server = "http://${DEAD}"\n\n[host."${server.url}"]\n  capabilities = ["pull", "resolve"]\n`,
          );
        }
        const fetched = async (ref: string, platform: string) => {
          const r = await containerd.ctr([
            "content",
            "fetch",
            "--hosts-dir",
            hosts,
            "--platform",
            platform,
            ref,
          ]);
          assertEquals(r.code, 0, r.stderr);
          const images = await containerd.ctr(["images", "ls"]);
          const line = text(images.stdout).split("\n").find((l) => l.startsWith(`${ref} `));
          assert(line, text(images.stdout));
          return line!.split(/\s+/)[2]; // REF TYPE DIGEST SIZE PLATFORMS LABELS
        };
        assertEquals(await fetched("docker.io/library/skiffdemo:1", "linux/amd64"), fx.dockerList);
        // the same repository path from two registries: ns says which
        assertEquals(await fetched(`${fx.host}/test/single:1`, "linux/amd64"), s.single.digest);
        assertEquals(await fetched("quay.io/test/single:1", "linux/arm64"), fx.arm64.digest);
        const content = text((await containerd.ctr(["content", "ls", "-q"])).stdout);
        for (const blob of [fx.dockerList, amd64.manifest, amd64.config, ...amd64.layers]) {
          assert(content.includes(blob), blob);
        }
      } finally {
        await containerd.stop();
      }
      const log = server.stderr();
      assertMatch(log, /"HEAD \/v2\/library\/skiffdemo\/manifests\/1\?ns=docker\.io" 200/);
      assertMatch(
        log,
        /"GET \/v2\/test\/single\/manifests\/[^"?]+\?ns=quay\.io" 200 .*"containerd\//,
      );
    });
  } finally {
    const { code } = await server.stop();
    assertEquals(code, 0);
    await s.stop();
  }
});
