/**
 * Download priority for a consumer that reads blobs in an order of its own (the streaming unpack
 * applies layers one after another): the first blob of that order not yet downloaded gets the
 * network and the CPU first, and the later ones read ahead only while it is waiting on the
 * network.
 *
 * Why: with every layer downloading at once, on a machine where the download is bound by CPU
 * (loopback, a fast LAN, 2 cores), the layer being applied gets a quarter of the bandwidth, and
 * the layers after it are applied from disk at the end, one by one, with the network idle.
 * Downloading them in order instead overlaps each layer's apply with the next one's download.
 * But where each connection is slow and parallel ones add up (a registry far away), downloading
 * one at a time would waste the link: there the first blob's reads wait on the network, and the
 * others are let through. Which of the two holds is measured, not guessed: the share of the
 * first blob's time spent waiting for its reads, over windows of 50 ms (more than 60% in two
 * in a row lets the others through, less than 25% holds them). Every half second with the others
 * let through, they are held to measure again.
 *
 * @module
 */

/** Options for {@linkcode DownloadPriority} (the defaults are what the streaming unpack uses). */
export interface DownloadPriorityOptions {
  /**
   * How long one measurement of the first blob's read waits lasts, in milliseconds.
   * @default {50}
   */
  windowMs?: number;
  /**
   * How long the others read before they are held again for a new measurement.
   * @default {500}
   */
  reprobeMs?: number;
  /**
   * A first blob that has not read for this long (a retry's pause, a lock) holds nobody back.
   * @default {150}
   */
  idleMs?: number;
  /**
   * A first blob with fewer bytes than this left to download lets the next one start.
   * @default {8388608}
   */
  holdMin?: number;
  /** The clock, in milliseconds (tests give their own). */
  now?: () => number;
}

/** A blob in the consumer's order. */
export interface OrderedBlob {
  /** Its digest. */
  digest: string;
  /** Its size in bytes. */
  size: number;
}

/** How long one measurement of the first blob's read waits lasts. */
const WINDOW_MS = 50;
/**
 * Above this share of the window spent waiting for reads, in two windows in a row, the first blob
 * is network-bound (one window is not enough: the worker's start, or a page-cache miss at the
 * registry, can make a loopback read wait for a moment).
 */
const OPEN_ABOVE = 0.6;
/** How many windows in a row must say so. */
const OPEN_WINDOWS = 2;
/** Below this share, it is not (between the two, the state stays as it is). */
const CLOSE_BELOW = 0.25;
/** How long the others run before they are held again for a new measurement. */
const REPROBE_MS = 500;
/** A first blob that has not read for this long (a retry's pause, a lock) holds nobody back. */
const IDLE_MS = 150;
/** A first blob with less than this left lets the next one start. */
const HOLD_MIN = 8 * 1024 * 1024;

/**
 * Decides which downloads may read: every blob not in the order, the first unfinished blob of
 * the order, and the others only while the first is waiting on the network.
 *
 * @example The first layer reads; the second waits until the first is done
 * ```ts
 * import { DownloadPriority } from "./download_priority.ts";
 * import assert from "node:assert/strict";
 *
 * const MiB = 1024 * 1024;
 * const priority = new DownloadPriority([
 *   { digest: "sha256:aa", size: 64 * MiB },
 *   { digest: "sha256:bb", size: 64 * MiB },
 * ]);
 * assert.equal(priority.mayRead("sha256:aa"), true);
 * assert.equal(priority.mayRead("sha256:cc"), true); // not in the order: never held
 * priority.read("sha256:aa", 0, MiB); // a read that found its data waiting: CPU-bound
 * const second = priority.turn("sha256:bb");
 * priority.finish("sha256:aa");
 * await second; // the first is done: the second reads
 * ```
 */
export class DownloadPriority {
  #order: string[];
  #position: Map<string, number>;
  #size: Map<string, number>;
  /** Bytes each blob's download read so far. */
  #read = new Map<string, number>();
  /** The first blob was held before it became first: its first window is not judged. */
  #fresh = false;
  #holdMin: number;
  #finished = new Set<string>();
  #at = 0;
  /** Whether the blobs after the first may read (the first is waiting on the network). */
  #open = false;
  #openedAt = 0;
  #windowStart: number;
  #waited = 0;
  /** Windows in a row in which the first blob waited on the network. */
  #slowWindows = 0;
  #lastRead: number;
  #windowMs: number;
  #reprobeMs: number;
  #idleMs: number;
  #now: () => number;
  #waiters: (() => void)[] = [];
  /** How many times the others were let through, and held again (for diagnostics and tests). */
  readonly stats = { opened: 0, closed: 0 };

