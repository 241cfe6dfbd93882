// skiff sync SRC DEST

import { parsePlatforms } from "../../copy/parse_platforms.ts";
import { escapeText } from "../../progress/escape_text.ts";
import type { SyncedTag, SyncOptions, SyncReport } from "../../copy/sync.ts";
import { parseRepository } from "../../reference/parse_repository.ts";
import {
  CREDENTIAL_OPTIONS,
  DEBUG_OPTION,
  JOBS_OPTION,
  JSON_OPTION,
  PLAIN_HTTP_OPTION,
  QUIET_OPTION,
  reword,
} from "../_options.ts";
import {
  credentialFlags,
  debugLog,
  jobsFlag,
  jsonFlag,
  printJson,
  timeoutOption,
  warningLog,
} from "../_shared.ts";
import { type Command, type CommandContext, UsageError } from "../command.ts";

interface Job {
  source: string;
  destination: string;
  tags?: string;
  platform?: string;
}

/** `skiff sync`. */
export const syncCommand: Command = {
  name: "sync",
  args: "SRC DEST",
  summary: "mirror a repository to another registry or to oci:DIR",
  usage: ["SRC DEST [options]", "--config FILE [options]"],
  description: `Mirrors the repository SRC ([registry/]repository, no tag; or oci:DIR, whose names
    R:T or T become DEST's tags, as the registry had them) into DEST, a repository of another
    registry, or oci:DIR, an OCI image layout (created when missing; tag T is named REPO:T there,
    REPO being SRC in full, so that skopeo reads oci:DIR:REPO:T): every tag (or those --tags
    picks), each with its referrers and cosign-style signature, attestation and SBOM tags, digests
    kept.

    Incremental: a tag whose digest at DEST already equals SRC's (one HEAD each, which Docker Hub
    does not count against its rate limit) is left alone, with nothing uploaded and no manifest
    written. A tag that fails does not stop the others. Referrers that cannot be carried (a
    malformed referrer at SRC, a cap) do not fail their tag: a warning names it, the summary counts
    it apart.

    Prints one line per tag to stdout, a summary to stderr; exit 1 when any tag failed. Each line
    shows the digest DEST's tag names (with --platform P, that platform's manifest, not SRC's
    index).`,
  options: {
    tags: {
      type: "string",
      value: "REGEX",
      help: "only the tags REGEX finds (a search: use ^...$ for whole tags)",
    },
    platform: {
      type: "string",
      value: "P",
      help: `all (default), os/arch[/variant], or a comma-separated list (a list rewrites each
        index: its digest changes)`,
    },
    images: { type: "string", value: "N", help: "images copied at once (default: 2)" },
    jobs: reword(JOBS_OPTION.jobs, "blobs copied at once per image (default: 4)"),
    "no-referrers": { type: "boolean", help: "do not carry referrers and cosign-style tags" },
    "referrer-depth": {
      type: "string",
      value: "N",
      help: "how deep referrers of referrers are followed (default: 4)",
    },
    "dry-run": { type: "boolean", help: "say what would be copied; write nothing" },
    config: {
      type: "string",
      value: "FILE",
      help: "many sources: a JSON file",
      sample: `{"sync": [{"source": "REPO", "destination": "REPO",
           "tags": "REGEX", "platform": "all"}, ...]}`,
    },
    "plain-http": reword(PLAIN_HTTP_OPTION["plain-http"], "speak plain HTTP to both registries"),
    ...CREDENTIAL_OPTIONS,
    username: reword(
      CREDENTIAL_OPTIONS.username,
      "log in as U to both registries (default: the stored ones)",
    ),
    quiet: reword(QUIET_OPTION.quiet, "print only the tags that failed, and no summary"),
    json: reword(JSON_OPTION.json, "print the report(s) as JSON instead of the lines"),
    ...DEBUG_OPTION,
  },
  examples: [
    "skiff sync docker.io/library/alpine registry.local/mirror/alpine --tags '^3\\.'",
    "skiff sync --dry-run ghcr.io/org/app 127.0.0.1:5000/org/app",
    "skiff sync ghcr.io/org/app oci:./mirror  # into an OCI image layout",
    "skiff sync --config mirror.json --json",
  ],
  more: [{ title: "Mirroring with sync", path: "mirroring.md#sync" }],
  async run(ctx) {
    const { flags, io } = ctx;
    const quiet = flags.quiet === true;
    const jobs = await jobsOf(ctx);
    const images = count(flags.images, "--images", 2, 16);
    const blobs = jobsFlag(ctx) ?? 4;
    const depth = flags["referrer-depth"] === undefined
      ? undefined
      : count(flags["referrer-depth"], "--referrer-depth", 4, 16);
    const credentials = await credentialFlags(ctx);
    const reports: SyncReport[] = [];
    const json = jsonFlag(ctx);
    const { sync } = await import("../../copy/sync.ts");
    for (const job of jobs) {
      const options: SyncOptions = {
        images,
        jobs: blobs,
        signal: ctx.signal,
        ...timeoutOption(ctx),
        ...(job.tags !== undefined ? { tags: job.tags } : {}),
        ...(job.platform !== undefined ? { platforms: job.platform } : {}),
        ...(flags["no-referrers"] ? { referrers: false } : {}),
        ...(depth !== undefined ? { referrerDepth: depth } : {}),
        ...(flags["dry-run"] ? { dryRun: true } : {}),
        ...(flags["plain-http"] ? { plainHttp: true } : {}),
        ...(credentials ? { credentials } : {}),
        ...warningLog(ctx),
        ...debugLog(ctx),
        onTag: (t: SyncedTag) => {
          if (!json && (!quiet || t.status === "failed")) io.out(tagLine(t));
          if (t.referrersError !== undefined) io.err(referrersWarning(job.source, t));
        },
      };
      try {
        reports.push(await sync(job.source, job.destination, options));
      } catch (e) {
        // one source: its failure is the command's (one line); with --config, the others go on
        if (ctx.signal.aborted || typeof flags.config !== "string") throw e;
        // the source could not be listed: that job fails, the others go on
        const error = (e as Error).message;
        if (!json) io.err(`skiff: ${escapeText(error, { clip: true })}\n`);
        reports.push(
          {
            source: job.source,
            destination: job.destination,
            tags: [],
            copied: 0,
            upToDate: 0,
            failed: 1,
            referrersFailed: 0,
            error,
          } as SyncReport & { error: string },
        );
      }
    }
    const total = (k: "copied" | "upToDate" | "failed" | "referrersFailed") =>
      reports.reduce((n, r) => n + r[k], 0);
    if (json) {
      printJson(ctx, jobs.length === 1 && !flags.config ? reports[0] : { reports });
    }
    const verb = flags["dry-run"] ? "would copy" : "copied";
    // referrers that could not be carried do not fail their image: said apart, exit 0
    const withoutReferrers = total("referrersFailed");
    if (!quiet) {
      io.err(
        `skiff: sync: ${total("copied")} ${verb}, ${total("upToDate")} up to date, ` +
          `${total("failed")} failed` +
          (withoutReferrers > 0 ? ` (${withoutReferrers} without all their referrers)` : "") +
          "\n",
      );
    }
    return total("failed") > 0 ? 1 : 0;
  },
};

