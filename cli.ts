#!/usr/bin/env -S deno run -A
/**
 * The `skiff` command line: pull container images into an OCI image layout, without a daemon.
 *
 * ```sh
 * deno run -A cli.ts pull alpine:3.20
 * ```
 *
 * Data goes to stdout, progress and errors to stderr. Exit codes: 0 success, 1 failure, 2 usage
 * error, 130 interrupted (SIGINT), 143 terminated (SIGTERM).
 *
 * This file is the only one that touches the process: arguments, signals, the terminal, the exit
 * code. The commands live in `lib/cli/`.
 *
 * @module
 */

import type { CliIo } from "./lib/cli/command.ts";
import { Interrupted, main } from "./lib/cli/main.ts";

const encoder = new TextEncoder();

function writeAllSync(target: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let at = 0;
  while (at < bytes.byteLength) at += target.writeSync(bytes.subarray(at));
}

const stdoutWriter = { current: undefined as WritableStreamDefaultWriter<Uint8Array> | undefined };

/** Reads one line from the terminal; a secret is read in raw mode, so it is not echoed. */
async function prompt(question: string, options: { secret?: boolean } = {}): Promise<string> {
  const secret = options.secret === true;
  // raw mode before the question: what is typed once the question shows is never echoed
  if (secret) Deno.stdin.setRaw(true);
  writeAllSync(Deno.stderr, question);
  const bytes: number[] = [];
  const buf = new Uint8Array(1);
  try {
    for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      const b = buf[0]!;
      if (b === 0x0d || b === 0x0a) break;
      if (secret && b === 0x03) throw new Interrupted("SIGINT", 130); // Ctrl-C in raw mode
      if (secret && (b === 0x7f || b === 0x08)) {
        bytes.pop();
        continue;
      }
      bytes.push(b);
    }
  } finally {
    if (secret) {
      Deno.stdin.setRaw(false);
      writeAllSync(Deno.stderr, "\n");
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** The real terminal. */
const io: CliIo = {
  out: (text) => writeAllSync(Deno.stdout, text),
  err: (text) => writeAllSync(Deno.stderr, text),
  outBytes: async (chunk) => {
    stdoutWriter.current ??= Deno.stdout.writable.getWriter();
    await stdoutWriter.current.write(chunk);
  },
  isTerminal: {
    stdin: Deno.stdin.isTerminal(),
    stdout: Deno.stdout.isTerminal(),
    stderr: Deno.stderr.isTerminal(),
  },
  // a getter: making the stream costs ~2 ms, and only a command that reads stdin needs it
  get stdin() {
    return Deno.stdin.readable;
  },
  prompt,
  env: (name) => {
    try {
      return Deno.env.get(name);
    } catch {
      return undefined;
    }
  },
  size: () => {
    try {
      return Deno.consoleSize();
    } catch {
      return undefined;
    }
  },
};

if (import.meta.main) {
  const controller = new AbortController();
  const stop = (name: "SIGINT" | "SIGTERM", code: number) => () => {
    if (controller.signal.aborted) Deno.exit(code); // a second signal: stop now
    controller.abort(new Interrupted(name, code));
  };
  for (const [name, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    try {
      Deno.addSignalListener(name, stop(name, code));
    } catch {
      // no signals on this platform
    }
  }
  const code = await main(Deno.args, io, controller.signal);
  if (stdoutWriter.current) await stdoutWriter.current.close().catch(() => {});
  Deno.exit(code);
}
