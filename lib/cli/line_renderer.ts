/**
 * The plain progress renderer: one line per finished blob, for logs and pipes.
 *
 * @module
 */

import { escapeText } from "../progress/escape_text.ts";
import { formatBytes, formatDuration, shortDigest } from "../progress/format.ts";
import type { ProgressEvent } from "../progress/progress_event.ts";

/** Options for {@linkcode LineRenderer}. */
export interface LineRendererOptions {
  /**
   * What a blob that was moved is said to be: `pulled` into the store, `pushed` or `copied` to
   * a registry.
   * @default {"pulled"}
   */
  moved?: string;
}

/**
 * Turns progress events into one line per finished blob and a summary line, written through
 * `write` (the CLI passes stderr). What the events carry from the registry (references, platform
 * strings) is escaped with {@linkcode escapeText}.
 *
 * @example Render to an array
 * ```ts
 * import { LineRenderer } from "./line_renderer.ts";
 * import assert from "node:assert/strict";
 *
 * const lines: string[] = [];
 * const r = new LineRenderer((s) => lines.push(s));
 * r.handle({ type: "blob-done", digest: "sha256:" + "a".repeat(64), kind: "layer",
 *   size: 2048, fetched: 2048, cached: false });
 * assert.deepEqual(lines.length, 1);
 * ```
 */
export class LineRenderer {
  #write: (text: string) => void;
  #moved: string;
  #start = performance.now();
  #fetched = 0;

  /**
   * Makes a renderer.
   *
   * @param write Receives each line, with its newline.
   * @param options The word for a blob moved.
   */
  constructor(write: (text: string) => void, options: LineRendererOptions = {}) {
    this.#write = write;
    this.#moved = options.moved ?? "pulled";
  }

  #line(text: string): void {
    this.#write(escapeText(text.replace(/\n$/, "")) + "\n");
  }

  /**
   * Handles one event.
   *
   * @param event The progress event.
   */
  handle(event: ProgressEvent): void {
    switch (event.type) {
      case "resolved":
        this.#line(`${event.reference}: ${event.local ? "found" : "resolved"} ${event.digest}\n`);
        break;
      case "manifest":
        this.#line(
          `${event.digest}: ${event.platform ? `${event.platform}, ` : ""}` +
            `${event.layers} layer${event.layers === 1 ? "" : "s"}, ${formatBytes(event.size)}\n`,
        );
        break;
      case "blob-done":
        this.#fetched += event.fetched;
        this.#line(
          `${shortDigest(event.digest)}: ${
            event.mounted ? "mounted" : event.cached ? "already present" : this.#moved
          } ` +
            `(${event.kind}, ${formatBytes(event.size)})\n`,
        );
        break;
      case "layer-unpacked":
        this.#line(
          `${shortDigest(event.digest)}: unpacked (layer ${event.index + 1} of ${event.layers}, ` +
            `${event.entries} entr${event.entries === 1 ? "y" : "ies"}, ${
              formatBytes(event.bytes)
            })\n`,
        );
        break;
      case "done": {
        const ms = performance.now() - this.#start;
        const rate = ms > 0 ? this.#fetched / (ms / 1000) : 0;
        this.#line(
          `${event.reference}: done in ${formatDuration(ms)}` +
            (this.#fetched > 0 ? `, ${formatBytes(this.#fetched)} at ${formatBytes(rate)}/s` : "") +
            "\n",
        );
        break;
      }
    }
  }
}
