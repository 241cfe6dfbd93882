// skiff's policy evaluation against skopeo's, on the same files: images signed by the real
// `skopeo copy --sign-by` (GnuPG keys of a throwaway home) into the real Distribution registry,
// signatures in a file:// lookaside that a registries.d file names, and the same policy.json
// given to `skopeo copy --policy`. For every policy x image, both must accept or both must
// refuse; the few places where skopeo 1.9 (Debian 12, containers/image 5.23) and skiff are meant
// to differ are listed, each with why.

import { assert, assertEquals } from "../_assert.ts";
import { layerOf, LayoutBuilder, run } from "../_images.ts";
import { type RegistryServer, startRegistry } from "../_registry.ts";
import { tempDir } from "../_temp.ts";
import { Gpg, type GpgKey } from "./_gpg.ts";
import { loadPolicy } from "../../lib/verify/load_policy.ts";
import { evaluatePolicy } from "../../lib/verify/evaluate_policy.ts";
import { loadRegistriesD, lookasideBase } from "../../lib/verify/registries_d.ts";
import { readLookaside } from "../../lib/verify/read_lookaside.ts";
import { ATOMIC_SIGNATURE_TYPE } from "../../lib/verify/simple_signing.ts";

const enc = (s: string) => new TextEncoder().encode(s);

interface World {
  gpg: Gpg;
  registry: RegistryServer;
  dir: string;
  regd: string;
  sigs: string;
  keys: Record<string, GpgKey & { file: string }>;
  /** image name (repo:tag) -> manifest digest */
  images: Record<string, string>;
}

/** The payload skopeo signs, for signatures the test makes itself. */
function payload(digest: string, reference: string): Uint8Array {
  return enc(JSON.stringify({
    critical: {
      identity: { "docker-reference": reference },
      image: { "docker-manifest-digest": digest },
      type: ATOMIC_SIGNATURE_TYPE,
    },
    optional: { creator: "skiff test", timestamp: Math.floor(Date.now() / 1000) },
  }));
}

async function sigDir(w: World, repo: string, digest: string): Promise<string> {
  const d = `${w.sigs}/${repo}@${digest.replace(":", "=")}`;
  await Deno.mkdir(d, { recursive: true });
  return d;
}

