import { assert, assertEquals, assertThrows } from "../_assert.ts";
import {
  choosePlatform,
  formatPlatform,
  hostPlatform,
  isAttestation,
  normalizePlatform,
  parsePlatform,
  PlatformNotFoundError,
} from "../../lib/oci/choose_platform.ts";
import type { Descriptor, ImageIndex, Platform } from "../../lib/oci/parse_manifest.ts";
import { MediaType } from "../../lib/oci/media_types.ts";

let counter = 0;

/** An index entry for `os/arch[/variant]`, with a unique digest. */
function entry(platform: string, annotations?: Record<string, string>): Descriptor {
  const [os, architecture, variant] = platform.split("/") as [string, string, string?];
  const d: Descriptor = {
    mediaType: MediaType.OciManifest,
    digest: "sha256:" + (++counter).toString(16).padStart(64, "0"),
    size: 500,
    platform: { os, architecture, ...(variant ? { variant } : {}) },
  };
  if (annotations) d.annotations = annotations;
  return d;
}

/** An attestation entry the way BuildKit writes one. */
function attestation(of: Descriptor): Descriptor {
  return {
    ...entry("unknown/unknown"),
    annotations: {
      "vnd.docker.reference.type": "attestation-manifest",
      "vnd.docker.reference.digest": of.digest,
    },
  };
}

const index = (...manifests: Descriptor[]): ImageIndex => ({ schemaVersion: 2, manifests });

Deno.test("parsePlatform: parses and normalizes like containerd", () => {
  const cases: [string, Platform][] = [
    ["linux/amd64", { os: "linux", architecture: "amd64" }],
    ["amd64", { os: "linux", architecture: "amd64" }],
    ["linux/x86_64", { os: "linux", architecture: "amd64" }],
    ["x86_64", { os: "linux", architecture: "amd64" }],
    ["linux/x86-64", { os: "linux", architecture: "amd64" }],
    ["linux/amd64/v1", { os: "linux", architecture: "amd64" }],
    ["linux/amd64/v3", { os: "linux", architecture: "amd64", variant: "v3" }],
    ["linux/aarch64", { os: "linux", architecture: "arm64" }],
    ["linux/arm64", { os: "linux", architecture: "arm64" }],
    ["linux/arm64/v8", { os: "linux", architecture: "arm64" }],
    ["linux/arm64/8", { os: "linux", architecture: "arm64" }],
    ["linux/aarch64/v8", { os: "linux", architecture: "arm64" }],
    ["linux/arm", { os: "linux", architecture: "arm", variant: "v7" }],
    ["linux/arm/7", { os: "linux", architecture: "arm", variant: "v7" }],
    ["linux/arm/v7", { os: "linux", architecture: "arm", variant: "v7" }],
    ["linux/arm/v6", { os: "linux", architecture: "arm", variant: "v6" }],
    ["linux/arm/5", { os: "linux", architecture: "arm", variant: "v5" }],
    ["linux/armhf", { os: "linux", architecture: "arm", variant: "v7" }],
    ["linux/armel", { os: "linux", architecture: "arm", variant: "v6" }],
    ["linux/i386", { os: "linux", architecture: "386" }],
    ["linux/386", { os: "linux", architecture: "386" }],
    ["linux/ppc64le", { os: "linux", architecture: "ppc64le" }],
    ["linux/s390x", { os: "linux", architecture: "s390x" }],
    ["windows/amd64", { os: "windows", architecture: "amd64" }],
    ["macos/arm64", { os: "darwin", architecture: "arm64" }],
    ["Linux/AMD64", { os: "linux", architecture: "amd64" }],
    ["  linux/arm64  ", { os: "linux", architecture: "arm64" }],
  ];
  for (const [input, want] of cases) assertEquals(parsePlatform(input), want, input);
});

