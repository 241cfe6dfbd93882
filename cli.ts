#!/usr/bin/env -S deno run -A
/**
 * The `skiff` command line: pull container images into an OCI image layout, without a daemon.
 *
 * ```sh
 * deno run -A jsr:@skiff/skiff/cli pull alpine:3.20
 * ```
 *
 * Data goes to stdout, progress and errors to stderr. Exit codes: 0 success, 1 failure, 2 usage
 * error, 130 interrupted (SIGINT), 143 terminated (SIGTERM).
 *
 * @module
 */

import { type OptionSpec, parseArgs } from "./lib/cli/parse_args.ts";
import { LineRenderer } from "./lib/progress/line_renderer.ts";
import { pull } from "./lib/pull/pull.ts";
import { parseReference, type Reference } from "./lib/reference/parse_reference.ts";
import { parsePlatform } from "./lib/registry/choose_platform.ts";
import { Store } from "./lib/store/store.ts";
import { VERSION } from "./lib/version.ts";

const USAGE = `skiff ${VERSION}: pull container images into an OCI image layout, without a daemon

Usage: skiff <command> [options]

Commands:
  pull REF      pull an image into the store

Global options:
  --store DIR   the OCI image layout to use (default: $SKIFF_STORE, else
                $XDG_DATA_HOME/skiff, else ~/.local/share/skiff)
  --debug       show stack traces and transport details
  -h, --help    show help (also: skiff <command> --help)
  -V, --version show the version

Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted, 143 terminated.
`;

const PULL_USAGE = `Usage: skiff pull REF [options]

Pulls REF ([registry/]repository[:tag][@digest]) into the store, verifying every byte.
Prints one line to stdout: the canonical name and the digest of the stored manifest.

Options:
  --store DIR        the OCI image layout to pull into
  --platform P       os/arch[/variant] to pull from a multi-platform image
                     (default: linux/<this machine's architecture>)
  --jobs N           blobs to download at once (default: 4)
  --plain-http       speak plain HTTP to the registry (loopback registries fall
                     back to it on their own when TLS fails)
  -q, --quiet        print only the result line
  --debug            show stack traces and transport details

Examples:
  skiff pull alpine:3.20
  skiff pull --platform linux/arm64 ghcr.io/org/app@sha256:<digest>
  skiff pull --store ./images 127.0.0.1:5000/team/app:1.2
`;

/** A mistake in the command line: exit code 2. */
class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const encoder = new TextEncoder();
const io: Io = {
  out: (text) => writeAllSync(Deno.stdout, text),
  err: (text) => writeAllSync(Deno.stderr, text),
};

function writeAllSync(target: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let at = 0;
  while (at < bytes.byteLength) at += target.writeSync(bytes.subarray(at));
}

type Flags = Record<string, string | boolean | string[] | undefined>;

