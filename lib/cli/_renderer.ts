// The progress renderer of the commands that move blobs (pull, copy): live bars on a terminal
// that can move its cursor, one line per blob anywhere else. Loaded on demand: `-q` needs neither.

import type { ProgressEvent } from "../progress/progress_event.ts";
import type { CommandContext } from "./command.ts";

/** What the commands use of a renderer. */
export interface ProgressRenderer {
  handle(event: ProgressEvent): void;
  log?(text: string): void;
  finish?(outcome: "done" | "failed" | "interrupted"): void;
}

/** The renderer for this terminal (or pipe, or log); `moved` is the word for a blob moved
 * (`pulled`, `copied`) in the one-line-per-blob form. */
export async function progressRenderer(
  ctx: CommandContext,
  moved = "pulled",
): Promise<ProgressRenderer> {
  const { io } = ctx;
  if (io.isTerminal.stderr && io.env("TERM") !== "dumb") {
    const { TtyRenderer } = await import("./tty_renderer.ts");
    const tty = new TtyRenderer(io.err, {
      color: !io.env("NO_COLOR"),
      size: () => io.size?.(),
    });
    return ctx.debug ? tty : { handle: (e) => tty.handle(e), finish: (o) => tty.finish(o) };
  }
  const { LineRenderer } = await import("./line_renderer.ts");
  return new LineRenderer(io.err, { moved });
}
