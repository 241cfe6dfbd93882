// Referrers pushed as raw manifests to the real registry (Distribution 2.8 has no referrers API,
// so they are kept the way clients keep them there): an OCI artifact with a `subject`, the
// fallback index tagged `sha256-<hex>` that lists artifacts, and a cosign-style signature tagged
// `sha256-<hex>.sig`.

import { sha256 } from "./_images.ts";
import { putBlob, putManifest } from "./_push.ts";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const EMPTY = "application/vnd.oci.empty.v1+json";
const enc = new TextEncoder();

export interface PushedDesc {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
}

function json(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
}

/** The descriptor of what `ref` names in `repo`. */
export async function describe(url: string, repo: string, ref: string): Promise<PushedDesc> {
  const res = await fetch(`${url}/v2/${repo}/manifests/${ref}`, {
    headers: {
      accept: [
        OCI_MANIFEST,
        OCI_INDEX,
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
      ].join(", "),
    },
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`${repo}:${ref}: ${res.status}`);
  const { mediaType } = JSON.parse(new TextDecoder().decode(bytes)) as { mediaType: string };
  return { mediaType, digest: sha256(bytes), size: bytes.length };
}

/** An OCI artifact of `artifactType` whose subject is `subject`, pushed by digest. */
export async function pushArtifact(
  url: string,
  repo: string,
  subject: PushedDesc,
  artifactType: string,
  content: string,
): Promise<PushedDesc> {
  const empty = enc.encode("{}");
  const emptyDigest = await putBlob(url, repo, empty);
  const body = enc.encode(content);
  const bodyDigest = await putBlob(url, repo, body);
  const bytes = json({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: { mediaType: EMPTY, digest: emptyDigest, size: empty.length },
    layers: [{ mediaType: artifactType, digest: bodyDigest, size: body.length }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
  });
  const digest = await putManifest(url, repo, sha256(bytes), OCI_MANIFEST, bytes);
  return { mediaType: OCI_MANIFEST, digest, size: bytes.length, artifactType };
}

/** The fallback index of `subject` (tag `sha256-<hex>`), listing `entries`. */
export async function pushFallback(
  url: string,
  repo: string,
  subject: string,
  entries: PushedDesc[],
): Promise<string> {
  return await putManifest(
    url,
    repo,
    `sha256-${subject.slice("sha256:".length)}`,
    OCI_INDEX,
    json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries }),
  );
}

/** A cosign-style signature of `subject`, tagged `sha256-<hex>.sig`; returns its digest. */
export async function pushSignature(url: string, repo: string, subject: string): Promise<string> {
  const empty = enc.encode("{}");
  const emptyDigest = await putBlob(url, repo, empty);
  const payload = json({ critical: { image: { "docker-manifest-digest": subject } } });
  const payloadDigest = await putBlob(url, repo, payload);
  const bytes = json({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: EMPTY, digest: emptyDigest, size: 2 },
    layers: [{
      mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
      digest: payloadDigest,
      size: payload.length,
      annotations: { "dev.cosignproject.cosign/signature": `MEUCIQ-not-real-${subject}` },
    }],
  });
  return await putManifest(
    url,
    repo,
    `sha256-${subject.slice("sha256:".length)}.sig`,
    OCI_MANIFEST,
    bytes,
  );
}
