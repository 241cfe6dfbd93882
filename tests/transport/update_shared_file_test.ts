// The one read-modify-write of a shared file (docker's config.json at login/logout, a store's
// index.json): writers at once keep each other's changes, a symlink stays a link and its target
// gets the content (as docker writes), a killed writer's temporary file is removed by the next.
// The CLI side (skiff login in many processes at once) is in tests/cli/login_test.ts.

import { assert, assertEquals, assertMatch, assertRejects } from "../_assert.ts";
import { readAuthFile } from "../../lib/transport/auth_file.ts";
import { logout } from "../../lib/transport/logout.ts";
import { saveCredentials } from "../../lib/transport/save_credentials.ts";
import { updateSharedFile } from "../../lib/transport/update_shared_file.ts";
import { tempDir } from "../_temp.ts";

const hosts = Array.from({ length: 24 }, (_, i) => `127.0.0.1:${5000 + i}`);

Deno.test("saveCredentials and logout at once into one file: every change kept", async () => {
  const dir = await tempDir();
  const configFile = `${dir}/.docker/config.json`;
  await Promise.all(
    hosts.map((h) => saveCredentials(h, { username: "u", password: h }, { configFile })),
  );
  const file = await readAuthFile(configFile);
  assertEquals(Object.keys(file!.auths!).sort(), [...hosts].sort());
  for (const h of hosts) assertEquals(file!.auths![h], { auth: btoa(`u:${h}`) });
  // half of them out at once, the other half logged in again with new passwords
  const [out, keep] = [hosts.slice(0, 12), hosts.slice(12)];
  const results = await Promise.all([
    ...out.map((h) => logout(h, { configFile })),
    ...keep.map((h) => saveCredentials(h, { username: "v", password: h }, { configFile })),
  ]);
  assert(results.slice(0, 12).every((r) => "removed" in r && r.removed));
  const after = await readAuthFile(configFile);
  assertEquals(Object.keys(after!.auths!).sort(), [...keep].sort());
  for (const h of keep) assertEquals(after!.auths![h], { auth: btoa(`v:${h}`) });
  assertEquals((await Deno.stat(configFile)).mode! & 0o777, 0o600);
});

Deno.test("a symlinked config.json stays a link; the file it names gets the entries", async () => {
  const dir = await tempDir();
  await Deno.mkdir(`${dir}/dotfiles/docker`, { recursive: true });
  await Deno.mkdir(`${dir}/.docker`);
  const target = `${dir}/dotfiles/docker/config.json`;
  await Deno.writeTextFile(target, JSON.stringify({ psFormat: "table" }));
  // a relative link to a relative link
  await Deno.symlink("../dotfiles/docker/config.json", `${dir}/.docker/real.json`);
  await Deno.symlink("real.json", `${dir}/.docker/config.json`);
  const configFile = `${dir}/.docker/config.json`;
  await Promise.all(
    hosts.slice(0, 6).map((h) =>
      saveCredentials(h, { username: "u", password: "p" }, { configFile })
    ),
  );
  assert((await Deno.lstat(configFile)).isSymlink, "config.json must stay a symlink");
  assert((await Deno.lstat(`${dir}/.docker/real.json`)).isSymlink);
  const doc = JSON.parse(await Deno.readTextFile(target));
  assertEquals(Object.keys(doc.auths).sort(), hosts.slice(0, 6).sort());
  assertEquals(doc.psFormat, "table");
  assertEquals((await Deno.stat(target)).mode! & 0o777, 0o600);
  // the temporary file and the lock are beside the target, not beside the link
  assertEquals([...Deno.readDirSync(`${dir}/.docker`)].map((e) => e.name).sort(), [
    "config.json",
    "real.json",
  ]);
  assertEquals([...Deno.readDirSync(`${dir}/dotfiles/docker`)].map((e) => e.name).sort(), [
    "config.json",
    "config.json.lock",
  ]);
  const out = await logout(hosts[0]!, { configFile });
  assertEquals(out.removed, true);
  assert((await Deno.lstat(configFile)).isSymlink);
  assertEquals(Object.keys(JSON.parse(await Deno.readTextFile(target)).auths).length, 5);

  // a link to a file that does not exist yet: the file is made there, the link kept
  const dangling = `${dir}/.docker/other.json`;
  await Deno.symlink(`${dir}/dotfiles/docker/new.json`, dangling);
  await saveCredentials(hosts[0]!, { username: "u", password: "p" }, { configFile: dangling });
  assert((await Deno.lstat(dangling)).isSymlink);
  assertEquals(
    Object.keys(JSON.parse(await Deno.readTextFile(`${dir}/dotfiles/docker/new.json`)).auths),
    [hosts[0]],
  );
  // a loop of links is one clear error, and nothing is written
  await Deno.symlink("loop-b", `${dir}/.docker/loop-a`);
  await Deno.symlink("loop-a", `${dir}/.docker/loop-b`);
  const e = await assertRejects(() =>
    saveCredentials(hosts[0]!, { username: "u", password: "p" }, {
      configFile: `${dir}/.docker/loop-a`,
    })
  );
  assertMatch((e as Error).message, /^Cannot read .*\/loop-a: Too many levels of symbolic links/);
});

Deno.test("updateSharedFile: a killed writer's temporary file goes; a failed change writes nothing", async () => {
  const dir = await tempDir();
  const path = `${dir}/shared.json`;
  await Deno.writeTextFile(path, "{}");
  // what a writer killed between its write and its rename leaves (it held the lock then)
  await Deno.writeTextFile(`${dir}/.shared.json.tmp-0d5a`, "half");
  await Deno.writeTextFile(`${dir}/.other.json.tmp-0d5a`, "not ours");
  await updateSharedFile(path, () => '{"a":1}');
  assertEquals(await Deno.readTextFile(path), '{"a":1}');
  assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
    ".other.json.tmp-0d5a",
    "shared.json",
    "shared.json.lock",
  ]);
  // a change that throws: the file as it was, the lock released (the next writer gets it)
  await assertRejects(() =>
    updateSharedFile(path, () => {
      throw new Error("refused");
    })
  );
  assertEquals(await Deno.readTextFile(path), '{"a":1}');
  await updateSharedFile(path, (t) => t + "\n");
  assertEquals(await Deno.readTextFile(path), '{"a":1}\n');
  // undefined: nothing written (the same inode)
  const before = (await Deno.stat(path)).ino;
  await updateSharedFile(path, () => undefined);
  assertEquals((await Deno.stat(path)).ino, before);
});
