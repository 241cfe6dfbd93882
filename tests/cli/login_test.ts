// skiff login / logout against the real registries (token and Basic), storing credentials where
// docker does: a configured credential helper, else the docker config file with mode 0600.

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { PASSWORD, startAuthFixture, USER } from "../_auth_fixture.ts";
import { skiff } from "../_cli.ts";
import { installHelper } from "../_credential_helper.ts";
import { FaultProxy } from "../_proxy.ts";

Deno.test("login and logout", async (t) => {
  const fx = await startAuthFixture();
  const T = fx.token.host;
  const B = fx.basic.host;
  try {
    await t.step(
      "checks the credentials, stores them in the docker config (0600), pulls use them",
      async () => {
        for (const host of [T, B]) {
          const { dir, env } = await fx.home();
          const r = await skiff(["login", host, "-u", USER, "--password-stdin"], {
            env,
            stdin: `${PASSWORD}\n`,
          });
          assertEquals(r.code, 0, r.stderr);
          assertEquals(r.stdout, "");
          assertMatch(
            r.stderr,
            new RegExp(
              `^Logged in to ${
                host.replaceAll(".", "\\.")
              } \\(stored in .*/\\.docker/config\\.json\\)`,
            ),
          );
          assert(!r.stderr.includes(PASSWORD));
          const path = `${dir}/.docker/config.json`;
          assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
          const config = JSON.parse(await Deno.readTextFile(path));
          assertEquals(config.auths[host], { auth: btoa(`${USER}:${PASSWORD}`) });

          const pull = await skiff(["pull", "-q", `${host}/private/app:1`], { env });
          assertEquals(pull.code, 0, pull.stderr);

          const out = await skiff(["logout", host], { env });
          assertEquals([out.code, out.stderr], [0, `Logged out of ${host}\n`]);
          assertEquals(JSON.parse(await Deno.readTextFile(path)).auths, {});
          const again = await skiff(["logout", host], { env });
          assertEquals([again.code, again.stderr], [0, `Not logged in to ${host}\n`]);
          const denied = await skiff([
            "pull",
            "-q",
            "--store",
            `${dir}/s2`,
            `${host}/private/app:1`,
          ], { env });
          assertEquals(denied.code, 1);
          assertMatch(denied.stderr, /^skiff: Cannot .*401 unauthorized/);
        }
      },
    );

    await t.step(
      "keeps what else the config holds, and replaces other spellings of the key",
      async () => {
        const { dir, env } = await fx.home();
        const path = `${dir}/.docker/config.json`;
        await Deno.mkdir(`${dir}/.docker`);
        await Deno.writeTextFile(
          path,
          JSON.stringify({
            auths: {
              [`https://${T}`]: { auth: btoa("old:old") },
              "other.example": { auth: btoa("x:y") },
            },
            psFormat: "table {{.ID}}",
          }),
        );
        const r = await skiff(["login", T, "-u", USER, "--password-stdin"], {
          env,
          stdin: PASSWORD,
        });
        assertEquals(r.code, 0, r.stderr);
        const config = JSON.parse(await Deno.readTextFile(path));
        assertEquals(Object.keys(config.auths).sort(), [T, "other.example"].sort());
        assertEquals(config.psFormat, "table {{.ID}}");
      },
    );

    await t.step("wrong credentials: exit 1, one line, nothing stored", async () => {
      for (const host of [T, B]) {
        const { dir, env } = await fx.home();
        const r = await skiff(["login", host, "-u", USER, "--password-stdin"], {
          env,
          stdin: "nope",
        });
        assertEquals(r.code, 1);
        assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
        assertMatch(r.stderr, /^skiff: Cannot (get a token for|log in to) .*401 unauthorized/);
        await Deno.stat(`${dir}/.docker/config.json`).then(
          () => assert(false, "nothing may be stored"),
          () => {},
        );
      }
    });

    await t.step("a configured credential helper stores and erases them", async () => {
      const { dir, env } = await fx.home();
      await Deno.mkdir(`${dir}/bin`);
      await installHelper(`${dir}/bin`);
      await Deno.mkdir(`${dir}/.docker`);
      await Deno.writeTextFile(
        `${dir}/.docker/config.json`,
        JSON.stringify({ credsStore: "test" }),
      );
      const r = await skiff(["login", T, "-u", USER, "--password-stdin"], { env, stdin: PASSWORD });
      assertEquals(r.code, 0, r.stderr);
      assertMatch(r.stderr, /stored by docker-credential-test/);
      const kept = JSON.parse(await Deno.readTextFile(env.SKIFF_TEST_HELPER_STORE!));
      assertEquals(kept, { [T]: { Username: USER, Secret: PASSWORD } });
      assertEquals(JSON.parse(await Deno.readTextFile(`${dir}/.docker/config.json`)), {
        credsStore: "test",
      });
      const pull = await skiff(["pull", "-q", `${T}/private/app:1`], { env });
      assertEquals(pull.code, 0, pull.stderr);
      const out = await skiff(["logout", T], { env });
      assertEquals(out.code, 0);
      assertEquals(JSON.parse(await Deno.readTextFile(env.SKIFF_TEST_HELPER_STORE!)), {});
      const log = (await Deno.readTextFile(`${env.SKIFF_TEST_HELPER_STORE}.log`)).trim().split(
        "\n",
      );
      assertEquals(log, [`store ${T}`, `get ${T}`, `erase ${T}`]);
    });

    await t.step("Docker Hub's key, and usage errors", async () => {
      const { env } = await fx.home();
      const noUser = await skiff(["login", T, "--password-stdin"], { env, stdin: PASSWORD });
      assertEquals(noUser.code, 2);
      assertMatch(noUser.stderr, /--username/);
      const bad = await skiff(["login", "not a host"], { env });
      assertEquals(bad.code, 2);
      const none = await skiff(["login"], { env });
      assertEquals(none.code, 2);
      const noStdinNoTty = await skiff(["login", T, "-u", USER], { env });
      assertEquals(noStdinNoTty.code, 2);
      assertMatch(noStdinNoTty.stderr, /--password-stdin/);
    });
  } finally {
    await fx.stop();
  }
});

