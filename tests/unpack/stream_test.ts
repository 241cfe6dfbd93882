// Integration: the streaming unpack (an image the store lacks, applied while it downloads) through
// the fault proxy in front of the real registry: overlap shown by behaviour, a cut mid-layer, a
// corrupted layer, and the same tree as the unpack from the store and as umoci's.

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { gzip, mustRun, noise, sha256, tarOf } from "../_images.ts";
import { FaultProxy } from "../_proxy.ts";
import { pushImage } from "../_push.ts";
import { startRegistry } from "../_registry.ts";
import { snapshot } from "../_rootfs.ts";
import { checkStore } from "../_store_check.ts";
import { DigestMismatchError } from "../../lib/reference/digest_mismatch_error.ts";
import { unpack } from "../../lib/unpack/unpack.ts";
import { spawnSkiff } from "../_cli.ts";
import { tempDir } from "../_temp.ts";

const FILES = 24;
const FILE_SIZE = 96 * 1024;

/** Layer 1: 24 files of noise (about 2.3 MiB, incompressible, so bytes in = bytes out). Layer 2
 * deletes one of them and adds a file. */
async function streamImage(url: string, repo: string) {
  const files: Record<string, Uint8Array | string> = { "f/": "" };
  for (let i = 0; i < FILES; i++) {
    files[`f/${String(i).padStart(2, "0")}`] = noise(FILE_SIZE, `file ${i}`);
  }
  const t1 = await tarOf(files);
  const t2 = await tarOf({ "f/.wh.03": "", "etc/second": "layer two\n" });
  const layers = [
    { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", bytes: await gzip(t1) },
    { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", bytes: await gzip(t2) },
  ];
  const pushed = await pushImage(url, repo, "1", [
    { ...layers[0]!, diffId: sha256(t1) },
    { ...layers[1]!, diffId: sha256(t2) },
  ]);
  return { ...pushed, sizes: layers.map((l) => l.bytes.byteLength) };
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Layer 1's files in `root` have the image's bytes, all but f/03 (which layer 2 deletes). */
async function assertLayerOneFiles(root: string) {
  for (let i = 0; i < FILES; i++) {
    if (i === 3) continue;
    const path = `${root}/f/${String(i).padStart(2, "0")}`;
    assertEquals(sha256(await Deno.readFile(path)), sha256(noise(FILE_SIZE, `file ${i}`)), path);
  }
}

/** Waits for `test` to hold, checking every 20 ms; a guard against a hang, not a timing. */
async function until(what: string, test: () => Promise<boolean>, failed: () => boolean) {
  for (let i = 0; i < 3000; i++) {
    if (await test()) return;
    if (failed()) throw new Error(`the unpack ended before ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`never saw ${what}`);
}

Deno.test("stream: layer 1 is applied while its download is held back; equal to umoci's, and to the unpack from the store", async () => {
  const registry = await startRegistry();
  const proxy = FaultProxy.start(registry.url);
  const work = await tempDir({ prefix: "skiff-stream-" });
  try {
    const image = await streamImage(registry.url, "test/stream");
    const l1 = image.layers[0]!;
    const release = Promise.withResolvers<void>();
    const reached = Promise.withResolvers<void>();
    proxy.on((req, url) =>
      req.method === "GET" && url.pathname.endsWith(`/blobs/${l1.digest}`)
        ? {
          kind: "hold",
          after: Math.floor(image.sizes[0]! * 0.75),
          until: release.promise,
          reached: reached.resolve,
        }
        : undefined
    );
    const store = `${work}/store`;
    const name = `${proxy.host}/test/stream:1`;
    const events: string[] = [];
    let ended = false;
    const running = unpack(name, `${work}/rootfs`, {
      store,
      onProgress: (e) => events.push(e.type === "blob-done" ? `${e.type} ${e.digest}` : e.type),
    }).finally(() => ended = true);
    try {
      await reached.promise;
      // while the proxy holds back the last quarter of layer 1, its first files are applied
      const first = async () => {
        for (const entry of await names(work)) {
          if (!entry.startsWith(".rootfs.skiff-unpack-")) continue;
          const info = await Deno.stat(`${work}/${entry}/f/05`).catch(() => undefined);
          if (info?.size === FILE_SIZE) return true;
        }
        return false;
      };
      await until("layer 1's sixth file applied", first, () => ended);
      const hex = l1.digest.slice("sha256:".length);
      assert(!(await exists(`${store}/blobs/sha256/${hex}`)), "layer 1 is not committed yet");
      assert(await exists(`${store}/ingest/sha256-${hex}`), "layer 1 is still in ingest/");
      assert(!events.includes(`blob-done ${l1.digest}`), events.join());
      assert(!(await exists(`${work}/rootfs`)), "the target appears only at the end");
    } finally {
      release.resolve();
    }
    const result = await running;
    assertEquals([result.pulled, result.layers, result.digest], [true, 2, image.digest]);
    assertEquals(result.whiteouts, 1);
    // one request per blob: the applying side read the ingest file, not the network again
    assertEquals(proxy.requests(`/blobs/${l1.digest}`).length, 1);

    const streamed = await snapshot(`${work}/rootfs`);
    assertEquals(streamed.nodes["f/03"], undefined);
    assertEquals(streamed.nodes["f/05"]?.size, FILE_SIZE);
    assertEquals(await Deno.readTextFile(`${work}/rootfs/etc/second`), "layer two\n");

    // the blobs are verified in the store: the same image from the store alone, without the
    // network, gives the same tree; so does umoci's unpack of that store
    assertEquals((await checkStore(store)).corrupt, []);
    await proxy.stop();
    await registry.stop();
    const again = await unpack(name, `${work}/again`, { store, pull: "never" });
    assertEquals(again.pulled, false);
    assertEquals((await snapshot(`${work}/again`)).nodes, streamed.nodes);
    await mustRun("umoci", ["unpack", "--rootless", "--image", `${store}:${name}`, `${work}/u`]);
    const theirs = await snapshot(`${work}/u/rootfs`);
    for (const [path, node] of Object.entries(theirs.nodes)) {
      assertEquals(streamed.nodes[path], node, path);
    }
    assertEquals(Object.keys(streamed.nodes).sort(), Object.keys(theirs.nodes).sort());
    assertEquals(await names(work), ["again", "rootfs", "store", "u"]);
  } finally {
    await proxy.stop();
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("stream: a connection cut in the middle of layer 1 resumes underneath; the unpack completes", async () => {
  const registry = await startRegistry();
  const proxy = FaultProxy.start(registry.url);
  const work = await tempDir({ prefix: "skiff-stream-" });
  try {
    const image = await streamImage(registry.url, "test/cut");
    const l1 = image.layers[0]!;
    let cuts = 0;
    proxy.on((req, url) => {
      if (req.method !== "GET" || !url.pathname.endsWith(`/blobs/${l1.digest}`)) return;
      // the first two requests break off, a third of the way in and then a bit further
      if (cuts >= 2) return;
      cuts++;
      return { kind: "cut", after: Math.floor(image.sizes[0]! / 3) };
    });
    const store = `${work}/store`;
    const result = await unpack(`${proxy.host}/test/cut:1`, `${work}/rootfs`, { store });
    assertEquals([result.pulled, result.layers], [true, 2]);
    const requests = proxy.requests(`/blobs/${l1.digest}`).filter((r) => r.method === "GET");
    assertEquals(requests.length, 3);
    assertEquals(requests[0]!.headers["range"], undefined);
    // resumed from what reached the disk (the bytes still in a ring buffer at the cut are lost)
    const froms = requests.slice(1).map((r) =>
      Number(/^bytes=(\d+)-$/.exec(r.headers["range"] ?? "")?.[1])
    );
    const third = Math.floor(image.sizes[0]! / 3);
    assert(froms[0]! > 0 && froms[0]! <= third, `${froms}`);
    assert(froms[1]! > froms[0]! && froms[1]! <= froms[0]! + third, `${froms}`);
    const tree = await snapshot(`${work}/rootfs`);
    assertEquals(Object.keys(tree.nodes).filter((p) => p.startsWith("f/")).length, FILES - 1);
    await assertLayerOneFiles(`${work}/rootfs`);
    assertEquals((await checkStore(store)).corrupt, []);
    assertEquals(await names(work), ["rootfs", "store"]);
  } finally {
    await proxy.stop();
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("stream: a corrupted byte in the last layer aborts: DigestMismatchError, no DIR, nothing unverified named", async () => {
  const registry = await startRegistry();
  const proxy = FaultProxy.start(registry.url);
  const work = await tempDir({ prefix: "skiff-stream-" });
  try {
    const image = await streamImage(registry.url, "test/corrupt");
    const last = image.layers[1]!;
    proxy.on((req, url) =>
      req.method === "GET" && url.pathname.endsWith(`/blobs/${last.digest}`)
        ? { kind: "flip", at: Math.floor(image.sizes[1]! / 2) }
        : undefined
    );
    const store = `${work}/store`;
    const name = `${proxy.host}/test/corrupt:1`;
    await Deno.mkdir(`${work}/rootfs`); // an empty target stays as it was
    const e = await assertRejects(
      () => unpack(name, `${work}/rootfs`, { store }),
      DigestMismatchError,
    );
    assert(e.message.includes(last.digest), e.message);
    assertEquals(await names(work), ["rootfs", "store"]);
    assertEquals(await names(`${work}/rootfs`), []);
    const report = await checkStore(store);
    assertEquals([report.corrupt, report.missing, report.names], [[], [], []]);
    const hex = last.digest.slice("sha256:".length);
    assert(!(await exists(`${store}/blobs/sha256/${hex}`)), "the corrupt layer has no name");
    assert(!(await exists(`${store}/ingest/sha256-${hex}`)), "nor a partial to resume from");
  } finally {
    await proxy.stop();
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("stream: kill -9 in the middle of layer 1: the store stays valid, no DIR, the next unpack completes", async () => {
  const registry = await startRegistry();
  const proxy = FaultProxy.start(registry.url);
  const work = await tempDir({ prefix: "skiff-stream-" });
  try {
    const image = await streamImage(registry.url, "test/kill");
    const l1 = image.layers[0]!;
    const release = Promise.withResolvers<void>();
    let reached = false;
    proxy.on((req, url) =>
      req.method === "GET" && url.pathname.endsWith(`/blobs/${l1.digest}`)
        ? {
          kind: "hold",
          after: Math.floor(image.sizes[0]! / 2),
          until: release.promise,
          reached: () => reached = true,
        }
        : undefined
    );
    const store = `${work}/store`;
    const name = `${proxy.host}/test/kill:1`;
    const child = spawnSkiff(["unpack", "-q", "--store", store, name, `${work}/rootfs`]);
    let exited = false;
    const status = child.status.then((s) => {
      exited = true;
      return s;
    });
    try {
      const applied = async () => {
        if (!reached) return false;
        for (const entry of await names(work)) {
          if (!entry.startsWith(".rootfs.skiff-unpack-")) continue;
          const info = await Deno.stat(`${work}/${entry}/f/02`).catch(() => undefined);
          if (info?.size === FILE_SIZE) return true;
        }
        return false;
      };
      await until("layer 1's third file applied", applied, () => exited);
      child.kill("SIGKILL");
    } finally {
      release.resolve();
      await status;
      await child.stdout.cancel();
      await child.stderr.cancel();
    }
    assertEquals((await status).signal, "SIGKILL");
    assert(!(await exists(`${work}/rootfs`)), "no DIR");
    const report = await checkStore(store);
    assertEquals([report.corrupt, report.missing, report.names], [[], [], []]);
    // what layer 1 had on disk stays in ingest/ for a resume; nothing of it is named
    const hex = l1.digest.slice("sha256:".length);
    assert(!(await exists(`${store}/blobs/sha256/${hex}`)), "layer 1 is not committed");
    // the temporary tree of the killed process is the one thing left beside DIR
    const left = (await names(work)).filter((n) => n.startsWith(".rootfs.skiff-unpack-"));
    assertEquals(left.length, 1);

    const result = await unpack(name, `${work}/rootfs`, { store });
    assertEquals([result.pulled, result.layers], [true, 2]);
    assertEquals((await snapshot(`${work}/rootfs`)).nodes["f/05"]?.size, FILE_SIZE);
    const resumed = proxy.requests(`/blobs/${l1.digest}`).filter((r) => r.method === "GET").at(-1)!;
    assert(resumed.headers["range"]?.startsWith("bytes="), "the next pull resumed layer 1");
    assertEquals((await checkStore(store)).corrupt, []);
  } finally {
    await proxy.stop();
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});

/** The hidden temporary trees of running unpacks of `${work}/rootfs`. */
async function building(work: string): Promise<string[]> {
  return (await names(work)).filter((n) => n.startsWith(".rootfs.skiff-unpack-"));
}

Deno.test("stream: a bad first copy of layer 1, applied in part, then a restart from zero: the unpack starts over from the verified store and completes", async () => {
  const registry = await startRegistry();
  const proxy = FaultProxy.start(registry.url);
  const work = await tempDir({ prefix: "skiff-stream-" });
  try {
    const image = await streamImage(registry.url, "test/restart");
    const l1 = image.layers[0]!;
    const size = image.sizes[0]!;
    const release = Promise.withResolvers<void>();
    const reached = Promise.withResolvers<void>();
    let gets = 0;
    proxy.on((req, url) => {
      if (req.method !== "GET" || !url.pathname.endsWith(`/blobs/${l1.digest}`)) return;
      // the first copy has a flipped byte in its first tenth (in file f/01 or so: the files are
      // noise, stored as they are), is held at three quarters until the applying side is past
      // it, then cut; the resume is answered 200 (Range ignored): the download starts over
      if (++gets === 1) {
        return [
          { kind: "flip", at: Math.floor(size / 10) },
          {
            kind: "hold",
            after: Math.floor(size * 0.75),
            until: release.promise,
            reached: reached.resolve,
          },
          { kind: "cut", after: Math.floor(size * 0.8) },
        ];
      }
      return { kind: "ignore-range" };
    });
    const store = `${work}/store`;
    let ended = false;
    const running = unpack(`${proxy.host}/test/restart:1`, `${work}/rootfs`, { store })
      .finally(() => ended = true);
    try {
      await reached.promise;
      const past = async () => {
        for (const entry of await building(work)) {
          const info = await Deno.stat(`${work}/${entry}/f/05`).catch(() => undefined);
          if (info?.size === FILE_SIZE) return true;
        }
        return false;
      };
      // the corrupt bytes were applied (unhashed: the download hashes them) before the restart
      await until("layer 1's sixth file applied", past, () => ended);
    } finally {
      release.resolve();
    }
    const result = await running;
    assertEquals([result.pulled, result.layers, result.digest], [true, 2, image.digest]);
    const requests = proxy.requests(`/blobs/${l1.digest}`).filter((r) => r.method === "GET");
    assertEquals(requests.length, 2);
    assert(requests[1]!.headers["range"]?.startsWith("bytes="), "the second request resumed");
    // every file as the image has it: the tree was made again from the verified blobs
    await assertLayerOneFiles(`${work}/rootfs`);
    assertEquals(await Deno.readTextFile(`${work}/rootfs/etc/second`), "layer two\n");
    assertEquals((await checkStore(store)).corrupt, []);
    assertEquals(await names(work), ["rootfs", "store"]);
  } finally {
    await proxy.stop();
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("stream: a layer the store has with the right size and wrong bytes is hashed by the applying side: DigestMismatchError, no DIR", async () => {
  const registry = await startRegistry();
  const work = await tempDir({ prefix: "skiff-stream-" });
  try {
    const image = await streamImage(registry.url, "test/damaged");
    const l1 = image.layers[0]!;
    const store = `${work}/store`;
    // a damaged store: layer 1 present under its digest, same size, one byte changed; the image
    // itself is not there, so the unpack pulls (the pull takes a blob of the right size as it is)
    const good = await unpack(`${registry.host}/test/damaged:1`, `${work}/first`, { store });
    assertEquals(good.pulled, true);
    await Deno.remove(`${work}/first`, { recursive: true });
    const path = `${store}/blobs/sha256/${l1.digest.slice("sha256:".length)}`;
    const bytes = await Deno.readFile(path);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await Deno.writeFile(path, bytes);
    // the name goes (as after `skiff rm`; blobs stay until gc)
    await Deno.writeTextFile(
      `${store}/index.json`,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [],
      }),
    );
    const e = await assertRejects(
      () => unpack(`${registry.host}/test/damaged:1`, `${work}/rootfs`, { store }),
      DigestMismatchError,
    );
    assert(e.message.includes(l1.digest), e.message);
    assertEquals(await names(work), ["store"]);
  } finally {
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("stream: a layer the store lacks whose tar is not the config's diff_id: refused, no DIR", async () => {
  const registry = await startRegistry();
  const work = await tempDir({ prefix: "skiff-stream-" });
  try {
    // the blob is what its digest says; the config claims another tar for it
    const tar = await tarOf({ "etc/": "", "etc/claimed": "not what the config says\n" });
    const other = await tarOf({ "etc/": "", "etc/claimed": "what the config says\n" });
    const layer = await gzip(tar);
    const pushed = await pushImage(
      registry.url,
      "test/lying-diff",
      "1",
      [
        { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", bytes: layer },
      ].map((l) => ({ ...l, diffId: sha256(other) })),
    );
    const blob = pushed.layers[0]!.digest;
    const name = `${registry.host}/test/lying-diff:1`;

    // the module: the layer streams into DIR from its download (never in the store before)
    const store = `${work}/store`;
    const e = await assertRejects(
      () => unpack(name, `${work}/rootfs`, { store }),
      DigestMismatchError,
    );
    assert(e.message.includes("diff_id"), e.message);
    assert(e.message.includes(blob), e.message);
    assertEquals(await names(work), ["store"]);
    // the blobs are what the registry has: the pull may have named them (a pull would), intact
    const report = await checkStore(store);
    assertEquals([report.corrupt, report.missing], [[], []]);

    // the CLI, into a fresh store: one line, exit 1, nothing at DIR
    const child = spawnSkiff(["unpack", "-q", "--store", `${work}/cli-store`, name, `${work}/cli`]);
    const out = await child.output();
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 1, stderr);
    assertEquals(stderr.trim().split("\n").length, 1, stderr);
    assert(/^skiff: .*diff_id/.test(stderr), stderr);
    assertEquals(await names(work), ["cli-store", "store"]);
  } finally {
    await registry.stop();
    await Deno.remove(work, { recursive: true });
  }
});
