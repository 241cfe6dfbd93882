// Runs the real CLI on a pseudo-terminal (`script` from util-linux): stdout and stderr are the
// terminal, as for a user at a shell; what the terminal received comes back as text.

const CLI = new URL("../cli.ts", import.meta.url).pathname;

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

export interface PtyResult {
  code: number;
  /** Everything the terminal received (stdout and stderr, with `\r\n` line ends). */
  screen: string;
}

/** `skiff ARGS` on a pty of `columns` x 30, with `env` set (TERM defaults to xterm-256color). */
export async function skiffOnPty(
  args: string[],
  env: Record<string, string> = {},
  columns = 200,
): Promise<PtyResult> {
  const assignments = Object.entries({ TERM: "xterm-256color", NO_COLOR: "1", ...env })
    .map(([k, v]) => `${k}=${shellQuote(v)}`);
  const command = `stty cols ${columns} rows 30; exec env ${assignments.join(" ")} ` +
    [Deno.execPath(), "run", "-A", "--quiet", CLI, ...args].map(shellQuote).join(" ");
  const out = await new Deno.Command("script", {
    args: ["-qfec", command, "/dev/null"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, screen: new TextDecoder().decode(out.stdout) };
}

/**
 * The control characters in `text` other than the line ends a terminal needs (`\r`, `\n`),
 * as escapes: empty when nothing could move a cursor, set a title or ring a bell.
 */
export function rawControls(text: string): string[] {
  // deno-lint-ignore no-control-regex
  const found = text.match(/[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029]/g);
  return (found ?? []).map((c) => `U+${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