async function setup(): Promise<World> {
  const gpg = await Gpg.create();
  const registry = await startRegistry();
  const dir = await tempDir({ prefix: "skiff-policy-" });
  const regd = `${dir}/registries.d`, sigs = `${dir}/sigs`;
  await Deno.mkdir(regd);
  await Deno.mkdir(sigs);
  await Deno.writeTextFile(
    `${regd}/lookaside.yaml`,
    `# the tests' lookaside\ndefault-docker:\n  lookaside: file://${sigs}\n`,
  );
  const keys: World["keys"] = {};
  const key = async (name: string, algo: string, options = {}) => {
    const k = await gpg.makeKey(algo, { name, ...options });
    const file = `${dir}/${name}.gpg`;
    await Deno.writeFile(file, await gpg.exportKey(k.email, name === "ed"));
    keys[name] = { ...k, file };
  };
  await key("rsa", "rsa2048");
  await key("ed", "ed25519");
  await key("p256", "nistp256");
  await key("sub", "ed25519", { subkeyAlgo: "ed25519" });
  await key("expired", "ed25519", { at: "20240101T000000", expire: "1y" });
  await key("revoked", "ed25519");
  const w: World = { gpg, registry, dir, regd, sigs, keys, images: {} };

  const b = await LayoutBuilder.create();
  try {
    let n = 0;
    const push = async (name: string, signer: string | undefined) => {
      const img = await b.image([await layerOf({ "id.txt": `${name} ${n++}` })]);
      await b.tag("t", img);
      const args = ["copy", "--quiet", "--registries.d", regd, "--dest-tls-verify=false"];
      if (signer) args.push("--sign-by", keys[signer]!.fingerprint);
      const r = await run("skopeo", [
        ...args,
        `oci:${b.dir}:t`,
        `docker://${registry.host}/${name}`,
      ], {
        env: gpg.env,
      });
      if (r.code !== 0) throw new Error(`skopeo push ${name}: ${r.stderr}`);
      w.images[name] = img.digest;
    };
    await push("ns/app:rsa", "rsa");
    await push("ns/app:ed", "ed");
    await push("ns/app:p256", "p256");
    await push("ns/app:subkey", "sub");
    await push("ns/app:unsigned", undefined);
    await push("other/app:1", undefined);
    await push("ns/app:expired", undefined);
    await push("ns/app:revoked", "revoked");
    await push("ns/app:wrongdigest", undefined);
    await push("ns/app:garbage", undefined);
    await push("ns/app:truncated", undefined);
    await push("ns/app:twosigs", undefined);
    await push("ns/app:altered", undefined);
    await push("ns/app:sha1", undefined);
    await push("ns/app:dupes", "ed");
  } finally {
    await b.remove();
  }
  const ref = (name: string) => `${registry.host}/${name}`;
  const img = w.images;

  // a signature replayed on another name: ns/app:rsa's signature under other/app:1's digest
  const replay = await gpg.sign(keys.rsa!.email, payload(img["other/app:1"]!, ref("ns/app:rsa")));
  await Deno.writeFile(`${await sigDir(w, "other/app", img["other/app:1"]!)}/signature-1`, replay);
  // a key that expired after it signed (signed while valid, with gpg's clock set back)
  await Deno.writeFile(
    `${await sigDir(w, "ns/app", img["ns/app:expired"]!)}/signature-1`,
    await gpg.sign(
      keys.expired!.email,
      payload(img["ns/app:expired"]!, ref("ns/app:expired")),
      [],
      "20240601T000000",
    ),
  );
  // a key revoked after it signed: the exported key file carries the revocation
  await gpg.revoke(keys.revoked!.fingerprint);
  await Deno.writeFile(keys.revoked!.file, await gpg.exportKey(keys.revoked!.email));
  // a valid signature of another digest
  await Deno.writeFile(
    `${await sigDir(w, "ns/app", img["ns/app:wrongdigest"]!)}/signature-1`,
    await gpg.sign(keys.rsa!.email, payload(img["ns/app:rsa"]!, ref("ns/app:wrongdigest"))),
  );
  // not a signature at all: skopeo fails the read, skiff too
  await Deno.writeFile(
    `${await sigDir(w, "ns/app", img["ns/app:garbage"]!)}/signature-1`,
    enc("<html>not found</html>"),
  );
  // a good signature cut short
  const good = await gpg.sign(
    keys.rsa!.email,
    payload(img["ns/app:truncated"]!, ref("ns/app:truncated")),
  );
  await Deno.writeFile(
    `${await sigDir(w, "ns/app", img["ns/app:truncated"]!)}/signature-1`,
    good.subarray(0, good.length - 7),
  );
  // an untrusted key's signature first, then a trusted one
  const two = await sigDir(w, "ns/app", img["ns/app:twosigs"]!);
  await Deno.writeFile(
    `${two}/signature-1`,
    await gpg.sign(keys.p256!.email, payload(img["ns/app:twosigs"]!, ref("ns/app:twosigs"))),
  );
  await Deno.writeFile(
    `${two}/signature-2`,
    await gpg.sign(keys.rsa!.email, payload(img["ns/app:twosigs"]!, ref("ns/app:twosigs"))),
  );
  // the payload altered after signing (uncompressed, so the JSON is there to change)
  const plain = await gpg.sign(
    keys.rsa!.email,
    payload(img["ns/app:altered"]!, ref("ns/app:altered")),
    ["--compress-algo", "none"],
  );
  const text = new TextDecoder("latin1").decode(plain);
  const at = text.indexOf("skiff test");
  plain[at] = "S".charCodeAt(0);
  await Deno.writeFile(`${await sigDir(w, "ns/app", img["ns/app:altered"]!)}/signature-1`, plain);
  // SHA-1
  await Deno.writeFile(
    `${await sigDir(w, "ns/app", img["ns/app:sha1"]!)}/signature-1`,
    await gpg.sign(keys.rsa!.email, payload(img["ns/app:sha1"]!, ref("ns/app:sha1")), [
      "--digest-algo",
      "SHA1",
    ]),
  );
  // the same signature twice
  const dupes = await sigDir(w, "ns/app", img["ns/app:dupes"]!);
  await Deno.copyFile(`${dupes}/signature-1`, `${dupes}/signature-2`);
  return w;
}

