// The engine's plan and bookkeeping, with a source and a destination in memory (units; the
// registry tests in copy_image_test.ts hold the protocol): nested indexes, shared blobs copied
// once, foreign layers left out, children before parents, a lost write started over, a missing
// platform named.

import { assert, assertEquals, assertMatch, assertRejects } from "../_assert.ts";
import { sha256 } from "../_images.ts";
import { copyImage } from "../../lib/image/copy_image.ts";
import type { ImageDestination } from "../../lib/image/image_destination.ts";
import type { ImageSource } from "../../lib/image/image_source.ts";
import { WriteLostError } from "../../lib/image/write_lost_error.ts";
import { PlatformNotFoundError } from "../../lib/oci/choose_platform.ts";
import type { Descriptor } from "../../lib/oci/parse_manifest.ts";

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

class Memory {
  blobs = new Map<string, Uint8Array>();
  put(bytes: Uint8Array, mediaType: string, extra: Partial<Descriptor> = {}): Descriptor {
    const digest = sha256(bytes);
    this.blobs.set(digest, bytes);
    return { mediaType, digest, size: bytes.byteLength, ...extra };
  }
  image(layers: Descriptor[], architecture: string): Descriptor {
    const config = this.put(
      enc({ architecture, os: "linux" }),
      "application/vnd.oci.image.config.v1+json",
    );
    return this.put(
      enc({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config,
        layers,
      }),
      "application/vnd.oci.image.manifest.v1+json",
      { platform: { os: "linux", architecture } },
    );
  }
  index(manifests: Descriptor[]): Descriptor {
    return this.put(
      enc({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }),
      "application/vnd.oci.image.index.v1+json",
    );
  }
  source(root: Descriptor): ImageSource & { reads: string[] } {
    const reads: string[] = [];
    const get = (d: Descriptor) => {
      const b = this.blobs.get(d.digest);
      if (!b) throw new Error(`Cannot read ${d.digest}: not here`);
      return b;
    };
    return {
      name: "memory",
      reads,
      resolve: () => Promise.resolve({ descriptor: root, bytes: get(root) }),
      manifest: (d) => Promise.resolve(get(d)),
      blob: (d) => {
        reads.push(d.digest);
        return Promise.resolve(new Response(get(d) as Uint8Array<ArrayBuffer>).body!);
      },
    };
  }
}

function destination(loseFirst = new Set<string>()) {
  const have = new Map<string, Uint8Array>();
  const order: string[] = [];
  const lost = new Set<string>();
  const dst: ImageDestination = {
    name: "memory-dest",
    hasBlob: (d) => Promise.resolve(have.has(d.digest)),
    async writeBlob(d, content) {
      const bytes = new Uint8Array(await new Response(content).arrayBuffer());
      if (loseFirst.has(d.digest) && !lost.has(d.digest)) {
        lost.add(d.digest);
        throw new WriteLostError(
          `upload blob ${d.digest}`,
          "the session is gone",
          bytes.byteLength,
        );
      }
      have.set(d.digest, bytes);
      return { sent: bytes.byteLength, resent: 0 };
    },
    putManifest(d, bytes, options) {
      have.set(d.digest, bytes);
      order.push(options?.tag ? `${d.digest}:${options.tag}` : d.digest);
      return Promise.resolve();
    },
  };
  return { dst, have, order };
}

Deno.test("copyImage plan: nested index, shared and foreign blobs, order, a lost write", async () => {
  const m = new Memory();
  const shared = m.put(
    new TextEncoder().encode("shared layer"),
    "application/vnd.oci.image.layer.v1.tar+gzip",
  );
  const own = m.put(
    new TextEncoder().encode("arm layer"),
    "application/vnd.oci.image.layer.v1.tar+gzip",
  );
  const foreign: Descriptor = {
    mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    digest: sha256(new TextEncoder().encode("not served")),
    size: 10,
    urls: ["https://example.invalid/layer"],
  };
  const amd = m.image([shared, foreign], "amd64");
  const arm = m.image([shared, own], "arm64");
  const inner = m.index([arm]);
  const root = m.index([amd, inner]);
  const source = m.source(root);
  const { dst, have, order } = destination(new Set([shared.digest]));
  const result = await copyImage(source, "x", dst, { tag: "t", jobs: 2 });

  assertEquals(result.digest, root.digest);
  assertEquals(result.root, "same");
  // the shared layer once (read twice: the first write was lost and started over), no foreign one
  assertEquals(source.reads.filter((d) => d === shared.digest).length, 2);
  assert(!source.reads.includes(foreign.digest), "a foreign layer is not fetched");
  assertEquals(result.blobs, { copied: 4, existing: 0, mounted: 0 });
  assert(result.bytesResent > 0);
  // children first, the root last and alone with the tag
  assertEquals(order, [amd.digest, arm.digest, inner.digest, `${root.digest}:t`]);
  assertEquals(have.get(root.digest), m.blobs.get(root.digest));

  // again: everything is there, nothing is read
  const again = m.source(root);
  const second = await copyImage(again, "x", dst, { tag: "t" });
  assertEquals(second.blobs, { copied: 0, existing: 4, mounted: 0 });
  assertEquals(again.reads, []);
});

Deno.test("copyImage plan: a platform the index lacks is named, nothing written", async () => {
  const m = new Memory();
  const layer = m.put(new TextEncoder().encode("l"), "application/vnd.oci.image.layer.v1.tar+gzip");
  const root = m.index([m.image([layer], "amd64"), m.image([layer], "arm64")]);
  const { dst, have } = destination();
  const error = await assertRejects(
    () =>
      copyImage(m.source(root), "x", dst, {
        platforms: [{ os: "linux", architecture: "amd64" }, { os: "linux", architecture: "s390x" }],
      }),
    PlatformNotFoundError,
  );
  assertMatch(error.message, /linux\/s390x/);
  assertEquals(have.size, 0);
});
