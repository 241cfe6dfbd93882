// skiff login REGISTRY, skiff logout REGISTRY

import { safe } from "../../progress/escape_text.ts";
import { RegistryClient } from "../../registry/registry_client.ts";
import { loadRegistryConfig, plainHostsOf } from "../../registry/registry_config.ts";
import { parseReference } from "../../reference/parse_reference.ts";
import {
  authKeyFor,
  matchAuthKey,
  normalizeAuthKey,
  readAuthFile,
  updateAuthFile,
} from "../../transport/auth_file.ts";
import { helperErase, helperStore } from "../../transport/credential_helper.ts";
import { dockerConfigPath } from "../../transport/stored_credentials.ts";
import { debugLog, readPassword, TIMEOUT_USAGE, timeoutFlag } from "../_shared.ts";
import { type Command, type CommandContext, UsageError } from "../command.ts";

const LOGIN_USAGE = `Usage: skiff login REGISTRY [-u USER] [--password-stdin] [options]

Checks the credentials against REGISTRY and stores them where docker does: with the
credential helper docker is configured to use for it (credHelpers, else credsStore),
else in the "auths" of $DOCKER_CONFIG/config.json or ~/.docker/config.json (mode 0600).
Without -u or --password-stdin, asks on the terminal (the password is not shown).

Options:
  -u, --username U   the user name
  --password-stdin   read the password (or token) from stdin
${TIMEOUT_USAGE}
  --plain-http       speak plain HTTP to the registry
  --debug            show transport details

Examples:
  skiff login ghcr.io -u octocat --password-stdin < token.txt
  skiff login docker.io
`;

const LOGOUT_USAGE = `Usage: skiff logout REGISTRY

Removes the credentials stored for REGISTRY (from its credential helper and from
the docker config file).
`;

/** The registry argument, validated like the registry part of a reference. */
function registryArg(ctx: CommandContext, usage: string): string {
  const input = ctx.positionals[0];
  if (input === undefined) throw new UsageError(`missing registry\n\n${usage}`);
  if (ctx.positionals.length > 1) throw new UsageError("too many arguments: expected one registry");
  const host = normalizeAuthKey(input);
  if (host.includes("/")) throw new UsageError(`"${input}" is not a registry host`);
  try {
    const ref = parseReference(`${host}/x`);
    if (host !== "docker.io" && ref.registry !== host) throw new Error();
  } catch {
    throw new UsageError(`"${input}" is not a registry host`);
  }
  return host;
}

/** `skiff login`. */
export const loginCommand: Command = {
  name: "login",
  summary: "login REGISTRY  check and store credentials for a registry",
  usage: LOGIN_USAGE,
  options: {
    username: { type: "string", short: "u" },
    "password-stdin": { type: "boolean" },
    "plain-http": { type: "boolean" },
    timeout: { type: "string" },
  },
  async run(ctx) {
    const registry = registryArg(ctx, LOGIN_USAGE);
    const timeout = timeoutFlag(ctx);
    let username = ctx.flags.username;
    if (typeof username !== "string") {
      if (!ctx.io.isTerminal.stdin || ctx.flags["password-stdin"]) {
        throw new UsageError("give the user name with --username");
      }
      username = (await ctx.io.prompt("Username: ")).trim();
    }
    if (username === "") throw new UsageError("the user name is empty");
    const password = await readPassword(ctx, ctx.flags["password-stdin"] === true);

    // the same plain-HTTP hosts a pull would use: a realm on one of them may get the password
    const config = await loadRegistryConfig();
    const plainHttp = ctx.flags["plain-http"] === true ||
      config.registries[registry]?.plainHttp === true;
    const client = new RegistryClient(registry, {
      credentials: { username, password },
      plainHosts: plainHostsOf(config),
      ...(plainHttp ? { plainHttp: true } : {}),
      ...(timeout !== undefined ? { timeout } : {}),
      ...debugLog(ctx),
    });
    await client.ping({ signal: ctx.signal });

    const path = dockerConfigPath();
    if (!path) throw new Error("Cannot store credentials: set HOME or DOCKER_CONFIG");
    const key = authKeyFor(registry);
    const file = (await readAuthFile(path)) ?? {};
    const helperKey = matchAuthKey(file.credHelpers, registry);
    const helper = helperKey !== undefined ? file.credHelpers![helperKey] : file.credsStore;
    if (typeof helper === "string" && helper !== "") {
      await helperStore(helper, key, username, password);
      ctx.io.err(safe`Logged in to ${registry} (stored by docker-credential-${helper})\n`);
    } else {
      const auth = btoa(
        String.fromCharCode(...new TextEncoder().encode(`${username}:${password}`)),
      );
      await updateAuthFile(path, (f) => {
        f.auths ??= {};
        // one entry per registry: drop other spellings of the same key
        for (const k of Object.keys(f.auths)) {
          if (normalizeAuthKey(k) === normalizeAuthKey(key)) delete f.auths[k];
        }
        f.auths[key] = { auth };
      });
      ctx.io.err(safe`Logged in to ${registry} (stored in ${path})\n`);
    }
    return 0;
  },
};

/** `skiff logout`. */
export const logoutCommand: Command = {
  name: "logout",
  summary: "logout REGISTRY remove stored credentials for a registry",
  usage: LOGOUT_USAGE,
  options: {},
  async run(ctx) {
    const registry = registryArg(ctx, LOGOUT_USAGE);
    const path = dockerConfigPath();
    if (!path) throw new Error("Cannot find the docker config: set HOME or DOCKER_CONFIG");
    const file = (await readAuthFile(path)) ?? {};
    let removed = false;
    const helperKey = matchAuthKey(file.credHelpers, registry);
    const helper = helperKey !== undefined ? file.credHelpers![helperKey] : file.credsStore;
    if (typeof helper === "string" && helper !== "") {
      removed = await helperErase(helper, authKeyFor(registry));
    }
    if (matchAuthKey(file.auths, registry) !== undefined) {
      await updateAuthFile(path, (f) => {
        for (const k of Object.keys(f.auths ?? {})) {
          if (normalizeAuthKey(k) === normalizeAuthKey(registry)) delete f.auths![k];
        }
      });
      removed = true;
    }
    ctx.io.err(removed ? safe`Logged out of ${registry}\n` : safe`Not logged in to ${registry}\n`);
    return 0;
  },
};
