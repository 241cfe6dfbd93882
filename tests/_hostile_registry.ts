// A registry of the tests' own on 127.0.0.1 that says whatever a test wants: manifests, blobs and
// tag lists by content (so digests check out), and any raw answer for a path. For what the real
// registry refuses to store or say: control characters in tags, error messages, platforms.

import { sha256 } from "./_images.ts";

export interface HostileRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  /** Serves `bytes` as manifest `repo:tag` (and by its digest); returns the digest. */
  manifest(repo: string, tag: string | undefined, doc: unknown, mediaType?: string): string;
  /** Serves `bytes` as a blob of `repo`; returns the digest and size. */
  blob(repo: string, bytes: Uint8Array | string): { digest: string; size: number };
  /** Answers `path` (e.g. `/v2/evil/tags/list`) with what `answer` returns. */
  route(path: string, answer: (req: Request) => Response | Promise<Response>): void;
  /** Requests seen, as `METHOD path`. */
  seen: string[];
  [Symbol.asyncDispose](): Promise<void>;
}

export function startHostileRegistry(): HostileRegistry {
  const routes = new Map<string, (req: Request) => Response | Promise<Response>>();
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    seen.push(`${req.method} ${url.pathname}`);
    if (url.pathname === "/v2/") return new Response("{}", { status: 200 });
    const answer = routes.get(url.pathname);
    if (answer) {
      const res = await answer(req);
      return req.method === "HEAD" ? new Response(null, res) : res;
    }
    return Response.json(
      { errors: [{ code: "NAME_UNKNOWN", message: "not here" }] },
      { status: 404 },
    );
  });
  const enc = new TextEncoder();
  const host = `127.0.0.1:${server.addr.port}`;
  return {
    host,
    seen,
    manifest(repo, tag, doc, mediaType) {
      const bytes = typeof doc === "string" ? enc.encode(doc) : enc.encode(JSON.stringify(doc));
      const type = mediaType ?? (doc as { mediaType?: string }).mediaType ??
        "application/vnd.oci.image.manifest.v1+json";
      const digest = sha256(bytes);
      const answer = () =>
        new Response(bytes as Uint8Array<ArrayBuffer>, {
          headers: {
            "content-type": type,
            "docker-content-digest": digest,
            "content-length": String(bytes.length),
          },
        });
      routes.set(`/v2/${repo}/manifests/${digest}`, answer);
      if (tag !== undefined) routes.set(`/v2/${repo}/manifests/${tag}`, answer);
      return digest;
    },
    blob(repo, content) {
      const bytes = typeof content === "string" ? enc.encode(content) : content;
      const digest = sha256(bytes);
      routes.set(
        `/v2/${repo}/blobs/${digest}`,
        () =>
          new Response(bytes as Uint8Array<ArrayBuffer>, {
            headers: { "content-length": String(bytes.length), "docker-content-digest": digest },
          }),
      );
      return { digest, size: bytes.length };
    },
    route(path, answer) {
      routes.set(path, answer);
    },
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}
