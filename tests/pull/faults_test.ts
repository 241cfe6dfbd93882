// A hostile network and hard stops: retries, signals, kill -9 at random moments, two processes on
// one store, a full and a read-only disk, and a soak of random faults. Every pull must end
// verified or with one clean error, and the store must be valid after every one of them.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { skiff, spawnSkiff } from "../_cli.ts";
import { type Fixture, startFixture } from "../_fixture.ts";
import { layerOf, LayoutBuilder, mustRun, noise, push, run } from "../_images.ts";
import { type Fault, FaultProxy } from "../_proxy.ts";
import { checkStore } from "../_store_check.ts";
import { pull } from "../../lib/pull/pull.ts";
import { tempDir } from "../_temp.ts";
import { seededRandom } from "../_random.ts";

const FAST_RETRY = { baseDelay: 10, maxDelay: 200 };

async function tempStore(): Promise<string> {
  return `${await tempDir({ prefix: "skiff-faults-" })}/store`;
}

async function assertValid(store: string, context: string) {
  const report = await checkStore(store);
  assertEquals(report.corrupt, [], `${context}: corrupt blobs`);
  assertEquals(report.missing, [], `${context}: index.json entries that do not resolve`);
  return report;
}

/** An image of six 1 MiB layers, for kills and concurrency. */
async function pushMultiLayer(fx: Fixture): Promise<string> {
  const b = await LayoutBuilder.create();
  const layers = [];
  for (let i = 0; i < 6; i++) {
    layers.push(await layerOf({ [`l${i}.bin`]: noise(1024 * 1024, `layer ${i}`) }));
  }
  await b.tag("m", await b.image(layers));
  await push(b.dir, "m", `${fx.host}/test/six:1`);
  await b.remove();
  return "test/six:1";
}

