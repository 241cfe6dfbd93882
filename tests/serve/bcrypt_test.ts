// bcrypt of our own against Apache's `htpasswd -B` both ways: every hash htpasswd makes verifies
// (and a wrong password does not), and every hash we make htpasswd verifies; plus the published
// OpenBSD vectors and the 72-byte rule.

import { assert, assertEquals } from "../_assert.ts";
import { mustRun, run } from "../_images.ts";
import { tempDir } from "../_temp.ts";
import { bcryptHash, bcryptVerify, isBcryptHash } from "../../lib/serve/_bcrypt.ts";

const PASSWORDS = [
  "",
  "a",
  "pässwörd",
  "日本語のパスワード",
  "with:colon and spaces",
  "x".repeat(71),
  "y".repeat(72),
];

Deno.test("bcrypt: what htpasswd -B hashes verifies, and a wrong password does not", async () => {
  for (const cost of [4, 5, 6]) {
    for (const password of PASSWORDS) {
      const line = new TextDecoder().decode(
        await mustRun("htpasswd", ["-nbB", "-C", String(cost), "user", password]),
      ).trim();
      const hash = line.slice("user:".length);
      assert(isBcryptHash(hash), hash);
      assertEquals(await bcryptVerify(password, hash), true, `${cost} ${password}`);
      assertEquals(await bcryptVerify(`${password}!`.slice(-73), hash), password.length === 72);
      assertEquals(await bcryptVerify(password.slice(0, -1) + "?", hash), false);
    }
  }
});

Deno.test("bcrypt: htpasswd -v accepts what we hash ($2y$, $2b$, $2a$)", async () => {
  const dir = await tempDir();
  for (const [i, password] of PASSWORDS.entries()) {
    const version = (["y", "b", "a"] as const)[i % 3]!;
    const salt = crypto.getRandomValues(new Uint8Array(16));
    const hash = await bcryptHash(password, 5, salt, version);
    assertEquals(hash.slice(0, 7), `$2${version}$05$`);
    assertEquals(hash.length, 60);
    await Deno.writeTextFile(`${dir}/users`, `user:${hash}\n`);
    const good = await run("htpasswd", ["-vb", `${dir}/users`, "user", password]);
    assertEquals(good.code, 0, `${password}: ${good.stderr}`);
    const bad = await run("htpasswd", ["-vb", `${dir}/users`, "user", `-${password}`]);
    assertEquals(bad.code, 3, bad.stderr);
  }
});

Deno.test("bcrypt: OpenBSD's vectors, the 72-byte limit, what is not a bcrypt hash", async () => {
  const vectors: [string, string][] = [
    ["U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"],
    ["U*U*", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK"],
    ["U*U*U", "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a"],
    ["", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy"],
    [
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored",
      "$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
    ],
  ];
  for (const [password, hash] of vectors) {
    assertEquals(await bcryptVerify(password, hash), true, password);
  }
  const seventyTwo = "z".repeat(72);
  const hash = await bcryptHash(seventyTwo, 4, new Uint8Array(16));
  assertEquals(await bcryptVerify(`${seventyTwo}and more`, hash), true);
  assertEquals(await bcryptVerify(seventyTwo.slice(1), hash), false);
  for (
    const text of [
      "$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
      "$2a$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
      "$2a$32$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
      "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe",
      "$apr1$abcdefgh$0123456789abcdefghijkl",
      "plain",
    ]
  ) {
    assertEquals(isBcryptHash(text), false, text);
    assertEquals(await bcryptVerify("U*U", text), false, text);
  }
});
