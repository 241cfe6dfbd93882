// Finds, or installs with apt-get when running as root, the real tools the tests use: the
// Distribution registry, skopeo and umoci, and a few small utilities. Then downloads, once, the
// few Debian packages the unpack tests build their image from (into .cache/debs, gitignored):
// the tests themselves never use the network.

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
