// The store: a valid OCI layout at every instant, atomic writes, and locks that hold across
// processes.

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { createHash } from "node:crypto";
import { sha256 } from "../_images.ts";
import { DigestMismatchError } from "../../lib/reference/digest_mismatch_error.ts";
import { REF_NAME_ANNOTATION, Store } from "../../lib/store/store.ts";
import { tempDir as moduleTempDir } from "../_temp.ts";

const enc = new TextEncoder();

async function tempDir(): Promise<string> {
  return await moduleTempDir({ prefix: "skiff-store-test-" });
}

async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

Deno.test("store: a new store appears complete, even when many open it at once", async () => {
  const parent = await tempDir();
  const path = `${parent}/a/b/store`;
  const stores = await Promise.all(Array.from({ length: 8 }, () => Store.open(path)));
  assertEquals(stores.length, 8);
  assertEquals(await entries(path), ["blobs", "index.json", "ingest", "oci-layout"]);
  assertEquals(JSON.parse(await Deno.readTextFile(`${path}/oci-layout`)), {
    imageLayoutVersion: "1.0.0",
  });
  assertEquals(JSON.parse(await Deno.readTextFile(`${path}/index.json`)).manifests, []);
  // no temporary directories are left beside it
  assertEquals(await entries(`${parent}/a/b`), ["store"]);
});

Deno.test("store: an empty directory becomes a layout; a non-empty non-layout is refused", async () => {
  const empty = await tempDir();
  await Store.open(empty);
  assertEquals(await entries(empty), ["blobs", "index.json", "ingest", "oci-layout"]);

  const home = await tempDir();
  await Deno.writeTextFile(`${home}/notes.txt`, "mine");
  const e = await assertRejects(() => Store.open(home));
  assert(e.message.includes("not empty and is not an OCI image layout"), e.message);
  assertEquals(await entries(home), ["notes.txt"]);

  await assertRejects(() => Store.open(`${home}/missing`, { create: false }));
});

Deno.test("store: putBlob verifies and writes atomically; readBlob detects damage", async () => {
  const store = await Store.open(await tempDir());
  const bytes = enc.encode("hello blob");
  const digest = sha256(bytes);
  await assertRejects(() => store.putBlob("sha256:" + "0".repeat(64), bytes), DigestMismatchError);
  assertEquals(await store.hasBlob("sha256:" + "0".repeat(64)), false);
  await store.putBlob(digest, bytes);
  assertEquals(await store.readBlob(digest), bytes);
  assertEquals(await store.hasBlob(digest, bytes.byteLength), true);
  assertEquals(await store.hasBlob(digest, bytes.byteLength + 1), false);
  // no temporary files left (only the index lock the layout was made under)
  assertEquals(await entries(`${store.path}/ingest`), ["index.lock"]);
  await Deno.writeTextFile(store.blobPath(digest), "tampered!!");
  await assertRejects(() => store.readBlob(digest), DigestMismatchError);
  // digests are validated before they become paths
  for (const bad of ["sha256:../../../etc/passwd", "md5:abc", "sha256:" + "A".repeat(64)]) {
    await assertRejects(() => store.hasBlob(bad), SyntaxError);
  }
});

Deno.test("store: index.json updates from many processes at once lose nothing", async () => {
  const store = await Store.open(await tempDir());
  // keep fields other tools wrote
  const index = JSON.parse(await Deno.readTextFile(`${store.path}/index.json`));
  await Deno.writeTextFile(
    `${store.path}/index.json`,
    JSON.stringify({ ...index, annotations: { keep: "me" } }),
  );
  const script = `
    import { Store } from ${
    JSON.stringify(new URL("../../lib/store/store.ts", import.meta.url).href)
  };
    const store = await Store.open(Deno.args[0]);
    for (let i = 0; i < 10; i++) {
      await store.updateIndex((m) => [...m, {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: "sha256:" + "0".repeat(64), size: 1,
        annotations: { "${REF_NAME_ANNOTATION}": Deno.args[1] + "-" + i },
      }]);
    }`;
  const file = `${await tempDir()}/writer.ts`;
  await Deno.writeTextFile(file, script);
  const procs = Array.from(
    { length: 4 },
    (_, p) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", file, store.path, `p${p}`],
      }).output(),
  );
  // and this process at the same time
  const local = Array.from({ length: 10 }, (_, i) =>
    store.updateIndex((m) => [...m, {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: "sha256:" + "1".repeat(64),
      size: 1,
      annotations: { [REF_NAME_ANNOTATION]: `local-${i}` },
    }]));
  const results = await Promise.all(procs);
  await Promise.all(local);
  assert(results.every((r) => r.success));
  const final = await store.readLayoutIndex();
  assertEquals(final.manifests.length, 50);
  assertEquals(new Set(final.manifests.map((m) => m.annotations?.[REF_NAME_ANNOTATION])).size, 50);
  assertEquals(final.annotations, { keep: "me" });
  assertEquals((await store.findImage("p3-9"))?.digest, "sha256:" + "0".repeat(64));
});

