// DSSE (the pre-authentication encoding) and in-toto statements (v0.1 and v1): what an
// attestation says it is about, and of which type.

import { concat, fromUtf8, utf8 } from "./_bytes.ts";
import { asObject, field, optArray, parseJsonObject, reqString } from "./_json.ts";

/** The payload type of an in-toto statement in a DSSE envelope. */
export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";

const STATEMENT_TYPES = new Set([
  "https://in-toto.io/Statement/v0.1",
  "https://in-toto.io/Statement/v1",
]);

/** DSSE's pre-authentication encoding: what the signature covers. */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = utf8(payloadType);
  return concat(utf8(`DSSEv1 ${type.byteLength} `), type, utf8(` ${payload.byteLength} `), payload);
}

/** An in-toto statement, as far as the verifier reads it. */
export interface InTotoStatement {
  /** `https://in-toto.io/Statement/v0.1` or `/v1`. */
  readonly type: string;
  /** The predicate type. */
  readonly predicateType: string;
  /** Each subject's digests, algorithm to lowercase hex. */
  readonly subjects: readonly {
    readonly name?: string;
    readonly digest: Readonly<Record<string, string>>;
  }[];
}

/** The most subjects read from a statement. */
const MAX_SUBJECTS = 4096;

/**
 * Parses an in-toto statement (v0.1 or v1).
 *
 * @throws {SyntaxError} Naming what is wrong.
 */
export function parseStatement(payload: Uint8Array): InTotoStatement {
  fromUtf8(payload, "the statement");
  const o = parseJsonObject(payload, "the statement");
  const type = reqString(o, "_type", "statement", 256);
  if (!STATEMENT_TYPES.has(type)) {
    throw new SyntaxError(`statement._type: unsupported ${JSON.stringify(type)}`);
  }
  const predicateType = reqString(o, "predicateType", "statement", 1024);
  const list = optArray(o, "subject", "statement", MAX_SUBJECTS) ?? [];
  if (list.length === 0) throw new SyntaxError("statement.subject: empty");
  const subjects = list.map((s, i) => {
    const so = asObject(s, `statement.subject[${i}]`);
    const d = field(so, "digest");
    const digest: Record<string, string> = {};
    if (d !== undefined) {
      for (const [k, v] of Object.entries(asObject(d, `statement.subject[${i}].digest`))) {
        if (typeof v !== "string") {
          throw new SyntaxError(`statement.subject[${i}].digest.${k}: expected a string`);
        }
        digest[k] = v.toLowerCase();
      }
    }
    const name = field(so, "name");
    return typeof name === "string" ? { name, digest } : { digest };
  });
  return { type, predicateType, subjects };
}

/** Whether one of the statement's subjects has the digest `algorithm:hex`. */
export function statementCovers(
  statement: InTotoStatement,
  algorithm: string,
  hex: string,
): boolean {
  return statement.subjects.some((s) => s.digest[algorithm] === hex);
}

/** Why a DSSE envelope is not an attestation about a digest, as a failure kind and a reason. */
export interface StatementProblem {
  /** `unsupported`, `malformed`, `subject` or `predicate-type`. */
  readonly failure: "unsupported" | "malformed" | "subject" | "predicate-type";
  /** Why. */
  readonly reason: string;
}

/**
 * Binds a DSSE envelope to the digest being verified: an in-toto statement (v0.1 or v1) one of
 * whose subjects has the digest, of one of the predicate types asked for (any when none).
 *
 * @returns The statement, or the problem.
 */
export function bindStatement(
  payloadType: string,
  payload: Uint8Array,
  digest: string,
  predicateTypes: readonly string[] | undefined,
): InTotoStatement | StatementProblem {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    return {
      failure: "unsupported",
      reason: `its DSSE payload type ${JSON.stringify(payloadType)} is not an in-toto statement`,
    };
  }
  let s: InTotoStatement;
  try {
    s = parseStatement(payload);
  } catch (e) {
    return { failure: "malformed", reason: `its in-toto statement: ${(e as Error).message}` };
  }
  const colon = digest.indexOf(":");
  if (!statementCovers(s, digest.slice(0, colon), digest.slice(colon + 1))) {
    const first = s.subjects[0]?.digest ?? {};
    const shown = Object.entries(first).map(([k, v]) => `${k}:${v}`)[0] ?? "no digest";
    const more = s.subjects.length > 1 ? ` and ${s.subjects.length - 1} more` : "";
    return { failure: "subject", reason: `its statement is about ${shown}${more}, not ${digest}` };
  }
  if (predicateTypes && !predicateTypes.includes(s.predicateType)) {
    return {
      failure: "predicate-type",
      reason: `its predicate type ${JSON.stringify(s.predicateType)} is not ${
        predicateTypes.map((t) => JSON.stringify(t)).join(" or ")
      }`,
    };
  }
  return s;
}
