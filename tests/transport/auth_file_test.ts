import { assertEquals, assertThrows } from "../_assert.ts";
import {
  authKeyFor,
  entryCredentials,
  matchAuthKey,
  normalizeAuthKey,
  readAuthFile,
  updateAuthFile,
} from "../../lib/transport/auth_file.ts";
import { credentialFiles, dockerConfigPath } from "../../lib/transport/stored_credentials.ts";
import { tempDir } from "../_temp.ts";

Deno.test("normalizeAuthKey: docker's key spellings", () => {
  const cases: [string, string][] = [
    ["https://index.docker.io/v1/", "docker.io"],
    ["index.docker.io", "docker.io"],
    ["registry-1.docker.io", "docker.io"],
    ["docker.io", "docker.io"],
    ["https://ghcr.io", "ghcr.io"],
    ["http://127.0.0.1:5000/v2/", "127.0.0.1:5000"],
    ["Quay.IO", "quay.io"],
    ["quay.io/org/repo", "quay.io/org/repo"],
    ["registry.example.com/v1/", "registry.example.com"],
  ];
  for (const [key, want] of cases) assertEquals(normalizeAuthKey(key), want, key);
  assertEquals(authKeyFor("docker.io"), "https://index.docker.io/v1/");
  assertEquals(authKeyFor("ghcr.io"), "ghcr.io");
});

Deno.test("matchAuthKey: the most specific repository key, then the registry", () => {
  const auths = {
    "https://index.docker.io/v1/": {},
    "quay.io": {},
    "quay.io/org": {},
    "quay.io/org/app": {},
  };
  assertEquals(matchAuthKey(auths, "docker.io", "library/alpine"), "https://index.docker.io/v1/");
  assertEquals(matchAuthKey(auths, "quay.io", "org/app"), "quay.io/org/app");
  assertEquals(matchAuthKey(auths, "quay.io", "org/other"), "quay.io/org");
  assertEquals(matchAuthKey(auths, "quay.io", "else/x"), "quay.io");
  assertEquals(matchAuthKey(auths, "ghcr.io", "a/b"), undefined);
  assertEquals(matchAuthKey(undefined, "ghcr.io"), undefined);
});

Deno.test("entryCredentials: auth, username/password, identity and registry tokens", () => {
  assertEquals(entryCredentials({ auth: btoa("u:p:with:colons") }), {
    username: "u",
    password: "p:with:colons",
  });
  assertEquals(entryCredentials({ username: "u", password: "p" }), {
    username: "u",
    password: "p",
  });
  assertEquals(entryCredentials({ identitytoken: "t" }), { identityToken: "t" });
  assertEquals(entryCredentials({ registrytoken: "r" }), { registryToken: "r" });
  assertEquals(entryCredentials({ email: "x@y" }), undefined);
  assertThrows(() => entryCredentials({ auth: "!!!" }), SyntaxError);
  assertThrows(() => entryCredentials({ auth: btoa("nocolon") }), SyntaxError);
});

Deno.test("updateAuthFile: atomic, mode 0600, keeps other fields; readAuthFile: missing, empty, bad", async () => {
  const dir = await tempDir();
  const path = `${dir}/sub/config.json`;
  assertEquals(await readAuthFile(path), undefined);
  await updateAuthFile(path, (f) => {
    f.auths = { "a.example": { auth: btoa("u:p") } };
  });
  assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
  await Deno.writeTextFile(
    path,
    JSON.stringify({ ...(await readAuthFile(path)), detachKeys: "ctrl-x" }),
  );
  await updateAuthFile(path, (f) => {
    f.auths!["b.example"] = { auth: btoa("v:q") };
  });
  const file = await readAuthFile(path);
  assertEquals(Object.keys(file!.auths!), ["a.example", "b.example"]);
  assertEquals(file!.detachKeys, "ctrl-x");
  // no temporary file left; the lock file every writer takes stays beside the file
  assertEquals([...Deno.readDirSync(`${dir}/sub`)].map((e) => e.name).sort(), [
    "config.json",
    "config.json.lock",
  ]);
  await Deno.writeTextFile(path, "");
  assertEquals(await readAuthFile(path), {});
  await Deno.writeTextFile(path, "[1,2]");
  await assertThrowsAsync(() => readAuthFile(path));
});

async function assertThrowsAsync(fn: () => Promise<unknown>) {
  try {
    await fn();
  } catch {
    return;
  }
  throw new Error("expected a rejection");
}

Deno.test("credentialFiles: REGISTRY_AUTH_FILE, then containers, then docker", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assertEquals(
    credentialFiles(env({ REGISTRY_AUTH_FILE: "/a.json", XDG_RUNTIME_DIR: "/run/u", HOME: "/h" })),
    ["/a.json", "/run/u/containers/auth.json", "/h/.docker/config.json"],
  );
  assertEquals(credentialFiles(env({ DOCKER_CONFIG: "/d", HOME: "/h" })), ["/d/config.json"]);
  assertEquals(dockerConfigPath(env({})), undefined);
});
