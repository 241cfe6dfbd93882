// Bundles attached by @sigstore/oci (what GitHub's attest actions push) to an image in the real
// Distribution registry, which has no referrers API, so @sigstore/oci writes the tag schema's
// fallback index: skiff finds them with listReferrers, reads the referrer manifest and the bundle
// blob, and verifies the bundle for the image's digest. The registry-level wiring (verification
// in pull and copy) is not this layer's; this shows the bytes that layer will be given.

import { assert, assertEquals } from "../_assert.ts";
import { putBlob, putManifest } from "../_push.ts";
import { startRegistry } from "../_registry.ts";
import { mustRun } from "../_images.ts";
import { tempDir } from "../_temp.ts";
import { listReferrers } from "../../lib/registry/list_referrers.ts";
import { parseTrustedRoot } from "../../lib/verify/trusted_root.ts";
import { verifyBundle } from "../../lib/verify/verify_bundle.ts";
import { sigstoreFixtures, unbase64 } from "./_sigstore.ts";

const NODE_DIR = new URL("./node/", import.meta.url).pathname;
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const USER = "signer", PASSWORD = "attach-pa55";

async function attach(input: unknown): Promise<{ digest: string }> {
  const child = new Deno.Command("node", {
    args: [`${NODE_DIR}attach.mjs`],
    cwd: NODE_DIR,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_PROXY: "127.0.0.1,localhost", no_proxy: "127.0.0.1,localhost" },
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(input)));
  await w.close();
  const out = await child.output();
  if (!out.success) throw new Error(`attach.mjs: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("attach: bundles pushed by @sigstore/oci (tag fallback) are found and verify", async () => {
  const fx = await sigstoreFixtures();
  const repo = "verify/app";
  // the image goes in through an open registry; the attaching is done against the same storage
  // behind Basic auth, as @sigstore/oci signs in before it uploads (it takes an open registry's
  // 202 to a blob upload for a refusal)
  const storage = await tempDir();
  {
    await using open = await startRegistry({ storage });
    await putBlob(open.url, repo, new TextEncoder().encode("{}"));
    const pushed = await putManifest(
      open.url,
      repo,
      fx.digest,
      OCI_MANIFEST,
      unbase64(fx.manifest),
    );
    assertEquals(pushed, fx.digest);
  }
  const dir = await tempDir();
  await Deno.writeFile(`${dir}/htpasswd`, await mustRun("htpasswd", ["-Bbn", USER, PASSWORD]));
  await using registry = await startRegistry({
    storage,
    extraConfig: `auth:\n  htpasswd:\n    realm: skiff-test\n    path: ${dir}/htpasswd\n`,
  });
  const basic = { authorization: `Basic ${btoa(`${USER}:${PASSWORD}`)}` };

  const attached: string[] = [];
  for (
    const [name, predicateType] of [
      ["github-provenance", "https://slsa.dev/provenance/v1"],
      ["cosign-v3-signature", "https://sigstore.dev/cosign/sign/v1"],
    ] as const
  ) {
    const d = await attach({
      imageName: `${registry.host}/${repo}`,
      credentials: { username: USER, password: PASSWORD },
      imageDigest: fx.digest,
      bundle: fx.bundles[name]!.bundle,
      annotations: {
        "dev.sigstore.bundle.content": "dsse-envelope",
        "dev.sigstore.bundle.predicateType": predicateType,
      },
    });
    attached.push(d.digest);
  }

  const { subject, referrers } = await listReferrers(`${registry.host}/${repo}@${fx.digest}`, {
    artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json",
    credentials: { username: USER, password: PASSWORD },
  });
  assertEquals(subject, fx.digest);
  assertEquals(referrers.map((r) => r.digest).sort(), attached.sort());
  // Distribution 2.8 has no referrers API: @sigstore/oci wrote the tag schema's index
  assert(referrers.every((r) => r.source === "referrers-tag"));

  const trustedRoot = await parseTrustedRoot(JSON.stringify(fx.trustedRoot));
  const kinds: string[] = [];
  for (const r of referrers) {
    const manifest = await (await fetch(`${registry.url}/v2/${repo}/manifests/${r.digest}`, {
      headers: { accept: OCI_MANIFEST, ...basic },
    })).json();
    assertEquals(manifest.subject.digest, fx.digest);
    const layer = manifest.layers[0];
    const blob = new Uint8Array(
      await (await fetch(`${registry.url}/v2/${repo}/blobs/${layer.digest}`, { headers: basic }))
        .arrayBuffer(),
    );
    const hash = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", blob))).map((b) =>
      b.toString(16).padStart(2, "0")
    ).join("");
    assertEquals(`sha256:${hash}`, layer.digest);
    const identity = Object.values(fx.bundles).find((f) =>
      JSON.stringify(f.bundle) === new TextDecoder().decode(blob)
    )!.identity!;
    const result = await verifyBundle(blob, {
      digest: fx.digest,
      trustedRoot,
      identities: [identity],
    });
    kinds.push(`${result.kind} ${result.predicateType}`);
  }
  assertEquals(kinds.sort(), [
    "attestation https://slsa.dev/provenance/v1",
    "signature https://sigstore.dev/cosign/sign/v1",
  ]);
});
