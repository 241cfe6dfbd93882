// An output path is not always a regular file (issue 18, class 1). Every command that takes one
// does what `tar -cf` does: a character device, a FIFO or a block device is written into (never
// replaced by a regular file); a symlink is followed (a regular file it points to is replaced
// atomically, the link stays a link; a symlink to /proc/self/fd/1 is stdout); what cannot take the
// output is refused in one line, before any work, with the path left as it was. Run as a user
// runs them (the CLI in a child process) and through the module (save, unpack).

import { assert, assertEquals } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { startFixture } from "../_fixture.ts";
import { e2fsck } from "../_ext4.ts";
import { fsckErofs } from "../_erofs.ts";
import { mustRun, run } from "../_images.ts";
import { skiffOnPty } from "../_pty.ts";
import { names, tempDir } from "../_temp.ts";
import { save } from "../../lib/archive/save.ts";
import { unpack } from "../../lib/unpack/unpack.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;
const isRoot = Deno.uid() === 0;

/** The CLI with stdout as raw bytes (an archive may be written there). */
async function skiffRaw(args: string[]): Promise<{ code: number; out: Uint8Array; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, ...args],
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  return { code: r.code, out: r.stdout, err: new TextDecoder().decode(r.stderr) };
}

/** What is at `path`, without following a symlink. */
async function kind(path: string): Promise<string> {
  const i = await Deno.lstat(path);
  if (i.isSymlink) return `symlink -> ${await Deno.readLink(path)}`;
  if (i.isFile) return "file";
  if (i.isDirectory) return "directory";
  if (i.isFifo) return "fifo";
  if (i.isCharDevice) return `char ${i.rdev}`;
  if (i.isBlockDevice) return "block";
  return "other";
}

/**
 * Starts a reader of a FIFO copying what it gets into `to`. `end()`, once the writer is done,
 * waits for the reader to see the end; when the FIFO is no longer a FIFO (it was replaced, and
 * its reader would wait forever), it stops the reader and fails.
 */
