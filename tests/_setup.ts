// Finds, or installs with apt-get when running as root, the real tools the tests use: the
// Distribution registry, skopeo and umoci, and a few small utilities. Then downloads, once, the
// few Debian packages the unpack tests build their image from (into .cache/debs, gitignored):
// the tests themselves never use the network.

import { findKernel, KERNEL_CACHE } from "./_qemu.ts";
import { cachedDebs, DEB_CACHE, DEB_PACKAGES } from "./_rootfs.ts";

const NEEDED: Record<string, string> = {
  "docker-registry": "docker-registry",
  skopeo: "skopeo",
  umoci: "umoci",
  htpasswd: "apache2-utils",
  openssl: "openssl",
  script: "bsdutils",
  tar: "tar",
  gzip: "gzip",
  zstd: "zstd",
  "dpkg-deb": "dpkg",
  "fsck.erofs": "erofs-utils",
  "qemu-system-x86_64": "qemu-system-x86",
  "qemu-img": "qemu-utils",
  busybox: "busybox-static",
  gpg: "gnupg",
  podman: "podman",
  dockerd: "docker.io",
  python3: "python3",
  e2fsck: "e2fsprogs",
  debugfs: "e2fsprogs",
  getfattr: "attr",
  getfacl: "acl",
};

async function onPath(cmd: string): Promise<boolean> {
  const r = await new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" })
    .output();
  return r.success;
}

const missing: string[] = [];
for (const [cmd, pkg] of Object.entries(NEEDED)) {
  if (!(await onPath(cmd))) missing.push(pkg);
}
if (missing.length > 0) {
  const isRoot = Deno.uid() === 0;
  if (!isRoot || !(await onPath("apt-get"))) {
    console.error(`skiff tests need these Debian packages: ${missing.join(" ")}`);
    console.error(`install them with: sudo apt-get install -y ${missing.join(" ")}`);
    Deno.exit(1);
  }
  console.error(`installing ${missing.join(" ")} with apt-get`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  let r = await new Deno.Command("apt-get", { args: ["install", "-y", ...missing], env }).output();
  if (!r.success) {
    await new Deno.Command("apt-get", { args: ["update"], env }).output();
    r = await new Deno.Command("apt-get", { args: ["install", "-y", ...missing], env }).output();
  }
  if (!r.success) {
    console.error("apt-get install failed");
    Deno.exit(1);
  }
}

// The verify tests' signers and second opinion (sigstore-js under Node, tests/verify/node): installed
// from the committed lock file when missing or older than it. Test tooling only.
{
  const dir = new URL("./verify/node/", import.meta.url).pathname;
  const mtime = async (p: string) => (await Deno.stat(p).catch(() => undefined))?.mtime?.getTime();
  const installed = await mtime(`${dir}node_modules/.package-lock.json`);
  const lock = await mtime(`${dir}package-lock.json`);
  if (installed === undefined || (lock !== undefined && installed < lock)) {
    console.error(`installing the verify tests' Node tooling with npm ci (${dir})`);
    const r = await new Deno.Command("npm", {
      args: ["ci", "--prefix", dir, "--no-audit", "--no-fund"],
      stdout: "null",
    }).output();
    if (!r.success) {
      console.error(new TextDecoder().decode(r.stderr));
      console.error("cannot install tests/verify/node: run npm ci --prefix tests/verify/node");
      Deno.exit(1);
    }
  }
}

try {
  await cachedDebs();
} catch {
  console.error(`downloading ${DEB_PACKAGES.join(" ")} into ${DEB_CACHE} with apt-get download`);
  await Deno.mkdir(DEB_CACHE, { recursive: true });
  const download = () =>
    new Deno.Command("apt-get", {
      args: ["download", "-q", ...DEB_PACKAGES],
      cwd: DEB_CACHE,
      stdout: "null",
    }).output();
  let r = await download();
  if (!r.success && Deno.uid() === 0) {
    // a fresh machine may have no package lists yet
    await new Deno.Command("apt-get", { args: ["update", "-qq"] }).output();
    r = await download();
  }
  if (!r.success) {
    console.error(new TextDecoder().decode(r.stderr));
    console.error(`cannot download the test packages: run apt-get update, then deno task test`);
    Deno.exit(1);
  }
  await cachedDebs();
}

// The kernel the boot tests start in QEMU: the Debian package the linux-image-amd64 metapackage
// names, downloaded once into .cache/debs and unpacked into .cache/kernel (never installed).
try {
  await findKernel();
} catch {
  const sh = (script: string) =>
    new Deno.Command("sh", { args: ["-c", script], stdout: "piped", stderr: "piped" }).output();
  const deb = async () => {
    for await (const e of Deno.readDir(DEB_CACHE)) {
      if (/^linux-image-[0-9].*-amd64_.*\.deb$/.test(e.name)) return `${DEB_CACHE}/${e.name}`;
    }
    return undefined;
  };
  if (!(await deb())) {
    console.error(`downloading the Debian kernel package into ${DEB_CACHE} with apt-get download`);
    const r = await sh(
      `cd ${DEB_CACHE} && pkg=$(apt-cache depends linux-image-amd64 | ` +
        `sed -n 's/.*Depends: \\(linux-image-[0-9].*-amd64\\)$/\\1/p' | head -n 1) && ` +
        `[ -n "$pkg" ] && apt-get download -q "$pkg"`,
    );
    if (!r.success) {
      console.error(new TextDecoder().decode(r.stderr));
      console.error("cannot download the kernel package: run apt-get update, then deno task test");
      Deno.exit(1);
    }
  }
  const path = (await deb())!;
  await Deno.remove(KERNEL_CACHE, { recursive: true }).catch(() => {});
  const r = await sh(`dpkg-deb -x '${path}' '${KERNEL_CACHE}'`);
  if (!r.success) {
    console.error(new TextDecoder().decode(r.stderr));
    Deno.exit(1);
  }
  await findKernel();
}
