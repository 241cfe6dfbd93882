// skiff login REGISTRY, skiff logout REGISTRY

import { safe } from "../../progress/escape_text.ts";
import { login } from "../../registry/login.ts";
import { registryHost } from "../../transport/auth_file.ts";
import { logout } from "../../transport/logout.ts";
import {
  CREDENTIAL_OPTIONS,
  DEBUG_OPTION,
  LOCAL_DEBUG_OPTION,
  PLAIN_HTTP_OPTION,
  reword,
} from "../_options.ts";
import { debugLog, readPassword, timeoutFlag } from "../_shared.ts";
import { type Command, type CommandContext, UsageError } from "../command.ts";

/** The registry argument, validated like the registry part of a reference. */
function registryArg(ctx: CommandContext): string {
  const input = ctx.positionals[0];
  if (input === undefined) throw new UsageError(`missing registry\n\n${ctx.usage}`);
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
  args: "REGISTRY",
  summary: "check and store credentials for a registry",
  usage: ["REGISTRY [-u USER] [--password-stdin] [options]"],
  description: `Checks the credentials against REGISTRY and stores them where docker does: with the
    credential helper docker is configured to use for it (credHelpers, else credsStore), else in
    the "auths" of $DOCKER_CONFIG/config.json or ~/.docker/config.json (mode 0600). Without -u or
    --password-stdin, asks on the terminal (the password is not shown).`,
  options: {
    username: reword(CREDENTIAL_OPTIONS.username, "the user name"),
    "password-stdin": reword(
      CREDENTIAL_OPTIONS["password-stdin"],
      "read the password (or token) from stdin",
    ),
    timeout: CREDENTIAL_OPTIONS.timeout,
    ...PLAIN_HTTP_OPTION,
    debug: reword(DEBUG_OPTION.debug, "show transport details"),
  },
  examples: [
    "skiff login ghcr.io -u octocat --password-stdin < token.txt",
    "skiff login docker.io  # asks for the user name, and the password without echo",
  ],
  more: [{ title: "Registries: credentials and login", path: "registries.md#login-and-logout" }],
  async run(ctx) {
    const registry = registryArg(ctx);
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
  args: "REGISTRY",
  summary: "remove stored credentials for a registry",
  usage: ["REGISTRY"],
  description: `Removes the credentials stored for REGISTRY (from its credential helper and from the
    docker config file).`,
  options: LOCAL_DEBUG_OPTION,
  examples: ["skiff logout ghcr.io"],
  more: [{ title: "Registries: credentials and login", path: "registries.md#login-and-logout" }],
  async run(ctx) {
    const registry = registryArg(ctx);
    const { removed } = await logout(registry, { signal: ctx.signal });
    ctx.io.err(removed ? safe`Logged out of ${registry}\n` : safe`Not logged in to ${registry}\n`);
    return 0;
  },
};
