// `skiff load` of truncated and hostile archives: one line `skiff: Cannot load FILE: ...`, exit 1,
// nothing named in the store, no partial data left in ingest/, every blob under blobs/ verified.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { sha256, tarOf } from "../_images.ts";
import { checkStore } from "../_store_check.ts";
import { makeTar, type TarSpec } from "../_tar.ts";
import { load } from "../../lib/archive/load.ts";
import { tempDir } from "../_temp.ts";

const enc = new TextEncoder();

/** A valid one-image oci-archive's entries, and the pieces to break it with. */
async function ociEntries() {
  const layer = await tarOf({ "etc/": "", "etc/hostname": "skiff\n" });
  const layerDigest = sha256(layer);
  const config = enc.encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: [layerDigest] },
  }));
  const manifest = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: sha256(config),
      size: config.byteLength,
    },
    layers: [{
      mediaType: "application/vnd.oci.image.layer.v1.tar",
      digest: layerDigest,
      size: layer.byteLength,
    }],
  }));
  const index = enc.encode(JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: sha256(manifest),
      size: manifest.byteLength,
      annotations: { "org.opencontainers.image.ref.name": "example.com/hostile/app:1" },
    }],
  }));
  const blob = (bytes: Uint8Array): TarSpec => ({
    path: `blobs/sha256/${sha256(bytes).slice(7)}`,
    content: bytes,
  });
  return {
    layer,
    config,
    manifest,
    layerEntry: blob(layer),
    entries: [
      { path: "oci-layout", content: '{"imageLayoutVersion":"1.0.0"}' },
      blob(layer),
      blob(config),
      blob(manifest),
      { path: "index.json", content: index },
    ] as TarSpec[],
  };
}

/** A classic docker archive (`<id>/layer.tar`) of one image. */
async function classicEntries(diffId?: string) {
  const layer = await tarOf({ "etc/": "", "etc/hostname": "classic\n" });
  const config = enc.encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: [diffId ?? sha256(layer)] },
  }));
  const configName = `${sha256(config).slice(7)}.json`;
  return [
    { path: "abc123/", type: "directory" },
    { path: "abc123/layer.tar", content: layer },
    { path: configName, content: config },
    {
      path: "manifest.json",
      content: JSON.stringify([{
        Config: configName,
        RepoTags: ["example.com/hostile/classic:1"],
        Layers: ["abc123/layer.tar"],
      }]),
    },
  ] as TarSpec[];
}

async function expectRefused(
  dir: string,
  name: string,
  tar: Uint8Array,
  reason: RegExp,
): Promise<void> {
  const file = `${dir}/${name}.tar`;
  const store = `${dir}/store-${name}`;
  await Deno.writeFile(file, tar);
  const r = await skiff(["load", "--store", store, file]);
  assertEquals(r.code, 1, `${name}: ${r.stderr}`);
  assertEquals(r.stdout, "", name);
  const lines = r.stderr.trimEnd().split("\n");
  assertEquals(lines.length, 1, `${name}: one line, got ${r.stderr}`);
  assertMatch(lines[0]!, new RegExp(`^skiff: Cannot load ${file}: `), name);
  assertMatch(lines[0]!, reason, name);
  const report = await checkStore(store);
  assertEquals(report.names, [], `${name}: nothing named`);
  assertEquals(JSON.parse(await Deno.readTextFile(`${store}/index.json`)).manifests, [], name);
  assertEquals(report.ingest, [], `${name}: no partial data in ingest/`);
  assertEquals(report.corrupt, [], `${name}: every blob verified`);
}

