// skiff unpack REF DIR, or REF FILE as an EROFS image

import { formatBytes } from "../../progress/format.ts";
import { LineRenderer } from "../../progress/line_renderer.ts";
import { unpack } from "../../unpack/unpack.ts";
import {
  debugLog,
  jsonFlag,
  platformFlag,
  printJson,
  referenceArg,
  storePath,
} from "../_shared.ts";
import { type Command, type Flags, UsageError } from "../command.ts";

const USAGE = `Usage: skiff unpack REF DIR [options]
       skiff unpack --format erofs REF FILE [options]
       skiff unpack --format erofs --layers DIR REF [options]

Unpacks REF into DIR as a root filesystem, the way a container runtime builds
it: layers in order, whiteouts applied, nothing written outside DIR. Pulls REF
first when the store does not have it. DIR must be absent or empty; it appears
only once every layer was applied and verified.
With --format erofs, writes the same tree as an EROFS disk image FILE (it must
be absent), for microVMs and the kernel's read-only mount: owners, devices and
xattrs as the image says, whoever runs skiff; the same bytes on every run.
With --layers DIR, writes one EROFS image per layer into DIR instead, named by
the layer's diff_id and reused when there, whiteouts kept as overlayfs reads
them; a second stdout line lists them top first, in overlayfs lowerdir order.
Prints one line to stdout: the canonical name and the digest of the manifest.

Options:
  --format F         directory (default) or erofs
  --layers DIR       (erofs) one image per layer in DIR, for overlayfs
  --json             print the result as JSON (with the image file's size and
                     digest for erofs)
  --store DIR        the OCI image layout to read (and pull into)
  --platform P       os/arch[/variant] (default: linux/<this machine's architecture>)
  --plain-http       speak plain HTTP to the registry when pulling
  --max-entries N    refuse images with more than N tar entries (default: 1000000)
  --max-bytes N      refuse images with more than N uncompressed bytes; K, M, G and
                     T suffixes are powers of 1024 (default: 64G)
  -q, --quiet        print only the result line
  --debug            show stack traces and transport details

Not running as root, a directory's files belong to you and device nodes are
skipped (counted); an erofs image is the same whoever runs skiff.

Examples:
  skiff unpack alpine:3.20 ./rootfs
  skiff unpack --format erofs alpine:3.20 ./alpine.erofs
  skiff unpack --platform linux/arm64 --store ./images ghcr.io/org/app:1.2 /srv/app
`;

/** `skiff unpack`. */
export const unpackCommand: Command = {
  name: "unpack",
  summary:
    "unpack REF DIR  unpack an image into a directory as a root filesystem, or an EROFS image",
  usage: USAGE,
  options: {
    platform: { type: "string" },
    "plain-http": { type: "boolean" },
    "max-entries": { type: "string" },
    "max-bytes": { type: "string" },
    quiet: { type: "boolean", short: "q" },
    format: { type: "string" },
    layers: { type: "string" },
    json: { type: "boolean" },
  },
  async run(ctx) {
    const { flags, positionals, io } = ctx;
    if (positionals.length > 2) {
      throw new UsageError(`unpack takes a reference and a directory, got ${positionals.length}`);
    }
    const ref = referenceArg(positionals[0], USAGE);
    const format = flags.format ?? "directory";
    if (format !== "directory" && format !== "erofs") {
      throw new UsageError(`--format must be directory or erofs, got "${format}"`);
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
        `missing ${format === "erofs" ? "image file" : "directory"}\n\n${USAGE}`,
      );
    }
    const platform = platformFlag(ctx);
    const maxEntries = sizeFlag(flags, "max-entries", false);
    const maxBytes = sizeFlag(flags, "max-bytes", true);
    const json = jsonFlag(ctx);
    const renderer = flags.quiet || json ? undefined : new LineRenderer(io.err);
    const start = performance.now();
    const result = await unpack(ref, dir, {
      format,
      ...(layers !== undefined ? { layers: true } : {}),
      store: storePath(ctx),
      signal: ctx.signal,
      ...(platform ? { platform } : {}),
      ...(maxEntries !== undefined ? { maxEntries } : {}),
      ...(maxBytes !== undefined ? { maxBytes } : {}),
      pullOptions: {
        ...(flags["plain-http"] ? { plainHttp: true } : {}),
        ...debugLog(ctx),
      },
      ...(renderer ? { onProgress: (e) => renderer.handle(e) } : {}),
    });
    if (json) {
      printJson(ctx, {
        reference: result.reference,
        digest: result.digest,
        format: result.format,
        path: result.dir,
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
        `${result.dir}: ${result.entries} entries from ${result.layers} layer` +
          `${result.layers === 1 ? "" : "s"}, ${formatBytes(result.bytes)} in ${seconds} s` +
          (result.image ? `; an EROFS image of ${formatBytes(result.image.size)}` : "") +
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
    io.out(`${result.reference} ${result.digest}\n`);
    if (result.layerImages) {
      io.out(`${result.layerImages.map((l) => l.path).reverse().join(":")}\n`);
    }
    return 0;
  },
};

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
