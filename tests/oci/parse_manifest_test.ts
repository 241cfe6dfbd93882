import { assert, assertEquals, assertMatch, assertThrows } from "../_assert.ts";
import { ManifestError, parseDescriptor, parseManifest } from "../../lib/oci/parse_manifest.ts";
import { MediaType } from "../../lib/oci/media_types.ts";

const D1 = "sha256:" + "1".repeat(64);
const D2 = "sha256:" + "2".repeat(64);
const D3 = "sha512:" + "3".repeat(128);

const enc = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

const desc = (mediaType: string, digest = D1, size = 1234) => ({ mediaType, digest, size });

function ociIndex(extra: Record<string, unknown> = {}) {
  return {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [
      {
        ...desc(MediaType.OciManifest, D1, 1000),
        platform: { os: "linux", architecture: "amd64" },
      },
      {
        ...desc(MediaType.OciManifest, D2, 1001),
        platform: { os: "linux", architecture: "arm64", variant: "v8" },
        annotations: { "org.opencontainers.image.ref.name": "x" },
      },
    ],
    ...extra,
  };
}

function ociManifest(extra: Record<string, unknown> = {}) {
  return {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: desc(MediaType.OciConfig, D1, 500),
    layers: [desc(MediaType.OciLayerGzip, D2, 3000), desc(MediaType.OciLayerZstd, D3, 0)],
    ...extra,
  };
}

const without = (obj: Record<string, unknown>, key: string) => {
  const copy = { ...obj };
  delete copy[key];
  return copy;
};

/** Asserts that parsing fails with a ManifestError whose message matches. */
function refuses(body: unknown, contentType: string | undefined, pattern: RegExp, note?: string) {
  const bytes = body instanceof Uint8Array ? body : enc(body);
  const e = assertThrows(() => parseManifest(bytes, contentType), ManifestError, undefined, note);
  assertMatch(e.message, pattern, note);
  assertMatch(e.message, /^Cannot /, note);
}

Deno.test("parseManifest: OCI index", () => {
  const parsed = parseManifest(enc(ociIndex()), MediaType.OciIndex);
  assertEquals(parsed.kind, "index");
  assertEquals(parsed.mediaType, MediaType.OciIndex);
  if (parsed.kind !== "index") throw new Error("unreachable");
  assertEquals(parsed.index, {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [
      {
        ...desc(MediaType.OciManifest, D1, 1000),
        platform: { os: "linux", architecture: "amd64" },
      },
      {
        ...desc(MediaType.OciManifest, D2, 1001),
        platform: { os: "linux", architecture: "arm64", variant: "v8" },
        annotations: { "org.opencontainers.image.ref.name": "x" },
      },
    ],
  });
});

Deno.test("parseManifest: OCI image manifest", () => {
  const parsed = parseManifest(enc(ociManifest()), MediaType.OciManifest);
  assertEquals(parsed.kind, "manifest");
  assertEquals(parsed.mediaType, MediaType.OciManifest);
  if (parsed.kind !== "manifest") throw new Error("unreachable");
  assertEquals(parsed.manifest.config, desc(MediaType.OciConfig, D1, 500));
  assertEquals(parsed.manifest.layers, [
    desc(MediaType.OciLayerGzip, D2, 3000),
    desc(MediaType.OciLayerZstd, D3, 0),
  ]);
  assertEquals(parsed.manifest.mediaType, MediaType.OciManifest);
});

Deno.test("parseManifest: Docker manifest list and schema 2 manifest", () => {
  const list = {
    schemaVersion: 2,
    mediaType: MediaType.DockerManifestList,
    manifests: [{
      ...desc(MediaType.DockerManifest),
      platform: { architecture: "amd64", os: "linux" },
    }],
  };
  const l = parseManifest(enc(list), MediaType.DockerManifestList);
  assertEquals([l.kind, l.mediaType], ["index", MediaType.DockerManifestList]);

  const schema2 = {
    schemaVersion: 2,
    mediaType: MediaType.DockerManifest,
    config: desc(MediaType.DockerConfig),
    layers: [desc(MediaType.DockerLayerGzip, D2, 2)],
  };
  const m = parseManifest(enc(schema2), MediaType.DockerManifest);
  assertEquals([m.kind, m.mediaType], ["manifest", MediaType.DockerManifest]);
  if (m.kind !== "manifest") throw new Error("unreachable");
  assertEquals(m.manifest.layers[0]!.digest, D2);
});

