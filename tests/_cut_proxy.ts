// A TCP proxy of the tests' own that breaks an upload in the middle of its body: it forwards
// every request and response byte for byte, and for the PATCH requests a rule picks, passes on
// only the first `after` bytes of the body to the registry, then closes both connections (the
// client sees a broken connection, the registry a body that ends early).

export interface CutRule {
  /** Which PATCH (1-based, counted over all connections) to cut. */
  patch: number;
  /** Body bytes passed on before the cut. */
  after: number;
}

export class CutProxy {
  readonly host: string;
  readonly url: string;
  /** Request lines seen (`PATCH /v2/...`), with the Content-Range header when there is one. */
  readonly seen: { line: string; range: string | undefined; cut: boolean }[] = [];
  #listener: Deno.Listener;
  #upstream: { hostname: string; port: number };
  #rules: CutRule[];
  #patches = 0;
  #conns = new Set<Deno.Conn>();
  #done: Promise<void>;

  constructor(upstreamHost: string, rules: CutRule[]) {
    const [hostname, port] = upstreamHost.split(":");
    this.#upstream = { hostname: hostname!, port: Number(port) };
    this.#rules = rules;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port2 = (this.#listener.addr as Deno.NetAddr).port;
    this.host = `127.0.0.1:${port2}`;
    this.url = `http://${this.host}`;
    this.#done = this.#accept();
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return;
      }
      this.#serve(conn).catch(() => {});
    }
  }

  async #serve(client: Deno.Conn): Promise<void> {
    const upstream = await Deno.connect(this.#upstream);
    this.#conns.add(client);
    this.#conns.add(upstream);
    const close = () => {
      for (const c of [client, upstream]) {
        if (this.#conns.delete(c)) {
          try {
            c.close();
          } catch { /* closed */ }
        }
      }
    };
    // responses: byte for byte (the registry's Location names the upstream: rewrite it)
    const back = (async () => {
      const buf = new Uint8Array(64 * 1024);
      for (;;) {
        const n = await upstream.read(buf).catch(() => null);
        if (n === null) break;
        let chunk = buf.subarray(0, n);
        const text = new TextDecoder("latin1").decode(chunk);
        const up = `${this.#upstream.hostname}:${this.#upstream.port}`;
        if (text.includes(up)) {
          chunk = Uint8Array.from(text.replaceAll(up, this.host), (c) => c.charCodeAt(0));
        }
        if (!await writeAll(client, chunk)) break;
      }
      close();
    })();
    // requests: parsed for their framing, so a PATCH body can be cut
    let pending = new Uint8Array(0);
    const read = async (): Promise<boolean> => {
      const buf = new Uint8Array(64 * 1024);
      const n = await client.read(buf).catch(() => null);
      if (n === null) return false;
      const next = new Uint8Array(pending.byteLength + n);
      next.set(pending);
      next.set(buf.subarray(0, n), pending.byteLength);
      pending = next;
      return true;
    };
    try {
      for (;;) {
        let end = indexOf(pending, "\r\n\r\n");
        while (end < 0) {
          if (!await read()) return;
          end = indexOf(pending, "\r\n\r\n");
        }
        const head = new TextDecoder("latin1").decode(pending.subarray(0, end));
        const lines = head.split("\r\n");
        const header = (name: string) =>
          lines.find((l) => l.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim();
        const length = Number(header("content-length") ?? 0);
        const isPatch = lines[0]!.startsWith("PATCH ");
        const rule = isPatch ? this.#rules.find((r) => r.patch === this.#patches + 1) : undefined;
        if (isPatch) this.#patches++;
        this.seen.push({
          line: lines[0]!,
          range: header("content-range"),
          cut: rule !== undefined,
        });
        const total = end + 4 + length;
        const pass = rule ? end + 4 + Math.min(rule.after, length) : total;
        while (pending.byteLength < pass) {
          if (!await read()) return;
        }
        if (!await writeAll(upstream, pending.subarray(0, pass))) return;
        if (rule) {
          // let the partial body reach the registry, then break both connections
          await new Promise((r) => setTimeout(r, 100));
          return;
        }
        pending = pending.slice(total);
      }
    } finally {
      close();
      await back;
    }
  }

  async stop(): Promise<void> {
    this.#listener.close();
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    this.#conns.clear();
    await this.#done;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<boolean> {
  try {
    let at = 0;
    while (at < bytes.byteLength) at += await conn.write(bytes.subarray(at));
    return true;
  } catch {
    return false;
  }
}

function indexOf(bytes: Uint8Array, text: string): number {
  const pattern = new TextEncoder().encode(text);
  outer: for (let i = 0; i + pattern.length <= bytes.byteLength; i++) {
    for (let j = 0; j < pattern.length; j++) if (bytes[i + j] !== pattern[j]) continue outer;
    return i;
  }
  return -1;
}
