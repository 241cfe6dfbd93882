// A fault-injecting HTTP proxy of the tests' own: it sits between skiff and the real registry on
// loopback, forwards every request, records what it saw, and applies scripted faults per request.

export type Fault =
  /** Answer with this status instead of forwarding. */
  | { kind: "status"; status: number; headers?: Record<string, string>; body?: string }
  /** Send the first `after` body bytes, then break the connection. */
  | { kind: "cut"; after: number }
  /** Send the first `after` body bytes, then end the body cleanly (no Content-Length). */
  | { kind: "short"; after: number }
  /** Send the first `after` body bytes, then send nothing for `ms` (forever when absent). */
  | { kind: "stall"; after: number; ms?: number }
  /**
   * Flip the bits of the body byte at offset `at` (of this response's body), or at `fraction`
   * (0 to 1) of the body's length as the upstream announced it.
   */
  | { kind: "flip"; at: number }
  | { kind: "flip"; fraction: number }
  /** Drop the request's Range header: the upstream answers 200 with the whole body. */
  | { kind: "ignore-range" }
  /** Answer 206 with this Content-Range header instead of the upstream's. */
  | { kind: "content-range"; value: string }
  /** Answer 307 to this URL. */
  | { kind: "redirect"; to: string }
  /** Send the body at most this fast. */
  | { kind: "throttle"; bytesPerSecond: number }
  /** Append these bytes to the body. */
  | { kind: "append"; bytes: Uint8Array }
  /** Send the first `after` body bytes, then nothing until `until` resolves, then the rest. */
  | { kind: "hold"; after: number; until: Promise<void>; reached?: () => void }
  /** Handle the request (its other faults, or forward it) only once `until` resolves. */
  | { kind: "wait"; until: Promise<void> };

export interface SeenRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  status: number;
}

export type Rule = (request: Request, url: URL) => Fault[] | Fault | undefined;

// Note: Deno's HTTP server prints the error of a response body that fails mid-stream (from its
// Rust side, past any JS hook); the "cut" fault does that on purpose, so runs show lines like
// "Error: fault injected by the test proxy: connection cut". They are expected.

export class FaultProxy {
  readonly host: string;
  readonly url: string;
  readonly seen: SeenRequest[] = [];
  rules: Rule[] = [];
  #server: Deno.HttpServer;
  #upstream: string;
  #stopping = Promise.withResolvers<void>();

  private constructor(server: Deno.HttpServer, upstream: string) {
    this.#server = server;
    this.#upstream = upstream;
    const port = (server.addr as Deno.NetAddr).port;
    this.host = `127.0.0.1:${port}`;
    this.url = `http://${this.host}`;
  }

