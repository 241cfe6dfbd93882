/**
 * `registries.d` (containers-registries.d(5)): where the GPG simple signatures of an image are
 * published (its "lookaside"), as containers/image finds them (`docker/registries_d.go`).
 *
 * One directory is read: the one given (skopeo's `--registries.d`), else
 * `$HOME/.config/containers/registries.d` when it exists, else `/etc/containers/registries.d`.
 * Every `*.yaml` file in it is merged: one `default-docker` section across all files, and each
 * `docker` scope in one file only. For an image, the sections of its identity, then of its
 * namespaces (as policy scopes, wildcards included) are tried in turn, then `default-docker`; the
 * first with a `lookaside` (or the older `sigstore`) key wins. None: containers/image's built-in
 * default, `/var/lib/containers/sigstore` for root, `$HOME/.local/share/containers/sigstore`
 * otherwise. `lookaside-staging` is for writing and ignored here.
 *
 * @module
 */

import { readYamlSubset, type YamlMapping, type YamlValue } from "./_yaml_subset.ts";
import { parseDockerReference, policyIdentity, policyNamespaces } from "./signed_identity.ts";

/** The largest registries.d file read. */
const FILE_MAX_BYTES = 1024 * 1024;
/** The most files read from the directory. */
const MAX_FILES = 1000;

/** One configuration section. */
export interface RegistriesDSection {
  /** `lookaside`: where signatures are read from. */
  readonly lookaside: string | undefined;
  /** `sigstore`: the older name of `lookaside`, used when `lookaside` is absent. */
  readonly sigstore: string | undefined;
  /** `lookaside-staging` (for writing; not used by skiff). */
  readonly lookasideStaging: string | undefined;
  /** `use-sigstore-attachments`, when given. */
  readonly useSigstoreAttachments: boolean | undefined;
  /** The file it came from. */
  readonly file: string;
}

/** The merged configuration of a registries.d directory. */
export interface RegistriesD {
  /** The directory read (`undefined` when none exists). */
  readonly directory: string | undefined;
  /** `default-docker`. */
  readonly defaultDocker: RegistriesDSection | undefined;
  /** `docker` scopes. */
  readonly docker: ReadonlyMap<string, RegistriesDSection>;
  /** Keys skiff does not know, which containers/image ignores too ("file: key"). */
  readonly ignored: readonly string[];
}

/** Options for {@linkcode loadRegistriesD}. */
export interface LoadRegistriesDOptions {
  /**
   * The directory to read (skopeo's `--registries.d`); when undefined, the user's if it exists,
   * else the system's.
   * @default {undefined}
   */
  directory?: string | undefined;
  /**
   * The home directory.
   * @default {Deno.env.get("HOME")}
   */
  home?: string | undefined;
  /**
   * The system directory.
   * @default {"/etc/containers/registries.d"}
   */
  systemDirectory?: string;
}

/**
 * Reads and merges a registries.d directory.
 *
 * @param options Which directory.
 * @returns The configuration (empty when the directory does not exist).
 * @throws {SyntaxError} `Cannot parse registries.d file <path>: line N: <why>`, or a section
 *   defined twice (naming both files).
 * @throws {Error} `Cannot read registries.d <path>: <why>` for an unreadable directory or file.
 *
 * @example Find where an image's signatures are
 * ```ts ignore
 * import { loadRegistriesD, lookasideBase } from "./registries_d.ts";
 *
 * const config = await loadRegistriesD();
 * console.log(lookasideBase(config, "registry.access.redhat.com/ubi9/ubi:latest"));
 * ```
 */
