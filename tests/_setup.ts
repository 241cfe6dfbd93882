// Finds, or installs with apt-get when running as root, the real tools the tests use: the
// Distribution registry, skopeo and umoci, and a few small utilities.

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
