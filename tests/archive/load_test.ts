// `skiff load`: archives written by skopeo (docker-archive: classic form, oci-archive:), by
// podman save (both formats) and by skiff save, loaded and read back from the store by skopeo
// and umoci; --name, stdin, a gzip-compressed archive.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { skiff } from "../_cli.ts";
import { startFixture } from "../_fixture.ts";
import { mustRun, sha256 } from "../_images.ts";
import { checkStore } from "../_store_check.ts";
import { tempDir } from "../_temp.ts";
import { podman } from "../_podman.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function configOf(store: string, name: string): Promise<string> {
  const raw = await mustRun("skopeo", ["inspect", "--config", "--raw", `oci:${store}:${name}`]);
  return sha256(raw);
}

Deno.test("skiff load: archives by skopeo, podman and skiff, read back by skopeo and umoci", async (t) => {
  const fx = await startFixture();
  const dir = await tempDir({ prefix: "skiff-load-" });
  try {
    const single = `${fx.host}/test/single:1`;
    const singleConfig = sha256(
      await mustRun("skopeo", [
        "inspect",
        "--config",
        "--raw",
        "--tls-verify=false",
        `docker://${single}`,
      ]),
    );

    await t.step("skopeo's docker-archive (classic: <id>/layer.tar links), two tags", async () => {
      const file = `${dir}/skopeo-docker.tar`;
      await mustRun("skopeo", [
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        "--additional-tag",
        "example.com/extra/app:2",
        `docker://${single}`,
        `docker-archive:${file}:example.com/team/app:1`,
      ]);
      const names = text(await mustRun("tar", ["-tf", file]));
      assertMatch(names, /\/layer\.tar\n/); // the classic form
      const store = `${dir}/s1`;
      const r = await skiff(["load", "--store", store, file]);
      assertEquals(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split("\n");
      assertEquals(lines.map((l) => l.split(" ")[0]), [
        "example.com/team/app:1",
        "example.com/extra/app:2",
      ]);
      const digest = lines[0]!.split(" ")[1]!;
      assertEquals(lines[1]!.split(" ")[1], digest);
      assertMatch(r.stderr, /docker archive, 3 blobs/);
      // skopeo reads the store: the config is the registry's, byte for byte
      assertEquals(await configOf(store, "example.com/team/app:1"), singleConfig);
      const raw = await mustRun("skopeo", [
        "inspect",
        "--raw",
        `oci:${store}:example.com/team/app:1`,
      ]);
      assertEquals(sha256(raw), digest);
      // umoci unpacks it
      const bundle = `${dir}/bundle1`;
      await mustRun("umoci", [
        "unpack",
        "--rootless",
        "--image",
        `${store}:example.com/team/app:1`,
        bundle,
      ]);
      assertEquals(await Deno.readTextFile(`${bundle}/rootfs/etc/os-release`), "NAME=skiff-test\n");
      const report = await checkStore(store);
      assertEquals([report.missing, report.corrupt, report.ingest], [[], [], []]);
      // skiff unpack reads it too (the layers' diff_ids were checked on load, and again here)
      const u = await skiff([
        "unpack",
        "-q",
        "--store",
        store,
        "example.com/team/app:1",
        `${dir}/rootfs1`,
      ]);
      assertEquals(u.code, 0, u.stderr);
      assertEquals(await Deno.readTextFile(`${dir}/rootfs1/bin/hello`), "#!/bin/sh\necho hello\n");
    });

    await t.step(
      "skopeo's oci-archive of an index: the index is stored, digests kept",
      async () => {
        const multi = `${fx.host}/test/multi:1`;
        const file = `${dir}/skopeo-oci.tar`;
        await mustRun("skopeo", [
          "copy",
          "--quiet",
          "--all",
          "--src-tls-verify=false",
          `docker://${multi}`,
          `oci-archive:${file}:${multi}`,
        ]);
        const store = `${dir}/s2`;
        const r = await skiff(["load", "--store", store, file]);
        assertEquals(r.code, 0, r.stderr);
        assertEquals(r.stdout, `${multi} ${fx.multi.digest}\n`);
        const raw = await mustRun("skopeo", ["inspect", "--raw", `oci:${store}:${multi}`]);
        assertEquals(sha256(raw), fx.multi.digest);
        await mustRun("skopeo", [
          "copy",
          "--quiet",
          "--all",
          `oci:${store}:${multi}`,
          `oci:${dir}/copy2:x`,
        ]);
        const images = await skiff(["images", "--json", "--store", store]);
        const listed = JSON.parse(images.stdout);
        assertEquals(listed[0].missing, []);
      },
    );

    await t.step("--name, stdin, and a gzip-compressed archive", async () => {
      const store = `${dir}/s3`;
      const gz = await mustRun("gzip", ["-c", "-1", `${dir}/skopeo-docker.tar`]);
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", CLI, "load", "--store", store, "--name", "mine/app:7", "-"],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const feeding = (async () => {
        const w = child.stdin.getWriter();
        await w.write(gz);
        await w.close();
      })();
      const [out] = await Promise.all([child.output(), feeding]);
      assertEquals(out.code, 0, text(out.stderr));
      assertMatch(text(out.stdout), /^docker\.io\/mine\/app:7 sha256:[0-9a-f]{64}\n$/);
      assertMatch(text(out.stderr), /^stdin: docker archive/);
      assertEquals(await configOf(store, "docker.io/mine/app:7"), singleConfig);
      // the same image under two names is one image: --name takes it
      const one = `${dir}/one.tar`;
      const s = await skiff([
        "save",
        "-q",
        "--format",
        "oci",
        "--store",
        `${dir}/s1`,
        "example.com/team/app:1",
        "example.com/extra/app:2",
        "-o",
        one,
      ]);
      assertEquals(s.code, 0, s.stderr);
      const renamed = await skiff(["load", "--store", `${dir}/s4`, "--name", "x/y:1", one]);
      assertEquals(renamed.code, 0, renamed.stderr);
      assertMatch(renamed.stdout, /^docker\.io\/x\/y:1 sha256:[0-9a-f]{64}\n$/);
      // two different images with --name: refused, nothing named
      const arm = await skiff([
        "save",
        "-q",
        "--store",
        `${dir}/s2`,
        `${fx.host}/test/multi:1`,
        "--platform",
        "linux/arm64",
        "-o",
        `${dir}/arm.tar`,
      ]);
      assertEquals(arm.code, 0, arm.stderr);
      const loadedArm = await skiff(["load", "-q", "--store", `${dir}/s1`, `${dir}/arm.tar`]);
      assertEquals(loadedArm.code, 0, loadedArm.stderr);
      const several = `${dir}/several.tar`;
      const t2 = await skiff([
        "save",
        "-q",
        "--store",
        `${dir}/s1`,
        "example.com/team/app:1",
        `${fx.host}/test/multi:1`,
        "-o",
        several,
      ]);
      assertEquals(t2.code, 0, t2.stderr);
      const refused = await skiff(["load", "--store", `${dir}/s5`, "--name", "x/y:1", several]);
      assertEquals(refused.code, 1);
      assertEquals(
        refused.stderr,
        `skiff: Cannot load ${several}: --name needs an archive of one image; this one has 2\n`,
      );
      assertEquals((await checkStore(`${dir}/s5`)).names, []);
    });

    await t.step(
      "skiff save -> skiff load keeps the stored digest (docker and oci formats)",
      async () => {
        const from = `${dir}/s1`;
        const name = "example.com/team/app:1";
        const digest =
          JSON.parse(await Deno.readTextFile(`${from}/index.json`)).manifests[0].digest;
        for (const format of ["docker", "oci"]) {
          const file = `${dir}/round-${format}.tar`;
          const s = await skiff([
            "save",
            "-q",
            "--format",
            format,
            "--store",
            from,
            name,
            "-o",
            file,
          ]);
          assertEquals(s.code, 0, s.stderr);
          const store = `${dir}/round-${format}`;
          const r = await skiff(["load", "-q", "--store", store, file]);
          assertEquals(r.code, 0, r.stderr);
          assertEquals(r.stdout, `${name} ${digest}\n`);
        }
      },
    );

    await t.step("podman save (docker-archive and oci-archive) -> skiff load", async () => {
      const root = `${dir}/podman`;
      const loaded = await podman(root, ["load", "-i", `${dir}/skopeo-docker.tar`]);
      assertEquals(loaded.code, 0, loaded.stderr);
      for (const format of ["docker-archive", "oci-archive"]) {
        const file = `${dir}/podman-${format}.tar`;
        const saved = await podman(root, [
          "save",
          "--format",
          format,
          "-o",
          file,
          "example.com/team/app:1",
        ]);
        assertEquals(saved.code, 0, saved.stderr);
        const store = `${dir}/p-${format}`;
        const r = await skiff(["load", "--store", store, file]);
        assertEquals(r.code, 0, r.stderr);
        assertMatch(r.stdout, /^example\.com\/team\/app:1 sha256:[0-9a-f]{64}\n$/);
        assertEquals(await configOf(store, "example.com/team/app:1"), singleConfig);
        const bundle = `${dir}/bundle-${format}`;
        await mustRun("umoci", [
          "unpack",
          "--rootless",
          "--image",
          `${store}:example.com/team/app:1`,
          bundle,
        ]);
        assert((await Deno.stat(`${bundle}/rootfs/data/blob.bin`)).size > 2 * 1024 * 1024);
      }
      await podman(root, ["rmi", "-a", "-f"]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
    await fx.stop();
  }
});
