// Fake sigstore services over HTTP on 127.0.0.1, built from @sigstore/mock's CA (with its CT
// log), transparency log and timestamp authority, plus the tests' own Merkle log: what the real
// signers (sigstore-js's FulcioSigner, RekorWitness, TSAWitness) talk to in the verify tests.
//
// Test tooling only (Node, loopback): never a part of skiff.

import crypto from "node:crypto";
import http from "node:http";
import mock from "@sigstore/mock";
import { createMerkleLog } from "./merkle_log.mjs";

const {
  fulcioHandler,
  initializeCA,
  initializeCTLog,
  initializeTLog,
  initializeTSA,
  rekorHandler,
  tsaHandler,
} = mock;

const b64 = (b) => Buffer.from(b).toString("base64");
const sha256 = (b) => crypto.createHash("sha256").update(b).digest();
const ecKeys = () => crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });

/** Starts one HTTP server on 127.0.0.1 routing POST paths to mock-style handlers. */
async function serve(routes) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const route = routes[req.url.split("?")[0]];
      if (!route || req.method !== "POST") {
        res.writeHead(404).end("not found");
        return;
      }
      try {
        const r = await route(Buffer.concat(chunks).toString());
        const headers = r.contentType ? { "content-type": r.contentType } : {};
        res.writeHead(r.statusCode, headers).end(
          typeof r.response === "string" ? r.response : Buffer.from(
            r.response.buffer,
            r.response.byteOffset,
            r.response.byteLength,
          ),
        );
      } catch (e) {
        res.writeHead(500).end(String(e));
      }
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return { url, server, close: () => new Promise((r) => server.close(r)) };
}

/**
 * Starts the services.
 *
 * @param {{ tsaClock?: Date, tsaClocks?: Record<string, Date>, logClocks?: Record<string, Date> }} options
 * The main TSA's clock (default: 30.123 s from now); more
 * timestamp authorities and logs with fixed clocks, by name (to make timestamps outside a
 * certificate's validity, or with fractions of a second). Each is trusted by the root.
 */
export async function startServices(options = {}) {
  const servers = [];
  const caKeys = ecKeys(),
    ctKeys = ecKeys(),
    rekorKeys = ecKeys(),
    tsaKeys = ecKeys(),
    ownKeys = ecKeys();
  const ctlog = await initializeCTLog(ctKeys);
  const ca = await initializeCA(caKeys, ctlog);
  // a fixed clock with three fraction digits: asn1js drops trailing zeros, so a real clock gives
  // one or two digits one time in ten, which sigstore-js's own parser refuses ("invalid time")
  const tsa = await initializeTSA(
    tsaKeys,
    options.tsaClock ?? new Date(Math.floor(Date.now() / 1000) * 1000 + 30_123),
  );

  // the mock Rekor's checkpoint names the host of the URL it is given: reserve the server first
  const rekorRoutes = {};
  const rekorServer = await serve(rekorRoutes);
  servers.push(rekorServer);
  const tlog = await initializeTLog(rekorServer.url, rekorKeys);
  rekorRoutes["/api/v1/log/entries"] = rekorHandler(tlog).fn;

  const ownRoutes = {};
  const ownServer = await serve(ownRoutes);
  servers.push(ownServer);
  const own = createMerkleLog({ url: ownServer.url, keyPair: ownKeys });
  ownRoutes["/api/v1/log/entries"] = own.handler;

  const logURLs = {};
  const extraLogs = [];
  for (const [name, clock] of Object.entries(options.logClocks ?? {})) {
    const routes = {};
    const server = await serve(routes);
    servers.push(server);
    routes["/api/v1/log/entries"] =
      createMerkleLog({ url: server.url, keyPair: ownKeys, clock: () => clock })
        .handler;
    logURLs[name] = server.url;
    extraLogs.push(server.url);
  }

  const main = await serve({
    "/api/v2/signingCert": fulcioHandler(ca).fn,
    "/api/v1/timestamp": tsaHandler(tsa).fn,
  });
  servers.push(main);
  const tsaURLs = {};
  const extraTsas = [];
  for (const [name, clock] of Object.entries(options.tsaClocks ?? {})) {
    const t = await initializeTSA(tsaKeys, clock);
    const server = await serve({ "/api/v1/timestamp": tsaHandler(t).fn });
    servers.push(server);
    tsaURLs[name] = server.url;
    extraTsas.push({ url: server.url, tsa: t });
  }

  const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
  const tlogEntry = (baseUrl, spki) => ({
    baseUrl,
    hashAlgorithm: "SHA2_256",
    publicKey: {
      rawBytes: b64(spki),
      keyDetails: "PKIX_ECDSA_P256_SHA_256",
      validFor: { start: since },
    },
    logId: { keyId: b64(sha256(spki)) },
  });
  const ownSpki = ownKeys.publicKey.export({ format: "der", type: "spki" });
  const trustedRoot = {
    mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    tlogs: [
      tlogEntry(rekorServer.url, tlog.publicKey),
      tlogEntry(ownServer.url, ownSpki),
    ],
    certificateAuthorities: [{
      subject: { organization: "sigstore.mock", commonName: "sigstore" },
      uri: main.url,
      certChain: { certificates: [{ rawBytes: b64(ca.rootCertificate) }] },
      validFor: { start: since },
    }],
    ctlogs: [{
      baseUrl: "https://ctfe.sigstore.mock",
      hashAlgorithm: "SHA2_256",
      publicKey: {
        rawBytes: b64(ctlog.publicKey),
        keyDetails: "PKIX_ECDSA_P256_SHA_256",
        validFor: { start: since },
      },
      logId: { keyId: b64(ctlog.logID) },
    }],
    timestampAuthorities: [{ url: main.url, tsa }, ...extraTsas].map((
      { url, tsa: t },
    ) => ({
      subject: { organization: "sigstore.mock", commonName: "tsa" },
      uri: url,
      certChain: {
        certificates: [{ rawBytes: b64(t.intCertificate) }, {
          rawBytes: b64(t.rootCertificate),
        }],
      },
      validFor: { start: since },
    })),
  };
  // the logs with fixed clocks share the own log's key; each is trusted under its own URL
  for (const url of extraLogs) trustedRoot.tlogs.push(tlogEntry(url, ownSpki));

  return {
    fulcioURL: main.url,
    tsaURL: main.url,
    tsaURLs,
    logURLs,
    mockRekorURL: rekorServer.url,
    ownLogURL: ownServer.url,
    ownLog: own,
    trustedRoot,
    close: () => Promise.all(servers.map((s) => s.close())),
  };
}
