// skiff images

import { escapeText } from "../../progress/escape_text.ts";
import { formatBytes, shortDigest } from "../../progress/format.ts";
import { formatPlatform } from "../../oci/choose_platform.ts";
import { JSON_OPTION, LOCAL_DEBUG_OPTION, reword, storeOption } from "../_options.ts";
import { jsonFlag, printJson, storePath } from "../_shared.ts";
import { type Command, UsageError } from "../command.ts";

/** `skiff images`. */
export const imagesCommand: Command = {
  name: "images",
  summary: "list the images in the store",
  usage: ["[options]"],
  description: `Lists the images in the store: name, manifest digest (the registry's: what
    "skiff pull REPO@DIGEST" fetches), platform, size (config and layers, each counted once) and
    when it was pulled; an image stored with several platforms is one line per platform (its
    attestations counted with it, never a line of their own). An image missing some of its blobs
    is marked "incomplete" (pull it again to complete it); an entry that is damaged or malformed
    is marked with its problem, and the other images are listed all the same.`,
  options: {
    ...storeOption("to list"),
    json: reword(
      JSON_OPTION.json,
      `print an array of objects: name, digest, storedDigest (the manifest as stored: the OCI
        conversion of a Docker image), indexDigest, indexCutFrom (the registry's index an index
        cut by "rm --platform" came from: indexDigest is then skiff's own), mediaType, platform,
        size, pulled, complete, missing, problems`,
    ),
    ...LOCAL_DEBUG_OPTION,
  },
  notes: `A store directory that does not exist yet lists nothing (and is not created).`,
  examples: [
    "skiff images",
    "skiff images --store ./images --json",
  ],
  more: [{ title: "The store", path: "store.md" }],
  async run(ctx) {
    if (ctx.positionals.length > 0) {
      throw new UsageError(`images takes no arguments, got "${ctx.positionals[0]}"`);
    }
    const { listImages } = await import("../../store/list_images.ts");
    const images = await listImages(storePath(ctx), { signal: ctx.signal });
    if (jsonFlag(ctx)) {
      printJson(
        ctx,
        images.map((i) => ({
          name: i.name ?? null,
          digest: i.digest,
          storedDigest: i.storedDigest,
          indexDigest: i.indexDigest ?? null,
          indexCutFrom: i.indexCutFrom ?? null,
          mediaType: i.mediaType,
          platform: i.platform ? formatPlatform(i.platform) : null,
          size: i.size,
          pulled: i.pulled ?? null,
          complete: i.missing.length === 0 && i.problems.length === 0,
          missing: i.missing,
          problems: i.problems,
        })),
      );
      return 0;
    }
    const now = Date.now();
    const rows = [
      ["NAME", "DIGEST", "PLATFORM", "SIZE", "PULLED"],
      // every cell escaped before the widths are measured: names, platforms and times come from
      // index.json and the images' configs
      ...images.map((i) =>
        [
          i.name ?? "<none>",
          i.digest === "" ? "-" : shortDigest(i.digest),
          i.platform ? formatPlatform(i.platform) : "-",
          formatBytes(i.size),
          (i.pulled ? age(now, i.pulled) : "-") +
          (i.missing.length > 0 ? `  incomplete (${i.missing.length} missing)` : "") +
          (i.problems.length > 0 ? `  damaged: ${i.problems.join("; ")}` : ""),
        ].map((cell) => escapeText(cell))
      ),
    ];
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    ctx.io.out(
      rows.map((r) =>
        r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join("   ")
          .trimEnd() + "\n"
      ).join(""),
    );
    return 0;
  },
};

/** "5 minutes ago", from an RFC 3339 time. */
function age(now: number, when: string): string {
  const t = Date.parse(when);
  if (Number.isNaN(t)) return when;
  const s = Math.max(0, Math.round((now - t) / 1000));
  const unit = (n: number, name: string) => `${n} ${name}${n === 1 ? "" : "s"} ago`;
  if (s < 60) return s < 2 ? "just now" : unit(s, "second");
  if (s < 3600) return unit(Math.floor(s / 60), "minute");
  if (s < 86400) return unit(Math.floor(s / 3600), "hour");
  if (s < 86400 * 60) return unit(Math.floor(s / 86400), "day");
  return when.slice(0, 10);
}