Deno.test("faults: retries, signals, kills, two processes, and a soak", async (t) => {
  const fx = await startFixture();
  const six = await pushMultiLayer(fx);
  try {
    await t.step(
      "503s and 429 with Retry-After are retried; the final error counts the attempts",
      async () => {
        await using proxy = FaultProxy.start(fx.registry.url);
        let n = 0;
        proxy.on((_req, url) =>
          url.pathname.includes("/manifests/") && n++ < 2
            ? { kind: "status", status: 503 }
            : undefined
        );
        let m = 0;
        proxy.on((_req, url) =>
          url.pathname.includes("/blobs/") && m++ < 1
            ? { kind: "status", status: 429, headers: { "retry-after": "1" } }
            : undefined
        );
        const started = performance.now();
        const store = await tempStore();
        await pull(`${proxy.host}/test/single:1`, { store, retry: FAST_RETRY });
        assert(performance.now() - started >= 1000, "Retry-After: 1 was honoured");
        assertEquals(proxy.requests("/manifests/").slice(0, 3).map((r) => r.status), [
          503,
          503,
          200,
        ]);
        await assertValid(store, "after retries");

        proxy.rules = [() => ({ kind: "status", status: 503 })];
        const r = await skiff(["pull", "--store", store, `${proxy.host}/test/six:1`]);
        assertEquals(r.code, 1);
        assertEquals(
          r.stderr.trim(),
          `skiff: Cannot fetch manifest ${proxy.host}/test/six:1: 503 service unavailable (after 5 attempts: 503 x5)`,
        );
      },
    );

    for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
      await t.step(
        `${signal}: stops the pull under way, exit ${code}, partial data kept for resume`,
        async () => {
          const store = await tempStore();
          await using proxy = FaultProxy.start(fx.registry.url);
          proxy.on((_req, url) =>
            url.pathname.includes("/blobs/")
              ? { kind: "throttle", bytesPerSecond: 1_000_000 }
              : undefined
          );
          const child = spawnSkiff(["pull", "--store", store, `${proxy.host}/${six}`]);
          const ingest = `${store}/ingest`;
          const deadline = Date.now() + 20_000;
          const partialBytes = async () => {
            let total = 0;
            try {
              for await (const e of Deno.readDir(ingest)) {
                if (e.name.startsWith("sha256-")) {
                  total += (await Deno.stat(`${ingest}/${e.name}`)).size;
                }
              }
            } catch { /* not yet */ }
            return total;
          };
          // a layer under way (a small config can appear and be committed at once)
          while ((await partialBytes()) < 256 * 1024 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 20));
          }
          // the download is throttled: the pull is still under way when the signal lands
          child.kill(signal);
          const out = await child.output();
          assertEquals(out.code, code);
          assertEquals(
            new TextDecoder().decode(out.stderr).trim().split("\n").at(-1),
            `skiff: interrupted by ${signal}; partial downloads are kept and resume on the next pull`,
          );
          const kept = await partialBytes();
          assert(kept > 0, "partial data was kept");
          await assertValid(store, `after ${signal}`);
          proxy.rules = [];
          const before = proxy.seen.length;
          const again = await skiff(["pull", "-q", "--store", store, `${proxy.host}/${six}`]);
          assertEquals(again.code, 0, again.stderr);
          assert(
            proxy.seen.slice(before).some((r) => r.headers.range !== undefined),
            "resumed with Range",
          );
          await assertValid(store, `after ${signal} and a second pull`);
        },
      );
    }

    await t.step(
      "kill -9 at random moments: the store is valid after each, the last pull completes",
      async () => {
        const store = await tempStore();
        await using proxy = FaultProxy.start(fx.registry.url);
        proxy.on((_req, url) =>
          url.pathname.includes("/blobs/")
            ? { kind: "throttle", bytesPerSecond: 1_500_000 }
            : undefined
        );
        const KILLS = 15;
        const random = seededRandom("kill test");
        let landed = 0;
        for (let i = 0; i < KILLS; i++) {
          const seen = proxy.seen.length;
          const child = spawnSkiff(["pull", "-q", "--store", store, `${proxy.host}/${six}`]);
          // the kill lands at a random moment after the first blob request of this pull
          const exited = child.status.then(() => true);
          const blobAsked = async () => {
            while (!proxy.seen.slice(seen).some((r) => r.path.includes("/blobs/"))) {
              if (await Promise.race([exited, new Promise((r) => setTimeout(r, 10, false))])) {
                return;
              }
            }
          };
          await blobAsked();
          await new Promise((r) => setTimeout(r, random() * 600));
          try {
            child.kill("SIGKILL");
          } catch { /* it finished first */ }
          const status = await child.status;
          await child.output().catch(() => {});
          const report = await assertValid(store, `after kill ${i + 1}`);
          // a kill that landed during the download: the process died of it, the image unnamed
          if (status.signal === "SIGKILL" && report.names.length === 0) landed++;
          // start over from time to time, so kills land early in a pull as well as late
          if (i % 5 === 4) await Deno.remove(store, { recursive: true });
        }
        assert(landed >= KILLS / 3, `only ${landed} of ${KILLS} kills landed during a download`);
        const final = await skiff(["pull", "-q", "--store", store, `${proxy.host}/${six}`]);
        assertEquals(final.code, 0, final.stderr);
        const report = await assertValid(store, "after the final pull");
        assertEquals(report.names, [`${proxy.host}/${six}`]);
        await mustRun("skopeo", ["inspect", `oci:${store}:${proxy.host}/${six}`]);
        console.log(`kill test: ${landed} of ${KILLS} kills landed mid-download, 0 corrupt blobs`);
      },
    );

    await t.step(
      "two processes, one store: the same image and different images at once",
      async () => {
        const store = await tempStore();
        await using proxy = FaultProxy.start(fx.registry.url);
        proxy.on((_req, url) =>
          url.pathname.includes("/blobs/")
            ? { kind: "throttle", bytesPerSecond: 4_000_000 }
            : undefined
        );
        const refs = [six, six, "test/single:1", "test/multi:1"].map((r) => `${proxy.host}/${r}`);
        const results = await Promise.all(
          refs.map((ref) => skiff(["pull", "-q", "--store", store, ref])),
        );
        for (const r of results) assertEquals(r.code, 0, r.stderr);
        const report = await assertValid(store, "after concurrent pulls");
        assertEquals(report.names.sort(), [...new Set(refs)].sort());
        assertEquals(report.ingest, []);
        // each blob of the shared image was fetched once: the second process waited for the first
        const blobGets = proxy.seen.filter((r) =>
          r.method === "GET" && r.path.includes("/blobs/") && r.status !== 0
        );
        const perBlob = new Map<string, number>();
        for (const g of blobGets) {
          perBlob.set(g.path, (perBlob.get(g.path) ?? 0) + (g.headers.range ? 0 : 1));
        }
        assert(
          [...perBlob.values()].every((n) => n === 1),
          JSON.stringify([...perBlob]),
        );
      },
    );

    await t.step(
      "soak: random faults; every pull ends verified or with one clean error",
      async () => {
        const PULLS = 40;
        const store = await tempStore();
        await using proxy = FaultProxy.start(fx.registry.url);
        const counts: Record<string, number> = {};
        const random = seededRandom("soak");
        // Blobs download side by side, so the order in which requests draw from `random` varies
        // from run to run. Manifests are fetched one after another, so a count of their GETs is
        // the same in every run: every seventh is flipped, whatever the draws did.
        let manifestGets = 0;
        const pick = (req: Request, url: URL): Fault | undefined => {
          const isBlob = url.pathname.includes("/blobs/");
          const hasBody = req.method === "GET";
          if (!isBlob && hasBody && manifestGets++ % 7 === 3) {
            counts["flip-manifest"] = (counts["flip-manifest"] ?? 0) + 1;
            return { kind: "flip", fraction: random() };
          }
          if (random() < 0.6) return undefined;
          const menu: Fault[] = [
            { kind: "status", status: [500, 502, 503, 504][Math.floor(random() * 4)]! },
            { kind: "status", status: 429, headers: { "retry-after": "0" } },
            // a flipped byte anywhere in any body: manifests, indexes, configs and layers
            ...(hasBody ? [{ kind: "flip", fraction: random() } as Fault] : []),
            ...(isBlob && hasBody
              ? [
                { kind: "cut", after: Math.floor(random() * 1_200_000) } as Fault,
                { kind: "stall", after: Math.floor(random() * 1_000_000), ms: 2000 } as Fault,
                { kind: "ignore-range" } as Fault,
              ]
              : []),
          ];
          const fault = menu[Math.floor(random() * menu.length)]!;
          const kind = fault.kind === "flip" ? `flip-${isBlob ? "blob" : "manifest"}` : fault.kind;
          counts[kind] = (counts[kind] ?? 0) + 1;
          return fault;
        };
        proxy.on(pick);
        const images = ["test/single:1", six, "test/multi:1", "test/docker:1"];
        let ok = 0;
        const errors: string[] = [];
        for (let i = 0; i < PULLS; i++) {
          // every fourth pull starts from an empty store
          const target = i % 4 === 0 ? await tempStore() : store;
          const ref = `${proxy.host}/${images[i % images.length]}`;
          try {
            const result = await pull(ref, { store: target, retry: FAST_RETRY, stallTimeout: 300 });
            ok++;
            assertEquals(result.reference, ref);
          } catch (e) {
            assert(e instanceof Error, "errors are Errors");
            assert(!e.message.includes("\n"), `one line: ${e.message}`);
            assertMatch(e.message, /^Cannot /);
            errors.push(e.message);
          }
          await assertValid(target, `soak pull ${i + 1}`);
        }
        const injected = Object.values(counts).reduce((a, b) => a + b, 0);
        console.log(
          `soak: ${PULLS} pulls, ${injected} faults injected (${JSON.stringify(counts)}), ` +
            `${ok} verified, ${errors.length} clean errors, 0 corrupt blobs`,
        );
        assert(injected > 20, "faults were injected");
        assert(ok > PULLS / 3, `many pulls get through: ${ok}; errors: ${errors.join(" | ")}`);
        assert((counts["flip-manifest"] ?? 0) > 0, "a manifest, index or config was corrupted");
      },
    );
  } finally {
    await fx.stop();
  }
});

/** Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN), for disk-full tests. */
async function canMount(): Promise<boolean> {
  if (Deno.uid() !== 0) return false;
  const dir = await tempDir();
  const r = await run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]);
  if (r.code !== 0) return false;
  await run("umount", [dir]);
  return true;
}

Deno.test({
  name: "faults: a full disk and a read-only store end in one line and leave the store valid",
  ignore: !(await canMount()),
  async fn() {
    const fx = await startFixture();
    const mnt = await tempDir({ prefix: "skiff-tmpfs-" });
    await mustRun("mount", ["-t", "tmpfs", "-o", "size=1200k", "tmpfs", mnt]);
    try {
      const store = `${mnt}/store`;
      const full = await skiff(["pull", "--store", store, `${fx.host}/test/single:1`]);
      assertEquals(full.code, 1);
      const line = full.stderr.trim().split("\n").at(-1)!;
      assertMatch(line, /^skiff: Cannot write to store .*: No space left on device/);
      await assertValid(store, "disk full");
      assertEquals((await checkStore(store)).names, []);

      // more room: the next pull resumes and completes
      await mustRun("mount", ["-o", "remount,size=8m", mnt]);
      const ok = await skiff(["pull", "-q", "--store", store, `${fx.host}/test/single:1`]);
      assertEquals(ok.code, 0, ok.stderr);

      // read-only: a clear line, and the store still reads
      await mustRun("mount", ["-o", "remount,ro", mnt]);
      const ro = await skiff(["pull", "--store", store, `${fx.host}/test/multi:1`]);
      assertEquals(ro.code, 1);
      assertMatch(
        ro.stderr.trim().split("\n").at(-1)!,
        /^skiff: Cannot write to store .*: Read-only file system/,
      );
      await assertValid(store, "read-only");
      await mustRun("skopeo", ["inspect", `oci:${store}:${fx.host}/test/single:1`]);
    } finally {
      await run("umount", [mnt]);
      await fx.stop();
    }
  },
});
