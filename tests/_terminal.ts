// A tiny terminal of the tests' own: it plays back what a program wrote to a terminal and tells
// what the screen shows at the end. It knows what skiff's progress renderer may send (text, \r,
// \n, erase to end of line, erase below, cursor up, colors) and throws on anything else, so stray
// escape sequences fail the test instead of passing unseen.

export interface TerminalOptions {
  /** Width: text reaching it wraps, and `wrapped` records that it happened. */
  columns?: number;
  /** `\n` also returns the cursor to column 0, as a tty's `onlcr` does for a program's output. */
  onlcr?: boolean;
}

export class Terminal {
  readonly columns: number;
  readonly onlcr: boolean;
  lines: string[] = [""];
  row = 0;
  col = 0;
  /** Times a line reached the last column and wrapped. */
  wrapped = 0;
  /** Cursor-up sequences seen (one per redraw in place). */
  cursorUps = 0;

  constructor(options: TerminalOptions = {}) {
    this.columns = options.columns ?? 200;
    this.onlcr = options.onlcr ?? true;
  }

  write(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const ch = text[i]!;
      if (ch === "\x1b") {
        // deno-lint-ignore no-control-regex
        const m = /^\x1b\[([0-9;?]*)([A-Za-z])/.exec(text.slice(i));
        if (!m) throw new Error(`unknown escape at ${JSON.stringify(text.slice(i, i + 10))}`);
        this.#escape(m[1]!, m[2]!);
        i += m[0].length - 1;
      } else if (ch === "\r") {
        this.col = 0;
      } else if (ch === "\n") {
        if (this.onlcr) this.col = 0;
        this.row++;
        while (this.lines.length <= this.row) this.lines.push("");
      } else if (ch === "\x07" || ch === "\b" || ch === "\t") {
        throw new Error(`unexpected control character ${JSON.stringify(ch)}`);
      } else {
        if (this.col >= this.columns) {
          this.wrapped++;
          this.col = 0;
          this.row++;
          while (this.lines.length <= this.row) this.lines.push("");
        }
        const line = this.lines[this.row]!.padEnd(this.col);
        this.lines[this.row] = line.slice(0, this.col) + ch + line.slice(this.col + 1);
        this.col++;
      }
    }
  }

  #escape(params: string, final: string): void {
    const n = params === "" ? 1 : Number(params);
    switch (final) {
      case "A":
        this.cursorUps++;
        this.row = Math.max(0, this.row - n);
        break;
      case "K":
        if (params !== "" && params !== "0") throw new Error(`unexpected \\x1b[${params}K`);
        this.lines[this.row] = this.lines[this.row]!.slice(0, this.col);
        break;
      case "J":
        if (params !== "" && params !== "0") throw new Error(`unexpected \\x1b[${params}J`);
        this.lines[this.row] = this.lines[this.row]!.slice(0, this.col);
        this.lines.length = this.row + 1;
        break;
      case "m":
        break; // colors: not part of the text
      default:
        throw new Error(`unexpected escape \\x1b[${params}${final}`);
    }
  }

  /** The screen's lines, trailing spaces and trailing empty lines removed. */
  screen(): string[] {
    const out = this.lines.map((l) => l.trimEnd());
    while (out.length > 0 && out.at(-1) === "") out.pop();
    return out;
  }
}

/** Plays `text` on a fresh terminal and returns it. */
export function play(text: string, options: TerminalOptions = {}): Terminal {
  const t = new Terminal(options);
  t.write(text);
  return t;
}
