// Terminal control from the wire: strings from a registry or an image (error messages, tags,
// annotations, platforms, tar entry names, names in index.json) never reach a terminal raw. Each
// command runs on a real pseudo-terminal; what the terminal received must hold no control
// character but line ends, and show the hostile bytes as visible escapes.

import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import { HOST_ARCH } from "../_fixture.ts";
import { startHostileRegistry } from "../_hostile_registry.ts";
import { sha256 } from "../_images.ts";
import { pushImage } from "../_push.ts";
import { rawControls, skiffOnPty } from "../_pty.ts";
import { startRegistry } from "../_registry.ts";
import { makeTar } from "../_tar.ts";
import { play } from "../_terminal.ts";
import { tempDir } from "../_temp.ts";

/** Retitles the terminal, rings, erases the line, writes a fake verdict, moves up (8-bit CSI). */
const EVIL = "\x1b]0;pwned\x07\x1b[2K\rverified OK\x1b[31m\u009b1A\u2028\x00\x7f\nnext";
/** How {@linkcode EVIL} must look once escaped. */
const SHOWN = "\\x1b]0;pwned\\x07\\x1b[2K\\rverified OK\\x1b[31m\\u009b1A\\u2028\\x00\\x7f\\nnext";
/** The same without NUL, for what cannot hold one (a command-line argument, a tar name). */
const EVIL_TEXT = EVIL.replace("\x00", "");
const SHOWN_TEXT = SHOWN.replace("\\x00", "");

/** The lines the terminal shows (the pty ends lines with \r\n). */
function lines(screen: string): string[] {
  return screen.split("\r\n").filter((l) => l !== "");
}

function assertClean(screen: string, what: string): void {
  assertEquals(rawControls(screen.replaceAll("\r\n", "\n")), [], `${what}:\n${screen}`);
}

Deno.test("hostile strings from a registry of our own are escaped on a terminal", async (t) => {
  await using evil = startHostileRegistry();
  const store = await tempDir({ prefix: "skiff-hostile-" });
  try {
    evil.route("/v2/evil/tags/list", () => Response.json({ name: "evil", tags: ["1.0", EVIL] }));
    evil.route(
      "/v2/evil/manifests/denied",
      () => Response.json({ errors: [{ code: "DENIED", message: EVIL }] }, { status: 403 }),
    );

    await t.step("tags: one escaped line per tag; --json: JSON escapes only", async () => {
      const plain = await skiffOnPty(["tags", `${evil.host}/evil`]);
      assertEquals(plain.code, 0, plain.screen);
      assertClean(plain.screen, "tags");
      assertEquals(lines(plain.screen), ["1.0", SHOWN]);
      const json = await skiffOnPty(["tags", "--json", `${evil.host}/evil`]);
      assertEquals(json.code, 0, json.screen);
      assertClean(json.screen, "tags --json");
      assertEquals(JSON.parse(json.screen).tags, ["1.0", EVIL]);
    });

    await t.step("a registry's error message: one skiff: Cannot line, escaped", async () => {
      // the transport folds the message's whitespace (\r, \n, U+2028) into spaces; every other
      // control character is shown as an escape
      const folded = SHOWN.replace("\\r", " ").replace("\\u2028", " ").replace("\\n", " ");
      for (const command of [["inspect"], ["digest"], ["config"], ["pull", "-q"]]) {
        const r = await skiffOnPty([...command, "--store", store, `${evil.host}/evil:denied`]);
        assertEquals(r.code, 1, r.screen);
        assertClean(r.screen, command[0]!);
        const shown = lines(r.screen);
        assertEquals(shown.length, 1, `${command}: ${r.screen}`);
        assert(shown[0]!.startsWith("skiff: Cannot "), shown[0]);
        assertStringIncludes(shown[0]!, folded);
      }
    });

    // an index for this machine whose platform strings carry escapes, and a single image
    const layer = makeTar([{ path: "hello", content: "hi\n" }]);
    const layerBlob = evil.blob("evil", layer);
    const config = evil.blob(
      "evil",
      JSON.stringify({
        architecture: HOST_ARCH,
        os: "linux",
        rootfs: { type: "layers", diff_ids: [sha256(layer)] },
      }),
    );
    const manifest = {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layerBlob }],
    };
    const manifestDigest = evil.manifest("evil", undefined, manifest);
    const manifestSize = new TextEncoder().encode(JSON.stringify(manifest)).length;
    const variant = "v9\x1b]0;owned\x07";
    evil.manifest("evil", "index", {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: manifestDigest,
          size: manifestSize,
          platform: { os: "linux", architecture: HOST_ARCH, variant },
        },
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: manifestDigest,
          size: manifestSize,
          platform: { os: "linux\x1b[8m", architecture: "ppc64le\u009b2J" },
        },
      ],
    });

    await t.step("platform strings: the error that lists them, escaped", async () => {
      const r = await skiffOnPty([
        "pull",
        "-q",
        "--store",
        store,
        "--platform",
        "linux/s390x",
        `${evil.host}/evil:index`,
      ]);
      assertEquals(r.code, 1, r.screen);
      assertClean(r.screen, "pull --platform");
      assertEquals(lines(r.screen).length, 1, r.screen);
      assertStringIncludes(r.screen, "linux\\x1b[8m/ppc64le\\u009b2J");
    });

    await t.step("the progress bars and the result line show the platform escaped", async () => {
      const r = await skiffOnPty(["pull", "--store", store, `${evil.host}/evil:index`]);
      assertEquals(r.code, 0, r.screen);
      // the tests' terminal throws on any escape the renderer is not known to send (OSC, BEL)
      const screen = play(r.screen).screen();
      assert(screen.some((l) => l.includes("v9\\x1b]0;owned\\x07")), screen.join("\n"));
      const plain = await skiffOnPty(["images", "--store", store]);
      assertEquals(plain.code, 0, plain.screen);
      assertClean(plain.screen, "images");
      assertStringIncludes(plain.screen, `linux/${HOST_ARCH}/v9\\x1b]0;owned\\x07`);
    });

    await t.step("names and times in index.json: the images table, escaped", async () => {
      const index = JSON.parse(await Deno.readTextFile(`${store}/index.json`));
      index.manifests.push({
        ...index.manifests[0],
        annotations: {
          "org.opencontainers.image.ref.name": `evil:${EVIL}`,
          "dev.skiff.pulled": EVIL,
        },
      });
      await Deno.writeTextFile(`${store}/index.json`, JSON.stringify(index));
      const r = await skiffOnPty(["images", "--store", store]);
      assertEquals(r.code, 0, r.screen);
      assertClean(r.screen, "images");
      assertEquals(lines(r.screen).length, 3, r.screen);
      assertStringIncludes(r.screen, `evil:${SHOWN}`);
      const json = await skiffOnPty(["images", "--json", "--store", store]);
      assertClean(json.screen, "images --json");
      assertEquals(JSON.parse(json.screen)[1].name, `evil:${EVIL}`);
      const rm = await skiffOnPty(["rm", "--store", store, `evil:${EVIL_TEXT}`]);
      assertClean(rm.screen, "rm");
    });
  } finally {
    await Deno.remove(store, { recursive: true });
  }
});

