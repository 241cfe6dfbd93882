// skiff login REGISTRY, skiff logout REGISTRY

import { safe } from "../../progress/escape_text.ts";
import { login } from "../../registry/login.ts";
import { registryHost } from "../../transport/auth_file.ts";
import { logout } from "../../transport/logout.ts";
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
  try {
    return registryHost(input);
  } catch {
    throw new UsageError(`"${input}" is not a registry host`);
  }
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

    const saved = await login(registry, { username, password }, {
      ...(ctx.flags["plain-http"] === true ? { plainHttp: true } : {}),
      ...(timeout !== undefined ? { timeout } : {}),
      signal: ctx.signal,
      ...debugLog(ctx),
    });
    ctx.io.err(
      saved.helper !== undefined
        ? safe`Logged in to ${registry} (stored by docker-credential-${saved.helper})\n`
        : safe`Logged in to ${registry} (stored in ${saved.file})\n`,
    );
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
    const { removed } = await logout(registry, { signal: ctx.signal });
    ctx.io.err(removed ? safe`Logged out of ${registry}\n` : safe`Not logged in to ${registry}\n`);
    return 0;
  },
};
