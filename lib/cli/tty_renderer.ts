/**
 * The terminal progress renderer: one live line per blob and a total line, redrawn in place at
 * most ten times a second, and left as a clean summary when the pull ends, fails or is
 * interrupted.
 *
 * @module
 */

import { escapeText } from "../progress/escape_text.ts";
import { formatBytes, formatDuration, shortDigest } from "../progress/format.ts";
import type { BlobKind, ProgressEvent } from "../progress/progress_event.ts";

/** How a pull ended, for {@linkcode TtyRenderer.finish}. */
export type PullOutcome = "done" | "failed" | "interrupted";

/** Options for {@linkcode TtyRenderer}. */
export interface TtyRendererOptions {
  /**
   * Use colors (the CLI turns them off when `NO_COLOR` is set).
   * @default {true}
   */
  color?: boolean;
  /**
   * The terminal's size, asked before every frame (lines never reach the last column, and a
   * frame never has more lines than the screen).
   * @default {80 columns, 24 rows}
   */
  size?: () => { columns: number; rows: number } | undefined;
  /**
   * The shortest time between two frames, in milliseconds.
   * @default {100}
   */
  interval?: number;
  /**
   * The clock, in milliseconds.
   * @default {performance.now}
   */
  now?: () => number;
}

interface BlobLine {
  digest: string;
  kind: BlobKind;
  size: number;
  /** Bytes of the blob present, counted from its start. */
  bytes: number;
  /** Bytes that were present before this pull started it (resumed). */
  offset: number;
  start: number;
  end: number | undefined;
  status: "active" | "done" | "cached" | "mounted";
}

interface Segment {
  text: string;
  style?: "green" | "red" | "dim" | "bold";
}

const SGR: Record<NonNullable<Segment["style"]>, string> = {
  green: "\x1b[32m",
  red: "\x1b[31m",
  dim: "\x1b[2m",
  bold: "\x1b[1m",
};

/** How far back the total speed looks, in milliseconds. */
const SPEED_WINDOW = 3000;

/**
 * Draws a pull's progress on a terminal, in place, with ANSI cursor movement (`\x1b[nA`, erase
 * to end of line, erase below). Give it every event, then call {@linkcode TtyRenderer.finish}
 * once, whatever the outcome: the last frame stays on screen as the pull's summary, with the
 * cursor on the line below it.
 *
 * @example Render a tiny pull into a string
 * ```ts
 * import { TtyRenderer } from "./tty_renderer.ts";
 * import assert from "node:assert/strict";
 *
 * let out = "";
 * const r = new TtyRenderer((s) => out += s, { color: false });
 * const digest = "sha256:" + "a".repeat(64);
 * r.handle({ type: "manifest", digest, platform: "linux/amd64", layers: 1, size: 10 });
 * r.handle({ type: "blob-start", digest, kind: "layer", size: 10, offset: 0 });
 * r.handle({ type: "blob-progress", digest, bytes: 10, size: 10 });
 * r.handle({ type: "blob-done", digest, kind: "layer", size: 10, fetched: 10, cached: false });
 * r.finish("done");
 * assert.match(out, /sha256:aaaaaaaaaaaa +done/);
 * ```
 */
export class TtyRenderer {
  #write: (text: string) => void;
  #color: boolean;
  #size: () => { columns: number; rows: number } | undefined;
  #interval: number;
  #now: () => number;
  #start: number;
  #reference: string | undefined;
  #summary: string | undefined;
  #total: number | undefined;
  #blobs = new Map<string, BlobLine>();
  #samples: { t: number; fetched: number }[] = [];
  #lines = 0;
  #lastDraw = -Infinity;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #outcome: PullOutcome | undefined;

  /**
   * Makes a renderer.
   *
   * @param write Receives the terminal output (the CLI passes stderr).
   * @param options Colors, terminal size, frame interval and clock.
   */
  constructor(write: (text: string) => void, options: TtyRendererOptions = {}) {
    this.#write = write;
    this.#color = options.color ?? true;
    this.#size = options.size ?? (() => undefined);
    this.#interval = options.interval ?? 100;
    this.#now = options.now ?? (() => performance.now());
    this.#start = this.#now();
  }