/** One tag's line, with what the destination's tag names; tags, digests and errors come from
 * the registries, so they are escaped. */
function tagLine(t: SyncedTag): string {
  const status = t.status.padEnd(10);
  const referrers = (t.referrers ? ` (+${t.referrers} referrers)` : "") +
    (t.referrersError !== undefined ? " (referrers not all carried)" : "");
  if (t.status === "failed") {
    return `${status} ${escapeText(t.tag)}: ${escapeText(t.error ?? "failed", { clip: true })}\n`;
  }
  const digest = t.destinationDigest ?? t.digest ?? "";
  return `${status} ${escapeText(t.tag)} ${escapeText(digest)}${referrers}\n`;
}

/** The warning for a tag whose image was synced but whose referrers were not all carried. */
function referrersWarning(source: string, t: SyncedTag): string {
  return `skiff: warning: ${escapeText(`${source}:${t.tag}`)} was synced, but not all its ` +
    `referrers: ${escapeText(t.referrersError ?? "")} (--no-referrers syncs without them)\n`;
}

function count(value: unknown, flag: string, fallback: number, max: number): number {
  if (typeof value !== "string") return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > max) {
    throw new UsageError(`${flag} must be a whole number from 1 to ${max}, got "${value}"`);
  }
  return n;
}

