// The options several commands share, each written once with its help: the commands spread them
// into their tables (`options: { ...REMOTE_OPTIONS }`), and `reword` gives one its own wording.

import type { OptionSpec } from "./parse_args.ts";

/** A command's options, by long name: its table's `options`. */
export type Options = Readonly<Record<string, OptionSpec>>;

/**
 * The same option with this command's wording of its help.
 *
 * @param spec A shared option.
 * @param help What it does for this command.
 * @returns A copy with that help.
 */
export function reword<T extends OptionSpec>(spec: T, help: string): T {
  return { ...spec, help } as T;
}

/** `--store DIR`, said for what this command does with it (`"to pull into"`). */
export function storeOption(purpose: string): { store: OptionSpec } {
  return { store: { type: "string", value: "DIR", help: `the OCI image layout ${purpose}` } };
}

/** `--debug`, for a command that talks to a registry (and the global option). */
export const DEBUG_OPTION = {
  debug: { type: "boolean", help: "show stack traces and transport details" },
} satisfies Options;

/** `--debug`, for a command that only reads or changes the store. */
export const LOCAL_DEBUG_OPTION = {
  debug: reword(DEBUG_OPTION.debug, "show stack traces"),
} satisfies Options;

/** `--plain-http`. */
export const PLAIN_HTTP_OPTION = {
  "plain-http": { type: "boolean", help: "speak plain HTTP to the registry" },
} satisfies Options;

/** The options every command that talks to a registry takes: credentials and `--timeout`. */
export const CREDENTIAL_OPTIONS = {
  username: {
    type: "string",
    short: "u",
    value: "U",
    help: "credentials for this request (default: the stored ones)",
  },
  "password-stdin": { type: "boolean", help: "read the password from stdin (with --username)" },
  timeout: {
    type: "string",
    value: "T",
    help: `give up on a request the registry does not answer for T (30s, 500ms, 2m; default 30s);
      each counts as a failed attempt`,
  },
} satisfies Options;

/**
 * What a command that reads from a registry lists after its own options: `--plain-http`, the
 * credentials, `--timeout`, `--debug`.
 */
export const REMOTE_OPTIONS = {
  ...PLAIN_HTTP_OPTION,
  ...CREDENTIAL_OPTIONS,
  ...DEBUG_OPTION,
} satisfies Options;

/** `--platform P`: one platform of a multi-platform image. */
export const PLATFORM_OPTION = {
  platform: {
    type: "string",
    value: "P",
    help: "os/arch[/variant] (default: linux/<this machine's architecture>)",
  },
} satisfies Options;

/** `--platform P` of the commands that copy an image with some or all of its platforms. */
export const PLATFORMS_OPTION = {
  platform: {
    type: "string",
    value: "P",
    help: "which platforms of a multi-platform image (default: all):",
    choices: [
      ["all", "the index as it is, attestations too"],
      [
        "os/arch[/var]",
        `that platform's manifest alone (the destination names it: another digest than the
          source's index, said on stderr)`,
      ],
      [
        "P1,P2,...",
        `those platforms and their attestations: the index is rewritten (a new digest, said on
          stderr)`,
      ],
    ],
  },
} satisfies Options;

/** `--local` of the commands that read from a registry or, with it, from the store. */
export const LOCAL_OPTION = {
  local: {
    type: "boolean",
    help: `read the image from the store (--store DIR), not the registry; with --platform, choose
      from a stored index`,
  },
} satisfies Options;

/** `--jobs N`. */
export const JOBS_OPTION = {
  jobs: { type: "string", value: "N", help: "blobs to download at once (default: 4)" },
} satisfies Options;

/** `-q`, `--quiet`. */
export const QUIET_OPTION = {
  quiet: { type: "boolean", short: "q", help: "print only the result line" },
} satisfies Options;

/** `--json`. */
export const JSON_OPTION = {
  json: { type: "boolean", help: "print the result as a JSON object instead of the line" },
} satisfies Options;

/**
 * What the commands that read an image from the store, and pull it first when the store does not
 * have it, take (`unpack`, `export`): the store, the platform, the pull policy, and the pull's
 * own options.
 */
export const PULLING_OPTIONS = {
  ...storeOption("to read (and pull into)"),
  ...PLATFORM_OPTION,
  pull: {
    type: "string",
    value: "POLICY",
    help: "when to ask the registry (default: missing):",
    choices: [
      ["missing", "pull only what the store lacks"],
      ["never", "use the store only"],
      ["always", "check the name with the registry"],
    ],
  },
  ...JOBS_OPTION,
  "plain-http": reword(
    PLAIN_HTTP_OPTION["plain-http"],
    "speak plain HTTP to the registry when pulling",
  ),
  ...CREDENTIAL_OPTIONS,
  username: reword(CREDENTIAL_OPTIONS.username, "log in as U for the pull"),
} satisfies Options;
