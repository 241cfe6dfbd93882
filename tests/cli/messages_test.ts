// What a user reads: rates as whole bytes, push and copy saying what they did with each blob
// (pushed, copied, mounted), export's layers with their bytes, sync's lines with what the
// destination has (and -q), `skiff help`, an error line from a deep path of an image kept
// short, a damaged layer named with the way to mend the store, a full disk named with the file.
// The CLI as a user runs it, against the real registry and the tests' own servers.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { HOST_ARCH, startFixture } from "../_fixture.ts";
import { copyBetween, mustRun, run } from "../_images.ts";
import { FaultProxy } from "../_proxy.ts";
import { pushImage } from "../_push.ts";
import { startRegistry } from "../_registry.ts";
import { makeTar } from "../_tar.ts";
import { tempDir } from "../_temp.ts";
import { isRoot } from "../_erofs.ts";

const LAYER = "application/vnd.oci.image.layer.v1.tar";

Deno.test("messages: rates, what push and copy did with each blob, export's layers", async (t) => {
  const fx = await startFixture();
  const dir = await tempDir({ prefix: "skiff-messages-" });
  try {
    const store = `${dir}/store`;

    await t.step("a slow pull's rate is whole bytes per second", async () => {
      const registry = await startRegistry();
      try {
        await pushImage(registry.url, "tiny/one", "1", [{
          mediaType: LAYER,
          bytes: makeTar([{ path: "a", content: "a\n" }]),
        }]);
        // about 2.3 KB at 600 bytes a second: a rate under 1 KiB/s
        await using slow = FaultProxy.start(registry.url);
        slow.on((req, url) =>
          req.method === "GET" && url.pathname.includes("/blobs/")
            ? { kind: "throttle", bytesPerSecond: 600 }
            : undefined
        );
        const r = await skiff(["pull", "--store", `${dir}/tiny`, `${slow.host}/tiny/one:1`]);
        assertEquals(r.code, 0, r.stderr);
        assertMatch(r.stderr, / done in [^,]+, [\d.]+ KiB at \d+ B\/s\n$/);
      } finally {
        await registry.stop();
      }
    });

    await t.step("push says pushed; copy says copied, mounted, already present", async () => {
      const pulled = await skiff(["pull", "-q", "--store", store, `${fx.host}/test/single:1`]);
      assertEquals(pulled.code, 0, pulled.stderr);
      const dest = await startRegistry();
      try {
        const pushed = await skiff([
          "push",
          "--store",
          store,
          `${fx.host}/test/single:1`,
          `${dest.host}/pushed/single:1`,
        ]);
        assertEquals(pushed.code, 0, pushed.stderr);
        const blobLines = (text: string) =>
          text.split("\n").filter((l) => /^sha256:[0-9a-f]{12}: /.test(l));
        assertEquals(blobLines(pushed.stderr).length, 3, pushed.stderr);
        for (const line of blobLines(pushed.stderr)) assertMatch(line, /: pushed \(/);

        // another registry: uploaded
        const copied = await skiff([
          "copy",
          "--no-referrers",
          `${fx.host}/test/single:1`,
          `${dest.host}/copied/single:1`,
        ]);
        assertEquals(copied.code, 0, copied.stderr);
        for (const line of blobLines(copied.stderr)) assertMatch(line, /: copied \(/);
        // the same registry, another repository: mounted
        const mounted = await skiff([
          "copy",
          "--no-referrers",
          `${dest.host}/copied/single:1`,
          `${dest.host}/mounted/single:1`,
        ]);
        assertEquals(mounted.code, 0, mounted.stderr);
        assertEquals(blobLines(mounted.stderr).length, 3, mounted.stderr);
        for (const line of blobLines(mounted.stderr)) assertMatch(line, /: mounted \(/);
        // there already
        const again = await skiff([
          "copy",
          "--no-referrers",
          `${dest.host}/copied/single:1`,
          `${dest.host}/mounted/single:1`,
        ]);
        for (const line of blobLines(again.stderr)) assertMatch(line, /: already present \(/);
      } finally {
        await dest.stop();
      }
    });

    await t.step("export says each layer's bytes, and the total written", async () => {
      const registry = await startRegistry();
      try {
        await pushImage(registry.url, "two/layers", "1", [
          { mediaType: LAYER, bytes: makeTar([{ path: "a", content: "x".repeat(3000) }]) },
          {
            mediaType: LAYER,
            bytes: makeTar([{ path: ".wh.a", content: "" }, { path: "b", content: "12345" }]),
          },
        ]);
        const r = await skiff([
          "export",
          "--store",
          `${dir}/export-store`,
          `${registry.host}/two/layers:1`,
          "-o",
          `${dir}/two.tar`,
        ]);
        assertEquals(r.code, 0, r.stderr);
        const layers = r.stderr.split("\n").filter((l) => l.includes(": unpacked (layer"));
        assertEquals(layers.length, 2, r.stderr);
        assertMatch(layers[0]!, /\(layer 1 of 2, 1 entry, 2\.9 KiB\)$/);
        assertMatch(layers[1]!, /\(layer 2 of 2, 2 entries, 5 B\)$/);
        // what the tar holds: layer 1's file was deleted by layer 2
        assertMatch(r.stderr, /two\.tar: .*, 3 entries from 2 layers, 5 B in /);
      } finally {
        await registry.stop();
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
    await fx.stop();
  }
});

Deno.test("messages: sync's lines say what the destination has; -q; skiff help", async (t) => {
  const fx = await startFixture();
  await using dest = await startRegistry();
  try {
    await copyBetween(`${fx.host}/test/multi:1`, `${fx.host}/syncsrc/multi:v1`);
    await copyBetween(`${fx.host}/test/single:1`, `${fx.host}/syncsrc/multi:v2`);

    await t.step("--platform P: the platform's manifest, copied and then up to date", async () => {
      const args = [
        "sync",
        "--no-referrers",
        "--platform",
        "linux/arm64/v8",
        `${fx.host}/syncsrc/multi`,
        `${dest.host}/syncdst/multi`,
      ];
      const first = await skiff(args);
      assertEquals(first.code, 0, first.stderr);
      const lines = first.stdout.split("\n").filter(Boolean).sort();
      // v1 is an index: its arm64 manifest is what the destination's tag names now
      assertEquals(lines[0], `copied     v1 ${fx.arm64.digest}`);
      const second = await skiff(args);
      assertEquals(
        second.stdout.split("\n").filter(Boolean).sort()[0],
        `up-to-date v1 ${fx.arm64.digest}`,
      );
    });

    await t.step("-q: only the tags that failed, and no summary", async () => {
      const quiet = await skiff([
        "sync",
        "-q",
        "--no-referrers",
        `${fx.host}/syncsrc/multi`,
        `${dest.host}/syncdst/quiet`,
      ]);
      assertEquals([quiet.code, quiet.stdout, quiet.stderr], [0, "", ""]);
      await using lying = FaultProxy.start(fx.registry.url);
      lying.on((req, url) =>
        req.method === "GET" && url.pathname.endsWith("/manifests/v2")
          ? { kind: "flip", at: 10 }
          : undefined
      );
      const failed = await skiff([
        "sync",
        "-q",
        "--no-referrers",
        `${lying.host}/syncsrc/multi`,
        `${dest.host}/syncdst/quiet-failed`,
      ]);
      assertEquals(failed.code, 1);
      assertEquals(failed.stderr, "");
      assertMatch(failed.stdout, /^failed +v2: .*digest mismatch.*\n$/);
    });

    await t.step("skiff help, skiff help CMD", async () => {
      const all = await skiff(["help"]);
      assertEquals(all.code, 0, all.stderr);
      assertEquals(all.stdout, (await skiff(["--help"])).stdout);
      assertMatch(all.stdout, /\n {2}help \[COMMAND\] /);
      const one = await skiff(["help", "sync"]);
      assertEquals(one.code, 0, one.stderr);
      assertEquals(one.stdout, (await skiff(["sync", "--help"])).stdout);
      const unknown = await skiff(["help", "frobnicate"]);
      assertEquals(unknown.code, 2);
      assertMatch(unknown.stderr, /^skiff: unknown command "frobnicate" \(see skiff help\)\n$/);
    });
  } finally {
    await fx.stop();
  }
});

Deno.test("messages: a deep path from an image, a damaged layer, a full disk: one short line", async (t) => {
  await using registry = await startRegistry();
  const dir = await tempDir({ prefix: "skiff-messages-" });
  try {
    const store = `${dir}/store`;

    await t.step("a path deeper than the file system takes: a line of bounded length", async () => {
      const deep = `${"d/".repeat(2100)}f`; // 4,201 bytes: more than PATH_MAX
      await pushImage(registry.url, "deep/path", "1", [{
        mediaType: LAYER,
        bytes: makeTar([{ path: deep, content: "deep\n" }]),
      }]);
      const r = await skiff([
        "unpack",
        "-q",
        "--store",
        store,
        `${registry.host}/deep/path:1`,
        `${dir}/deep`,
      ]);
      assertEquals(r.code, 1, r.stderr);
      const lines = r.stderr.trimEnd().split("\n");
      assertEquals(lines.length, 1, r.stderr);
      assert(lines[0]!.length <= 2000, `${lines[0]!.length} characters`);
      assertMatch(
        lines[0]!,
        /^skiff: Cannot unpack .*deep\/path:1: layer 1 of 1 \(sha256:[0-9a-f]{64}\): /,
      );
      assertMatch(lines[0]!, /d\/d\/d\.\.\.\[\d+ characters\]\.\.\.\/?d\/d\/d/);
      assertMatch(lines[0]!, /too long/i);
    });

    await t.step("a damaged layer in the store: the blob named, and fsck --repair", async () => {
      const layer = makeTar([{ path: "etc/", type: "directory" }, { path: "etc/x", content: "x" }]);
      const pushed = await pushImage(registry.url, "damaged/layer", "1", [
        { mediaType: LAYER, bytes: layer },
      ]);
      const name = `${registry.host}/damaged/layer:1`;
      const pulled = await skiff(["pull", "-q", "--store", store, name]);
      assertEquals(pulled.code, 0, pulled.stderr);
      const digest = pushed.layers[0]!.digest;
      const path = `${store}/blobs/sha256/${digest.slice(7)}`;
      const bytes = await Deno.readFile(path);
      bytes[600] = bytes[600]! ^ 0xff; // the second header: the tar breaks before the digest ends
      await Deno.chmod(path, 0o644);
      await Deno.writeFile(path, bytes);
      const q = ["-q", "--store", store];
      for (
        const args of [
          ["unpack", ...q, name, `${dir}/damaged`],
          ["export", ...q, name, "-o", `${dir}/damaged.tar`],
          ["unpack", ...q, "--format", "ext4", name, `${dir}/damaged.ext4`],
          ["unpack", ...q, "--format", "erofs", "--layers", `${dir}/layers`, name],
        ]
      ) {
        const r = await skiff(args);
        assertEquals(r.code, 1, r.stderr);
        const lines = r.stderr.trimEnd().split("\n");
        assertEquals(lines.length, 1, r.stderr);
        assertMatch(
          lines[0]!,
          new RegExp(
            `^skiff: Cannot verify layer ${digest} in the store ${store}: digest mismatch: ` +
              `expected ${digest}, got sha256:[0-9a-f]{64} \\(the store is damaged: ` +
              `'skiff fsck --repair' deletes the blob, and the next pull fetches it again\\)$`,
          ),
          args.join(" "),
        );
      }
      // as it says: fsck --repair, then the pull fetches it again, and the unpack works
      const repaired = await skiff(["fsck", "--repair", "--store", store]);
      assertMatch(repaired.stdout, new RegExp(`corrupt blob ${digest}`));
      const again = await skiff(["unpack", "-q", "--store", store, name, `${dir}/mended`]);
      assertEquals(again.code, 0, again.stderr);
      assertEquals(await Deno.readTextFile(`${dir}/mended/etc/x`), "x");
    });

    await t.step({
      name: "export -o on a full disk: the file named with the system's reason",
      ignore: !isRoot,
      fn: async () => {
        const big = new Uint8Array(3 * 1024 * 1024);
        crypto.getRandomValues(big.subarray(0, 65536));
        for (let i = 65536; i < big.length; i += 65536) big.copyWithin(i, 0, 65536);
        await pushImage(registry.url, "big/file", "1", [{
          mediaType: LAYER,
          bytes: makeTar([{ path: "big", content: big }]),
        }]);
        const mnt = await tempDir({ prefix: "skiff-full-" });
        await mustRun("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt]);
        try {
          const r = await skiff([
            "export",
            "-q",
            "--store",
            store,
            `${registry.host}/big/file:1`,
            "-o",
            `${mnt}/out.tar`,
          ]);
          assertEquals(r.code, 1, r.stderr);
          assertMatch(
            r.stderr,
            new RegExp(`^skiff: Cannot export to ${mnt}/out\\.tar: No space left on device.*\\n$`),
          );
          assertEquals([...Deno.readDirSync(mnt)], []);
        } finally {
          await run("umount", [mnt]);
        }
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

void HOST_ARCH;