Deno.test("store: one ingest per blob at a time; a waiter sees the committed blob", async () => {
  const store = await Store.open(await tempDir());
  const bytes = enc.encode("x".repeat(3 * 1024 * 1024));
  const digest = sha256(bytes);
  const first = await store.openIngest(digest, bytes.byteLength);
  assertEquals(first.complete, false);
  let secondOpened = false;
  const second = store.openIngest(digest, bytes.byteLength).then((i) => {
    secondOpened = true;
    return i;
  });
  await new Promise((r) => setTimeout(r, 100));
  assertEquals(secondOpened, false); // waiting for the lock
  // many writes issued without waiting land in order
  const writes: Promise<void>[] = [];
  for (let at = 0; at < bytes.byteLength; at += 1000) {
    writes.push(first.write(bytes.subarray(at, at + 1000)));
  }
  await Promise.all(writes);
  assertEquals(await first.length(), bytes.byteLength);
  const hash = createHash("sha256");
  assertEquals(await first.rehash(hash), bytes.byteLength);
  assertEquals(hash.digest("hex"), digest.slice(7));
  await first.commit();
  first.close();
  const waiter = await second;
  assertEquals(waiter.complete, true);
  waiter.close();
  assertEquals(await store.readBlob(digest), bytes);
  assertEquals(await entries(`${store.path}/ingest`), ["index.lock"]);
});

Deno.test("store: an ingest closed early keeps the bytes it received for a resume", async () => {
  const store = await Store.open(await tempDir());
  const bytes = enc.encode("y".repeat(100_000));
  const ingest = await store.openIngest(sha256(bytes), bytes.byteLength);
  await ingest.write(bytes.subarray(0, 60_000));
  await ingest.flush();
  assertEquals(await ingest.length(), 60_000);
  ingest.close();
  const again = await store.openIngest(sha256(bytes), bytes.byteLength);
  assertEquals(await again.length(), 60_000);
  again.close();
});