type PolicyDoc = Record<string, unknown>;

function policies(w: World): Record<string, PolicyDoc> {
  const host = w.registry.host;
  const signedBy = (key: string, extra: Record<string, unknown> = {}) => ({
    type: "signedBy",
    keyType: "GPGKeys",
    keyPath: w.keys[key]!.file,
    ...extra,
  });
  const reject = [{ type: "reject" }];
  return {
    "accept anything": { default: [{ type: "insecureAcceptAnything" }] },
    "reject": { default: reject },
    "rsa for ns": {
      default: reject,
      transports: { docker: { [`${host}/ns`]: [signedBy("rsa")] } },
    },
    "rsa or ed (keyPaths)": {
      default: reject,
      transports: {
        docker: {
          [host]: [{
            type: "signedBy",
            keyType: "GPGKeys",
            keyPaths: [w.keys.rsa!.file, w.keys.ed!.file],
          }],
        },
      },
    },
    "ed as keyData": {
      default: reject,
      transports: {
        docker: {
          "": [{
            type: "signedBy",
            keyType: "GPGKeys",
            keyData: Deno.readFileSync(w.keys.ed!.file).toBase64(),
          }],
        },
      },
    },
    "p256, wildcard scope": {
      default: reject,
      transports: { docker: { "*.0.0.1": [signedBy("p256")] } },
    },
    "subkey holder": { default: reject, transports: { docker: { [host]: [signedBy("sub")] } } },
    "expired key": { default: reject, transports: { docker: { [host]: [signedBy("expired")] } } },
    "revoked key": { default: reject, transports: { docker: { [host]: [signedBy("revoked")] } } },
    "rsa and ed, both": { default: [signedBy("rsa"), signedBy("ed")] },
    "most specific scope wins": {
      default: reject,
      transports: {
        docker: {
          [`${host}/ns/app:unsigned`]: [{ type: "insecureAcceptAnything" }],
          [`${host}/ns/app`]: [signedBy("ed")],
          [`${host}/ns`]: [{ type: "insecureAcceptAnything" }],
          [host]: reject,
        },
      },
    },
    "rsa, matchRepository": {
      default: [signedBy("rsa", { signedIdentity: { type: "matchRepository" } })],
    },
    "rsa, matchExact": { default: [signedBy("rsa", { signedIdentity: { type: "matchExact" } })] },
    "rsa, exactReference ns/app:rsa": {
      default: [signedBy("rsa", {
        signedIdentity: { type: "exactReference", dockerReference: `${host}/ns/app:rsa` },
      })],
    },
    "rsa, exactRepository ns/app": {
      default: [signedBy("rsa", {
        signedIdentity: { type: "exactRepository", dockerRepository: `${host}/ns/app` },
      })],
    },
    "rsa, remap other -> ns": {
      default: [signedBy("rsa", {
        signedIdentity: {
          type: "remapIdentity",
          prefix: `${host}/other`,
          signedPrefix: `${host}/ns`,
        },
      })],
    },
    "other transport's rules do not apply": {
      default: [signedBy("rsa")],
      transports: {
        oci: { "": [{ type: "insecureAcceptAnything" }] },
        "skiff-policy-extension": {},
      },
    },
  };
}

/**
 * Where skopeo 1.9 and skiff are meant to disagree, and how. Each is a place where skiff follows
 * newer containers/image or a stricter rule; the test fails if the difference does not show, or
 * shows another way.
 */
function expectedDifference(
  policy: string,
  image: string,
  skopeo: boolean,
  skiff: { ok: boolean; why: string },
): string | undefined {
  // containers/image 5.23 compares the signing key's fingerprint with the trusted primary keys'
  // only; since "Also accept subkey signatures in simple signing" (2025) it maps a signing subkey
  // to its primary key, as skiff does
  if (policy === "subkey holder" && image === "ns/app:subkey") {
    return !skopeo && skiff.ok ? "skopeo 1.9 refuses signatures by a signing subkey" : undefined;
  }
  // gpg 2.2 still accepts SHA-1 data signatures; skiff, as sequoia's standard policy, does not
  if (image === "ns/app:sha1" && skopeo) {
    return !skiff.ok && skiff.why.includes("SHA-1")
      ? "skiff refuses SHA-1 data signatures"
      : undefined;
  }
  return undefined;
}

