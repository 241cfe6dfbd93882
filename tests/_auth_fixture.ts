// Registries that need credentials, real ones: the Distribution registry in `auth: token` mode
// behind the tests' token server, and in `auth: htpasswd` mode (Basic), each holding
// public/app:1 and private/app:1.

import { type Desc, layerOf, LayoutBuilder, mustRun, noise, push } from "./_images.ts";
import { type RegistryServer, startRegistry } from "./_registry.ts";
import { TokenServer, type TokenServerOptions } from "./_token_server.ts";
import { tempDir } from "./_temp.ts";

export const USER = "alice";
export const PASSWORD = "s3cret-Pa55word-do-not-log";
export const IDENTITY_TOKEN = "identity-token-do-not-log";

export interface AuthFixture {
  tokens: TokenServer;
  /** registry with `auth: token` */
  token: RegistryServer;
  /** registry with `auth: htpasswd` */
  basic: RegistryServer;
  image: Desc;
  bigLayer: { digest: string; size: number };
  /** A temporary home for credential files: fresh per call of `home()`. */
  home(): Promise<{ dir: string; env: Record<string, string> }>;
  stop(): Promise<void>;
}

export async function startAuthFixture(options: TokenServerOptions = {}): Promise<AuthFixture> {
  const tokens = await TokenServer.start({
    users: { [USER]: PASSWORD },
    refreshTokens: { [IDENTITY_TOKEN]: USER },
    ...options,
  });
  const token = await startRegistry({ extraConfig: tokens.registryConfig() });
  const dir = await tempDir({ prefix: "skiff-htpasswd-" });
  const htpasswd = await mustRun("htpasswd", ["-Bbn", USER, PASSWORD]);
  await Deno.writeFile(`${dir}/htpasswd`, htpasswd);
  const basic = await startRegistry({
    extraConfig: `auth:\n  htpasswd:\n    realm: skiff-test\n    path: ${dir}/htpasswd\n`,
  });
  const b = await LayoutBuilder.create();
  const big = await layerOf({ "data/blob.bin": noise(2 * 1024 * 1024, "auth") });
  const image = await b.image([await layerOf({ "etc/motd": "private\n" }), big]);
  await b.tag("img", image);
  const creds = ["--dest-creds", `${USER}:${PASSWORD}`];
  for (const host of [token.host, basic.host]) {
    await push(b.dir, "img", `${host}/public/app:1`, creds);
    await push(b.dir, "img", `${host}/private/app:1`, creds);
  }
  await b.remove();
  return {
    tokens,
    token,
    basic,
    image,
    bigLayer: { digest: big.digest, size: big.size },
    async home() {
      const home = await tempDir({ prefix: "skiff-home-" });
      return {
        dir: home,
        env: {
          HOME: home,
          SKIFF_STORE: `${home}/store`,
          PATH: `${home}/bin:${Deno.env.get("PATH")}`,
          DOCKER_CONFIG: "",
          REGISTRY_AUTH_FILE: "",
          XDG_RUNTIME_DIR: "",
          SKIFF_TEST_HELPER_STORE: `${home}/helper.json`,
        },
      };
    },
    async stop() {
      await token.stop();
      await basic.stop();
      await tokens.stop();
    },
  };
}
