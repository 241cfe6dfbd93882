// A docker credential helper of the tests' own: `docker-credential-test get|store|erase|list`,
// keeping its secrets in the JSON file $SKIFF_TEST_HELPER_STORE and logging every call (verb and
// server URL, never the secret) to $SKIFF_TEST_HELPER_STORE.log.
//
// installHelper() puts an executable `docker-credential-<name>` that runs this file into a
// directory, to be prepended to PATH.

if (import.meta.main) {
  const storePath = Deno.env.get("SKIFF_TEST_HELPER_STORE")!;
  const verb = Deno.args[0] ?? "";
  const input = (await new Response(Deno.stdin.readable).text()).trim();
  let store: Record<string, { Username: string; Secret: string }> = {};
  try {
    store = JSON.parse(await Deno.readTextFile(storePath));
  } catch { /* empty */ }
  const log = (line: string) =>
    Deno.writeTextFileSync(`${storePath}.log`, line + "\n", { append: true });
  if (Deno.env.get("SKIFF_TEST_HELPER_BROKEN") === "1") {
    console.error("the keychain is locked");
    Deno.exit(1);
  }
  switch (verb) {
    case "get": {
      log(`get ${input}`);
      const entry = store[input];
      if (!entry) {
        console.log("credentials not found in native keychain");
        Deno.exit(1);
      }
      console.log(JSON.stringify({ ServerURL: input, ...entry }));
      break;
    }
    case "store": {
      const doc = JSON.parse(input);
      log(`store ${doc.ServerURL}`);
      store[doc.ServerURL] = { Username: doc.Username, Secret: doc.Secret };
      await Deno.writeTextFile(storePath, JSON.stringify(store));
      break;
    }
    case "erase": {
      log(`erase ${input}`);
      if (!store[input]) {
        console.log("credentials not found in native keychain");
        Deno.exit(1);
      }
      delete store[input];
      await Deno.writeTextFile(storePath, JSON.stringify(store));
      break;
    }
    default:
      console.error(`unknown verb ${verb}`);
      Deno.exit(1);
  }
}

/** Writes `docker-credential-<name>` into `dir`, running this helper. */
export async function installHelper(dir: string, name = "test"): Promise<string> {
  const path = `${dir}/docker-credential-${name}`;
  const self = new URL(import.meta.url).pathname;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\nexec "${Deno.execPath()}" run -A --quiet "${self}" "$@"\n`,
    { mode: 0o755 },
  );
  return path;
}
