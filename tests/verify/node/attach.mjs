// Attaches a sigstore bundle to an image in a registry on 127.0.0.1 with @sigstore/oci (the code
// GitHub's attest actions use): through the referrers API when the registry has it, else through
// the tag schema's fallback index. Reads { imageName, imageDigest, bundle, annotations } on
// stdin (and credentials), prints the artifact's descriptor.
//
// Test tooling only (Node, loopback): never a part of skiff.

import oci from "@sigstore/oci";

const input = JSON.parse(
  await new Promise((resolve) => {
    const chunks = [];
    process.stdin.on("data", (d) => chunks.push(d));
    process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
  }),
);
const descriptor = await oci.attachArtifactToImage({
  imageName: input.imageName,
  imageDigest: input.imageDigest,
  artifact: Buffer.from(JSON.stringify(input.bundle)),
  mediaType: input.bundle.mediaType,
  annotations: input.annotations,
  credentials: input.credentials,
  fetchOpts: { retry: { retries: 0 } },
});
process.stdout.write(JSON.stringify(descriptor));
