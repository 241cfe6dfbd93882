// Pushes an image to the real registry through its HTTP API (POST, PUT ?digest=, PUT manifest),
// for images skopeo will not push as they are: layers of any media type, a config that lies.

import { sha256 } from "./_images.ts";

export interface PushLayer {
  mediaType: string;
  bytes: Uint8Array;
  /** The diff_id written in the config (default: the digest of `bytes`, right for plain tar). */
  diffId?: string;
}

export interface Pushed {
  digest: string;
  layers: { mediaType: string; digest: string; size: number }[];
}

/** Uploads one blob (POST, then PUT ?digest=); returns its digest. */
export async function putBlob(url: string, repo: string, bytes: Uint8Array): Promise<string> {
  const digest = sha256(bytes);
  const start = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  await start.body?.cancel();
  if (start.status !== 202) throw new Error(`upload start: ${start.status}`);
  const location = new URL(start.headers.get("location")!, url);
  location.searchParams.set("digest", digest);
  const put = await fetch(location, {
    method: "PUT",
    headers: { "content-type": "application/octet-stream" },
    body: bytes as Uint8Array<ArrayBuffer>,
  });
  await put.body?.cancel();
  if (put.status !== 201) throw new Error(`upload ${digest}: ${put.status}`);
  return digest;
}

/** Pushes the layers, a config listing `diffIds` and an OCI manifest, tagged `tag`. */
export async function pushImage(
  url: string,
  repo: string,
  tag: string,
  layers: PushLayer[],
): Promise<Pushed> {
  const descs = [];
  for (const layer of layers) {
    const digest = await putBlob(url, repo, layer.bytes);
    descs.push({ mediaType: layer.mediaType, digest, size: layer.bytes.length });
  }
  const config = new TextEncoder().encode(JSON.stringify({
    architecture: Deno.build.arch === "aarch64" ? "arm64" : "amd64",
    os: "linux",
    config: {},
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId ?? sha256(l.bytes)) },
  }));
  const configDigest = await putBlob(url, repo, config);
  const manifest = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: configDigest,
      size: config.length,
    },
    layers: descs,
  }));
  const res = await fetch(`${url}/v2/${repo}/manifests/${tag}`, {
    method: "PUT",
    headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
    body: manifest as Uint8Array<ArrayBuffer>,
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`manifest ${repo}:${tag}: ${res.status} ${text}`);
  return { digest: sha256(manifest), layers: descs };
}

/** Puts raw manifest bytes under `reference` (a tag or a digest); returns their digest. */
export async function putManifest(
  url: string,
  repo: string,
  reference: string,
  mediaType: string,
  bytes: Uint8Array,
): Promise<string> {
  const res = await fetch(`${url}/v2/${repo}/manifests/${reference}`, {
    method: "PUT",
    headers: { "content-type": mediaType },
    body: bytes as Uint8Array<ArrayBuffer>,
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`manifest ${repo}:${reference}: ${res.status} ${text}`);
  return sha256(bytes);
}