/** The jobs: SRC DEST from the command line, or the entries of --config. */
async function jobsOf(ctx: CommandContext): Promise<Job[]> {
  const { flags, positionals } = ctx;
  const check = (job: Job, where: string) => {
    for (const [what, value] of [["source", job.source], ["destination", job.destination]]) {
      if (value!.startsWith("oci:")) {
        if (value === "oci:") throw new UsageError(`${where}: ${what}: oci: needs a DIR`);
        continue;
      }
      try {
        parseRepository(value!);
      } catch (e) {
        throw new UsageError(`${where}: ${what}: ${(e as Error).message}`);
      }
    }
    if (job.tags !== undefined) {
      try {
        new RegExp(job.tags);
      } catch (e) {
        throw new UsageError(`${where}: tags: ${(e as Error).message}`);
      }
    }
    if (job.platform !== undefined) {
      try {
        parsePlatforms(job.platform);
      } catch (e) {
        throw new UsageError(`${where}: platform: ${(e as Error).message}`);
      }
    }
    return job;
  };
  const tags = typeof flags.tags === "string" ? flags.tags : undefined;
  const platform = typeof flags.platform === "string" ? flags.platform : undefined;
  if (typeof flags.config !== "string") {
    if (positionals.length !== 2) {
      throw new UsageError(
        `sync takes SRC and DEST, got ${positionals.length} arguments\n\n${ctx.usage}`,
      );
    }
    return [check({
      source: positionals[0]!,
      destination: positionals[1]!,
      ...(tags !== undefined ? { tags } : {}),
      ...(platform !== undefined ? { platform } : {}),
    }, "arguments")];
  }
  if (positionals.length > 0) throw new UsageError("sync takes --config or SRC DEST, not both");
  let doc: unknown;
  try {
    const text = await Deno.readTextFile(flags.config);
    if (text.length > 1024 * 1024) throw new Error("larger than 1 MiB");
    doc = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`Cannot read ${flags.config}: ${(e as Error).message}`);
  }
  const entries = (doc as { sync?: unknown } | null)?.sync;
  if (!Array.isArray(entries) || entries.length === 0) {
    throw new UsageError(`Cannot read ${flags.config}: expected {"sync": [ ... ]} with entries`);
  }
  return entries.map((e, i) => {
    const where = `${flags.config}: sync[${i}]`;
    const o = e as Record<string, unknown>;
    if (
      typeof e !== "object" || e === null || typeof o.source !== "string" ||
      typeof o.destination !== "string"
    ) {
      throw new UsageError(`${where}: needs "source" and "destination" strings`);
    }
    for (const k of ["tags", "platform"]) {
      if (o[k] !== undefined && typeof o[k] !== "string") {
        throw new UsageError(`${where}: "${k}" must be a string`);
      }
    }
    const job: Job = { source: o.source, destination: o.destination };
    const t = (o.tags as string | undefined) ?? tags;
    const p = (o.platform as string | undefined) ?? platform;
    if (t !== undefined) job.tags = t;
    if (p !== undefined) job.platform = p;
    return check(job, where);
  });
}