  /**
   * Handles one event; the screen is redrawn at most once per interval.
   *
   * @param event The progress event.
   */
  handle(event: ProgressEvent): void {
    if (this.#outcome !== undefined) return;
    const now = this.#now();
    switch (event.type) {
      case "resolved":
        this.#reference = event.reference;
        break;
      case "manifest":
        this.#total = event.size;
        this.#summary = `${event.platform ? `${event.platform}, ` : ""}${event.layers} layer${
          event.layers === 1 ? "" : "s"
        }, ${formatBytes(event.size)}`;
        break;
      case "blob-start": {
        const line = this.#blobs.get(event.digest);
        if (line) {
          // started again (a retry from zero, or a resume): count from where it is
          line.bytes = event.offset;
          line.offset = event.offset;
          line.start = now;
        } else {
          this.#blobs.set(event.digest, {
            digest: event.digest,
            kind: event.kind,
            size: event.size,
            bytes: event.offset,
            offset: event.offset,
            start: now,
            end: undefined,
            status: "active",
          });
        }
        break;
      }
      case "blob-progress": {
        const line = this.#blobs.get(event.digest);
        if (line) line.bytes = event.bytes;
        break;
      }
      case "blob-done": {
        const line = this.#blobs.get(event.digest);
        if (line) {
          line.bytes = event.size;
          line.end = now;
          line.status = event.mounted ? "mounted" : event.cached ? "cached" : "done";
        } else {
          this.#blobs.set(event.digest, {
            digest: event.digest,
            kind: event.kind,
            size: event.size,
            bytes: event.size,
            offset: event.cached ? event.size : 0,
            start: now,
            end: now,
            status: event.mounted ? "mounted" : event.cached ? "cached" : "done",
          });
        }
        break;
      }
      case "done":
        this.#reference = event.reference;
        break;
    }
    this.#schedule();
  }

  /**
   * Prints a line of text above the live lines (a log or debug line), and redraws them below it.
   *
   * @param text The text, with its newline.
   */
  log(text: string): void {
    const clear = this.#lines > 0 ? `\r\x1b[${this.#lines}A\x1b[J` : "";
    this.#lines = 0;
    this.#write(clear + escapeText(text, { keepNewlines: true }));
    if (this.#outcome === undefined && this.#lastDraw > -Infinity) this.#draw();
  }

  /**
   * Draws the last frame, a summary of how the pull ended, and stops. Call it once, also when
   * the pull failed or was interrupted; the cursor is left at the start of the line below.
   *
   * @param outcome How the pull ended.
   */
  finish(outcome: PullOutcome = "done"): void {
    if (this.#outcome !== undefined) return;
    this.#outcome = outcome;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#draw();
  }

  #schedule(): void {
    const wait = this.#lastDraw + this.#interval - this.#now();
    if (wait <= 0) {
      // due: draw now (a timer can run late while the event loop is busy with data)
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#draw();
      return;
    }
    if (this.#timer !== undefined) return;
    const timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#outcome === undefined) this.#draw();
    }, wait);
    this.#timer = timer;
    // a frame to come must not keep a finished process alive
    Deno.unrefTimer(timer);
  }

  #draw(): void {
    const now = this.#now();
    this.#lastDraw = now;
    const size = this.#size();
    const columns = Math.max(20, size?.columns || 80);
    const rows = Math.max(4, size?.rows || 24);
    const lines = this.#frame(now, columns, rows).map((l) => this.#render(l, columns - 1));
    let out = this.#lines > 0 ? `\r\x1b[${this.#lines}A` : "";
    for (const line of lines) out += `${line}\x1b[K\n`;
    out += "\x1b[J";
    this.#lines = lines.length;
    this.#write(out);
  }

  #frame(now: number, columns: number, rows: number): Segment[][] {
    const lines: Segment[][] = [];
    const outcome = this.#outcome;
    const head: Segment[] = [{ text: this.#reference ?? "resolving", style: "bold" }];
    if (this.#summary) head.push({ text: `: ${this.#summary}` });
    lines.push(head);

    const blobs = [...this.#blobs.values()];
    const budget = Math.max(1, rows - 3); // header, total, and the line the cursor rests on
    let shown = blobs;
    let hidden = 0;
    if (blobs.length > budget) {
      const finished = blobs.filter((b) => b.status !== "active");
      const keep = new Set(blobs.filter((b) => b.status === "active").slice(0, budget - 1));
      for (const b of finished.slice().reverse()) {
        if (keep.size >= budget - 1) break;
        keep.add(b);
      }
      shown = blobs.filter((b) => keep.has(b));
      hidden = blobs.length - shown.length;
    }
    // digest 19, spaces 4, counts 21, speed 11, ETA 10: the rest is the bar's
    const barWidth = Math.max(10, Math.min(40, columns - 1 - 19 - 4 - 21 - 11 - 10));
    for (const b of shown) lines.push(this.#blobLine(b, now, barWidth, outcome));
    if (hidden > 0) lines.push([{ text: `  ... and ${hidden} more`, style: "dim" }]);
    lines.push(this.#totalLine(now, barWidth, outcome));
    return lines;
  }

  #blobLine(
    b: BlobLine,
    now: number,
    barWidth: number,
    outcome: PullOutcome | undefined,
  ): Segment[] {
    const name: Segment = { text: shortDigest(b.digest).padEnd(19) };
    if (b.status === "cached" || b.status === "mounted") {
      return [name, {
        text: b.status === "mounted" ? " mounted" : " already present",
        style: "dim",
      }, {
        text: `  ${formatBytes(b.size)}`,
      }];
    }
    if (b.status === "done") {
      const ms = (b.end ?? now) - b.start;
      return [name, { text: " done", style: "green" }, {
        text: `  ${formatBytes(b.size)}${ms >= 1 ? ` in ${formatDuration(ms)}` : ""}`,
      }];
    }
    const counts = `${formatBytes(b.bytes).padStart(9)} / ${formatBytes(b.size).padEnd(9)}`;
    if (outcome !== undefined) {
      return [name, {
        text: outcome === "interrupted" ? " stopped" : " failed",
        style: "red",
      }, { text: ` at ${counts.trim()}` }];
    }
    const seconds = (now - b.start) / 1000;
    const speed = seconds > 0.05 ? `${formatBytes((b.bytes - b.offset) / seconds)}/s` : "";
    return [name, { text: ` ${bar(b.bytes, b.size, barWidth)} ${counts} ${speed.padStart(11)}` }];
  }

  #totalLine(now: number, barWidth: number, outcome: PullOutcome | undefined): Segment[] {
    const blobs = [...this.#blobs.values()];
    const present = blobs.reduce((n, b) => n + b.bytes, 0);
    const fetched = blobs.reduce(
      (n, b) => n + (b.status === "cached" || b.status === "mounted" ? 0 : b.bytes - b.offset),
      0,
    );
    const elapsed = now - this.#start;
    const label: Segment = { text: "total".padEnd(19) };
    if (outcome === "done") {
      const rate = elapsed > 0 ? fetched / (elapsed / 1000) : 0;
      return [label, { text: " done", style: "green" }, {
        text: ` in ${formatDuration(elapsed)}` +
          (fetched > 0
            ? `, ${formatBytes(fetched)} fetched at ${formatBytes(rate)}/s`
            : ", everything was present"),
      }];
    }
    if (outcome !== undefined) {
      return [label, {
        text: outcome === "interrupted" ? " interrupted" : " failed",
        style: "red",
      }, {
        text: ` after ${formatDuration(elapsed)}, ${formatBytes(fetched)} fetched`,
      }];
    }
    this.#samples.push({ t: now, fetched });
    while (this.#samples.length > 2 && this.#samples[1]!.t < now - SPEED_WINDOW) {
      this.#samples.shift();
    }
    const first = this.#samples[0]!;
    const dt = (now - first.t) / 1000;
    const speed = dt > 0.2 ? (fetched - first.fetched) / dt : 0;
    const total = this.#total;
    const parts: string[] = [];
    if (total !== undefined) {
      parts.push(bar(present, total, barWidth));
      parts.push(`${formatBytes(present).padStart(9)} / ${formatBytes(total).padEnd(9)}`);
    } else {
      parts.push(`${formatBytes(present)}`);
    }
    parts.push(speed > 0 ? `${formatBytes(speed)}/s`.padStart(11) : "".padStart(11));
    if (total !== undefined && speed > 0 && present < total) {
      parts.push(`ETA ${formatEta((total - present) / speed)}`);
    }
    return [label, { text: ` ${parts.join(" ")}` }];
  }

  #render(segments: Segment[], width: number): string {
    let out = "";
    let left = width;
    for (const s of segments) {
      if (left <= 0) break;
      const whole = escapeText(s.text); // references and platforms come from the registry
      const text = whole.length > left ? whole.slice(0, left) : whole;
      left -= text.length;
      out += this.#color && s.style ? `${SGR[s.style]}${text}\x1b[0m` : text;
    }
    return out;
  }
}

function formatEta(seconds: number): string {
  const s = Math.ceil(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

function bar(value: number, total: number, width: number): string {
  const inner = width - 2;
  const fraction = total > 0 ? Math.min(1, Math.max(0, value / total)) : 1;
  const filled = Math.floor(fraction * inner);
  if (filled >= inner) return `[${"=".repeat(inner)}]`;
  return `[${"=".repeat(filled)}>${" ".repeat(inner - filled - 1)}]`;
}
