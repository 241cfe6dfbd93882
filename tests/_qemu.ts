// Boots a stock Debian kernel in QEMU with disks skiff wrote, and runs a shell script of the
// test's own inside the guest: the kernel is the judge of what a microVM would see.
//
// The kernel comes from the Debian package linux-image-<version>-amd64 (downloaded once by
// tests/_setup.ts or .ci/run with `apt-get download`, unpacked with `dpkg-deb -x` into .cache/,
// never installed). The initramfs is made here, in memory: busybox-static (Debian's
// /bin/busybox), the kernel modules the disks need (virtio, EROFS, ext4, overlayfs, with their
// dependencies read from each module's .modinfo), and an /init that loads them, runs the script
// and powers the machine off. What the script prints between two marker lines is returned.
// QEMU emulates the CPU (TCG): about 20 s a boot on these machines, so tests boot rarely and
// check much in one boot.

import { tempDir } from "./_temp.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** Where the kernel package is unpacked (gitignored). */
export const KERNEL_CACHE = `${ROOT}/.cache/kernel`;

/** The modules every boot loads, in an order that satisfies their dependencies (each module's
 * own dependencies are added before it). */
const MODULES = ["virtio_pci", "virtio_blk", "crc32c_generic", "erofs", "ext4", "overlay"];

const BEGIN = "==skiff-guest-begin==";
const END = "==skiff-guest-end==";

/** One disk of the guest, in the order given: /dev/vda, /dev/vdb, ... */
export interface GuestDisk {
  /** The file. */
  path: string;
  /** How QEMU reads it. */
  format: "raw" | "vmdk";
}

/** Options for {@linkcode bootGuest}. */
export interface BootOptions {
  /** The disks, read-only. */
  disks: GuestDisk[];
  /** Shell commands (busybox sh) run as root in the guest after the modules are loaded; what
   * they print to stdout is returned. */
  script: string;
  /** Files to put into the initramfs, by absolute guest path (e.g. a listing script). */
  files?: Record<string, string>;
  /** Guest memory in MiB. @default {512} */
  memory?: number;
}

/** The unpacked kernel: its image and its module tree. */
export interface Kernel {
  vmlinuz: string;
  modules: string;
  version: string;
}

/** Finds the kernel unpacked under .cache/kernel (tests/_setup.ts puts it there). */
export async function findKernel(): Promise<Kernel> {
  const boot = `${KERNEL_CACHE}/boot`;
  try {
    for await (const e of Deno.readDir(boot)) {
      const m = /^vmlinuz-(.+)$/.exec(e.name);
      if (!m) continue;
      return {
        vmlinuz: `${boot}/${e.name}`,
        modules: `${KERNEL_CACHE}/lib/modules/${m[1]}`,
        version: m[1]!,
      };
    }
  } catch {
    // not unpacked
  }
  throw new Error(
    `no kernel in ${KERNEL_CACHE}: run deno task test (tests/_setup.ts downloads and unpacks it)`,
  );
}