export async function loadRegistriesD(options: LoadRegistriesDOptions = {}): Promise<RegistriesD> {
  let directory = options.directory;
  if (directory === undefined) {
    const home = options.home ?? Deno.env.get("HOME");
    const user = home ? `${home}/.config/containers/registries.d` : undefined;
    directory = user && await Deno.stat(user).then(() => true, () => false)
      ? user
      : options.systemDirectory ?? "/etc/containers/registries.d";
  }
  let names: string[];
  try {
    names = [];
    for await (const entry of Deno.readDir(directory)) {
      if (!entry.name.endsWith(".yaml")) continue;
      names.push(entry.name);
      if (names.length > MAX_FILES) {
        throw new RangeError(`more than ${MAX_FILES} .yaml files`);
      }
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return { directory: undefined, defaultDocker: undefined, docker: new Map(), ignored: [] };
    }
    throw new Error(`Cannot read registries.d ${directory}: ${(e as Error).message}`, { cause: e });
  }
  names.sort();
  let defaultDocker: RegistriesDSection | undefined;
  const docker = new Map<string, RegistriesDSection>();
  const ignored: string[] = [];
  for (const name of names) {
    const file = `${directory}/${name}`;
    let bytes: Uint8Array;
    try {
      const info = await Deno.stat(file);
      if (!info.isFile) continue;
      if (info.size > FILE_MAX_BYTES) {
        throw new SyntaxError(
          `Cannot parse registries.d file ${file}: it is larger than ${FILE_MAX_BYTES} bytes`,
        );
      }
      bytes = await Deno.readFile(file);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue; // removed meanwhile, as containers/image
      if (e instanceof SyntaxError) throw e;
      throw new Error(`Cannot read registries.d file ${file}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    const doc = readYamlSubset(bytes, {
      what: `registries.d file ${file}`,
      maxBytes: FILE_MAX_BYTES,
    });
    const fail = (why: string): never => {
      throw new SyntaxError(`Cannot parse registries.d file ${file}: ${why}`);
    };
    for (const [key, value] of Object.entries(doc)) {
      if (key === "default-docker") {
        if (value === null) continue;
        if (defaultDocker) {
          fail(`"default-docker" is also defined in ${defaultDocker.file}`);
        }
        defaultDocker = section(value, file, "default-docker", ignored, fail);
      } else if (key === "docker") {
        if (value === null) continue;
        if (typeof value === "string") fail(`"docker" is a string, not a mapping`);
        for (const [scope, v] of Object.entries(value as YamlMapping)) {
          const other = docker.get(scope);
          if (other) {
            fail(`"docker" scope ${JSON.stringify(scope)} is also defined in ${other.file}`);
          }
          docker.set(scope, section(v, file, `docker.${scope}`, ignored, fail));
        }
      } else {
        ignored.push(`${file}: ${key}`);
      }
    }
  }
  return { directory, defaultDocker, docker, ignored };
}

function section(
  value: YamlValue,
  file: string,
  where: string,
  ignored: string[],
  fail: (why: string) => never,
): RegistriesDSection {
  if (value === null) {
    return {
      lookaside: undefined,
      sigstore: undefined,
      lookasideStaging: undefined,
      useSigstoreAttachments: undefined,
      file,
    };
  }
  if (typeof value === "string") fail(`${where} is a string, not a mapping`);
  const m = value as YamlMapping;
  const str = (key: string): string | undefined => {
    const v = m[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string") fail(`${where}.${key} is a mapping, not a string`);
    return v as string;
  };
  let useSigstoreAttachments: boolean | undefined;
  const use = str("use-sigstore-attachments");
  if (use !== undefined) {
    if (/^(true|True|TRUE)$/.test(use)) useSigstoreAttachments = true;
    else if (/^(false|False|FALSE)$/.test(use)) useSigstoreAttachments = false;
    else fail(`${where}.use-sigstore-attachments is not true or false`);
  }
  for (const key of Object.keys(m)) {
    const known = [
      "lookaside",
      "lookaside-staging",
      "sigstore",
      "sigstore-staging",
      "use-sigstore-attachments",
    ];
    if (!known.includes(key)) ignored.push(`${file}: ${where}.${key}`);
  }
  return {
    lookaside: str("lookaside") || undefined,
    sigstore: str("sigstore") || undefined,
    lookasideStaging: str("lookaside-staging") || undefined,
    useSigstoreAttachments,
    file,
  };
}

/** Options for {@linkcode lookasideBase}. */
export interface LookasideBaseOptions {
  /**
   * Whether skiff runs as root (the built-in default lookaside differs).
   * @default {Deno.uid() === 0}
   */
  root?: boolean;
  /**
   * The home directory (for the built-in default of a user).
   * @default {Deno.env.get("HOME")}
   */
  home?: string | undefined;
}

/**
 * The lookaside of an image: the configured (or built-in) base URL with the repository's path
 * appended (`<base>/<repository path>`, without the registry, as containers/image builds it); the
 * signatures are `<that>@<algorithm>=<hex>/signature-N`.
 *
 * @param config The registries.d configuration.
 * @param reference The image's reference (with a tag or a digest).
 * @param options Root or not, and the home directory, for the built-in default.
 * @returns The URL.
 * @throws {SyntaxError} When the reference or the configured URL is invalid.
 *
 * @example
 * ```ts
 * import { lookasideBase } from "./registries_d.ts";
 * import assert from "node:assert/strict";
 *
 * const config = {
 *   directory: "/etc/containers/registries.d",
 *   defaultDocker: undefined,
 *   ignored: [],
 *   docker: new Map([["registry.example", {
 *     lookaside: "https://sigs.example/store", sigstore: undefined, lookasideStaging: undefined,
 *     useSigstoreAttachments: undefined, file: "/etc/containers/registries.d/x.yaml",
 *   }]]),
 * };
 * assert.equal(
 *   lookasideBase(config, "registry.example/ns/app:1").href,
 *   "https://sigs.example/store/ns/app",
 * );
 * ```
 */
export function lookasideBase(
  config: RegistriesD,
  reference: string,
  options: LookasideBaseOptions = {},
): URL {
  const ref = parseDockerReference(reference);
  if (!ref) {
    throw new SyntaxError(`Cannot find the lookaside of "${reference}": it is not a reference`);
  }
  const identity = policyIdentity(
    ref.digest !== undefined ? { name: ref.name, tag: undefined, digest: ref.digest } : ref,
  );
  let top: string | undefined;
  for (const scope of [identity, ...policyNamespaces(ref.name)]) {
    const s = config.docker.get(scope);
    top = s?.lookaside ?? s?.sigstore;
    if (top) break;
  }
  if (!top && config.defaultDocker) {
    top = config.defaultDocker.lookaside ?? config.defaultDocker.sigstore;
  }
  let base: URL;
  // Go's url.Parse leaves the path empty when the URL has none; WHATWG URLs make it "/"
  let path = "";
  if (top) {
    try {
      base = new URL(top);
    } catch {
      throw new SyntaxError(`Cannot use lookaside "${top}": it is not a URL`);
    }
    path = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*([?#]|$)/.test(top) ? "" : base.pathname;
  } else {
    const root = options.root ?? Deno.uid() === 0;
    const home = options.home ?? Deno.env.get("HOME") ?? "/";
    const dir = root
      ? "/var/lib/containers/sigstore"
      : `${home.replace(/\/+$/, "")}/.local/share/containers/sigstore`;
    base = new URL(`file://${dir.split("/").map(encodeURIComponent).join("/")}`);
    path = base.pathname;
  }
  // containers/image appends "/" and the repository's path (reference.Path: no registry) as is
  base.pathname = `${path}/${ref.name.slice(ref.name.indexOf("/") + 1)}`;
  return base;
}
