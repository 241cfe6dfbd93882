/**
 * What a signature policy decided for one image, requirement by requirement and signature by
 * signature (the result of `evaluatePolicy`).
 *
 * @module
 */

import type { Requirement } from "./parse_policy.ts";

/** What one signature did for one requirement. */
export interface SignatureVerdict {
  /** `gpg signature N` (its order in the lookaside) or the sigstore candidate's label. */
  label: string;
  /** Whether the requirement accepted it. */
  accepted: boolean;
  /** Why not, or what was accepted. */
  reason: string;
  /** Who signed (when the signature verified). */
  signer?: string | undefined;
  /** The identity it claims (when it verified and claims one). */
  dockerReference?: string | undefined;
}

/** One requirement's outcome. */
export interface RequirementVerdict {
  /** The requirement's type. */
  type: Requirement["type"];
  /** Whether it is satisfied. */
  satisfied: boolean;
  /** One line: why, or why not. */
  reason: string;
  /** Each signature considered (duplicates once). */
  signatures: SignatureVerdict[];
}

/** The outcome of a policy for an image. */
export interface PolicyVerdict {
  /** Whether every requirement is satisfied. */
  accepted: boolean;
  /** `transport://name`, for messages. */
  image: string;
  /** The policy's source. */
  policy: string;
  /** The transport whose scopes were searched. */
  transport: string;
  /** The scope whose requirements applied; `undefined` for the global default. */
  scope: string | undefined;
  /** Every requirement, in order. */
  requirements: RequirementVerdict[];
}
