// A throwaway GnuPG home for the tests: keys made by the real `gpg` (RSA, Ed25519, ECDSA P-256, ...),
// exported, used to sign, expired and revoked. Every command runs with GNUPGHOME in a temp dir;
// `close()` stops the gpg-agent it started and removes the directory.

import { run } from "../_images.ts";
import { tempDir } from "../_temp.ts";

export interface GpgKey {
  /** The primary key's fingerprint (upper-case hex). */
  fingerprint: string;
  /** The user ID's email, also what `--local-user` takes. */
  email: string;
}

export class Gpg {
  readonly home: string;
  #count = 0;

  private constructor(home: string) {
    this.home = home;
  }

  static async create(): Promise<Gpg> {
    const home = await tempDir({ prefix: "skiff-gpg-" });
    await Deno.chmod(home, 0o700);
    await Deno.writeTextFile(`${home}/gpg-agent.conf`, "allow-loopback-pinentry\n");
    return new Gpg(home);
  }

  get env(): Record<string, string> {
    return { GNUPGHOME: this.home, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };
  }

  /** Runs gpg in this home; `at` fakes the clock (`--faked-system-time`, e.g. `20240101T000000`). */
  async gpg(args: string[], stdin?: Uint8Array, at?: string): Promise<Uint8Array> {
    const base = [
      "--batch",
      "--yes",
      "--no-tty",
      "--pinentry-mode",
      "loopback",
      "--passphrase",
      "",
    ];
    if (at) base.push("--faked-system-time", `${at}!`, "--ignore-time-conflict");
    const r = await run("gpg", [...base, ...args], {
      env: this.env,
      ...(stdin ? { stdin } : {}),
    });
    if (r.code !== 0) throw new Error(`gpg ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  /**
   * Makes a key: `algo` as `gpg --quick-gen-key` takes it (`rsa3072`, `ed25519`, `nistp256`, ...),
   * usage `sign` (primary signs) or `cert` plus a signing subkey of `subkeyAlgo`.
   */
  async makeKey(
    algo: string,
    options: { expire?: string; subkeyAlgo?: string; name?: string; at?: string } = {},
  ): Promise<GpgKey> {
    const email = `${options.name ?? "signer"}-${++this.#count}@skiff.test`;
    const usage = options.subkeyAlgo ? "cert" : "sign";
    const expire = options.expire ?? "never";
    await this.gpg(
      ["--quick-gen-key", `Skiff Test <${email}>`, algo, usage, expire],
      undefined,
      options.at,
    );
    const fingerprint = await this.fingerprint(email);
    if (options.subkeyAlgo) {
      await this.gpg(
        ["--quick-add-key", fingerprint, options.subkeyAlgo, "sign", expire],
        undefined,
        options.at,
      );
    }
    return { fingerprint, email };
  }

  async fingerprint(who: string): Promise<string> {
    const out = new TextDecoder().decode(await this.gpg(["--with-colons", "--list-keys", who]));
    const line = out.split("\n").find((l) => l.startsWith("fpr:"));
    if (!line) throw new Error(`no fingerprint for ${who}`);
    return line.split(":")[9]!;
  }

  /** The subkeys' fingerprints of a key, in order. */
  async subkeyFingerprints(who: string): Promise<string[]> {
    const out = new TextDecoder().decode(await this.gpg(["--with-colons", "--list-keys", who]));
    const lines = out.split("\n");
    const res: string[] = [];
    for (let i = 0; i < lines.length; i++) {
      if (lines[i]!.startsWith("sub:")) res.push(lines[i + 1]!.split(":")[9]!);
    }
    return res;
  }

  async exportKey(who: string, armor = false): Promise<Uint8Array> {
    return await this.gpg(["--export", ...(armor ? ["--armor"] : []), who]);
  }

  /** `gpg --sign` of data: what skopeo's gpgme writes (binary, compressed, one-pass). */
  async sign(
    who: string | string[],
    data: Uint8Array,
    extra: string[] = [],
    at?: string,
  ): Promise<Uint8Array> {
    const users = (Array.isArray(who) ? who : [who]).flatMap((u) => ["--local-user", u]);
    return await this.gpg([...users, ...extra, "--sign"], data, at);
  }

  /** Revokes a subkey (the first one by default) with gpg's key editor. */
  async revokeSubkey(fingerprint: string, index = 1): Promise<void> {
    const script = `key ${index}\nrevkey\ny\n0\n\ny\nsave\n`;
    await this.gpg(
      ["--command-fd", "0", "--status-fd", "2", "--edit-key", fingerprint],
      new TextEncoder().encode(script),
    );
  }

  async revoke(fingerprint: string): Promise<void> {
    // gpg writes a revocation certificate at key creation; importing it revokes the key
    const cert = await Deno.readTextFile(`${this.home}/openpgp-revocs.d/${fingerprint}.rev`);
    await this.gpg(["--import"], new TextEncoder().encode(cert.replace(/^:-----/m, "-----")));
  }

  async close(): Promise<void> {
    await run("gpgconf", ["--kill", "all"], { env: this.env });
    await Deno.remove(this.home, { recursive: true }).catch(() => {});
  }
}
