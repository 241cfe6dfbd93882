// skiff serve

import { escapeText, jsonText } from "../../progress/escape_text.ts";
import { JSON_OPTION, LOCAL_DEBUG_OPTION, QUIET_OPTION, reword, storeOption } from "../_options.ts";
import { jsonFlag, storePath, warningLog } from "../_shared.ts";
import { type Command, UsageError } from "../command.ts";

/** `skiff serve`. */
export const serveCommand: Command = {
  name: "serve",
  summary: "serve the store as a read-only registry (a mirror for engines)",
  usage: ["[options]"],
  description: `Serves the store as a read-only OCI registry (the distribution API) that docker,
    podman, skopeo, containerd and skiff pull from, also as a mirror. A stored name HOST/REPO:TAG
    is repository REPO, tag TAG. Where several registries' names share REPO, containerd's ?ns=HOST
    or the full name HOST/REPO picks one; without either, docker.io first, then the registry that
    sorts first. Tags answer with the manifest as its registry had it; blobs come from the
    store's files, and one that does not match its digest is refused. The referrers API lists
    what the store keeps. Pushes are refused (405).

    It listens on 127.0.0.1:5000, elsewhere only with TLS or --insecure. The first line on stdout
    says where; then each request is one line on stderr, once its answer ended. SIGINT or SIGTERM
    stops it: the responses in flight end (for up to 10 s), then exit 0.`,
  options: {
    ...storeOption("to serve"),
    addr: {
      type: "string",
      value: "HOST:PORT",
      help: `where to listen (default 127.0.0.1:5000; port 0: any free port; [::1]:PORT for IPv6;
        :PORT for every address)`,
    },
    "tls-cert": {
      type: "string",
      value: "FILE",
      help: "serve HTTPS with this certificate chain (PEM; with --tls-key)",
    },
    "tls-key": { type: "string", value: "FILE", help: "the certificate's private key (PEM)" },
    htpasswd: {
      type: "string",
      value: "FILE",
      help: "require basic auth: the users and bcrypt hashes in FILE (htpasswd -B)",
    },
    insecure: { type: "boolean", help: "allow plain HTTP on an address beyond loopback" },
    json: reword(JSON_OPTION.json, "print the first line as JSON: url, hostname, port, tls, store"),
    quiet: reword(QUIET_OPTION.quiet, "no access log (warnings are still printed)"),
    ...LOCAL_DEBUG_OPTION,
  },
  notes: `An access log line: client, user, [time], "METHOD TARGET", status, length, "user agent",
    duration, and "broken off" when the client left before the end; every field from the client
    is escaped.`,
  examples: [
    "skiff serve",
    "skiff serve --addr 127.0.0.1:0 --json   # any free port, read from the first line",
    "skiff serve --addr 0.0.0.0:5443 --tls-cert cert.pem --tls-key key.pem --htpasswd users",
    "skopeo copy docker://127.0.0.1:5000/library/alpine:3.20 oci:alpine:3.20",
  ],
  more: [{
    title: "Serving the store: names, mirrors, verification, security",
    path: "serving.md",
  }],
  async run(ctx) {
    if (ctx.positionals.length > 0) {
      throw new UsageError(`serve takes no arguments, got "${ctx.positionals[0]}"`);
    }
    const { hostname, port } = listenAddress(ctx.flags.addr);
    const certPath = ctx.flags["tls-cert"], keyPath = ctx.flags["tls-key"];
    if ((typeof certPath === "string") !== (typeof keyPath === "string")) {
      throw new UsageError("--tls-cert and --tls-key go together");
    }
    const read = async (flag: string, path: string) => {
      try {
        return await Deno.readTextFile(path);
      } catch (e) {
        throw new Error(`Cannot read ${flag} ${path}: ${(e as Error).message}`, { cause: e });
      }
    };
    const tls = typeof certPath === "string" && typeof keyPath === "string"
      ? { cert: await read("--tls-cert", certPath), key: await read("--tls-key", keyPath) }
      : undefined;
    const htpasswdPath = ctx.flags.htpasswd;
    const htpasswd = typeof htpasswdPath === "string"
      ? await read("--htpasswd", htpasswdPath)
      : undefined;
    const quiet = ctx.flags.quiet === true;
    const { serve } = await import("../../serve/serve.ts");
    const server = await serve({
      store: storePath(ctx),
      hostname,
      port,
      ...(tls ? { tls } : {}),
      ...(htpasswd !== undefined ? { htpasswd, htpasswdSource: String(htpasswdPath) } : {}),
      insecure: ctx.flags.insecure === true,
      ...(quiet ? {} : {
        onRequest: (e) =>
          ctx.io.err(
            escapeText(
              `${e.remote ?? "-"} ${e.user ?? "-"} [${e.time.toISOString()}] ` +
                `"${e.method} ${e.target}" ${e.status} ${e.bytes ?? "-"} ` +
                `"${e.userAgent ?? "-"}" ${Math.round(e.milliseconds)}ms` +
                (e.completed === false ? " broken off" : ""),
              { clip: true },
            ) + "\n",
          ),
      }),
      ...warningLog(ctx),
    });
    if (jsonFlag(ctx)) {
      ctx.io.out(
        jsonText({
          url: server.url,
          hostname: server.hostname,
          port: server.port,
          tls: server.tls,
          store: server.store,
        }) + "\n",
      );
    } else {
      ctx.io.out(escapeText(`serving ${server.store} at ${server.url}`) + "\n");
    }
    if (!ctx.signal.aborted) {
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
    }
    const { drained } = await server.shutdown();
    if (!drained) {
      ctx.io.err("skiff: stopped; responses still in flight after 10 s were broken off\n");
    }
    return 0;
  },
};

/** `--addr HOST:PORT` (`[V6]:PORT`, `:PORT` for every address), default 127.0.0.1:5000. */
function listenAddress(flag: unknown): { hostname: string; port: number } {
  if (typeof flag !== "string") return { hostname: "127.0.0.1", port: 5000 };
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\[\]]*)):(\d{1,5})$/.exec(flag);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new UsageError(
      `--addr must be HOST:PORT ([::1]:PORT for IPv6, :PORT for every address), got "${flag}"`,
    );
  }
  const hostname = m[1] ?? (m[2] === "" ? "0.0.0.0" : m[2]!);
  return { hostname, port };
}