Deno.test("parseManifest: the Content-Type decides first", () => {
  // no mediaType in the body: the header names the kind and the media type
  const idx = parseManifest(enc(without(ociIndex(), "mediaType")), MediaType.DockerManifestList);
  assertEquals([idx.kind, idx.mediaType], ["index", MediaType.DockerManifestList]);
  const man = parseManifest(enc(without(ociManifest(), "mediaType")), MediaType.DockerManifest);
  assertEquals([man.kind, man.mediaType], ["manifest", MediaType.DockerManifest]);
  // parameters and case in the header do not matter
  const p = parseManifest(
    enc(without(ociManifest(), "mediaType")),
    "Application/VND.oci.image.manifest.v1+json; charset=utf-8",
  );
  assertEquals([p.kind, p.mediaType], ["manifest", MediaType.OciManifest]);
  // when the body names a type too, the body's type is reported
  const both = parseManifest(enc(ociManifest()), MediaType.DockerManifest);
  assertEquals([both.kind, both.mediaType], ["manifest", MediaType.OciManifest]);
});

Deno.test("parseManifest: then the body's mediaType", () => {
  for (const ct of ["application/json", "text/plain", "application/octet-stream", undefined]) {
    const i = parseManifest(enc(ociIndex({ mediaType: MediaType.DockerManifestList })), ct);
    assertEquals([i.kind, i.mediaType], ["index", MediaType.DockerManifestList], String(ct));
    const m = parseManifest(enc(ociManifest()), ct);
    assertEquals([m.kind, m.mediaType], ["manifest", MediaType.OciManifest], String(ct));
  }
});

Deno.test("parseManifest: then its shape (manifests served as application/json)", () => {
  for (const ct of ["application/json", undefined, null]) {
    const i = parseManifest(enc(without(ociIndex(), "mediaType")), ct);
    assertEquals([i.kind, i.mediaType], ["index", MediaType.OciIndex]);
    if (i.kind !== "index") throw new Error("unreachable");
    assertEquals(i.index.mediaType, undefined);
    assertEquals(i.index.manifests.length, 2);
    const m = parseManifest(enc(without(ociManifest(), "mediaType")), ct);
    assertEquals([m.kind, m.mediaType], ["manifest", MediaType.OciManifest]);
  }
  // an empty index is still an index
  const empty = parseManifest(enc({ schemaVersion: 2, manifests: [] }), "application/json");
  assertEquals(empty.kind, "index");
});

Deno.test("parseManifest: Docker schema 1 is refused with a clear message", () => {
  const schema1 = {
    schemaVersion: 1,
    name: "library/alpine",
    tag: "latest",
    architecture: "amd64",
    fsLayers: [{ blobSum: D1 }],
    history: [{ v1Compatibility: "{}" }],
  };
  for (const ct of [MediaType.DockerSchema1Signed, MediaType.DockerSchema1, "application/json"]) {
    refuses(schema1, ct, /schema 1/, ct);
  }
  refuses(ociManifest({ mediaType: MediaType.DockerSchema1 }), undefined, /schema 1/);
  refuses(ociManifest(), MediaType.DockerSchema1Signed, /schema 1/);
  refuses({ schemaVersion: 2, fsLayers: [] }, "application/json", /schema 1/);
});

Deno.test("parseManifest: the Content-Type and the body must agree", () => {
  refuses(ociManifest(), MediaType.OciIndex, /Content-Type says .*index.* body says/);
  refuses(ociIndex(), MediaType.DockerManifest, /Content-Type says/);
  // no mediaType in the body, but the header's kind does not fit the fields
  refuses(without(ociManifest(), "mediaType"), MediaType.OciIndex, /its fields do not/);
  refuses(without(ociIndex(), "mediaType"), MediaType.OciManifest, /its fields do not/);
  // the body's own mediaType against its fields
  refuses(ociIndex({ mediaType: MediaType.OciManifest }), undefined, /its fields do not/);
});

Deno.test("parseManifest: a body with both manifests and layers is refused", () => {
  refuses(ociIndex({ layers: [] }), MediaType.OciIndex, /both manifests and layers/);
  refuses(ociManifest({ manifests: [] }), MediaType.OciManifest, /both manifests and layers/);
  refuses(
    without(ociIndex({ config: desc(MediaType.OciConfig) }), "mediaType"),
    "application/json",
    /both manifests and layers/,
  );
});

Deno.test("parseManifest: unsupported media types and versions are refused", () => {
  refuses(
    ociManifest({ mediaType: "application/vnd.oci.artifact.manifest.v1+json" }),
    undefined,
    /unsupported media type "application\/vnd.oci.artifact.manifest.v1\+json"/,
  );
  refuses({ schemaVersion: 2 }, "application/vnd.example+json", /unsupported media type/);
  refuses({ schemaVersion: 2 }, "application/json", /neither an index nor an image manifest/);
  refuses(ociManifest({ schemaVersion: 3 }), undefined, /schemaVersion 3/);
  refuses(ociManifest({ schemaVersion: "2" }), undefined, /schemaVersion "2"/);
  refuses(without(ociManifest(), "schemaVersion"), undefined, /schemaVersion/);
  refuses(ociManifest({ mediaType: 7 }), undefined, /mediaType is not a string/);
});

