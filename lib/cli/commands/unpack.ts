// skiff unpack REF DIR, or REF FILE as an EROFS or ext4 image

import { escapeText, safe } from "../../progress/escape_text.ts";
import { formatBytes } from "../../progress/format.ts";
import { LineRenderer } from "../line_renderer.ts";
import { DEBUG_OPTION, JSON_OPTION, PULLING_OPTIONS, QUIET_OPTION, reword } from "../_options.ts";
import {
  exclusive,
  jobsFlag,
  jsonFlag,
  platformFlag,
  printJson,
  remoteOptions,
  storedImageArg,
  storePath,
} from "../_shared.ts";
import { type Command, type Flags, UsageError } from "../command.ts";

/** `skiff unpack`. */
export const unpackCommand: Command = {
  name: "unpack",
  args: "REF DIR",
  summary: "unpack an image into a directory, or an EROFS or ext4 image",
  usage: [
    "REF DIR [options]",
    "--format erofs REF FILE [options]",
    "--format ext4 REF FILE [--size N | --free N] [--journal] [options]",
    "--format erofs --layers DIR REF [options]",
  ],
  description: `Unpacks REF into DIR as a root filesystem, the way a container runtime builds it:
    layers in order, whiteouts applied, nothing written outside DIR. When the store does not have
    REF, it is pulled and unpacked at once: each layer is applied while it downloads (and ends
    verified in the store). DIR must be absent or empty; it appears only once every layer was
    applied and verified. REF may be a stored image's ID (sha256:<hex>, as skiff images shows it):
    from the store only.

    With --format erofs, writes the same tree as an EROFS disk image FILE (absent, or a block
    device to write it into), for microVMs and the kernel's read-only mount: owners, devices and
    xattrs as the image says, whoever runs skiff; the same bytes on every run.

    With --format ext4, the same as an ext4 disk image FILE (absent, or a block device), just big
    enough unless --size or --free says otherwise, without a journal unless --journal.

    With --format erofs --layers DIR, writes one EROFS image per layer into DIR, named by the
    layer's diff_id and reused when there, whiteouts kept as overlayfs reads them; a second stdout
    line lists them top first, in overlayfs lowerdir order.

    Prints one line to stdout: the canonical name and the digest of the manifest.`,
  options: {
    format: { type: "string", value: "F", help: "directory (default), erofs or ext4" },
    size: {
      type: "string",
      value: "N",
      help: `ext4: the image's size in bytes, K/M/G/T suffixes, whole 4 KiB blocks (default: what
        the tree needs; too small for the tree is an error)`,
    },
    free: {
      type: "string",
      value: "N",
      help: `ext4: free space to add to the image, whole 4 KiB blocks, an inode per 16 KiB of it
        (default: none)`,
    },
    journal: {
      type: "boolean",
      help: "ext4: give the image an (empty) jbd2 journal, sized as mke2fs would (default: none)",
    },
    layers: {
      type: "string",
      value: "DIR",
      help: "erofs: one image per layer in DIR, for overlayfs",
    },
    ...PULLING_OPTIONS,
    "max-entries": {
      type: "string",
      value: "N",
      help: "refuse images with more than N tar entries (default: 1000000)",
    },
    "max-bytes": {
      type: "string",
      value: "N",
      help: `refuse images with more than N uncompressed bytes; K, M, G and T suffixes are powers
        of 1024 (default: 64G)`,
    },
    ...QUIET_OPTION,
    json: reword(
      JSON_OPTION.json,
      `print the result as a JSON object instead of the line: reference, digest, storedDigest,
        format, path, layers, entries, whiteouts, bytes, skippedDevices, pulled, and image (the
        image file's size and digest for erofs and ext4; no digest with --size or --free); with
        --layers, layerImages (base first: diffId, path, size, reused) and lowerdir`,
    ),
    ...DEBUG_OPTION,
  },
  notes: `Not running as root, a directory's files belong to you and device nodes are skipped
    (counted); an erofs or ext4 image is the same whoever runs skiff.`,
  examples: [
    "skiff unpack alpine:3.20 ./rootfs",
    "skiff unpack --platform linux/arm64 --store ./images ghcr.io/org/app:1.2 /srv/app",
    "sudo skiff unpack debian:12 /var/lib/machines/deb  # as root: owners and device nodes too",
    "skiff unpack --format erofs alpine:3.20 ./alpine.erofs",
    "skiff unpack --format ext4 --free 256M debian:12 ./rootfs.ext4",
    "skiff unpack --format ext4 --size 2G --journal debian:12 ./vm.ext4",
    "skiff unpack --format erofs --layers ./layers debian:12  # one image per layer",
  ],
  more: [{ title: "Root filesystems, disk images and export", path: "unpack.md" }],
  async run(ctx) {
    const { flags, positionals, io } = ctx;
    if (positionals.length > 2) {
      throw new UsageError(`unpack takes a reference and a directory, got ${positionals.length}`);
    }
    const ref = storedImageArg(positionals[0], ctx.usage);
    const format = flags.format ?? "directory";
    if (format !== "directory" && format !== "erofs" && format !== "ext4") {
      throw new UsageError(`--format must be directory, erofs or ext4, got "${format}"`);
    }
    const layers = typeof flags.layers === "string" ? flags.layers : undefined;
    if (layers !== undefined && (format !== "erofs" || layers === "")) {
      throw new UsageError(`--layers takes a directory, and only with --format erofs`);
    }
    if (layers !== undefined && positionals.length > 1) {
      throw new UsageError(`with --layers, unpack takes only a reference`);
    }
    const dir = layers ?? positionals[1];
    if (dir === undefined || dir === "") {
      throw new UsageError(
        `missing ${format === "directory" ? "directory" : "image file"}\n\n${ctx.usage}`,
      );
    }
    exclusive(ctx, "size", "free");
    if (format !== "ext4") {
      for (const name of ["size", "free", "journal"]) {
        if (flags[name] !== undefined) throw new UsageError(`--${name} needs --format ext4`);
      }
    }
    const size = sizeFlag(flags, "size", true);
    const free = sizeFlag(flags, "free", true);
    if (size !== undefined || free !== undefined) {
      const { Ext4Writer } = await import("../../disk/ext4/ext4_writer.ts");
      const problem = Ext4Writer.sizeProblem(size ?? free!);
      if (problem) throw new UsageError(`--${size !== undefined ? "size" : "free"} ${problem}`);
    }
    const platform = platformFlag(ctx);
    const maxEntries = sizeFlag(flags, "max-entries", false);
    const maxBytes = sizeFlag(flags, "max-bytes", true);
    const jobs = jobsFlag(ctx);
    const policy = policyFlag(flags);
    const json = jsonFlag(ctx);
    const { signal, ...remote } = await remoteOptions(ctx);
    const renderer = flags.quiet || json ? undefined : new LineRenderer(io.err);
    const start = performance.now();
    const { unpack } = await import("../../unpack/unpack.ts");
    const result = await unpack(ref, dir, {
      format,
      store: storePath(ctx),
      signal,
      ...(platform ? { platform } : {}),
      ...(policy ? { pull: policy } : {}),
      ...(maxEntries !== undefined ? { maxEntries } : {}),
      ...(maxBytes !== undefined ? { maxBytes } : {}),
      ...(size !== undefined ? { size } : {}),
      ...(free !== undefined ? { free } : {}),
      ...(flags.journal ? { journal: true } : {}),
      ...(layers !== undefined ? { layers: true } : {}),
      pullOptions: { ...remote, ...(jobs ? { jobs } : {}) },
      onProgress: (e) => {
        if (e.type === "blob-start") ctx.partialDownloads = true;
        renderer?.handle(e);
      },
    });
    if (json) {
      printJson(ctx, {
        reference: result.reference,
        digest: result.digest,
        storedDigest: result.storedDigest,
        format: result.format,
        path: result.dir,
        dir: result.dir,
        layers: result.layers,
        entries: result.entries,
        whiteouts: result.whiteouts,
        bytes: result.bytes,
        skippedDevices: result.skippedDevices,
        pulled: result.pulled,
        image: result.image ?? null,
        ...(result.layerImages
          ? {
            layerImages: result.layerImages,
            lowerdir: result.layerImages.map((l) => l.path).reverse(),
          }
          : {}),
      });
      return 0;
    }
    if (!flags.quiet) {
      const seconds = ((performance.now() - start) / 1000).toFixed(1);
      io.err(
        `${escapeText(result.dir)}: ${result.entries} entries from ${result.layers} layer` +
          `${result.layers === 1 ? "" : "s"}, ${formatBytes(result.bytes)} in ${seconds} s` +
          (result.image
            ? `; an ${result.format === "ext4" ? "ext4" : "EROFS"} image of ${
              formatBytes(result.image.size)
            }`
            : "") +
          (result.layerImages
            ? `; ${result.layerImages.filter((l) => !l.reused).length} layer image(s) written, ` +
              `${result.layerImages.filter((l) => l.reused).length} reused`
            : "") +
          (result.skippedDevices > 0
            ? `; ${result.skippedDevices} device node${
              result.skippedDevices === 1 ? "" : "s"
            } skipped (not root)`
            : "") +
          "\n",
      );
    }
    io.out(safe`${result.reference} ${result.digest}\n`);
    if (result.layerImages) {
      io.out(`${escapeText(result.layerImages.map((l) => l.path).reverse().join(":"))}\n`);
    }
    return 0;
  },
};

/** `--pull missing|never|always`. */
export function policyFlag(flags: Flags): "missing" | "never" | "always" | undefined {
  if (typeof flags.pull !== "string") return undefined;
  if (flags.pull !== "missing" && flags.pull !== "never" && flags.pull !== "always") {
    throw new UsageError(`--pull must be missing, never or always, got "${flags.pull}"`);
  }
  return flags.pull;
}

const UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

function sizeFlag(flags: Flags, name: string, units: boolean): number | undefined {
  const value = flags[name];
  if (typeof value !== "string") return undefined;
  const m = (units ? /^(\d+)([kmgt]?)i?b?$/i : /^(\d+)()$/).exec(value.trim());
  const n = m ? Number(m[1]) * UNITS[m[2]!.toLowerCase()]! : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(
      `--${name} must be a positive whole number${units ? " (K, M, G, T allowed)" : ""}, ` +
        `got "${value}"`,
    );
  }
  return n;
}