/** The paths this process has open, from /proc/self/fd. */
async function openPaths(): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir("/proc/self/fd")) {
    try {
      out.push(await Deno.readLink(`/proc/self/fd/${e.name}`));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

Deno.test("store: a large ingest is written out to disk behind its writes, and leaves no descriptor", async () => {
  const store = await Store.open(await tempDir());
  const piece = new Uint8Array(1024 * 1024);
  const hash = createHash("sha256");
  const pieces = 40;
  for (let i = 0; i < pieces; i++) hash.update(piece.fill(i));
  const digest = `sha256:${hash.digest("hex")}`;
  const ingest = await store.openIngest(digest, pieces * piece.byteLength);
  for (let i = 0; i < 17; i++) await ingest.write(piece.fill(i));
  // past 16 MiB a second descriptor of the ingest file syncs what is written so far
  await ingest.flush();
  const during = (await openPaths()).filter((p) => p === ingest.path);
  assertEquals(during.length, 2, "the ingest file and the descriptor its sync runs on");
  for (let i = 17; i < pieces; i++) await ingest.write(piece.fill(i));
  await ingest.commit();
  ingest.close();
  const hex = digest.slice("sha256:".length);
  const stored = await Deno.readFile(`${store.path}/blobs/sha256/${hex}`);
  assertEquals(stored.byteLength, pieces * piece.byteLength);
  assertEquals(stored[stored.byteLength - 1], pieces - 1);
  const after = (await openPaths()).filter((p) => p.includes(hex));
  assertEquals(after, [], "no descriptor of the blob stays open");
});

Deno.test("store: an empty directory another opener is making a layout in: its index.json is kept", async () => {
  // the first opener holds the index lock while it writes index.json and oci-layout into the
  // empty directory (a mount point); a second opener waits for it, then uses what it made,
  // and never writes an empty index.json over the entries a pull named meanwhile
  const dir = await tempDir();
  await Deno.mkdir(`${dir}/ingest`);
  const first = await Deno.open(`${dir}/ingest/index.lock`, { create: true, write: true });
  await first.lock(true);
  let opened = false;
  const second = Store.open(dir).then((s) => {
    opened = true;
    return s;
  });
  await new Promise((r) => setTimeout(r, 200));
  assertEquals(opened, false, "the second opener must wait for the first");
  const named = {
    schemaVersion: 2,
    manifests: [{
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: "sha256:" + "2".repeat(64),
      size: 1,
      annotations: { [REF_NAME_ANNOTATION]: "named-by-the-first" },
    }],
  };
  await Deno.writeTextFile(`${dir}/index.json`, JSON.stringify(named));
  await Deno.writeTextFile(`${dir}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
  first.close();
  const store = await second;
  assertEquals((await store.findImage("named-by-the-first"))?.digest, "sha256:" + "2".repeat(64));
});

Deno.test("store: an index.json update leaves no temporary file, and removes a killed one's", async () => {
  const store = await Store.open(await tempDir());
  await Deno.writeTextFile(`${store.path}/ingest/.index.json.tmp-killed`, "half an index");
  await store.updateIndex((m) => m);
  assertEquals(await entries(`${store.path}/ingest`), ["index.lock"]);
  assertEquals((await Deno.stat(`${store.path}/index.json`)).mode! & 0o777, 0o644);
});

Deno.test("store: typed reads parse what is stored, by kind, within the caps of lib/oci", async () => {
  const store = await Store.open(await tempDir());
  const put = async (value: unknown) => {
    const bytes = typeof value === "string" ? enc.encode(value) : enc.encode(JSON.stringify(value));
    const digest = sha256(bytes);
    await store.putBlob(digest, bytes);
    return { digest, bytes };
  };
  const config = await put({ os: "linux", architecture: "arm64", rootfs: { diff_ids: [] } });
  const manifest = await put({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: config.digest,
      size: config.bytes.byteLength,
    },
    layers: [],
  });
  const index = await put({ schemaVersion: 2, manifests: [] });

  const m = await store.readManifest({ digest: manifest.digest });
  assertEquals(m.manifest.config.digest, config.digest);
  assertEquals(m.descriptor, {
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: manifest.digest,
    size: manifest.bytes.byteLength,
  });
  assertEquals((await store.readIndex({ digest: index.digest })).index.manifests, []);
  assertEquals((await store.readConfig(m.manifest.config)).architecture, "arm64");
  // the kind is checked
  await assertRejects(() => store.readIndex({ digest: manifest.digest }), Error, "not an index");
  await assertRejects(() => store.readManifest({ digest: index.digest }), Error, "it is an index");
  await assertRejects(() => store.readManifestOrIndex({ digest: config.digest }), Error);
  // the descriptor's media type is read as a Content-Type: an index is not a manifest
  await assertRejects(() =>
    store.readManifestOrIndex({
      digest: index.digest,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
    })
  );
  // a blob over the manifest cap (4 MiB) is not read as one; a config may be larger
  const big = await put(
    JSON.stringify({ os: "linux", architecture: "amd64", pad: "x".repeat(5 * 1024 * 1024) }),
  );
  await assertRejects(
    () => store.readManifestOrIndex({ digest: big.digest }),
    RangeError,
    "larger than 4194304 bytes",
  );
  assertEquals((await store.readConfig({ digest: big.digest })).architecture, "amd64");
  // damage is found by every typed read
  const path = store.blobPath(manifest.digest);
  const flipped = manifest.bytes.slice();
  flipped[10] = flipped[10]! ^ 1;
  await Deno.writeFile(path, flipped);
  await assertRejects(() => store.readManifest({ digest: manifest.digest }), DigestMismatchError);
  await Deno.remove(store.path, { recursive: true });
});