Deno.test("parseManifest: invalid descriptors are refused", () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["path digest", { digest: "sha256:../../x" }, /invalid digest/],
    ["short digest", { digest: "sha256:abc" }, /invalid digest/],
    ["upper-case digest", { digest: "sha256:" + "A".repeat(64) }, /invalid digest/],
    ["md5 digest", { digest: "md5:" + "0".repeat(32) }, /invalid digest/],
    ["no digest", { digest: undefined }, /has no digest/],
    ["numeric digest", { digest: 5 }, /has no digest/],
    ["negative size", { size: -1 }, /has no valid size/],
    ["float size", { size: 1.5 }, /has no valid size/],
    ["huge size", { size: 2 ** 53 }, /has no valid size/],
    ["string size", { size: "10" }, /has no valid size/],
    ["no size", { size: undefined }, /has no valid size/],
    ["no mediaType", { mediaType: undefined }, /has no valid mediaType/],
    ["empty mediaType", { mediaType: "" }, /has no valid mediaType/],
    ["long mediaType", { mediaType: "a/" + "b".repeat(300) }, /has no valid mediaType/],
    ["bad annotations", { annotations: { a: 1 } }, /annotations must map strings/],
    ["bad urls", { urls: [1] }, /invalid urls/],
    ["bad platform", { platform: { os: "linux" } }, /platform needs os and architecture/],
  ];
  for (const [name, change, pattern] of cases) {
    const layer: Record<string, unknown> = { ...desc(MediaType.OciLayerGzip), ...change };
    for (const key of Object.keys(layer)) if (layer[key] === undefined) delete layer[key];
    refuses(
      ociManifest({ layers: [desc(MediaType.OciLayerGzip), layer] }),
      undefined,
      pattern,
      name,
    );
    refuses(ociManifest({ config: layer }), undefined, pattern, `config: ${name}`);
    refuses(ociIndex({ manifests: [layer] }), undefined, pattern, `index: ${name}`);
  }
  // where the bad descriptor is, is named
  refuses(
    ociManifest({ layers: [desc(MediaType.OciLayerGzip), { ...desc("x/y"), size: -5 }] }),
    undefined,
    /layers\[1\]/,
  );
  refuses(
    ociManifest({ config: "sha256:" + "0".repeat(64) }),
    undefined,
    /config is not an object/,
  );
  refuses(without(ociManifest(), "config"), undefined, /config is not an object/);
  refuses(ociManifest({ layers: "none" }), undefined, /layers is not an array/);
  refuses(ociManifest({ layers: [null] }), undefined, /layers\[0\] is not an object/);
  // a size beyond what JSON numbers hold exactly
  refuses(
    new TextEncoder().encode(
      JSON.stringify(ociManifest()).replace('"size":3000', '"size":1e400'),
    ),
    undefined,
    /has no valid size/,
  );
});

Deno.test("parseManifest: manifest-level annotations must map strings", () => {
  const ok = parseManifest(enc(ociManifest({ annotations: { a: "b" } })));
  if (ok.kind !== "manifest") throw new Error("unreachable");
  assertEquals(ok.manifest.annotations, { a: "b" });
  refuses(ociManifest({ annotations: ["a"] }), undefined, /annotations must map strings/);
  refuses(ociIndex({ annotations: { a: { b: "c" } } }), undefined, /annotations must map strings/);
});

Deno.test("parseManifest: non-JSON and non-object bodies are refused", () => {
  const te = new TextEncoder();
  refuses(te.encode("not json"), "application/json", /not valid JSON/);
  refuses(te.encode(""), undefined, /not valid JSON/);
  refuses(te.encode('{"schemaVersion": 2, "manifests": ['), undefined, /not valid JSON/);
  refuses(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), undefined, /not valid JSON/);
  for (const body of ["[]", "null", "42", '"text"', "true"]) {
    refuses(te.encode(body), MediaType.OciManifest, /not a JSON object/, body);
  }
});

Deno.test("parseDescriptor: keeps the known fields only", () => {
  const d = parseDescriptor(
    {
      ...desc(MediaType.OciLayerGzip),
      urls: ["https://example/x"],
      artifactType: "application/x",
      platform: { os: "linux", architecture: "arm", variant: "v7", extra: 1 },
      unknown: { nested: true },
    },
    "layers[0]",
  );
  assertEquals(d, {
    ...desc(MediaType.OciLayerGzip),
    urls: ["https://example/x"],
    artifactType: "application/x",
    platform: { os: "linux", architecture: "arm", variant: "v7" },
  });
  assert(!("unknown" in d));
});
