// speaksTls against real servers on loopback: a plain HTTP server, the real registry, a TLS server
// with a certificate made by openssl, a closed port, and a server that hangs up without a word.

import { assertEquals } from "../_assert.ts";
import { freePort, startRegistry } from "../_registry.ts";
import { selfSignedCert } from "../_tls.ts";
import { speaksTls } from "../../lib/transport/speaks_tls.ts";

Deno.test("speaksTls: plain HTTP, TLS, nothing listening, and a silent server", async () => {
  const { cert, key } = await selfSignedCert();
  const plain = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("hi"),
  );
  const tls = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    () => new Response("hi"),
  );
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const hangUp = (async () => {
    for await (const conn of silent) conn.close();
  })();
  const registry = await startRegistry();
  try {
    assertEquals(await speaksTls(`127.0.0.1:${plain.addr.port}`), false);
    assertEquals(await speaksTls(`127.0.0.1:${tls.addr.port}`), true);
    assertEquals(await speaksTls(`localhost:${tls.addr.port}`), true);
    assertEquals(await speaksTls(registry.host), false);
    assertEquals(await speaksTls(`127.0.0.1:${freePort()}`), undefined);
    assertEquals(await speaksTls(`127.0.0.1:${(silent.addr as Deno.NetAddr).port}`), undefined);
  } finally {
    await plain.shutdown();
    await tls.shutdown();
    silent.close();
    await hangUp.catch(() => {});
    await registry.stop();
  }
});
