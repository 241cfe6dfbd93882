// Certificates for TLS servers on loopback (a TLS registry, a token server): a CA made by openssl
// and a server certificate it signs for 127.0.0.1 and localhost.

import { mustRun } from "./_images.ts";
import { tempDir } from "./_temp.ts";

export interface TestCert {
  /** The CA certificate (PEM): what clients trust. */
  ca: string;
  /** The server certificate (PEM) and its key. */
  cert: string;
  key: string;
  certPath: string;
  keyPath: string;
  /** A directory holding `ca.crt`, as skopeo's --*-cert-dir expects. */
  certDir: string;
}

/** A new RSA key and a self-signed certificate for it, as `<dir>/<name>.key` and `.pem`. */
export async function selfSigned(dir: string, name: string, subject: string): Promise<void> {
  await mustRun("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-keyout",
    `${dir}/${name}.key`,
    "-out",
    `${dir}/${name}.pem`,
    "-subj",
    subject,
  ]);
}

export async function selfSignedCert(): Promise<TestCert> {
  const at = await tempDir({ prefix: "skiff-tls-" });
  const o = (...args: string[]) => mustRun("openssl", args);
  await selfSigned(at, "ca", "/CN=skiff test CA");
  await o(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    `${at}/key.pem`,
    "-out",
    `${at}/req.csr`,
    "-subj",
    "/CN=127.0.0.1",
  );
  await Deno.writeTextFile(
    `${at}/ext.cnf`,
    "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n" +
      "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
  );
  await o(
    "x509",
    "-req",
    "-in",
    `${at}/req.csr`,
    "-CA",
    `${at}/ca.pem`,
    "-CAkey",
    `${at}/ca.key`,
    "-CAcreateserial",
    "-days",
    "2",
    "-out",
    `${at}/cert.pem`,
    "-extfile",
    `${at}/ext.cnf`,
  );
  await Deno.mkdir(`${at}/certs`);
  await Deno.copyFile(`${at}/ca.pem`, `${at}/certs/ca.crt`);
  return {
    ca: await Deno.readTextFile(`${at}/ca.pem`),
    cert: await Deno.readTextFile(`${at}/cert.pem`),
    key: await Deno.readTextFile(`${at}/key.pem`),
    certPath: `${at}/cert.pem`,
    keyPath: `${at}/key.pem`,
    certDir: `${at}/certs`,
  };
}