function readFifo(fifo: string, to: string): { end(): Promise<void> } {
  const child = new Deno.Command("sh", {
    args: ["-c", 'exec cat "$1" > "$2"', "sh", fifo, to],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  return {
    async end() {
      const now = await kind(fifo).catch((e) => `${e}`);
      if (now !== "fifo") {
        child.kill("SIGKILL");
        await child.status;
        throw new Error(`the FIFO ${fifo} was replaced: it is ${now}`);
      }
      assertEquals((await child.status).code, 0, "the FIFO's reader");
    },
  };
}

/** A character device node of the test's own: the null device (1:3), never the system's. */
async function nullDevice(path: string): Promise<void> {
  await mustRun("mknod", [path, "c", "1", "3"]);
}

/** A loop block device over a file of `size` bytes of 0xA5 (old bytes that are not zeros). */
async function withLoop(dir: string, size: number, fn: (dev: string) => Promise<void>) {
  const backing = `${dir}/loop-backing`;
  await Deno.writeFile(backing, new Uint8Array(size).fill(0xa5));
  const dev = new TextDecoder().decode(await mustRun("losetup", ["-f", "--show", backing])).trim();
  try {
    await fn(dev);
  } finally {
    await mustRun("losetup", ["-d", dev]);
    await Deno.remove(backing);
  }
}

/** `tar -tf` of a file: its names. */
async function tarNames(file: string): Promise<string[]> {
  return new TextDecoder().decode(await mustRun("tar", ["-tf", file])).trim().split("\n");
}

/** skopeo reads a docker archive: its layers. */
async function skopeoLayers(file: string): Promise<number> {
  const out = await mustRun("skopeo", ["inspect", `docker-archive:${file}`]);
  return JSON.parse(new TextDecoder().decode(out)).Layers.length;
}

Deno.test("cli: output paths that are devices, FIFOs and symlinks", async (t) => {
  const fx = await startFixture();
  const dir = await tempDir({ prefix: "skiff-outputs-" });
  const store = `${dir}/store`;
  const single = `${fx.host}/test/single:1`;
  // each case in a directory of its own, so that "nothing else was left" is checked there
  let n = 0;
  const room = async () => {
    const path = `${dir}/case-${++n}`;
    await Deno.mkdir(path);
    return path;
  };
  try {
    assertEquals((await skiff(["pull", "-q", "--store", store, single])).code, 0);
    const base = ["--store", store, "--pull", "never", single];

    for (const command of ["save", "export"] as const) {
      const args = (out: string) =>
        command === "save"
          ? ["save", "-q", ...base, "-o", out]
          : ["export", "-q", ...base, "-o", out];
      /** The output read back: skopeo for a docker archive, tar for a root filesystem. */
      const check = async (file: string) => {
        if (command === "save") assertEquals(await skopeoLayers(file), 2);
        else assert((await tarNames(file)).includes("etc/os-release"), file);
      };

      await t.step({
        name: `${command} -o a character device: written into, still the device`,
        ignore: !isRoot,
        fn: async () => {
          const d = await room();
          await nullDevice(`${d}/null`);
          const r = await skiff(args(`${d}/null`));
          assertEquals([r.code, r.stderr], [0, ""]);
          assertEquals(await kind(`${d}/null`), `char ${(await Deno.stat("/dev/null")).rdev}`);
          assertEquals(await names(d), ["null"]);
        },
      });

      await t.step(`${command} -o a FIFO: its reader gets the whole output`, async () => {
        const d = await room();
        await mustRun("mkfifo", [`${d}/fifo`]);
        const reader = readFifo(`${d}/fifo`, `${d}/got.tar`);
        const r = await skiff(args(`${d}/fifo`));
        await reader.end();
        assertEquals([r.code, r.stderr], [0, ""]);
        assertEquals(await kind(`${d}/fifo`), "fifo");
        await check(`${d}/got.tar`);
        assertEquals(await names(d), ["fifo", "got.tar"]);
      });

      await t.step(
        `${command} -o a symlink to a file: the file replaced, the link kept`,
        async () => {
          const d = await room();
          await Deno.mkdir(`${d}/real`);
          await Deno.writeTextFile(`${d}/real/out.tar`, "old");
          const before = (await Deno.stat(`${d}/real/out.tar`)).ino;
          await Deno.symlink("real/out.tar", `${d}/link.tar`);
          const r = await skiff(args(`${d}/link.tar`));
          assertEquals([r.code, r.stderr], [0, ""]);
          assertEquals(await kind(`${d}/link.tar`), "symlink -> real/out.tar");
          await check(`${d}/real/out.tar`);
          // renamed over it (a new inode), not written into the old file
          assert((await Deno.stat(`${d}/real/out.tar`)).ino !== before);
          assertEquals(await names(d), ["link.tar", "real"]);
          assertEquals(await names(`${d}/real`), ["out.tar"]);
          // a symlink to nothing yet: the file is made where it points
          await Deno.symlink("real/new.tar", `${d}/dangling.tar`);
          const again = await skiff(args(`${d}/dangling.tar`));
          assertEquals([again.code, again.stderr], [0, ""]);
          assertEquals(await kind(`${d}/dangling.tar`), "symlink -> real/new.tar");
          await check(`${d}/real/new.tar`);
          assertEquals(await names(`${d}/real`), ["new.tar", "out.tar"]);
        },
      );

      await t.step(`${command} -o a symlink to /proc/self/fd/1: stdout gets it`, async () => {
        const d = await room();
        await Deno.symlink("/proc/self/fd/1", `${d}/stdout`);
        const r = await skiffRaw(args(`${d}/stdout`));
        assertEquals([r.code, r.err], [0, ""]);
        assertEquals(await kind(`${d}/stdout`), "symlink -> /proc/self/fd/1");
        await Deno.writeFile(`${d}/got.tar`, r.out);
        await check(`${d}/got.tar`);
      });

      await t.step(
        `${command} -o /dev/stdout on a terminal: refused, nothing written`,
        async () => {
          const r = await skiffOnPty(args("/dev/stdout"));
          assertEquals(r.code, 1, r.screen);
          assertEquals(r.screen, `skiff: Cannot ${command} to /dev/stdout: it is a terminal\r\n`);
        },
      );

      await t.step(`${command} -o a directory: one line, before any work`, async () => {
        const d = await room();
        const r = await skiff(args(d));
        assertEquals([r.code, r.stderr], [
          1,
          `skiff: Cannot ${command} to ${d}: it is a directory\n`,
        ]);
        assertEquals(await names(d), []);
      });
    }

    for (const format of ["erofs", "ext4"] as const) {
      const args = (out: string, ...more: string[]) => [
        "unpack",
        "-q",
        "--format",
        format,
        ...more,
        ...base,
        out,
      ];
      const refused = (path: string, what: string) =>
        `skiff: Cannot unpack into ${path}: it is ${what}, and a disk image is written out of ` +
        `order and read back: give a file or a block device\n`;

      await t.step(
        `unpack --format ${format} FIFO, character device, /proc/self/fd/1: refused, untouched`,
        async () => {
          const d = await room();
          await mustRun("mkfifo", [`${d}/fifo`]);
          const fifo = await skiff(args(`${d}/fifo`));
          assertEquals([fifo.code, fifo.stderr], [1, refused(`${d}/fifo`, "a FIFO")]);
          assertEquals(await kind(`${d}/fifo`), "fifo");
          await Deno.symlink("/proc/self/fd/1", `${d}/stdout`);
          const out = await skiffRaw(args(`${d}/stdout`));
          assertEquals([out.code, out.err, out.out.length], [
            1,
            refused(`${d}/stdout`, "a FIFO"),
            0,
          ]);
          assertEquals(await kind(`${d}/stdout`), "symlink -> /proc/self/fd/1");
          if (isRoot) {
            await nullDevice(`${d}/null`);
            const dev = await skiff(args(`${d}/null`));
            assertEquals([dev.code, dev.stderr], [1, refused(`${d}/null`, "a character device")]);
            assertEquals(await kind(`${d}/null`), `char ${(await Deno.stat("/dev/null")).rdev}`);
          }
          assertEquals(await names(d), isRoot ? ["fifo", "null", "stdout"] : ["fifo", "stdout"]);
        },
      );

      await t.step(
        `unpack --format ${format} through a symlink: made where it points, never over a file`,
        async () => {
          const d = await room();
          await Deno.mkdir(`${d}/real`);
          await Deno.symlink(`real/image.${format}`, `${d}/link`);
          const r = await skiff(args(`${d}/link`));
          assertEquals([r.code, r.stderr], [0, ""]);
          assertEquals(await kind(`${d}/link`), `symlink -> real/image.${format}`);
          if (format === "erofs") await fsckErofs(`${d}/real/image.${format}`);
          else await e2fsck(`${d}/real/image.${format}`);
          // now the link points to a file: refused, the file untouched
          const before = await Deno.readFile(`${d}/real/image.${format}`);
          const again = await skiff(args(`${d}/link`));
          assertEquals([again.code, again.stderr], [
            1,
            `skiff: Cannot unpack into ${d}/link: it exists\n`,
          ]);
          assertEquals(await Deno.readFile(`${d}/real/image.${format}`), before);
          assertEquals(await names(`${d}/real`), [`image.${format}`]);
        },
      );

      await t.step({
        name: `unpack --format ${format} onto a block device: written into it`,
        ignore: !isRoot,
        fn: async () => {
          const d = await room();
          await withLoop(d, 64 * 1024 * 1024, async (dev) => {
            // through a symlink of the test's own, as /dev/disk/by-id/... would be
            await Deno.symlink(dev, `${d}/disk`);
            const r = await skiff(args(`${d}/disk`, "--json"));
            assertEquals(r.code, 0, r.stderr);
            const image = JSON.parse(r.stdout).image;
            assertEquals(await kind(dev), "block");
            // the digest is the image's bytes, not the device's
            const head = new Uint8Array(image.size);
            using file = await Deno.open(dev);
            let at = 0;
            while (at < head.length) at += (await file.read(head.subarray(at)))!;
            const hex = Array.from(
              new Uint8Array(await crypto.subtle.digest("SHA-256", head)),
              (b) => b.toString(16).padStart(2, "0"),
            ).join("");
            assertEquals(image.digest, `sha256:${hex}`);
            if (format === "erofs") await fsckErofs(dev);
            else {
              await e2fsck(dev);
              const cat = await run("debugfs", ["-R", "cat /etc/os-release", dev]);
              assertEquals(new TextDecoder().decode(cat.stdout), "NAME=skiff-test\n");
              // larger than the device: one line, nothing claimed past its end
              const big = await skiff(args(`${d}/disk`, "--size", "128M"));
              assertEquals(big.code, 1);
              assert(
                big.stderr.startsWith(
                  `skiff: Cannot unpack ${single}: cannot write the ext4 image: the image needs ${
                    128 * 1024 * 1024
                  } bytes, more than the ${64 * 1024 * 1024}`,
                ),
                big.stderr,
              );
            }
          });
          assertEquals(await names(d), ["disk"]);
        },
      });
    }

    await t.step("unpack --layers DIR: through a symlink, and a FIFO refused", async () => {
      const d = await room();
      await Deno.mkdir(`${d}/real`);
      await Deno.symlink("real", `${d}/layers`);
      const layers = ["unpack", "-q", "--format", "erofs", "--layers", `${d}/layers`, ...base];
      const r = await skiff(layers);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(await kind(`${d}/layers`), "symlink -> real");
      // two layer images and their SHA-256 records
      assertEquals((await names(`${d}/real`)).filter((n) => n.endsWith(".erofs")).length, 2);
      assertEquals((await names(`${d}/real`)).length, 4);
      // a symlink to nothing yet: the directory is made where it points
      await Deno.symlink("made", `${d}/later`);
      const later = ["unpack", "-q", "--format", "erofs", "--layers", `${d}/later`, ...base];
      assertEquals((await skiff(later)).code, 0);
      assertEquals(await kind(`${d}/later`), "symlink -> made");
      assertEquals((await names(`${d}/made`)).filter((n) => n.endsWith(".erofs")).length, 2);
      await mustRun("mkfifo", [`${d}/fifo`]);
      const fifo = await skiff(["unpack", "--format", "erofs", "--layers", `${d}/fifo`, ...base]);
      assertEquals([fifo.code, fifo.stderr], [
        1,
        `skiff: Cannot unpack into ${d}/fifo: it is not a directory\n`,
      ]);
      assertEquals(await kind(`${d}/fifo`), "fifo");
    });

    await t.step(
      "unpack DIR through a symlink: into what it points to, the link kept",
      async () => {
        const d = await room();
        await Deno.mkdir(`${d}/empty`);
        await Deno.symlink("empty", `${d}/root`);
        const r = await skiff(["unpack", "-q", ...base, `${d}/root`]);
        assertEquals([r.code, r.stderr], [0, ""]);
        assertEquals(await kind(`${d}/root`), "symlink -> empty");
        assertEquals(await names(`${d}/empty`), ["bin", "data", "etc"]);
        await Deno.symlink("fresh", `${d}/later`);
        const later = await skiff(["unpack", "-q", ...base, `${d}/later`]);
        assertEquals([later.code, later.stderr], [0, ""]);
        assertEquals(await kind(`${d}/later`), "symlink -> fresh");
        assertEquals(await names(`${d}/fresh`), ["bin", "data", "etc"]);
        await mustRun("mkfifo", [`${d}/fifo`]);
        const fifo = await skiff(["unpack", ...base, `${d}/fifo`]);
        assertEquals([fifo.code, fifo.stderr], [
          1,
          `skiff: Cannot unpack into ${d}/fifo: it is not a directory\n`,
        ]);
        assertEquals(await names(d), ["empty", "fifo", "fresh", "later", "root"]);
      },
    );

    await t.step(
      "the module: save() into a FIFO and a device, unpack() through a symlink",
      async () => {
        const d = await room();
        await mustRun("mkfifo", [`${d}/fifo`]);
        const reader = readFifo(`${d}/fifo`, `${d}/got.tar`);
        const saved = await save(single, `${d}/fifo`, { store, pull: "never" });
        await reader.end();
        assertEquals(saved.output, `${d}/fifo`);
        assertEquals(await skopeoLayers(`${d}/got.tar`), 2);
        assertEquals(await kind(`${d}/fifo`), "fifo");
        if (isRoot) {
          await nullDevice(`${d}/null`);
          await save(single, `${d}/null`, { store, pull: "never", format: "oci" });
          assertEquals(await kind(`${d}/null`), `char ${(await Deno.stat("/dev/null")).rdev}`);
        }
        await Deno.symlink("image.erofs", `${d}/link`);
        const made = await unpack(single, `${d}/link`, { store, pull: "never", format: "erofs" });
        assertEquals(made.dir, `${d}/link`);
        assertEquals(await kind(`${d}/link`), "symlink -> image.erofs");
        await fsckErofs(`${d}/image.erofs`);
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await fx.stop();
  }
});
