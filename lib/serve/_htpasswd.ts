// Basic authentication for `skiff serve`: users and bcrypt hashes from an htpasswd file (what
// `htpasswd -B` writes, and what Distribution's `auth: htpasswd` reads: bcrypt only).
//
// Clients send their credentials with every request, and bcrypt is slow on purpose (cost 10: about
// 0.1 s here), so a credential that verified is remembered (its SHA-256 with the hash it matched,
// never the password) and the next request with it costs one digest. Checks that do run bcrypt
// run one at a time and yield to the event loop between rounds: a stream of wrong passwords slows
// down only those who send them. An unknown user is checked against a hash all the same, so the
// answer's time does not tell which users exist.

import { bcryptHash, bcryptVerify, isBcryptHash } from "./_bcrypt.ts";

/** The most remembered credentials (good or bad); the memory starts over when it is full. */
const REMEMBERED = 1024;

/** A user and password that were refused, or accepted: what {@linkcode Htpasswd.check} answers. */
export type AuthResult = { ok: true; user: string } | { ok: false; user: string | undefined };

/** The users of an htpasswd file, and the checks of credentials against them. */
export class Htpasswd {
  readonly #users: Map<string, string>;
  readonly #dummy: Promise<string>;
  readonly #good = new Set<string>();
  readonly #bad = new Set<string>();
  #queue: Promise<unknown> = Promise.resolve();

  /**
   * Reads an htpasswd file's text: `user:hash` lines, `#` comments and blank lines skipped.
   *
   * @param text The file's text.
   * @param source What to call the file in errors.
   * @throws {SyntaxError} On a line that is not `user:$2y$...` (bcrypt), naming the line.
   */
  constructor(text: string, source = "htpasswd file") {
    this.#users = new Map();
    let lineNumber = 0;
    for (const raw of text.split("\n")) {
      lineNumber++;
      const line = raw.replace(/\r$/, "").trim();
      if (line === "" || line.startsWith("#")) continue;
      const colon = line.indexOf(":");
      const user = colon > 0 ? line.slice(0, colon) : "";
      const hash = colon > 0 ? line.slice(colon + 1) : "";
      if (user === "" || !isBcryptHash(hash)) {
        throw new SyntaxError(
          `Cannot read ${source}: line ${lineNumber} is not "user:" and a bcrypt hash ` +
            `($2y$, $2b$ or $2a$; make one with htpasswd -B)`,
        );
      }
      if (this.#users.has(user)) {
        throw new SyntaxError(
          `Cannot read ${source}: the user on line ${lineNumber} is listed twice`,
        );
      }
      this.#users.set(user, hash);
    }
    if (this.#users.size === 0) throw new SyntaxError(`Cannot read ${source}: it lists no user`);
    // the hash an unknown user is checked against: the cost of the file's first user (computing
    // it also prepares bcrypt's tables before the first request)
    const cost = Number([...this.#users.values()][0]!.slice(4, 6));
    this.#dummy = withYields((pause) => bcryptHash("", cost, new Uint8Array(16), "b", { pause }));
    this.#dummy.catch(() => {});
  }

  /** How many users the file lists. */
  get size(): number {
    return this.#users.size;
  }

  /**
   * Checks an `Authorization` header: `Basic` credentials of a listed user with the right
   * password.
   *
   * @param header The request's `Authorization` header.
   * @returns Whether it is accepted, and the user it names.
   */
  async check(header: string | null): Promise<AuthResult> {
    const m = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
    if (!m) return { ok: false, user: undefined };
    let decoded: string;
    try {
      decoded = new TextDecoder("utf-8", { fatal: true }).decode(
        Uint8Array.from(atob(m[1]!), (c) => c.charCodeAt(0)),
      );
    } catch {
      return { ok: false, user: undefined };
    }
    const colon = decoded.indexOf(":");
    if (colon < 0) return { ok: false, user: undefined };
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const hash = this.#users.get(user);
    const key = await remembered(user, password, hash ?? "");
    if (hash !== undefined && this.#good.has(key)) return { ok: true, user };
    if (this.#bad.has(key)) return { ok: false, user };
    // one bcrypt at a time: the others wait their turn, the server answers everyone else meanwhile
    const turn = this.#queue.then(async () => {
      const against = hash ?? await this.#dummy;
      const ok = await withYields((pause) => bcryptVerify(password, against, { pause }));
      return ok && hash !== undefined;
    });
    this.#queue = turn.catch(() => {});
    const ok = await turn;
    const memory = ok ? this.#good : this.#bad;
    if (memory.size >= REMEMBERED) memory.clear();
    memory.add(key);
    return ok ? { ok: true, user } : { ok: false, user };
  }
}

/** A key for a credential and the hash it was checked against: a digest, never the password. */
async function remembered(user: string, password: string, hash: string): Promise<string> {
  const bytes = new TextEncoder().encode(`${user}\0${password}\0${hash}`);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Runs `work` with a `pause` that lets the event loop's other work (requests, I/O) run: a message
 * through a channel of its own. Not `setTimeout(0)`: nested timers are held to 4 ms each after the
 * fifth, which made a cost-10 check take 390 ms instead of 95 (110 with the channel).
 */
async function withYields<T>(work: (pause: () => Promise<void>) => Promise<T>): Promise<T> {
  const channel = new MessageChannel();
  let wake = () => {};
  channel.port1.onmessage = () => wake();
  try {
    return await work(() =>
      new Promise<void>((resolve) => {
        wake = resolve;
        channel.port2.postMessage(0);
      })
    );
  } finally {
    channel.port1.close();
    channel.port2.close();
  }
}
