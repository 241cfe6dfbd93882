// A small transparency log of the tests' own, speaking Rekor's v1 API (POST /api/v1/log/entries)
// with a real RFC 6962 Merkle tree: @sigstore/mock's log answers every entry with a one-leaf
// tree whose index is not the entry's, so its proofs never exercise an audit path. Here the tree
// starts with a few unrelated leaves, every entry gets a proof of several hashes against a
// checkpoint signed as Rekor signs them (C2SP signed note, origin "<host> - <tree id>"), and the
// entry's global index is offset from its index in the tree, as in a sharded Rekor.
//
// Test tooling only (Node, loopback): never a part of skiff.

import crypto from "node:crypto";
import canonicalizeModule from "canonicalize";

const canonicalize = canonicalizeModule.default ?? canonicalizeModule;

const sha256 = (...parts) => {
  const h = crypto.createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};
const leafHash = (body) => sha256(Buffer.from([0]), body);
const nodeHash = (l, r) => sha256(Buffer.from([1]), l, r);

function largestPowerOfTwoBelow(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** RFC 6962 2.1: the Merkle tree hash of leaf hashes. */
function treeHash(leaves) {
  if (leaves.length === 1) return leaves[0];
  const k = largestPowerOfTwoBelow(leaves.length);
  return nodeHash(treeHash(leaves.slice(0, k)), treeHash(leaves.slice(k)));
}

/** RFC 6962 2.1.1: the audit path of leaf m. */
function auditPath(m, leaves) {
  if (leaves.length <= 1) return [];
  const k = largestPowerOfTwoBelow(leaves.length);
  if (m < k) {
    return [...auditPath(m, leaves.slice(0, k)), treeHash(leaves.slice(k))];
  }
  return [...auditPath(m - k, leaves.slice(k)), treeHash(leaves.slice(0, k))];
}

/**
 * What Rekor stores for a proposed entry (its `Canonicalize`): a dsse entry becomes the hashes of
 * the envelope and payload with the signatures and their verifiers; an intoto entry loses its
 * payload; a hashedrekord stays as it is.
 */
export function canonicalEntry(proposed) {
  if (proposed.kind === "dsse" && proposed.spec?.proposedContent) {
    const { envelope, verifiers } = proposed.spec.proposedContent;
    const env = JSON.parse(envelope);
    const hex = (b) => crypto.createHash("sha256").update(b).digest("hex");
    return {
      apiVersion: proposed.apiVersion,
      kind: "dsse",
      spec: {
        envelopeHash: { algorithm: "sha256", value: hex(envelope) },
        payloadHash: {
          algorithm: "sha256",
          value: hex(Buffer.from(env.payload, "base64")),
        },
        signatures: env.signatures.map((s) => ({
          signature: s.sig,
          verifier: verifiers[0],
        })),
      },
    };
  }
  if (proposed.kind === "intoto" && proposed.spec?.content?.envelope) {
    const copy = structuredClone(proposed);
    delete copy.spec.content.envelope.payload;
    return copy;
  }
  return proposed;
}

/**
 * Makes the log.
 *
 * @param {{ url: string, keyPair?: crypto.KeyPairKeyObjectResult, clock?: () => Date,
 *   prefill?: number, shardOffset?: number }} options
 */
export function createMerkleLog(options) {
  const keyPair = options.keyPair ??
    crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = keyPair.publicKey.export({ format: "der", type: "spki" });
  const logID = sha256(spki);
  const host = new URL(options.url).host;
  const treeID = 4242;
  const shardOffset = options.shardOffset ?? 1000;
  const clock = options.clock ?? (() => new Date());
  const leaves = [];
  for (let i = 0; i < (options.prefill ?? 5); i++) {
    leaves.push(leafHash(crypto.randomBytes(40)));
  }

  function checkpoint(size, root, timestamp) {
    const note = `${host} - ${treeID}\n${size}\n${root.toString("base64")}\nTimestamp: ${
      timestamp * 1_000_000_000
    }\n`;
    const sig = crypto.sign("sha256", Buffer.from(note), keyPair.privateKey);
    const line = `\u2014 ${host} ${
      Buffer.concat([logID.subarray(0, 4), sig]).toString("base64")
    }\n`;
    return `${note}\n${line}`;
  }

  /** Appends an entry; answers as Rekor v1 does. */
  function log(proposedEntry) {
    const body = Buffer.from(canonicalize(canonicalEntry(proposedEntry)));
    const index = leaves.length;
    leaves.push(leafHash(body));
    const size = leaves.length;
    const root = treeHash(leaves);
    const hashes = auditPath(index, leaves);
    const integratedTime = Math.floor(clock().getTime() / 1000);
    const logIndex = shardOffset + index;
    const set = crypto.sign(
      "sha256",
      Buffer.from(canonicalize({
        body: body.toString("base64"),
        integratedTime,
        logID: logID.toString("hex"),
        logIndex,
      })),
      keyPair.privateKey,
    );
    const uuid = leaves[index].toString("hex");
    return {
      [uuid]: {
        body: body.toString("base64"),
        integratedTime,
        logID: logID.toString("hex"),
        logIndex,
        verification: {
          signedEntryTimestamp: set.toString("base64"),
          inclusionProof: {
            logIndex: index,
            treeSize: size,
            rootHash: root.toString("hex"),
            hashes: hashes.map((h) => h.toString("hex")),
            checkpoint: checkpoint(size, root, integratedTime),
          },
        },
      },
    };
  }

  return {
    publicKey: spki,
    logID,
    /** The handler for POST /api/v1/log/entries. */
    handler: (text) => {
      try {
        return Promise.resolve({
          statusCode: 201,
          response: JSON.stringify(log(JSON.parse(text))),
          contentType: "application/json",
        });
      } catch (e) {
        return Promise.resolve({ statusCode: 400, response: String(e) });
      }
    },
    log,
  };
}