Deno.test("hostile annotations and tar entry names from the real registry are escaped", async (t) => {
  await using registry = await startRegistry();
  const store = await tempDir({ prefix: "skiff-hostile-" });
  try {
    await t.step("inspect and config: annotations in JSON escapes, plain and --json", async () => {
      const pushed = await pushImage(registry.url, "test/annotated", "1", [{
        mediaType: "application/vnd.oci.image.layer.v1.tar",
        bytes: makeTar([{ path: "a", content: "a" }]),
      }]);
      // the same manifest, with annotations, under another tag
      const res = await fetch(`${registry.url}/v2/test/annotated/manifests/${pushed.digest}`, {
        headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
      });
      const doc = await res.json();
      doc.annotations = { "org.example.note": EVIL };
      const put = await fetch(`${registry.url}/v2/test/annotated/manifests/2`, {
        method: "PUT",
        headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
        body: JSON.stringify(doc),
      });
      assertEquals(put.status, 201, await put.text());
      for (const args of [["inspect"], ["inspect", "--json"]]) {
        const r = await skiffOnPty([...args, `${registry.host}/test/annotated:2`]);
        assertEquals(r.code, 0, r.screen);
        assertClean(r.screen, args.join(" "));
        const parsed = JSON.parse(r.screen);
        assertEquals((parsed.manifest ?? parsed).annotations["org.example.note"], EVIL);
      }
      // --raw: the exact bytes to a pipe, escaped on a terminal
      const raw = await skiffOnPty(["inspect", "--raw", `${registry.host}/test/annotated:2`]);
      assertEquals(raw.code, 0, raw.screen);
      assertClean(raw.screen, "inspect --raw");
      // a blob is refused on a terminal
      const blob = await skiffOnPty([
        "blob",
        `${registry.host}/test/annotated@${pushed.layers[0]!.digest}`,
      ]);
      assertEquals(blob.code, 1);
      assertEquals(lines(blob.screen), [
        "skiff: Cannot write a blob to a terminal: redirect stdout to a file or a pipe",
      ]);
    });

    await t.step("unpack: a tar entry name in the error line, escaped", async () => {
      await pushImage(registry.url, "test/evilname", "1", [{
        mediaType: "application/vnd.oci.image.layer.v1.tar",
        bytes: makeTar([{ path: `../${EVIL_TEXT}`, content: "x" }]),
      }]);
      const r = await skiffOnPty([
        "unpack",
        "--store",
        `${store}/s`,
        `${registry.host}/test/evilname:1`,
        `${store}/root`,
      ]);
      assertEquals(r.code, 1, r.screen);
      assertClean(r.screen, "unpack");
      const last = lines(r.screen).at(-1)!;
      assert(last.startsWith("skiff: Cannot unpack "), last);
      assertStringIncludes(last, `../${SHOWN_TEXT}`);
    });

    await t.step("a reference typed with escapes is echoed back escaped", async () => {
      const r = await skiffOnPty([
        "pull",
        "--store",
        `${store}/s`,
        `${registry.host}/a:b${EVIL_TEXT}`,
      ]);
      assertEquals(r.code, 2, r.screen);
      assertClean(r.screen, "usage error");
    });
  } finally {
    await Deno.remove(store, { recursive: true });
  }
});
