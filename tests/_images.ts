// Test images made by the tests: real tar(+gzip) layers built with GNU tar, assembled into an OCI
// image layout, and pushed to the real registry with skopeo.

import { createHash } from "node:crypto";
import { tempDir } from "./_temp.ts";

export interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  bytes: Uint8Array;
}

export interface Layer extends Blob {
  /** Digest of the uncompressed tar. */
  diffId: string;
}

export interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

export function sha256(bytes: Uint8Array): string {
  return "sha256:" + createHash("sha256").update(bytes).digest("hex");
}

export async function run(
  cmd: string,
  args: string[],
  options: { stdin?: Uint8Array; cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.env ? { env: options.env } : {}),
  }).spawn();
  // feed stdin while stdout is drained, or a large output would fill the pipe and deadlock
  const feeding = options.stdin
    ? (async () => {
      const w = child.stdin.getWriter();
      await w.write(options.stdin!);
      await w.close();
    })()
    : Promise.resolve();
  const [out] = await Promise.all([child.output(), feeding]);
  return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
}

export async function mustRun(
  cmd: string,
  args: string[],
  options: { stdin?: Uint8Array; cwd?: string } = {},
): Promise<Uint8Array> {
  const r = await run(cmd, args, options);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** A tar of the given files (path -> content; a trailing '/' makes a directory). */
export async function tarOf(files: Record<string, string | Uint8Array>): Promise<Uint8Array> {
  const dir = await tempDir({ prefix: "skiff-layer-" });
  try {
    for (const [path, content] of Object.entries(files)) {
      const full = `${dir}/${path}`;
      if (path.endsWith("/")) {
        await Deno.mkdir(full, { recursive: true });
        continue;
      }
      await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
      if (typeof content === "string") await Deno.writeTextFile(full, content);
      else await Deno.writeFile(full, content);
    }
    return await mustRun("tar", [
      "--sort=name",
      "--mtime=@0",
      "--owner=0",
      "--group=0",
      "--numeric-owner",
      "-C",
      dir,
      "-cf",
      "-",
      ".",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  return await mustRun("gzip", ["-n", "-c", "-1"], { stdin: bytes });
}

export async function layerOf(
  files: Record<string, string | Uint8Array>,
  docker = false,
): Promise<Layer> {
  const tar = await tarOf(files);
  const gz = await gzip(tar);
  return {
    mediaType: docker
      ? "application/vnd.docker.image.rootfs.diff.tar.gzip"
      : "application/vnd.oci.image.layer.v1.tar+gzip",
    digest: sha256(gz),
    size: gz.byteLength,
    bytes: gz,
    diffId: sha256(tar),
  };
}

/** Bytes that do not compress: a SHA-256 counter stream, seeded. */
export function noise(size: number, seed = "skiff"): Uint8Array {
  const out = new Uint8Array(size);
  let block = createHash("sha256").update(seed).digest();
  for (let at = 0; at < size; at += block.byteLength) {
    out.set(block.subarray(0, Math.min(block.byteLength, size - at)), at);
    block = createHash("sha256").update(block).digest();
  }
  return out;
}

/** Builds an OCI image layout directory by hand, as a client of the image spec would. */
export class LayoutBuilder {
  readonly dir: string;
  #refs: Desc[] = [];

  constructor(dir: string) {
    this.dir = dir;
  }

  static async create(): Promise<LayoutBuilder> {
    const dir = await tempDir({ prefix: "skiff-src-" });
    await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
    await Deno.writeTextFile(`${dir}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
    const b = new LayoutBuilder(dir);
    await b.#writeIndex();
    return b;
  }

  async blob(bytes: Uint8Array, mediaType: string): Promise<Desc> {
    const digest = sha256(bytes);
    await Deno.writeFile(`${this.dir}/blobs/sha256/${digest.slice(7)}`, bytes);
    return { mediaType, digest, size: bytes.byteLength };
  }

  async json(value: unknown, mediaType: string): Promise<Desc> {
    return await this.blob(new TextEncoder().encode(JSON.stringify(value)), mediaType);
  }

  /** An image manifest with a config for the platform and the given layers. */
  async image(
    layers: Layer[],
    options: {
      os?: string;
      architecture?: string;
      variant?: string;
      docker?: boolean;
      annotations?: Record<string, string>;
    } = {},
  ): Promise<Desc> {
    const docker = options.docker ?? false;
    for (const l of layers) await this.blob(l.bytes, l.mediaType);
    const config = await this.json(
      {
        architecture: options.architecture ?? "amd64",
        os: options.os ?? "linux",
        ...(options.variant ? { variant: options.variant } : {}),
        config: { Env: ["PATH=/usr/bin:/bin"], Cmd: ["/bin/sh"] },
        rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
        history: layers.map(() => ({ created_by: "skiff test" })),
      },
      docker
        ? "application/vnd.docker.container.image.v1+json"
        : "application/vnd.oci.image.config.v1+json",
    );
    const mediaType = docker
      ? "application/vnd.docker.distribution.manifest.v2+json"
      : "application/vnd.oci.image.manifest.v1+json";
    const manifest = {
      schemaVersion: 2,
      mediaType,
      config,
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      ...(options.annotations ? { annotations: options.annotations } : {}),
    };
    const desc = await this.json(manifest, mediaType);
    return {
      ...desc,
      platform: {
        os: options.os ?? "linux",
        architecture: options.architecture ?? "amd64",
        ...(options.variant ? { variant: options.variant } : {}),
      },
    };
  }

  /** A BuildKit-style attestation manifest for `subject`. */
  async attestation(subject: Desc): Promise<Desc> {
    const statement = new TextEncoder().encode(JSON.stringify({
      _type: "https://in-toto.io/Statement/v0.1",
      predicateType: "https://spdx.dev/Document",
      subject: [{ name: "x", digest: { sha256: subject.digest.slice(7) } }],
      predicate: {},
    }));
    const layer = await this.blob(statement, "application/vnd.in-toto+json");
    const config = await this.json(
      {
        architecture: "unknown",
        os: "unknown",
        config: {},
        rootfs: { type: "layers", diff_ids: [layer.digest] },
      },
      "application/vnd.oci.image.config.v1+json",
    );
    const desc = await this.json({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config,
      layers: [{
        ...layer,
        annotations: { "in-toto.io/predicate-type": "https://spdx.dev/Document" },
      }],
    }, "application/vnd.oci.image.manifest.v1+json");
    return {
      ...desc,
      platform: { os: "unknown", architecture: "unknown" },
      annotations: {
        "vnd.docker.reference.digest": subject.digest,
        "vnd.docker.reference.type": "attestation-manifest",
      },
    };
  }

  async index(manifests: Desc[], docker = false): Promise<Desc> {
    const mediaType = docker
      ? "application/vnd.docker.distribution.manifest.list.v2+json"
      : "application/vnd.oci.image.index.v1+json";
    return await this.json({ schemaVersion: 2, mediaType, manifests }, mediaType);
  }

  async tag(name: string, desc: Desc): Promise<void> {
    const { platform: _p, annotations: _a, ...plain } = desc;
    this.#refs = this.#refs.filter((r) =>
      r.annotations?.["org.opencontainers.image.ref.name"] !== name
    );
    this.#refs.push({ ...plain, annotations: { "org.opencontainers.image.ref.name": name } });
    await this.#writeIndex();
  }

  async #writeIndex(): Promise<void> {
    await Deno.writeTextFile(
      `${this.dir}/index.json`,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: this.#refs,
      }),
    );
  }

  async remove(): Promise<void> {
    await Deno.remove(this.dir, { recursive: true });
  }
}

/** `skopeo copy` from an OCI layout to the registry (plain HTTP). */
export async function push(
  layoutDir: string,
  tag: string,
  destination: string,
  extra: string[] = [],
): Promise<void> {
  await mustRun("skopeo", [
    "copy",
    "--quiet",
    "--dest-tls-verify=false",
    ...extra,
    `oci:${layoutDir}:${tag}`,
    `docker://${destination}`,
  ]);
}

/** `skopeo copy --all --preserve-digests` between two registries (plain HTTP): `to` then names
 * what `from` names, byte for byte. */
export async function copyBetween(from: string, to: string): Promise<void> {
  await mustRun("skopeo", [
    "copy",
    "--quiet",
    "--all",
    "--preserve-digests",
    "--src-tls-verify=false",
    "--dest-tls-verify=false",
    `docker://${from}`,
    `docker://${to}`,
  ]);
}

/** sha256 of the manifest skopeo reads at `ref` (what any client of the registry sees), with
 * `user:password` when the registry needs them. */
export async function skopeoDigest(ref: string, creds?: string): Promise<string> {
  return sha256(
    await mustRun("skopeo", [
      "inspect",
      "--raw",
      "--tls-verify=false",
      ...(creds !== undefined ? ["--creds", creds] : []),
      `docker://${ref}`,
    ]),
  );
}
