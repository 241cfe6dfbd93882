// Annotation keys the OCI image spec defines and skiff reads or writes.

/**
 * The annotation that names an image in an OCI layout's `index.json` (`oci:DIR:NAME` in
 * skopeo, `--image DIR:NAME` in umoci).
 *
 * @example Naming an index.json entry
 * ```ts
 * import { REF_NAME_ANNOTATION } from "./annotations.ts";
 * import assert from "node:assert/strict";
 *
 * const entry = { annotations: { [REF_NAME_ANNOTATION]: "docker.io/library/alpine:3.20" } };
 * assert.equal(entry.annotations["org.opencontainers.image.ref.name"], "docker.io/library/alpine:3.20");
 * ```
 */
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";
