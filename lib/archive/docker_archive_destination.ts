/**
 * A docker-archive as an image destination, in the form `docker save` writes since Docker 25:
 * the OCI layout both formats share, plus `manifest.json` (`Config`, `RepoTags`, `Layers`: paths
 * into `blobs/`), which `docker load`, `podman load` and skopeo's `docker-archive:` read. One
 * image manifest per image (one platform), with an image config.
 *
 * @module
 */

import { MediaType } from "../oci/media_types.ts";
import type { Descriptor } from "../oci/parse_manifest.ts";
import { ArchiveImageDestination, blobEntry, jsonBytes } from "./archive_image_destination.ts";
import type { TarWriter } from "../tar/tar_writer.ts";

/** One `manifest.json` item of a docker archive. */
export interface DockerArchiveItem {
  /** The config's path in the archive. */
  Config: string;
  /** The image's names (`registry/repository:tag`). */
  RepoTags: string[];
  /** The layers' paths in the archive, base first. */
  Layers: string[];
}

/**
 * Writes images into a docker-archive (see {@linkcode ArchiveImageDestination} for the order of
 * calls). An image that is not one image manifest with an image config, or whose layers are not
 * all in the archive (a non-distributable layer), is refused when it is listed.
 *
 * @example Write a docker archive of one stored image
 * ```ts ignore
 * import { DockerArchiveDestination } from "./docker_archive_destination.ts";
 * import { TarWriter } from "../tar/tar_writer.ts";
 * import { copyImage } from "../image/copy_image.ts";
 * import { LayoutImageSource } from "../store/layout_image_source.ts";
 * import { Store } from "../store/store.ts";
 * import { hostPlatform } from "../oci/choose_platform.ts";
 *
 * using file = await Deno.open("app.tar", { write: true, create: true, truncate: true });
 * const writer = file.writable.getWriter();
 * const dest = new DockerArchiveDestination(new TarWriter(writer), "app.tar");
 * await dest.begin();
 * const name = "docker.io/library/alpine:3.20";
 * const source = new LayoutImageSource(await Store.open("./images"));
 * const r = await copyImage(source, name, dest, { platforms: [hostPlatform()], jobs: 1 });
 * await dest.addImage(r.manifests[r.manifests.length - 1]!, [name]);
 * await dest.finish();
 * await writer.close();
 * ```
 */
export class DockerArchiveDestination extends ArchiveImageDestination {
  /** Always `docker`. */
  readonly format = "docker" as const;
  #items: DockerArchiveItem[] = [];

  /**
   * Makes a destination over a tar writer.
   *
   * @param tar Where the archive goes.
   * @param name The archive's name, for messages.
   */
  constructor(tar: TarWriter, name: string) {
    super(tar, name);
  }

  /**
   * Adds the image's `manifest.json` item (an image of the same config and layers gets the
   * names: one item).
   *
   * @param root The image's root as copied.
   * @param names Its names.
   * @throws {Error} When it is not one image manifest with an image config, or a layer is not in
   *   the archive.
   */
  protected override describe(root: Descriptor, names: readonly string[]): void {
    const refuse = (why: string): never => {
      throw new Error(`Cannot save ${names[0] ?? root.digest} as a docker archive: ${why}`);
    };
    const manifest = this.manifestOf(root.digest);
    if (!manifest) {
      return refuse(
        `it is not one image (${root.mediaType}); choose a platform or use --format oci`,
      );
    }
    const config = manifest.config.mediaType;
    if (config !== MediaType.OciConfig && config !== MediaType.DockerConfig) {
      refuse(`its config is ${JSON.stringify(config)}, not an image config`);
    }
    for (const layer of manifest.layers) {
      if (!this.holds(layer.digest)) {
        refuse(`layer ${layer.digest} is not in it (a non-distributable layer)`);
      }
    }
    const Config = blobEntry(manifest.config.digest);
    const Layers = manifest.layers.map((l) => blobEntry(l.digest));
    const same = this.#items.find((i) =>
      i.Config === Config && i.Layers.join("\n") === Layers.join("\n")
    );
    for (const item of this.#items) {
      item.RepoTags = item.RepoTags.filter((t) => !names.includes(t));
    }
    if (same) {
      same.RepoTags.push(...names);
    } else {
      this.#items.push({ Config, RepoTags: [...names], Layers });
    }
  }

  /**
   * `manifest.json`.
   *
   * @returns Its path and bytes.
   */
  protected override tableOfContents(): [string, Uint8Array][] {
    return [["manifest.json", jsonBytes(this.#items)]];
  }
}
