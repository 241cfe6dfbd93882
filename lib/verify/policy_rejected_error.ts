/**
 * The error of an image that a signature policy does not accept.
 *
 * @module
 */

import type { PolicyVerdict } from "./policy_verdict.ts";

/**
 * An image the policy rejects. The message is one line naming the image, the policy scope and the
 * first requirement that is not satisfied, with the reason of each signature tried;
 * {@linkcode PolicyRejectedError.verdict} has every requirement and every signature.
 *
 * @example What a caller shows
 * ```ts
 * import { PolicyRejectedError } from "./policy_rejected_error.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new PolicyRejectedError({
 *   accepted: false,
 *   image: "docker://registry.example/app:1",
 *   policy: "/etc/containers/policy.json",
 *   transport: "docker",
 *   scope: "registry.example",
 *   requirements: [{ type: "reject", satisfied: false, reason: "the policy rejects it", signatures: [] }],
 * });
 * assert.equal(
 *   e.message,
 *   'Cannot accept docker://registry.example/app:1: policy /etc/containers/policy.json, scope "registry.example", requirement 1 (reject): the policy rejects it',
 * );
 * ```
 */
export class PolicyRejectedError extends Error {
  /** The whole evaluation: every requirement, every signature and why. */
  readonly verdict: PolicyVerdict;

  /**
   * Makes the error of a verdict that did not accept the image.
   *
   * @param verdict The evaluation.
   */
  constructor(verdict: PolicyVerdict) {
    const i = verdict.requirements.findIndex((r) => !r.satisfied);
    const r = verdict.requirements[i];
    const scope = verdict.scope === undefined
      ? "the default requirements"
      : `scope ${JSON.stringify(verdict.scope)}`;
    const why = r ? `requirement ${i + 1} (${r.type}): ${r.reason}` : "no requirement";
    super(
      `Cannot accept ${verdict.image}: policy ${verdict.policy}, ${scope}, ${why}`.replace(
        /[\r\n]+/g,
        " ",
      ),
    );
    this.name = "PolicyRejectedError";
    this.verdict = verdict;
  }
}