Deno.test("parsePlatform: malformed strings throw SyntaxError", () => {
  for (const bad of ["", "/", "linux/", "/amd64", "linux//amd64", "a/b/c/d", "linux/amd 64"]) {
    assertThrows(() => parsePlatform(bad), SyntaxError, "Cannot parse platform", bad);
  }
});

Deno.test("normalizePlatform: keeps only os, architecture and variant", () => {
  assertEquals(
    normalizePlatform({
      os: "windows",
      architecture: "x86_64",
      "os.version": "10.0.17763.5122",
      "os.features": ["win32k"],
    }),
    { os: "windows", architecture: "amd64" },
  );
  assertEquals(normalizePlatform({ os: "linux", architecture: "arm64", variant: "V8" }), {
    os: "linux",
    architecture: "arm64",
  });
  assertEquals(normalizePlatform({ os: "linux", architecture: "i386", variant: "x" }), {
    os: "linux",
    architecture: "386",
  });
});

Deno.test("formatPlatform: os/arch[/variant]", () => {
  assertEquals(formatPlatform({ os: "linux", architecture: "arm", variant: "v7" }), "linux/arm/v7");
  assertEquals(formatPlatform({ os: "linux", architecture: "amd64" }), "linux/amd64");
});

Deno.test("choosePlatform: picks amd64 and arm64 from a multi-arch index", () => {
  const amd = entry("linux/amd64");
  const arm7 = entry("linux/arm/v7");
  const arm64 = entry("linux/arm64/v8");
  const ppc = entry("linux/ppc64le");
  const idx = index(amd, attestation(amd), arm7, attestation(arm7), arm64, ppc);
  assertEquals(choosePlatform(idx, parsePlatform("linux/amd64")), amd);
  assertEquals(choosePlatform(idx, parsePlatform("linux/x86_64")), amd);
  assertEquals(choosePlatform(idx, { os: "linux", architecture: "arm64" }), arm64);
  assertEquals(choosePlatform(idx, parsePlatform("linux/arm/v7")), arm7);
  assertEquals(choosePlatform(idx, parsePlatform("linux/ppc64le")), ppc);
});

Deno.test("choosePlatform: arm64 v8 and no variant are the same, both ways", () => {
  const withV8 = entry("linux/arm64/v8");
  const plain = entry("linux/arm64");
  const amd = entry("linux/amd64");
  // entry says v8, wanted says nothing
  assertEquals(choosePlatform(index(amd, withV8), { os: "linux", architecture: "arm64" }), withV8);
  // entry says nothing, wanted says v8 (explicitly, not normalized away beforehand)
  assertEquals(
    choosePlatform(index(amd, plain), { os: "linux", architecture: "arm64", variant: "v8" }),
    plain,
  );
  assertEquals(choosePlatform(index(amd, plain), parsePlatform("linux/arm64/v8")), plain);
  // aarch64 spelled by the index
  const aarch64 = entry("linux/aarch64");
  assertEquals(choosePlatform(index(aarch64), parsePlatform("linux/arm64")), aarch64);
});

Deno.test("choosePlatform: an arm/v7 host takes v6, then v5, when there is no v7", () => {
  const v5 = entry("linux/arm/v5");
  const v6 = entry("linux/arm/v6");
  const v7 = entry("linux/arm/v7");
  const v8 = entry("linux/arm/v8");
  const want = parsePlatform("linux/arm/v7");
  assertEquals(choosePlatform(index(v5, v6), want), v6);
  assertEquals(choosePlatform(index(v6, v5), want), v6);
  assertEquals(choosePlatform(index(v5), want), v5);
  assertEquals(choosePlatform(index(v5, v6, v7), want), v7);
  assertEquals(choosePlatform(index(v8, v6), want), v6, "never a newer variant");
  assertThrows(() => choosePlatform(index(v8), want), PlatformNotFoundError);
  // a v6 host cannot run v7
  assertThrows(
    () => choosePlatform(index(v7), parsePlatform("linux/arm/v6")),
    PlatformNotFoundError,
  );
  // plain "arm" in an index means v7
  const plainArm = entry("linux/arm");
  assertEquals(choosePlatform(index(v6, plainArm), want), plainArm);
});