function parse(
  args: string[],
  options: Record<string, OptionSpec>,
): { flags: Flags; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs(args, {
      store: { type: "string" },
      debug: { type: "boolean" },
      help: { type: "boolean", short: "h" },
      ...options,
    });
    return { flags: values, positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function referenceArg(input: string | undefined, usage: string): Reference {
  if (input === undefined) throw new UsageError(`missing image reference\n\n${usage}`);
  try {
    return parseReference(input);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function storePath(flags: Flags): string {
  return typeof flags.store === "string" ? flags.store : Store.defaultPath();
}

async function cmdPull(args: string[], signal: AbortSignal): Promise<number> {
  const { flags, positionals } = parse(args, {
    platform: { type: "string" },
    jobs: { type: "string" },
    "plain-http": { type: "boolean" },
    quiet: { type: "boolean", short: "q" },
  });
  if (flags.help) {
    io.out(PULL_USAGE);
    return 0;
  }
  if (positionals.length > 1) {
    throw new UsageError(`pull takes one reference, got ${positionals.length}`);
  }
  const ref = referenceArg(positionals[0], PULL_USAGE);
  let platform;
  if (typeof flags.platform === "string") {
    try {
      platform = parsePlatform(flags.platform);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  let jobs = 4;
  if (typeof flags.jobs === "string") {
    jobs = Number(flags.jobs);
    if (!/^\d+$/.test(flags.jobs) || jobs < 1 || jobs > 64) {
      throw new UsageError(`--jobs must be a whole number from 1 to 64, got "${flags.jobs}"`);
    }
  }
  const renderer = flags.quiet ? undefined : new LineRenderer(io.err);
  const result = await pull(ref, {
    store: storePath(flags),
    jobs,
    signal,
    ...(platform ? { platform } : {}),
    ...(flags["plain-http"] ? { plainHttp: true } : {}),
    ...(renderer ? { onProgress: (e) => renderer.handle(e) } : {}),
    ...(flags.debug ? { onDebug: (line: string) => io.err(`debug: ${line}\n`) } : {}),
  });
  io.out(`${result.reference} ${result.digest}\n`);
  return 0;
}

const COMMANDS: Record<string, (args: string[], signal: AbortSignal) => Promise<number>> = {
  pull: cmdPull,
};

/** Why the run was stopped by a signal. */
class Interrupted extends Error {
  readonly code: number;
  constructor(signal: string, code: number) {
    super(`interrupted by ${signal}; partial downloads are kept and resume on the next pull`);
    this.name = "Interrupted";
    this.code = code;
  }
}

/**
 * Runs the command line.
 *
 * @param args The arguments, without the program name.
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  const debug = args.includes("--debug");
  const controller = new AbortController();
  const onSignal = (name: "SIGINT" | "SIGTERM", code: number) => () => {
    if (controller.signal.aborted) Deno.exit(code); // a second signal: stop now
    controller.abort(new Interrupted(name, code));
  };
  const handlers = [
    ["SIGINT", onSignal("SIGINT", 130)],
    ["SIGTERM", onSignal("SIGTERM", 143)],
  ] as const;
  for (const [name, handler] of handlers) {
    try {
      Deno.addSignalListener(name, handler);
    } catch {
      // signals are not available on every platform
    }
  }
  try {
    const first = args.findIndex((a) => !a.startsWith("-"));
    const leading = first === -1 ? args : args.slice(0, first);
    if (first === -1 || leading.some((a) => a === "-h" || a === "--help")) {
      if (leading.some((a) => a === "-V" || a === "--version")) {
        io.out(`skiff ${VERSION}\n`);
        return 0;
      }
      if (first === -1 && !leading.some((a) => a === "-h" || a === "--help")) {
        io.err(USAGE);
        return 2;
      }
      io.out(USAGE);
      return 0;
    }
    const unknownLeading = leading.filter((a) => a !== "--debug");
    if (unknownLeading.length > 0) {
      throw new UsageError(`unknown option ${unknownLeading[0]} before the command`);
    }
    const command = args[first]!;
    const run = COMMANDS[command];
    if (!run) throw new UsageError(`unknown command "${command}" (see skiff --help)`);
    const rest = [...leading, ...args.slice(first + 1)];
    return await run(rest, controller.signal);
  } catch (e) {
    const error = controller.signal.aborted ? controller.signal.reason : e;
    if (error instanceof UsageError) {
      io.err(`skiff: ${error.message}\n`);
      return 2;
    }
    io.err(`skiff: ${oneLine(error)}\n`);
    if (debug && error instanceof Error) io.err(`${describe(error)}\n`);
    return error instanceof Interrupted ? error.code : 1;
  } finally {
    for (const [name, handler] of handlers) {
      try {
        Deno.removeSignalListener(name, handler);
      } catch {
        // not registered
      }
    }
  }
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s*\n\s*/g, " ").trim() || "unknown error";
}

function describe(error: Error): string {
  let text = error.stack ?? error.message;
  let cause = error.cause;
  for (let depth = 0; cause !== undefined && depth < 5; depth++) {
    text += `\ncaused by: ${cause instanceof Error ? cause.stack ?? cause.message : String(cause)}`;
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return text;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