  /**
   * Makes the priority.
   *
   * @param order The blobs in the order the consumer reads them.
   * @param options The measurement's timings, and a clock.
   */
  constructor(order: readonly OrderedBlob[], options: DownloadPriorityOptions = {}) {
    this.#order = order.map((b) => b.digest);
    this.#position = new Map(this.#order.map((d, i) => [d, i]));
    this.#size = new Map(order.map((b) => [b.digest, b.size]));
    this.#holdMin = options.holdMin ?? HOLD_MIN;
    this.#windowMs = options.windowMs ?? WINDOW_MS;
    this.#reprobeMs = options.reprobeMs ?? REPROBE_MS;
    this.#idleMs = options.idleMs ?? IDLE_MS;
    this.#now = options.now ?? (() => performance.now());
    this.#windowStart = this.#lastRead = this.#now();
  }

  /** The first blob of the order not yet finished. */
  get first(): string | undefined {
    while (this.#at < this.#order.length && this.#finished.has(this.#order[this.#at]!)) {
      this.#at++;
    }
    return this.#order[this.#at];
  }

  /**
   * Whether a blob's download may read now.
   *
   * @param digest The blob.
   * @returns `true` for the first unfinished blob, a blob not in the order, or any blob while
   *   the first is waiting on the network (or not reading at all, or nearly done).
   */
  mayRead(digest: string): boolean {
    const first = this.first;
    if (first === undefined || digest === first || !this.#position.has(digest)) return true;
    if (this.#finished.has(digest)) return true;
    // the next one may start on a first that is nearly done (the one after it still waits)
    const left = (this.#size.get(first) ?? 0) - (this.#read.get(first) ?? 0);
    if (left < this.#holdMin && this.#position.get(digest) === this.#at + 1) return true;
    const now = this.#now();
    if (now - this.#lastRead > this.#idleMs) return true;
    if (this.#open && now - this.#openedAt > this.#reprobeMs) this.#close(now);
    return this.#open;
  }

  /**
   * Waits until a blob may read (see {@linkcode DownloadPriority.mayRead}).
   *
   * @param digest The blob.
   * @param signal Stops waiting: rejects with its reason.
   */
  async turn(digest: string, signal?: AbortSignal): Promise<void> {
    while (!this.mayRead(digest)) {
      signal?.throwIfAborted();
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#waiters.push(resolve);
      // looked at again when the state changes, and at least every window (an idle first blob
      // must not hold the others for ever)
      const timer = setTimeout(resolve, this.#windowMs);
      const onAbort = () => resolve();
      signal?.addEventListener("abort", onAbort, { once: true });
      try {
        await promise;
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      }
    }
    signal?.throwIfAborted();
  }

  /**
   * Tells a read a blob's download made, and how long it waited for its bytes.
   *
   * @param digest The blob.
   * @param waited Milliseconds the read waited.
   * @param bytes The bytes it brought.
   */
  read(digest: string, waited: number, bytes: number): void {
    this.#read.set(digest, (this.#read.get(digest) ?? 0) + bytes);
    if (digest !== this.first) return;
    const now = this.#now();
    this.#lastRead = now;
    this.#waited += waited;
    const span = now - this.#windowStart;
    if (span < this.#windowMs) return;
    const share = this.#waited / span;
    this.#windowStart = now;
    this.#waited = 0;
    if (this.#fresh) {
      // what it read had piled up while it was held: no verdict on this window
      this.#fresh = false;
      return;
    }
    this.#slowWindows = share > OPEN_ABOVE ? this.#slowWindows + 1 : 0;
    if (!this.#open && this.#slowWindows >= OPEN_WINDOWS) {
      this.#open = true;
      this.#openedAt = now;
      this.stats.opened++;
      this.#wake();
    } else if (this.#open && share < CLOSE_BELOW) {
      this.#close(now);
    }
  }

  /**
   * Tells that a blob's download ended (its last byte read, or failed): the next one in the
   * order is first. Telling it again changes nothing.
   *
   * @param digest The blob.
   */
  finish(digest: string): void {
    if (this.#finished.has(digest)) return;
    const wasFirst = digest === this.first;
    this.#finished.add(digest);
    if (wasFirst) {
      // the verdict so far stands; the new first is measured from now, its first window skipped
      // when it was held (it then reads what its connection buffered meanwhile)
      const now = this.#now();
      this.#fresh = !this.#open;
      this.#windowStart = now;
      this.#waited = 0;
      this.#lastRead = now;
    }
    this.#wake();
  }

  #close(now: number): void {
    this.#open = false;
    this.#windowStart = now;
    this.#waited = 0;
    this.#slowWindows = 0;
    this.stats.closed++;
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
