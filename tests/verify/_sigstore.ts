// The verify tests' real signers and second opinion: sigstore-js under Node (tests/verify/node,
// installed by `npm ci --prefix tests/verify/node` in .ci/run and tests/_setup.ts). Node is test
// tooling only; skiff's verifier runs in Deno.
//
// - sigstoreFixtures(): node make_fixtures.mjs signs bundles and cosign v2 layers against fake
//   Fulcio, Rekor and TSA servers on 127.0.0.1 (started and stopped by that one process), once
//   per test module.
// - sigstoreJs(cases): node differential.mjs verifies the same inputs with @sigstore/verify.

const NODE_DIR = new URL("./node/", import.meta.url).pathname;

/** A bundle fixture: the bundle JSON and how it must be verified. */
export interface BundleFixture {
  bundle: Record<string, unknown>;
  identity?: { subject?: string; issuer?: string };
  keyPem?: string;
  artifact?: boolean;
  tlogThreshold?: number;
}

/** A cosign v2 layer fixture. */
export interface CosignFixture {
  payload: string;
  mediaType: string;
  annotations: Record<string, string>;
  identity?: { subject?: string; issuer?: string };
  keyPem?: string;
  tlogThreshold?: number;
  timestampThreshold?: number;
}

/** Everything make_fixtures.mjs prints. */
export interface SigstoreFixtures {
  trustedRoot: Record<string, unknown>;
  manifest: string;
  digest: string;
  image: string;
  bundles: Record<string, BundleFixture>;
  cosign: Record<string, CosignFixture>;
}

async function node(script: string, input?: string): Promise<string> {
  try {
    await Deno.stat(`${NODE_DIR}node_modules/@sigstore/verify`);
  } catch {
    throw new Error(
      `the verify tests need sigstore-js: run "npm ci --prefix tests/verify/node" (deno task test does)`,
    );
  }
  const child = new Deno.Command("node", {
    args: [`${NODE_DIR}${script}`],
    cwd: NODE_DIR,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    // loopback only: no proxy may take the signers' requests elsewhere
    env: { NO_PROXY: "127.0.0.1,localhost", no_proxy: "127.0.0.1,localhost" },
  }).spawn();
  if (input !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(input));
    await w.close();
  }
  const out = await child.output();
  if (!out.success) {
    throw new Error(`node ${script} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

let fixtures: Promise<SigstoreFixtures> | undefined;

/** The fixtures, made once per test module by real signers. */
export function sigstoreFixtures(): Promise<SigstoreFixtures> {
  fixtures ??= node("make_fixtures.mjs").then((s) => JSON.parse(s) as SigstoreFixtures);
  return fixtures;
}

/** One case for sigstore-js (see differential.mjs). */
export interface SigstoreJsCase {
  name: string;
  trustedRoot: Record<string, unknown>;
  bundle: Record<string, unknown>;
  digest: string;
  binding: "statement" | "message" | "simple-signing";
  artifact?: string;
  keyPem?: string;
  identity?: Record<string, unknown>;
  predicateTypes?: string[];
  tlogThreshold?: number;
  ctlogThreshold?: number;
  timestampThreshold?: number;
}

/** sigstore-js's verdict on each case, by name. */
export async function sigstoreJs(
  cases: SigstoreJsCase[],
): Promise<Map<string, { ok: boolean; error?: string }>> {
  const out = JSON.parse(await node("differential.mjs", JSON.stringify({ cases }))) as {
    name: string;
    ok: boolean;
    error?: string;
  }[];
  return new Map(out.map((r) => [r.name, r]));
}

/** Base64 to bytes. */
export function unbase64(s: string): Uint8Array {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

/** Bytes to base64. */
export function base64(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}

/**
 * Checks sigstore-js's verdict against skiff's: the same, or the opposite where `differs` says
 * why the specifications make sigstore-js wrong (so the note must stay true).
 */
export function assertAgrees(
  js: { ok: boolean; error?: string } | undefined,
  skiffAccepts: boolean,
  differs?: string,
): void {
  if (!js) throw new Error("sigstore-js gave no verdict for this case");
  const said = `sigstore-js ${js.ok ? "accepts" : `rejects (${js.error})`}, skiff ${
    skiffAccepts ? "accepts" : "rejects"
  }`;
  if (differs !== undefined && js.ok === skiffAccepts) {
    throw new Error(`${said}: they were expected to differ (${differs})`);
  }
  if (differs === undefined && js.ok !== skiffAccepts) throw new Error(said);
}