  /** Starts a proxy in front of `upstream` (e.g. `http://127.0.0.1:5000`). */
  static start(upstream: string): FaultProxy {
    const holder: { proxy?: FaultProxy } = {};
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (req) => holder.proxy!.#handle(req),
    );
    holder.proxy = new FaultProxy(server, upstream);
    return holder.proxy;
  }

  /** Adds a rule; rules are asked in order, and all faults they return apply. */
  on(rule: Rule): this {
    this.rules.push(rule);
    return this;
  }

  /** Requests whose path contains `fragment`. */
  requests(fragment: string): SeenRequest[] {
    return this.seen.filter((r) => r.path.includes(fragment));
  }

  async stop(): Promise<void> {
    this.#stopping.resolve();
    await this.#server.shutdown();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => headers[k] = v);
    const record: SeenRequest = {
      method: req.method,
      path: url.pathname + url.search,
      headers,
      status: 0,
    };
    this.seen.push(record);
    const faults = this.rules.flatMap((r) => {
      const f = r(req, url);
      return f === undefined ? [] : Array.isArray(f) ? f : [f];
    });
    const wait = faults.find((f) => f.kind === "wait");
    if (wait?.kind === "wait") await wait.until;
    const status = faults.find((f) => f.kind === "status");
    if (status?.kind === "status") {
      record.status = status.status;
      return new Response(status.body ?? null, {
        status: status.status,
        headers: status.headers ?? {},
      });
    }
    const redirect = faults.find((f) => f.kind === "redirect");
    if (redirect?.kind === "redirect") {
      record.status = 307;
      return new Response(null, { status: 307, headers: { location: redirect.to } });
    }
    const forward = new Headers(req.headers);
    forward.delete("host");
    if (faults.some((f) => f.kind === "ignore-range")) forward.delete("range");
    const upstream = await fetch(this.#upstream + url.pathname + url.search, {
      method: req.method,
      headers: forward,
      redirect: "manual",
      ...(req.body ? { body: req.body } : {}),
    });
    const out = new Headers(upstream.headers);
    // as a reverse proxy does: the upstream's own URLs (upload sessions) point back through us
    const location = out.get("location");
    if (location?.startsWith(this.#upstream)) {
      out.set("location", this.url + location.slice(this.#upstream.length));
    }
    let responseStatus = upstream.status;
    const cr = faults.find((f) => f.kind === "content-range");
    if (cr?.kind === "content-range") {
      out.set("content-range", cr.value);
      responseStatus = 206;
    }
    record.status = responseStatus;
    const bodyFaults = faults.filter((f) =>
      f.kind === "cut" || f.kind === "stall" || f.kind === "flip" || f.kind === "throttle" ||
      f.kind === "append" || f.kind === "short" || f.kind === "hold"
    );
    if (!upstream.body || bodyFaults.length === 0) {
      return new Response(upstream.body, { status: responseStatus, headers: out });
    }
    if (
      bodyFaults.some((f) =>
        f.kind === "append" || f.kind === "cut" || f.kind === "stall" || f.kind === "short"
      )
    ) {
      out.delete("content-length");
    }
    const length = Number(upstream.headers.get("content-length") ?? "0");
    const placed = bodyFaults.map((f) =>
      f.kind === "flip" && "fraction" in f
        ? { kind: "flip" as const, at: Math.floor(f.fraction * Math.max(0, length - 1)) }
        : f
    );
    return new Response(faultyBody(upstream.body, placed, this.#stopping.promise), {
      status: responseStatus,
      headers: out,
    });
  }
}

function faultyBody(
  body: ReadableStream<Uint8Array>,
  faults: Fault[],
  stopping: Promise<void>,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let sent = 0;
  let started = 0;
  const cut = faults.find((f) => f.kind === "cut") as { after: number } | undefined;
  const short = faults.find((f) => f.kind === "short") as { after: number } | undefined;
  const stall = faults.find((f) => f.kind === "stall") as
    | { after: number; ms?: number }
    | undefined;
  const flips = faults.filter((f) => f.kind === "flip") as { at: number }[];
  const throttle = faults.find((f) => f.kind === "throttle") as
    | { bytesPerSecond: number }
    | undefined;
  const append = faults.find((f) => f.kind === "append") as { bytes: Uint8Array } | undefined;
  const hold = faults.find((f) => f.kind === "hold") as
    | { after: number; until: Promise<void>; reached?: () => void }
    | undefined;
  let held = false;
  let rest: Uint8Array | undefined;
  let stalled = false;
  let appended = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (started === 0) started = performance.now();
      if (rest) {
        controller.enqueue(rest);
        sent += rest.byteLength;
        rest = undefined;
        return;
      }
      const { done, value } = await reader.read();
      if (done) {
        if (append && !appended) {
          appended = true;
          controller.enqueue(append.bytes);
          return;
        }
        controller.close();
        return;
      }
      let chunk = value.slice();
      if (short && sent + chunk.byteLength >= short.after) {
        chunk = chunk.subarray(0, Math.max(0, short.after - sent));
        if (chunk.byteLength > 0) controller.enqueue(chunk);
        sent += chunk.byteLength;
        await reader.cancel();
        controller.close();
        return;
      }
      for (const f of flips) {
        if (f.at >= sent && f.at < sent + chunk.byteLength) chunk[f.at - sent]! ^= 0xff;
      }
      if (hold && !held && sent + chunk.byteLength >= hold.after) {
        held = true;
        const first = chunk.subarray(0, Math.max(0, hold.after - sent));
        rest = chunk.subarray(first.byteLength);
        if (first.byteLength > 0) controller.enqueue(first);
        sent += first.byteLength;
        hold.reached?.();
        const released = await Promise.race([
          hold.until.then(() => true),
          stopping.then(() => false),
        ]);
        if (!released) {
          await reader.cancel();
          controller.error(new Error("fault injected by the test proxy: stopped while held"));
        }
        return;
      }
      const limit = cut?.after ?? (stall && !stalled ? stall.after : undefined);
      if (limit !== undefined && sent + chunk.byteLength >= limit) {
        chunk = chunk.subarray(0, Math.max(0, limit - sent));
        if (chunk.byteLength > 0) controller.enqueue(chunk);
        sent += chunk.byteLength;
        if (cut) {
          await reader.cancel();
          controller.error(new Error("fault injected by the test proxy: connection cut"));
          return;
        }
        stalled = true;
        let timer: ReturnType<typeof setTimeout> | undefined;
        const waited = await Promise.race([
          stopping.then(() => "stopped"),
          new Promise((r) => {
            if (stall!.ms !== undefined) timer = setTimeout(() => r("waited"), stall!.ms);
          }),
        ]);
        clearTimeout(timer);
        if (waited === "stopped") {
          await reader.cancel();
          controller.error(new Error("fault injected by the test proxy: stopped while stalled"));
        }
        return;
      }
      if (throttle) {
        const due = started + (sent + chunk.byteLength) / throttle.bytesPerSecond * 1000;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      sent += chunk.byteLength;
      controller.enqueue(chunk);
    },
    async cancel(reason) {
      await reader.cancel(reason);
    },
  });
}
