// A token server of the tests' own, for the real registry's `auth: token` mode (Docker's token
// auth spec): it signs RS256 JWTs with a key whose certificate the registry trusts (sent in the
// `x5c` header), grants anonymous pulls of `public/*`, and everything to known users. It also
// speaks the OAuth2 refresh-token POST that identity tokens use.

import { selfSigned } from "./_tls.ts";
import { tempDir } from "./_temp.ts";

export interface TokenServerOptions {
  /** user -> password */
  users?: Record<string, string>;
  /** identity (refresh) token -> user */
  refreshTokens?: Record<string, string>;
  /** Repositories under this prefix may be pulled anonymously. */
  publicPrefix?: string;
  /** Seconds the registry will accept a token (JWT exp = now + this - 60: the registry adds 60 s leeway). */
  validFor?: number;
  /** The expires_in the server reports (what clients cache by). */
  expiresIn?: number;
  /** Answer POST (OAuth2) requests; otherwise 405. */
  oauth?: boolean;
}

export interface TokenRequest {
  method: string;
  service: string | null;
  scopes: string[];
  user: string | undefined;
  /** true when the request carried an Authorization header */
  authorized: boolean;
  grant: string | null;
  status: number;
}

const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
const encodeJson = (value: unknown) => b64url(new TextEncoder().encode(JSON.stringify(value)));

function pemBody(pem: string): Uint8Array {
  const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

export class TokenServer {
  readonly url: string;
  readonly realm: string;
  readonly service = "skiff-test-registry";
  readonly issuer = "skiff-test-issuer";
  readonly certPath: string;
  readonly requests: TokenRequest[] = [];
  /** Every token handed out. */
  readonly tokens: string[] = [];
  options: TokenServerOptions;
  #server: Deno.HttpServer;
  #key: CryptoKey;
  #x5c: string;

  private constructor(
    server: Deno.HttpServer,
    key: CryptoKey,
    x5c: string,
    certPath: string,
    options: TokenServerOptions,
  ) {
    this.#server = server;
    this.#key = key;
    this.#x5c = x5c;
    this.certPath = certPath;
    this.options = options;
    this.url = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
    this.realm = `${this.url}/token`;
  }

  static async start(options: TokenServerOptions = {}): Promise<TokenServer> {
    const dir = await tempDir({ prefix: "skiff-token-" });
    await selfSigned(dir, "signer", "/CN=skiff test token signer");
    const keyPem = await Deno.readTextFile(`${dir}/signer.key`);
    const certPem = await Deno.readTextFile(`${dir}/signer.pem`);
    const key = await crypto.subtle.importKey(
      "pkcs8",
      pemBody(keyPem) as Uint8Array<ArrayBuffer>,
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const x5c = btoa(String.fromCharCode(...pemBody(certPem)));
    const holder: { server?: TokenServer } = {};
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (req) => holder.server!.#handle(req),
    );
    holder.server = new TokenServer(server, key, x5c, `${dir}/signer.pem`, options);
    return holder.server;
  }

  /** The registry's `auth:` section pointing at this server. */
  registryConfig(): string {
    return `auth:
  token:
    realm: ${this.realm}
    service: ${this.service}
    issuer: ${this.issuer}
    rootcertbundle: ${this.certPath}
`;
  }

  async stop(): Promise<void> {
    await this.#server.shutdown();
  }

  async #sign(sub: string, access: { type: string; name: string; actions: string[] }[]) {
    const now = Math.floor(Date.now() / 1000);
    const validFor = this.options.validFor ?? 300;
    const header = { typ: "JWT", alg: "RS256", x5c: [this.#x5c] };
    const claims = {
      iss: this.issuer,
      sub,
      aud: this.service,
      exp: now + validFor - 60,
      nbf: now - 10,
      iat: now,
      jti: crypto.randomUUID(),
      access,
    };
    const input = `${encodeJson(header)}.${encodeJson(claims)}`;
    const sig = new Uint8Array(
      await crypto.subtle.sign("RSASSA-PKCS1-v1_5", this.#key, new TextEncoder().encode(input)),
    );
    return `${input}.${b64url(sig)}`;
  }

  async #handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname !== "/token") return new Response("not found", { status: 404 });
    let params = url.searchParams;
    let scopes = params.getAll("scope");
    let user: string | undefined;
    let grant: string | null = null;
    const record: TokenRequest = {
      method: req.method,
      service: params.get("service"),
      scopes,
      user: undefined,
      authorized: req.headers.has("authorization"),
      grant: null,
      status: 200,
    };
    this.requests.push(record);
    const deny = (status: number, message: string) => {
      record.status = status;
      return Response.json({ details: message }, { status });
    };
    if (req.method === "POST") {
      if (this.options.oauth === false) return deny(405, "method not allowed");
      params = new URLSearchParams(await req.text());
      grant = params.get("grant_type");
      record.grant = grant;
      record.service = params.get("service");
      scopes = (params.get("scope") ?? "").split(" ").filter(Boolean);
      record.scopes = scopes;
      if (grant !== "refresh_token") return deny(400, "unsupported grant_type");
      user = this.options.refreshTokens?.[params.get("refresh_token") ?? ""];
      if (!user) return deny(401, "invalid refresh token");
    } else {
      const auth = req.headers.get("authorization");
      if (auth) {
        const m = /^Basic (.+)$/.exec(auth);
        const [name, ...rest] = m ? atob(m[1]!).split(":") : [];
        if (
          !name || this.options.users?.[name] === undefined ||
          this.options.users[name] !== rest.join(":")
        ) {
          return deny(401, "invalid username or password");
        }
        user = name;
      }
    }
    record.user = user;
    if (record.service !== this.service) return deny(400, "unknown service");
    const prefix = this.options.publicPrefix ?? "public/";
    const access = scopes.flatMap((scope) => {
      const m = /^repository:([^:]+):(.+)$/.exec(scope);
      if (!m) return [];
      const [, name, actions] = m;
      const wanted = actions!.split(",");
      const granted = user
        ? wanted
        : name!.startsWith(prefix)
        ? wanted.filter((a) => a === "pull")
        : [];
      return [{ type: "repository", name: name!, actions: granted }];
    });
    const token = await this.#sign(user ?? "", access);
    this.tokens.push(token);
    const body: Record<string, unknown> = {
      token,
      access_token: token,
      expires_in: this.options.expiresIn ?? 300,
      issued_at: new Date().toISOString(),
    };
    return Response.json(body);
  }
}
