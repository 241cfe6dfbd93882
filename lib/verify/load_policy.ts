/**
 * Reading a policy file with its skiff extension files.
 *
 * @module
 */

import {
  parsePolicy,
  parsePolicyExtension,
  type Policy,
  POLICY_MAX_BYTES,
  type Requirement,
} from "./parse_policy.ts";

/** Options for {@linkcode loadPolicy}. */
export interface LoadPolicyOptions {
  /**
   * Reads a file.
   * @default {Deno.readFile}
   */
  readFile?: (path: string) => Promise<Uint8Array>;
}

/**
 * Reads a containers `policy.json` and the skiff extension files it names (transport
 * `skiff-policy-extension`, paths relative to the policy's directory), and merges the extensions'
 * scopes into the policy's: an extension's scope replaces the same scope of policy.json (so that
 * policy.json can `reject` what only skiff can verify, and skopeo refuses it); two extensions may
 * not define the same scope.
 *
 * @param path The policy file.
 * @param options How files are read.
 * @returns The merged policy.
 * @throws {SyntaxError} When the policy or an extension is invalid (one line naming the file and the field).
 * @throws {Error} `Cannot read policy <path>: <why>` when a file cannot be read.
 *
 * @example Load a policy
 * ```ts ignore
 * import { loadPolicy } from "./load_policy.ts";
 *
 * const policy = await loadPolicy("/etc/containers/policy.json");
 * console.log(policy.extensions);
 * ```
 */
export async function loadPolicy(path: string, options: LoadPolicyOptions = {}): Promise<Policy> {
  const readFile = options.readFile ?? ((p: string) => Deno.readFile(p));
  const read = async (p: string, what: string): Promise<Uint8Array> => {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(p);
    } catch (e) {
      throw new Error(`Cannot read ${what} ${p}: ${(e as Error).message}`, { cause: e });
    }
    if (bytes.byteLength > POLICY_MAX_BYTES) {
      throw new SyntaxError(
        `Cannot parse ${what} ${p}: it is larger than ${POLICY_MAX_BYTES} bytes`,
      );
    }
    return bytes;
  };
  const policy = parsePolicy(await read(path, "policy"), { source: path });
  if (policy.extensions.length === 0) return policy;
  const dir = dirname(path);
  const transports = new Map<string, Map<string, readonly Requirement[]>>();
  for (const [name, scopes] of policy.transports) transports.set(name, new Map(scopes));
  const definedBy = new Map<string, string>();
  const loaded: string[] = [];
  for (const ext of policy.extensions) {
    const extPath = ext.startsWith("/") ? ext : `${dir}/${ext}`;
    loaded.push(extPath);
    const parsed = parsePolicyExtension(await read(extPath, "policy extension"), {
      source: extPath,
      base: dirname(extPath),
    });
    for (const [name, scopes] of parsed.transports) {
      const target = transports.get(name) ?? new Map<string, readonly Requirement[]>();
      transports.set(name, target);
      for (const [scope, reqs] of scopes) {
        const key = `${name}\u0000${scope}`;
        const other = definedBy.get(key);
        if (other !== undefined) {
          throw new SyntaxError(
            `Cannot parse policy extension ${extPath}: transports.${name}[${
              JSON.stringify(scope)
            }] is also defined in ${other}`,
          );
        }
        definedBy.set(key, extPath);
        target.set(scope, reqs);
      }
    }
  }
  return { ...policy, transports, extensions: loaded };
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  if (i === -1) return ".";
  if (i === 0) return "/";
  return path.slice(0, i);
}