Deno.test("skiff load: a valid hand-made oci-archive and classic docker archive load (the baseline)", async () => {
  const dir = await tempDir({ prefix: "skiff-load-bad-" });
  try {
    const oci = await ociEntries();
    await Deno.writeFile(`${dir}/ok.tar`, makeTar(oci.entries));
    const r = await skiff(["load", "--store", `${dir}/s`, `${dir}/ok.tar`]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, `example.com/hostile/app:1 ${sha256(oci.manifest)}\n`);
    await Deno.writeFile(`${dir}/classic.tar`, makeTar(await classicEntries()));
    const c = await skiff(["load", "--store", `${dir}/s`, `${dir}/classic.tar`]);
    assertEquals(c.code, 0, c.stderr);
    assertMatch(c.stdout, /^example\.com\/hostile\/classic:1 sha256:[0-9a-f]{64}\n$/);
    // Docker 25 with the containerd store: index.json names a whole index whose other platform
    // is not in the archive; manifest.json describes what is there, and is used
    const index = enc.encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: sha256(oci.manifest),
          size: oci.manifest.byteLength,
          platform: { os: "linux", architecture: "amd64" },
        },
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: "sha256:" + "e".repeat(64),
          size: 500,
          platform: { os: "linux", architecture: "arm64" },
        },
      ],
    }));
    const docker25 = makeTar([
      ...oci.entries.slice(0, 4),
      { path: `blobs/sha256/${sha256(index).slice(7)}`, content: index },
      {
        path: "index.json",
        content: JSON.stringify({
          schemaVersion: 2,
          manifests: [{
            mediaType: "application/vnd.oci.image.index.v1+json",
            digest: sha256(index),
            size: index.byteLength,
            annotations: { "io.containerd.image.name": "example.com/hostile/docker25:1" },
          }],
        }),
      },
      {
        path: "manifest.json",
        content: JSON.stringify([{
          Config: `blobs/sha256/${sha256(oci.config).slice(7)}`,
          RepoTags: ["example.com/hostile/docker25:1"],
          Layers: [oci.layerEntry.path],
        }]),
      },
    ]);
    await Deno.writeFile(`${dir}/docker25.tar`, docker25);
    const d = await skiff(["load", "--store", `${dir}/s`, `${dir}/docker25.tar`]);
    assertEquals(d.code, 0, d.stderr);
    // the manifest built from manifest.json is byte for byte the one in the archive
    assertEquals(d.stdout, `example.com/hostile/docker25:1 ${sha256(oci.manifest)}\n`);
    const report = await checkStore(`${dir}/s`);
    assertEquals(report.names.sort(), [
      "example.com/hostile/app:1",
      "example.com/hostile/classic:1",
      "example.com/hostile/docker25:1",
    ]);
    assertEquals([report.missing, report.corrupt, report.ingest], [[], [], []]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("skiff load: hostile and truncated archives name nothing and leave nothing partial", async () => {
  const dir = await tempDir({ prefix: "skiff-load-bad-" });
  try {
    const oci = await ociEntries();
    const full = makeTar(oci.entries);
    await expectRefused(
      dir,
      "dotdot",
      makeTar([{ path: "../evil", content: "x" }, ...oci.entries]),
      /entry "\.\.\/evil" escapes the archive$/,
    );
    await expectRefused(
      dir,
      "absolute",
      makeTar([...oci.entries.slice(0, 2), { path: "/etc/passwd", content: "x" }]),
      /entry "\/etc\/passwd" has an absolute path$/,
    );
    await expectRefused(
      dir,
      "symlink-out",
      makeTar([{ path: "a/b", type: "symlink", linkname: "../../etc/passwd" }, ...oci.entries]),
      /entry "a\/b" links to "a\/\.\.\/\.\.\/etc\/passwd", which escapes the archive$/,
    );
    await expectRefused(
      dir,
      "symlink-absolute",
      makeTar([...oci.entries, { path: "x", type: "symlink", linkname: "/etc/shadow" }]),
      /entry "x" links to an absolute path "\/etc\/shadow"$/,
    );
    await expectRefused(
      dir,
      "hardlink-out",
      makeTar([{ path: "h", type: "link", linkname: "../outside" }, ...oci.entries]),
      /entry "h" links to "\.\.\/outside", which escapes the archive$/,
    );
    await expectRefused(
      dir,
      "device",
      makeTar([{ path: "dev/sda", type: "block", devmajor: 8 }, ...oci.entries]),
      /entry "dev\/sda" is a block, which no image archive holds$/,
    );
    await expectRefused(
      dir,
      "missing-blob",
      makeTar(oci.entries.filter((e) => e !== oci.entries[1])),
      new RegExp(
        `names the blob ${
          sha256(oci.layer)
        } \\(${oci.layer.byteLength} bytes\\), which the archive lacks$`,
      ),
    );
    const forged = oci.layer.slice();
    forged[600] = forged[600]! ^ 1;
    await expectRefused(
      dir,
      "wrong-bytes",
      makeTar([oci.entries[0]!, { ...oci.layerEntry, content: forged }, ...oci.entries.slice(2)]),
      new RegExp(
        `entry "${oci.layerEntry.path}" does not match its name: its bytes hash to ${
          sha256(forged)
        }$`,
      ),
    );
    // cut inside the layer's body (the second entry)
    await expectRefused(
      dir,
      "truncated",
      full.subarray(0, 512 + 512 + 512 + 700),
      /the stream is truncated at byte 2236 \(entry "blobs\/sha256\/[0-9a-f]{64}" declares \d+ bytes, \d+ are missing\)$/,
    );
    await expectRefused(
      dir,
      "enormous-entry",
      makeTar([{
        path: "blobs/sha256/" + "a".repeat(64),
        size: 0,
        pax: { size: String(100 * 1024 ** 3) },
      }], {
        end: false,
      }),
      /entry "blobs\/sha256\/a{64}" declares 107374182400 bytes, more than the archive's limit of 68719476736$/,
    );
    await expectRefused(
      dir,
      "huge-manifest-json",
      makeTar([{ path: "manifest.json", content: new Uint8Array(5 * 1024 * 1024).fill(0x20) }]),
      /manifest\.json is 5242880 bytes, larger than the limit of 4194304$/,
    );
    await expectRefused(
      dir,
      "bad-digest-name",
      makeTar([{ path: "blobs/sha256/../../../x", content: "x" }]),
      /escapes the archive$/,
    );
    await expectRefused(
      dir,
      "not-a-digest",
      makeTar([{ path: "blobs/sha256/xyz", content: "x" }]),
      /entry "blobs\/sha256\/xyz" is not named by a valid digest$/,
    );
    await expectRefused(
      dir,
      "diff-id",
      makeTar(await classicEntries("sha256:" + "0".repeat(64))),
      /layer "abc123\/layer\.tar" does not match the config: its content is sha256:[0-9a-f]{64}, the config's diff_id sha256:0{64}$/,
    );
    await expectRefused(
      dir,
      "classic-missing-layer",
      makeTar((await classicEntries()).filter((e) => e.path !== "abc123/layer.tar")),
      /manifest\.json item 0 layer 0 is "abc123\/layer\.tar", which the archive lacks$/,
    );
    await expectRefused(
      dir,
      "not-an-archive",
      makeTar([{ path: "hello", content: "hi" }]),
      /not an image archive: it has neither manifest\.json nor index\.json$/,
    );
    await expectRefused(
      dir,
      "garbage",
      enc.encode("this is not a tar at all".repeat(40)),
      /header checksum mismatch/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("load(): the metadata cap applies to manifests and configs too, and an abort names nothing", async () => {
  const dir = await tempDir({ prefix: "skiff-load-bad-" });
  try {
    const oci = await ociEntries();
    await Deno.writeFile(`${dir}/ok.tar`, makeTar(oci.entries));
    let error: Error | undefined;
    try {
      await load(`${dir}/ok.tar`, { store: `${dir}/s`, maxMetadataSize: 100 });
    } catch (e) {
      error = e as Error;
    }
    assertMatch(
      error?.message ?? "",
      /^Cannot load .*ok\.tar: index\.json is \d+ bytes, larger than the limit of 100$/,
    );
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    let aborted: unknown;
    try {
      await load(`${dir}/ok.tar`, { store: `${dir}/s`, signal: controller.signal });
    } catch (e) {
      aborted = e;
    }
    assertEquals((aborted as Error).message, "stop");
    assertEquals((await checkStore(`${dir}/s`)).names, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A stream of `head`, then zeros for as long as it is read; `cancelled` once it was cancelled. */
function endlessZeros(head: Uint8Array) {
  const state = { sent: 0, cancelled: false };
  const zeros = new Uint8Array(1024 * 1024);
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = state.sent === 0 ? head : zeros;
      state.sent += chunk.byteLength;
      controller.enqueue(chunk);
    },
    cancel() {
      state.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, state };
}

Deno.test("load: a stream that goes on after the end-of-archive blocks is not read further", async (t) => {
  const dir = await tempDir({ prefix: "skiff-load-endless-" });
  try {
    const oci = await ociEntries();
    const archive = makeTar(oci.entries);
    const limit = 256 * 1024 * 1024;

    await t.step(
      "skiff load -: zeros after the archive, the writer sees the pipe closed",
      async () => {
        const child = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            "--quiet",
            new URL("../../cli.ts", import.meta.url).pathname,
            "load",
            "--store",
            `${dir}/cli`,
            "-",
          ],
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
          env: { NO_COLOR: "1" },
        }).spawn();
        const stdout = new Response(child.stdout).text();
        const stderr = new Response(child.stderr).text();
        const writer = child.stdin.getWriter();
        let written = 0;
        let refused = false;
        try {
          await writer.write(archive);
          const zeros = new Uint8Array(1024 * 1024);
          // up to 1 GiB of zeros: a skiff that reads on takes them all (and exits 0 as well)
          while (written < 1024 * limit / 256) {
            await writer.write(zeros);
            written += zeros.byteLength;
          }
          await writer.close();
        } catch {
          refused = true; // the pipe is closed: skiff stopped reading
        }
        const status = await child.status;
        assertEquals(status.code, 0, await stderr);
        assertEquals(await stdout, `example.com/hostile/app:1 ${sha256(oci.manifest)}\n`);
        assertEquals(refused, true, `all ${written} bytes of zeros were read`);
      },
    );

    await t.step("load(stream): the stream is cancelled, plain and gzip", async () => {
      const plain = endlessZeros(archive);
      const r = await load(plain.stream, { store: `${dir}/module`, maxBytes: limit });
      assertEquals(r.images.map((i) => i.name), ["example.com/hostile/app:1"]);
      assertEquals(plain.state.cancelled, true);
      assert(plain.state.sent < limit, `${plain.state.sent} bytes were read`);

      const zipped = endlessZeros(archive);
      const gz = await load(
        zipped.stream.pipeThrough(
          new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
        ),
        {
          store: `${dir}/module`,
          maxBytes: limit,
        },
      );
      assertEquals(gz.images.map((i) => i.name), ["example.com/hostile/app:1"]);
      assertEquals(zipped.state.cancelled, true);
      assert(zipped.state.sent < limit, `${zipped.state.sent} bytes were read`);
      const report = await checkStore(`${dir}/module`);
      assertEquals([report.corrupt, report.missing, report.ingest], [[], [], []]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("load: entries no manifest names get no file each; names and entries are capped", async (t) => {
  const dir = await tempDir({ prefix: "skiff-load-many-" });
  try {
    const classic = await classicEntries();
    const manifestJson = classic.find((e) => e.path === "manifest.json")!;
    const junk: TarSpec[] = [];
    for (let i = 0; i < 10_000; i++) junk.push({ path: `junk/${i}`, content: `junk ${i}\n` });
    for (let i = 0; i < 1000; i++) {
      const bytes = enc.encode(`an unreferenced blob ${i}\n`);
      junk.push({ path: `blobs/sha256/${sha256(bytes).slice(7)}`, content: bytes });
    }

    await t.step(
      "11,000 entries before manifest.json: no file each, no blob committed",
      async () => {
        // the archive in three reads: the junk, then one small entry, then the rest; when the
        // second is asked for, the junk has been taken in whole
        const parts = [
          makeTar([...classic.filter((e) => e !== manifestJson), ...junk], { end: false }),
          makeTar([{ path: "marker", content: "m" }], { end: false }),
          makeTar([manifestJson]),
        ];
        let files: string[] | undefined;
        const store = `${dir}/junk`;
        const stream = new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (parts.length === 2) {
              files = [];
              for await (const e of Deno.readDir(`${store}/ingest`)) files.push(e.name);
            }
            const next = parts.shift();
            if (next) controller.enqueue(next);
            else controller.close();
          },
        }, { highWaterMark: 0 });
        const r = await load(stream, { store });
        assertEquals(r.images.map((i) => i.name), ["example.com/hostile/classic:1"]);
        // the locks, and one spool for every small entry
        const temporary = files!.filter((f) => f !== "gc.lock" && f !== "index.lock");
        assertEquals(temporary.length, 1, `${temporary.length} files: ${temporary.slice(0, 3)}...`);
        const report = await checkStore(store);
        assertEquals([report.blobs, report.corrupt, report.missing, report.ingest], [
          3,
          [],
          [],
          [],
        ]);
      },
    );

    await t.step(
      "names: over the limit refused in one line (CLI), the limit itself loads",
      async () => {
        const named = (n: number) =>
          classic.map((e) =>
            e === manifestJson
              ? {
                ...e,
                content: JSON.stringify([{
                  ...JSON.parse(e.content as string)[0],
                  RepoTags: Array.from({ length: n }, (_, i) => `example.com/many/n${i}:1`),
                }]),
              }
              : e
          );
        await expectRefused(
          dir,
          "names",
          makeTar(named(1001)),
          /it names 1001 images, more than the limit of 1000$/,
        );
        const r = await load(toStream(makeTar(named(3))), { store: `${dir}/three`, maxNames: 3 });
        assertEquals(r.images.length, 3);
        let error: Error | undefined;
        await load(toStream(makeTar(named(4))), { store: `${dir}/four`, maxNames: 3 }).catch((e) =>
          error = e
        );
        assertMatch(
          error?.message ?? "",
          /^Cannot load -: it names 4 images, more than the limit of 3$/,
        );
        assertEquals((await checkStore(`${dir}/four`)).names, []);
        let entries: Error | undefined;
        await load(toStream(makeTar(named(1))), { store: `${dir}/five`, maxEntries: 3 }).catch((
          e,
        ) => entries = e);
        assertMatch(entries?.message ?? "", /^Cannot load -: it has more than 3 entries$/);
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("load: a path given twice with other bytes is refused; the same bytes twice load", async () => {
  const dir = await tempDir({ prefix: "skiff-load-twice-" });
  try {
    const oci = await ociEntries();
    const index = oci.entries.find((e) => e.path === "index.json")!;
    const other = JSON.parse(new TextDecoder().decode(index.content as Uint8Array));
    other.manifests[0].annotations["org.opencontainers.image.ref.name"] = "example.com/other/app:1";
    await expectRefused(
      dir,
      "two-index-json",
      makeTar([...oci.entries, { path: "./index.json", content: JSON.stringify(other) }]),
      /it has two entries "index\.json" that differ \(which one counts is not clear\)$/,
    );
    const classic = await classicEntries();
    const manifestJson = classic.find((e) => e.path === "manifest.json")!;
    await expectRefused(
      dir,
      "two-manifest-json",
      makeTar([
        manifestJson,
        ...classic.map((e) => e === manifestJson ? { ...e, content: "[]" } : e),
      ]),
      /it has two entries "manifest\.json" that differ \(which one counts is not clear\)$/,
    );
    await expectRefused(
      dir,
      "two-layers",
      makeTar([
        ...classic.slice(0, 2),
        { path: "abc123/layer.tar", content: "other bytes" },
        ...classic.slice(2),
      ]),
      /it has two entries "abc123\/layer\.tar" that differ/,
    );
    await expectRefused(
      dir,
      "two-links",
      makeTar([
        { path: "l", type: "symlink", linkname: "abc123/layer.tar" },
        { path: "l", type: "symlink", linkname: "manifest.json" },
        ...classic,
      ]),
      /it has two entries "l" that differ/,
    );
    // an archive appended to itself (tar -r of the same files): the same bytes, loaded
    await Deno.writeFile(`${dir}/twice.tar`, makeTar([...classic, ...classic]));
    const r = await skiff(["load", "--store", `${dir}/ok`, `${dir}/twice.tar`]);
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stdout, /^example\.com\/hostile\/classic:1 sha256:[0-9a-f]{64}\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function toStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}