async function skopeoAccepts(w: World, policy: string, image: string): Promise<boolean> {
  const out = await tempDir({ prefix: "skiff-skopeo-out-" });
  try {
    const r = await run("skopeo", [
      "copy",
      "--quiet",
      // the policy alone decides: without this, skopeo also copies the lookaside's signatures and
      // fails on one it cannot parse even where the policy reads none (insecureAcceptAnything)
      "--remove-signatures",
      "--registries.d",
      w.regd,
      "--policy",
      policy,
      "--src-tls-verify=false",
      `docker://${w.registry.host}/${image}`,
      `dir:${out}/img`,
    ]);
    return r.code === 0;
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

async function skiffAccepts(
  w: World,
  policyPath: string,
  image: string,
): Promise<{ ok: boolean; why: string }> {
  const policy = await loadPolicy(policyPath);
  const name = `${w.registry.host}/${image}`;
  const config = await loadRegistriesD({ directory: w.regd });
  const base = lookasideBase(config, name);
  try {
    const verdict = await evaluatePolicy(
      policy,
      { transport: "docker", name, manifestDigest: w.images[image]! },
      { gpg: () => readLookaside(base, w.images[image]!) },
    );
    const failed = verdict.requirements.find((r) => !r.satisfied);
    return { ok: verdict.accepted, why: failed?.reason ?? "accepted" };
  } catch (e) {
    return { ok: false, why: (e as Error).message };
  }
}

Deno.test({
  name: "policy: skiff and skopeo copy --policy agree on every policy x image",

  async fn() {
    const w = await setup();
    try {
      const table = policies(w);
      const rows: string[] = [];
      const disagreements: string[] = [];
      let accepted = 0, refused = 0;
      const jobs: (() => Promise<void>)[] = [];
      for (const [pname, doc] of Object.entries(table)) {
        const path = `${w.dir}/${pname.replace(/[^a-z0-9]+/gi, "_")}.json`;
        await Deno.writeTextFile(path, JSON.stringify(doc));
        for (const image of Object.keys(w.images)) {
          jobs.push(async () => {
            const [skopeo, skiff] = await Promise.all([
              skopeoAccepts(w, path, image),
              skiffAccepts(w, path, image),
            ]);
            const key = `${pname}|${image}`;
            rows.push(
              `${key}: skopeo ${skopeo ? "accepts" : "refuses"}, skiff ${
                skiff.ok ? "accepts" : "refuses"
              } (${skiff.why})`,
            );
            if (skiff.ok) accepted++;
            else refused++;
            if (skopeo !== skiff.ok && !expectedDifference(pname, image, skopeo, skiff)) {
              disagreements.push(
                `${key}: skopeo ${skopeo ? "accepts" : "refuses"}, skiff ${
                  skiff.ok ? "accepts" : "refuses"
                }: ${skiff.why}`,
              );
            }
          });
        }
      }
      // a few at a time: each skopeo run is a process
      const queue = [...jobs];
      await Promise.all(Array.from({ length: 4 }, async () => {
        for (let job = queue.shift(); job; job = queue.shift()) await job();
      }));
      if (Deno.env.get("SKIFF_TEST_VERBOSE") === "1") console.log(rows.sort().join("\n"));
      assertEquals(disagreements, []);
      // the expected differences did show
      for (const k of ["subkey holder|ns/app:subkey", "rsa for ns|ns/app:sha1"]) {
        const row = rows.find((r) => r.startsWith(`${k}:`))!;
        assert(/skopeo (accepts|refuses), skiff (accepts|refuses)/.test(row), row);
        const [, a, b] = /skopeo (\w+), skiff (\w+)/.exec(row)!;
        assert(a !== b, row);
      }
      // the table exercises both outcomes a lot
      assert(accepted > 30 && refused > 100, `${accepted} accepted, ${refused} refused`);
    } finally {
      await w.gpg.close();
      await w.registry.stop();
    }
  },
});