Deno.test("choosePlatform: without a wanted variant, an entry with none is preferred", () => {
  const v3 = entry("linux/amd64/v3");
  const plain = entry("linux/amd64");
  assertEquals(choosePlatform(index(v3, plain), { os: "linux", architecture: "amd64" }), plain);
});

Deno.test("choosePlatform: the first of equal matches wins", () => {
  const first = entry("linux/amd64");
  const second = entry("linux/amd64");
  assertEquals(choosePlatform(index(first, second), parsePlatform("linux/amd64")), first);
});

Deno.test("choosePlatform: never chooses an attestation", () => {
  const disguised = entry("linux/amd64", {
    "vnd.docker.reference.type": "attestation-manifest",
    "vnd.docker.reference.digest": "sha256:" + "0".repeat(64),
  });
  const unknown = entry("unknown/unknown");
  assert(isAttestation(disguised));
  assert(isAttestation(unknown));
  assert(!isAttestation(entry("linux/amd64")));
  assert(!isAttestation(entry("linux/amd64", { "org.opencontainers.image.ref.name": "x" })));
  assertThrows(
    () => choosePlatform(index(disguised, unknown), parsePlatform("linux/amd64")),
    PlatformNotFoundError,
  );
  assertThrows(
    () => choosePlatform(index(unknown), { os: "unknown", architecture: "unknown" }),
    PlatformNotFoundError,
  );
  const real = entry("linux/amd64");
  assertEquals(choosePlatform(index(disguised, real), parsePlatform("linux/amd64")), real);
});

Deno.test("choosePlatform: the error lists the platforms the image has, without attestations", () => {
  const amd = entry("linux/amd64");
  const arm64 = entry("linux/arm64/v8");
  const noPlatform = entry("linux/amd64");
  delete noPlatform.platform;
  const idx = index(
    amd,
    attestation(amd),
    arm64,
    attestation(arm64),
    entry("linux/amd64"), // a duplicate is listed once
    noPlatform,
  );
  const e = assertThrows(
    () => choosePlatform(idx, parsePlatform("linux/s390x"), "docker.io/library/alpine:3.20"),
    PlatformNotFoundError,
  ) as PlatformNotFoundError;
  assertEquals(e.wanted, "linux/s390x");
  assertEquals(e.available, ["linux/amd64", "linux/arm64/v8"]);
  assertEquals(
    e.message,
    "Cannot find platform linux/s390x in docker.io/library/alpine:3.20: " +
      "the image has linux/amd64, linux/arm64/v8",
  );
  assert(!e.message.includes("unknown"));
  assertEquals(e.name, "PlatformNotFoundError");

  const none = assertThrows(
    () => choosePlatform(index(attestation(amd)), parsePlatform("linux/amd64")),
    PlatformNotFoundError,
  ) as PlatformNotFoundError;
  assertEquals(none.available, []);
  assertEquals(none.message, "Cannot find platform linux/amd64: the image lists no platforms");
});

Deno.test("choosePlatform: the OS must match", () => {
  const win = entry("windows/amd64");
  assertThrows(
    () => choosePlatform(index(win), parsePlatform("linux/amd64")),
    PlatformNotFoundError,
  );
  assertEquals(choosePlatform(index(win), parsePlatform("windows/amd64")), win);
});

Deno.test("hostPlatform: linux and the host's architecture", () => {
  const host = hostPlatform();
  assertEquals(host.os, "linux");
  assert(["amd64", "arm64"].includes(host.architecture), host.architecture);
  assertEquals(host.variant, undefined);
  assertEquals(host.architecture, Deno.build.arch === "x86_64" ? "amd64" : "arm64");
});