/** Boots the guest with the disks, runs the script, returns what it printed. */
export async function bootGuest(options: BootOptions): Promise<string> {
  const kernel = await findKernel();
  const work = await tempDir({ prefix: "skiff-qemu-" });
  try {
    const initrd = `${work}/initrd.cpio`;
    await Deno.writeFile(initrd, await initramfs(kernel, options));
    const args = [
      "-M",
      "pc",
      "-accel",
      // TCG always: a /dev/kvm can be there and not work (nested virtualisation off), and a
      // guest on it hangs; SKIFF_TEST_KVM=1 asks for KVM where it is known to work
      Deno.env.get("SKIFF_TEST_KVM") === "1" ? "kvm" : "tcg",
      "-m",
      String(options.memory ?? 512),
      "-smp",
      "1",
      "-nographic",
      "-no-reboot",
      "-nodefaults",
      "-serial",
      "stdio",
      "-kernel",
      kernel.vmlinuz,
      "-initrd",
      initrd,
      "-append",
      "console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init",
    ];
    for (const disk of options.disks) {
      args.push("-drive", `file=${disk.path},format=${disk.format},if=virtio,readonly=on`);
    }
    const child = new Deno.Command("qemu-system-x86_64", {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // a guest that hangs (a kernel that cannot mount, a script that waits) must not hold the
    // suite: it is stopped after 10 minutes, far beyond a TCG boot on a loaded machine
    const timer = setTimeout(() => child.kill("SIGKILL"), 600_000);
    const out = await child.output();
    clearTimeout(timer);
    const text = new TextDecoder().decode(out.stdout).replaceAll("\r\n", "\n");
    const begin = text.indexOf(`${BEGIN}\n`);
    const end = text.indexOf(`${END}\n`);
    if (begin < 0 || end < begin) {
      throw new Error(
        `the guest did not finish its script (qemu exit ${out.code}):\n${text.slice(-4000)}\n` +
          new TextDecoder().decode(out.stderr).slice(-2000),
      );
    }
    return text.slice(begin + BEGIN.length + 1, end);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/** The initramfs as an uncompressed newc cpio archive. */
async function initramfs(kernel: Kernel, options: BootOptions): Promise<Uint8Array> {
  const cpio = new Cpio();
  for (const dir of ["bin", "dev", "proc", "sys", "mnt", "tmp", "lib", "lib/modules"]) {
    cpio.dir(dir);
  }
  cpio.file("bin/busybox", await Deno.readFile("/bin/busybox"), 0o755);
  cpio.symlink("bin/sh", "busybox");
  const modules = await moduleOrder(kernel, MODULES);
  for (const m of modules) {
    cpio.file(`lib/modules/${m.name}.ko`, await Deno.readFile(m.path), 0o644);
  }
  for (const [path, content] of Object.entries(options.files ?? {})) {
    cpio.file(path.replace(/^\/+/, ""), new TextEncoder().encode(content), 0o755);
  }
  const init = [
    "#!/bin/busybox sh",
    "/bin/busybox --install -s /bin",
    "export PATH=/bin",
    "mount -t proc proc /proc",
    "mount -t sysfs sys /sys",
    "mount -t devtmpfs dev /dev",
    ...modules.map((m) => `insmod /lib/modules/${m.name}.ko || echo "cannot load ${m.name}"`),
    // the disks appear once virtio-blk probed them
    `n=0; while [ ! -b /dev/vd${
      String.fromCharCode(96 + Math.max(1, options.disks.length))
    } ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done`,
    `echo ${BEGIN}`,
    "(",
    options.script,
    ") 2>&1",
    `echo ${END}`,
    "sync",
    "poweroff -f",
  ].join("\n");
  cpio.file("init", new TextEncoder().encode(init + "\n"), 0o755);
  return cpio.finish();
}

/** The modules asked for and their dependencies, each after what it depends on. */
async function moduleOrder(
  kernel: Kernel,
  wanted: string[],
): Promise<{ name: string; path: string }[]> {
  const paths = new Map<string, string>();
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.name.endsWith(".ko")) paths.set(e.name.slice(0, -3).replaceAll("-", "_"), p);
    }
  };
  await walk(`${kernel.modules}/kernel`);
  const order: { name: string; path: string }[] = [];
  const seen = new Set<string>();
  const visit = async (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const path = paths.get(name);
    if (!path) throw new Error(`the kernel has no module ${name} (built in, or missing?)`);
    for (const dep of dependsOf(await Deno.readFile(path))) await visit(dep);
    order.push({ name, path });
  };
  for (const name of wanted) await visit(name);
  return order;
}

/** The `depends=` entry of a module's .modinfo section. */
function dependsOf(ko: Uint8Array): string[] {
  const key = new TextEncoder().encode("\0depends=");
  outer: for (let i = 0; i + key.length < ko.length; i++) {
    for (let j = 0; j < key.length; j++) if (ko[i + j] !== key[j]) continue outer;
    let end = i + key.length;
    while (end < ko.length && ko[end] !== 0) end++;
    const value = new TextDecoder().decode(ko.subarray(i + key.length, end));
    return value === "" ? [] : value.split(",").map((d) => d.replaceAll("-", "_"));
  }
  return [];
}

/** A cpio archive in the "newc" format the kernel unpacks as an initramfs. */
class Cpio {
  #parts: Uint8Array[] = [];
  #ino = 1;

  dir(path: string): void {
    this.#entry(path, 0o040755, new Uint8Array(0));
  }

  file(path: string, data: Uint8Array, mode: number): void {
    this.#entry(path, 0o100000 | mode, data);
  }

  symlink(path: string, target: string): void {
    this.#entry(path, 0o120777, new TextEncoder().encode(target));
  }

  finish(): Uint8Array {
    this.#entry("TRAILER!!!", 0, new Uint8Array(0));
    const size = this.#parts.reduce((n, p) => n + p.byteLength, 0);
    const out = new Uint8Array(size);
    let at = 0;
    for (const p of this.#parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }

  #entry(path: string, mode: number, data: Uint8Array): void {
    const name = new TextEncoder().encode(path + "\0");
    const hex = (n: number) => n.toString(16).padStart(8, "0");
    const fields = [
      this.#ino++,
      mode,
      0, // uid
      0, // gid
      1, // nlink
      0, // mtime
      data.byteLength,
      0, // devmajor
      0, // devminor
      0, // rdevmajor
      0, // rdevminor
      name.byteLength,
      0, // check
    ];
    const header = new TextEncoder().encode("070701" + fields.map(hex).join(""));
    this.#push(header);
    this.#push(name);
    this.#pad(header.byteLength + name.byteLength);
    this.#push(data);
    this.#pad(data.byteLength);
  }

  #push(bytes: Uint8Array): void {
    this.#parts.push(bytes);
  }

  #pad(n: number): void {
    const pad = (4 - (n % 4)) % 4;
    if (pad > 0) this.#parts.push(new Uint8Array(pad));
  }
}

