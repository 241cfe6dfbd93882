/**
 * An oci-archive as an image destination: an OCI image layout in a tar (`oci-layout`,
 * `blobs/<alg>/<hex>`, `index.json` naming each image), which skopeo's `oci-archive:`, podman and
 * `skiff load` read. Every digest is kept: an index stays an index.
 *
 * @module
 */

import { ArchiveImageDestination } from "./archive_image_destination.ts";
import type { TarWriter } from "../tar/tar_writer.ts";

/**
 * Writes images into an oci-archive (see {@linkcode ArchiveImageDestination} for the order of
 * calls): the layout both formats share, and nothing more.
 *
 * @example Write an oci-archive of one stored image, every platform
 * ```ts ignore
 * import { OciArchiveDestination } from "./oci_archive_destination.ts";
 * import { TarWriter } from "../tar/tar_writer.ts";
 * import { copyImage } from "../image/copy_image.ts";
 * import { LayoutImageSource } from "../store/layout_image_source.ts";
 * import { Store } from "../store/store.ts";
 *
 * using file = await Deno.open("app.tar", { write: true, create: true, truncate: true });
 * const writer = file.writable.getWriter();
 * const dest = new OciArchiveDestination(new TarWriter(writer), "app.tar");
 * await dest.begin();
 * const name = "docker.io/library/alpine:3.20";
 * const r = await copyImage(new LayoutImageSource(await Store.open("./images")), name, dest);
 * await dest.addImage(r.manifests[r.manifests.length - 1]!, [name]);
 * await dest.finish();
 * await writer.close();
 * ```
 */
export class OciArchiveDestination extends ArchiveImageDestination {
  /** Always `oci`. */
  readonly format = "oci" as const;

  /**
   * Makes a destination over a tar writer.
   *
   * @param tar Where the archive goes.
   * @param name The archive's name, for messages.
   */
  constructor(tar: TarWriter, name: string) {
    super(tar, name);
  }
}
