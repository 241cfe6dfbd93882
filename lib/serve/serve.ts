/**
 * `skiff serve` as a call: the store as a read-only OCI Distribution registry that containerd,
 * podman, skopeo and docker pull from (as a mirror too), on loopback by default.
 *
 * @module
 */

import { Store } from "../store/store.ts";
import { isLoopback } from "../transport/is_loopback.ts";
import { type AccessLogEntry, RegistryHandler } from "./registry_handler.ts";

/** Options for {@linkcode serve}. */
export interface ServeOptions {
  /**
   * The store served (an OCI image layout skiff pulled into).
   * @default {Store.defaultPath()}
   */
  store?: string | Store;
  /**
   * The address to listen on. Anything but a loopback address needs `tls` or `insecure`.
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The port; 0 takes any free port (read it from the result).
   * @default {5000}
   */
  port?: number;
  /**
   * Serve HTTPS: the certificate chain and its private key, PEM text.
   * @default {undefined}
   */
  tls?: { cert: string; key: string };
  /**
   * Require basic authentication: an htpasswd file's text (bcrypt entries, `htpasswd -B`).
   * @default {undefined}
   */
  htpasswd?: string;
  /**
   * What to call the htpasswd text in errors (its file's path).
   * @default {"htpasswd file"}
   */
  htpasswdSource?: string;
  /**
   * Allow plain HTTP on an address beyond loopback (anyone on the network can read what is
   * served, and basic auth's passwords).
   * @default {false}
   */
  insecure?: boolean;
  /**
   * Called once per request (the access log).
   * @default {undefined}
   */
  onRequest?: (entry: AccessLogEntry) => void;
  /**
   * Called with the server's own warnings (a damaged blob refused, an internal error).
   * @default {undefined}
   */
  onWarning?: (message: string) => void;
  /**
   * Aborting it stops the server gracefully (as {@linkcode StoreServer.shutdown}).
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * How long a shutdown waits for responses in flight (ms), before it breaks them off.
   * @default {10000}
   */
  gracePeriod?: number;
}

/** A running {@linkcode serve}. */
export interface StoreServer {
  /** The base URL clients use: `http://127.0.0.1:5000`. */
  url: string;
  /** The address listened on. */
  hostname: string;
  /** The port listened on. */
  port: number;
  /** Whether it serves HTTPS. */
  tls: boolean;
  /** The store's directory. */
  store: string;
  /**
   * Stops accepting connections, lets the responses in flight end (at most the grace period),
   * then closes.
   *
   * @returns Resolves once the responses in flight ended (`drained: true`), or once the grace
   *   period ran out and they were broken off (`drained: false`; a body Deno streams from a file
   *   by itself then ends with the process).
   */
  shutdown(): Promise<{ drained: boolean }>;
  /** Resolves once the server is closed (after a shutdown). */
  finished: Promise<void>;
  /** {@linkcode StoreServer.shutdown}. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Serves a store as a read-only registry until it is shut down. Each stored name `HOST/REPO:TAG`
 * is repository `REPO`, tag `TAG` (the form a mirror is asked in; containerd's `ns` parameter or
 * the full `HOST/REPO` picks among registries); manifests, blobs (with `Range`), tags, the
 * catalog and the referrers API are served from the store's files, verified (see
 * docs/DESIGN.md, "Serving the store").
 *
 * @param options The store, where to listen, TLS, basic auth, the access log.
 * @returns The running server.
 * @throws {TypeError} When asked to listen beyond loopback without TLS and without `insecure`.
 * @throws {SyntaxError} When the htpasswd text is not bcrypt entries.
 * @throws {Error} When the store cannot be opened or the address cannot be listened on.
 *
 * @example Serve a store on a free port of loopback, then stop
 * ```ts ignore
 * import { serve } from "./serve.ts";
 *
 * const server = await serve({ store: "./images", port: 0 });
 * console.log(`skopeo copy docker://${new URL(server.url).host}/library/alpine:3.20 oci:out`);
 * await server.shutdown();
 * ```
 */
export async function serve(options: ServeOptions = {}): Promise<StoreServer> {
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 5000;
  const shown = `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`Cannot serve on ${shown}: the port is not from 0 to 65535`);
  }
  if (!options.tls && !isLoopback(hostname) && options.insecure !== true) {
    throw new TypeError(
      `Cannot serve on ${shown}: plain HTTP beyond loopback lets anyone on the network read ` +
        `(and change) what is pulled; give a certificate (--tls-cert, --tls-key), or --insecure`,
    );
  }
  const store = options.store instanceof Store
    ? options.store
    : await Store.open(options.store ?? Store.defaultPath(), { create: false });
  const handler = new RegistryHandler(store, {
    ...(options.htpasswd !== undefined
      ? {
        auth: {
          htpasswd: options.htpasswd,
          ...(options.htpasswdSource !== undefined ? { source: options.htpasswdSource } : {}),
        },
      }
      : {}),
    ...(options.onRequest ? { onRequest: options.onRequest } : {}),
    ...(options.onWarning ? { onWarning: options.onWarning } : {}),
  });
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname,
      port,
      onListen: () => {},
      ...(options.tls ? { cert: options.tls.cert, key: options.tls.key } : {}),
    }, handler.handle);
  } catch (e) {
    throw new Error(`Cannot serve on ${shown}: ${(e as Error).message}`, { cause: e });
  }
  const addr = server.addr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const grace = options.gracePeriod ?? 10_000;
  let stopping: Promise<{ drained: boolean }> | undefined;
  const shutdown = () =>
    stopping ??= (async () => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const graceful = server.shutdown().then(() => true);
      const late = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), grace);
      });
      const drained = await Promise.race([graceful, late]);
      clearTimeout(timer);
      // what still streams through JavaScript is broken off; a body Deno streams from a file by
      // itself ends with the process
      if (!drained) handler.cut();
      return { drained };
    })();
  if (options.signal) {
    if (options.signal.aborted) await shutdown();
    else options.signal.addEventListener("abort", () => void shutdown(), { once: true });
  }
  return {
    url: `${options.tls ? "https" : "http"}://${host}:${addr.port}`,
    hostname: addr.hostname,
    port: addr.port,
    tls: options.tls !== undefined,
    store: store.path,
    shutdown,
    finished: server.finished,
    [Symbol.asyncDispose]: async () => {
      await shutdown();
    },
  };
}