/**
 * A shell script (busybox sh) that lists a tree: one `stat` line per path (name, type, owner,
 * mode, size, link count, mtime, device numbers, link target) and one `sha256sum` line per
 * regular file. It runs few processes (`find -exec ... +`): under TCG every process start is
 * slow. The same script on the host (with the same busybox) and in the guest makes the listings
 * comparable; {@linkcode parseTree} reads one.
 */
export const LIST_TREE = `#!/bin/busybox sh
cd "$1" || exit 1
busybox find . -xdev -exec busybox stat -c '%n|%F|%u:%g|%a|%s|%h|%Y|%t:%T|%N' {} +
echo "#sha256"
busybox find . -xdev -type f -exec busybox sha256sum {} +
`;

/** {@linkcode LIST_TREE} run on the host over a directory, parsed. */
export async function listTree(dir: string): Promise<Map<string, string>> {
  const out = await new Deno.Command("/bin/busybox", {
    args: ["sh", "-c", LIST_TREE, "list", dir],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
  return parseTree(new TextDecoder().decode(out.stdout));
}

/**
 * A {@linkcode LIST_TREE} listing as one line per path: type, owner, mode, size (not for
 * directories: each file system counts them its own way), link count, mtime, device numbers
 * (devices only), link target (symlinks only) and content hash (files only).
 */
export function parseTree(listing: string): Map<string, string> {
  const [stats = "", sums = ""] = listing.split(/^#sha256\n/m);
  const hashes = new Map<string, string>();
  for (const line of sums.split("\n")) {
    const m = /^([0-9a-f]{64}) {2}(.*)$/.exec(line);
    if (m) hashes.set(m[2]!, m[1]!);
  }
  const tree = new Map<string, string>();
  for (const line of stats.split("\n")) {
    if (line === "") continue;
    const [name, type, owner, mode, size, nlink, mtime, dev, quoted] = line.split("|");
    if (quoted === undefined) throw new Error(`not a listing line: ${line}`);
    const fields = [type, owner, mode];
    if (type === "directory") fields.push(`mtime ${mtime}`);
    else {
      fields.push(`size ${size}`, `nlink ${nlink}`, `mtime ${mtime}`);
      if (type === "character special file" || type === "block special file") fields.push(dev);
      if (type === "symbolic link") fields.push(quoted.slice(quoted.indexOf(" -> ") + 4));
      if (type!.startsWith("regular")) fields.push(hashes.get(name!) ?? "no hash");
    }
    tree.set(name!, fields.join(" "));
  }
  return tree;
}
