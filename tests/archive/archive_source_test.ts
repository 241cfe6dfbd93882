// An archive is an image source like any other: the copy engine takes a docker-archive (skopeo's
// classic form, whose files are not named by digest) and an oci-archive of an index to a real
// registry, where skopeo reads them back by the digests the archive gave. (`load` is this copy
// with the store as the destination: tests/archive/load_test.ts.)

import { assertEquals } from "../_assert.ts";
import { startFixture } from "../_fixture.ts";
import { mustRun, sha256 } from "../_images.ts";
import { tempDir } from "../_temp.ts";
import { copyImage } from "../../lib/image/copy_image.ts";
import { parseReference } from "../../lib/reference/parse_reference.ts";
import { RegistryImageDestination } from "../../lib/registry/registry_image_destination.ts";
import { LayoutImageDestination } from "../../lib/store/layout_image_destination.ts";
import { Store } from "../../lib/store/store.ts";
import { ArchiveContents } from "../../lib/archive/_archive_contents.ts";
import { DockerArchiveSource } from "../../lib/archive/docker_archive_source.ts";
import { OciArchiveSource } from "../../lib/archive/oci_archive_source.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const LIMITS = { maxBytes: 1024 ** 3, maxMetadataSize: 4 * 1024 * 1024, maxEntries: 10_000 };

Deno.test("archive sources: the engine copies a docker-archive and an oci-archive to a registry", async (t) => {
  const fx = await startFixture();
  const dir = await tempDir({ prefix: "skiff-archive-source-" });
  try {
    const single = `${fx.host}/test/single:1`;
    const inspect = async (ref: string, ...args: string[]) =>
      await mustRun("skopeo", ["inspect", ...args, "--tls-verify=false", `docker://${ref}`]);
    const singleConfig = sha256(await inspect(single, "--config", "--raw"));

    /** The archive read into a store that stages it, and the source over it. */
    const read = async (file: string, store: Store) => {
      const contents = new ArchiveContents(store, LIMITS, undefined);
      await contents.read(file);
      return contents;
    };

    await t.step("skopeo's docker-archive (classic <id>/layer.tar) -> the registry", async () => {
      const file = `${dir}/docker.tar`;
      await mustRun("skopeo", [
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        `docker://${single}`,
        `docker-archive:${file}:example.com/team/app:1`,
      ]);
      const store = await Store.open(`${dir}/staging-docker`);
      using _lock = await LayoutImageDestination.open(store);
      const contents = await read(file, store);
      try {
        const source = await DockerArchiveSource.open(file, contents);
        assertEquals(source.images.map((i) => i.names), [["example.com/team/app:1"]]);
        const to = parseReference(`${fx.host}/from-archive/docker:1`);
        const copied = await copyImage(
          source,
          "example.com/team/app:1",
          new RegistryImageDestination(to),
          { tag: "1" },
        );
        assertEquals(copied.digest, source.images[0]!.root.digest);
        // the registry serves the manifest the source made, and the image's own config
        assertEquals(sha256(await inspect(to.toString(), "--raw")), copied.digest);
        assertEquals(sha256(await inspect(to.toString(), "--config", "--raw")), singleConfig);
      } finally {
        await contents.cleanup();
      }
    });

    await t.step("skopeo's oci-archive of an index -> the registry, digests kept", async () => {
      const multi = `${fx.host}/test/multi:1`;
      const file = `${dir}/oci.tar`;
      await mustRun("skopeo", [
        "copy",
        "--quiet",
        "--all",
        "--src-tls-verify=false",
        `docker://${multi}`,
        `oci-archive:${file}:${multi}`,
      ]);
      const store = await Store.open(`${dir}/staging-oci`);
      using _lock = await LayoutImageDestination.open(store);
      const contents = await read(file, store);
      try {
        const source = await OciArchiveSource.open(file, contents);
        assertEquals(source.images.map((i) => i.root.digest), [fx.multi.digest]);
        const to = parseReference(`${fx.host}/from-archive/oci:1`);
        const copied = await copyImage(
          source,
          fx.multi.digest,
          new RegistryImageDestination(to),
          { tag: "1" },
        );
        assertEquals([copied.digest, copied.root], [fx.multi.digest, "same"]);
        const raw = JSON.parse(text(await inspect(to.toString(), "--raw")));
        assertEquals(raw.manifests.length > 1, true);
        assertEquals(sha256(await inspect(to.toString(), "--raw")), fx.multi.digest);
      } finally {
        await contents.cleanup();
      }
    });
  } finally {
    await fx.stop();
  }
});