Deno.test("login on a terminal: asks for the user name, and the password without echo", async () => {
  const fx = await startAuthFixture();
  try {
    const { dir, env } = await fx.home();
    const cli = new URL("../../cli.ts", import.meta.url).pathname;
    // `script` gives the CLI a pseudo-terminal; the answers are typed after the prompts appear
    const child = new Deno.Command("script", {
      args: [
        "-qec",
        `"${Deno.execPath()}" run -A --quiet "${cli}" login ${fx.token.host}`,
        "/dev/null",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { ...env, NO_COLOR: "1" },
    }).spawn();
    const output: string[] = [];
    const decoder = new TextDecoder();
    const reading = (async () => {
      for await (const chunk of child.stdout) output.push(decoder.decode(chunk));
    })();
    const waitFor = async (text: string) => {
      for (let i = 0; i < 200 && !output.join("").includes(text); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const writer = child.stdin.getWriter();
    await waitFor("Username: ");
    await writer.write(new TextEncoder().encode(`${USER}\r`));
    await waitFor("Password: "); // shown only once the terminal is in raw mode (no echo)
    await writer.write(new TextEncoder().encode(`${PASSWORD}\r`));
    const status = await child.status;
    await writer.close().catch(() => {});
    await reading;
    await child.stderr.cancel();
    const screen = output.join("");
    assertEquals(status.code, 0, screen);
    assertMatch(screen, /Username: alice/);
    assertMatch(screen, /Password: /);
    assert(!screen.includes(PASSWORD), `the password was echoed: ${JSON.stringify(screen)}`);
    const config = JSON.parse(await Deno.readTextFile(`${dir}/.docker/config.json`));
    assertEquals(config.auths[fx.token.host], { auth: btoa(`${USER}:${PASSWORD}`) });
  } finally {
    await fx.stop();
  }
});

Deno.test("logins and logouts at once into one config.json: none lost; a symlinked config stays a link", async (t) => {
  const fx = await startAuthFixture();
  // seven registry hosts (seven keys in auths): the Basic registry behind seven proxies
  const proxies = Array.from({ length: 7 }, () => FaultProxy.start(fx.basic.url));
  const hosts = proxies.map((p) => p.host);
  const login = (host: string, env: Record<string, string>) =>
    skiff(["login", host, "-u", USER, "--password-stdin"], { env, stdin: PASSWORD });
  try {
    await t.step("seven logins at once, then seven logouts at once, three rounds", async () => {
      const { dir, env } = await fx.home();
      const path = `${dir}/.docker/config.json`;
      for (let round = 1; round <= 3; round++) {
        const ins = await Promise.all(hosts.map((h) => login(h, env)));
        for (const r of ins) {
          assertEquals([r.code, r.stderr.startsWith("Logged in to ")], [0, true], r.stderr);
        }
        const config = JSON.parse(await Deno.readTextFile(path));
        assertEquals(Object.keys(config.auths).sort(), [...hosts].sort(), `round ${round}`);
        const outs = await Promise.all(hosts.map((h) => skiff(["logout", h], { env })));
        for (const [i, r] of outs.entries()) {
          assertEquals([r.code, r.stderr], [0, `Logged out of ${hosts[i]}\n`]);
        }
        assertEquals(JSON.parse(await Deno.readTextFile(path)).auths, {}, `round ${round}`);
      }
      assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    });

    await t.step(
      "config.json a symlink: it stays one, the file it names gets every entry",
      async () => {
        const { dir, env } = await fx.home();
        await Deno.mkdir(`${dir}/dotfiles`);
        await Deno.mkdir(`${dir}/.docker`);
        const target = `${dir}/dotfiles/docker-config.json`;
        await Deno.writeTextFile(target, JSON.stringify({ psFormat: "table {{.ID}}" }));
        await Deno.symlink("../dotfiles/docker-config.json", `${dir}/.docker/config.json`);
        const ins = await Promise.all(hosts.map((h) => login(h, env)));
        for (const r of ins) assertEquals(r.code, 0, r.stderr);
        assert((await Deno.lstat(`${dir}/.docker/config.json`)).isSymlink, "still a symlink");
        const config = JSON.parse(await Deno.readTextFile(target));
        assertEquals(Object.keys(config.auths).sort(), [...hosts].sort());
        assertEquals(config.psFormat, "table {{.ID}}");
        // the credentials are read back through the link: a pull with them works
        const pull = await skiff(["pull", "-q", `${hosts[0]}/private/app:1`], { env });
        assertEquals(pull.code, 0, pull.stderr);
        const out = await skiff(["logout", hosts[0]!], { env });
        assertEquals(out.code, 0, out.stderr);
        assert((await Deno.lstat(`${dir}/.docker/config.json`)).isSymlink, "still a symlink");
        assertEquals(Object.keys(JSON.parse(await Deno.readTextFile(target)).auths).length, 6);
      },
    );
  } finally {
    for (const p of proxies) await p.stop();
    await fx.stop();
  }
});
