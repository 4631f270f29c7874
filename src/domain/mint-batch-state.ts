import type { MintBatchStatus } from "../db/schema.js";
import { AppError } from "../errors.js";

/**
 * The mint batch state machine (the minter, docs/runbook.md). A batch is `claimed` with its rewards,
 * `signed` once a transaction is persisted (again `signed` for each replacement: same nonce, higher
 * fee), then `confirmed` (a receipt), `failed` (its transaction reverted) or `released` (proven unsent
 * or unpaid; its rewards back to `approved`). The last three are terminal. Wallet mode (issue 15): a
 * claimed batch that needs an approval the service cannot sign waits in `awaiting_approval` (its typed
 * data persisted, nothing broadcast), becomes `approval_signed` once the API stored a verified wallet
 * signature, then `signed` when the minter sends exactly that batch; `released` when it expires or reverts.
 */
export const MINT_BATCH_TRANSITIONS: Readonly<Record<MintBatchStatus, readonly MintBatchStatus[]>> =
  Object.freeze({
    claimed: ["signed", "released", "awaiting_approval"],
    awaiting_approval: ["approval_signed", "released"],
    approval_signed: ["signed", "released"],
    signed: ["signed", "confirmed", "released", "failed"],
    confirmed: [],
    failed: [],
    released: [],
  });

const STATUSES = Object.keys(MINT_BATCH_TRANSITIONS) as MintBatchStatus[];

/** The statuses of a batch still in flight (not terminal): its lease matters, recovery resolves it. */
export const OPEN_BATCH_STATUSES: readonly MintBatchStatus[] = Object.freeze(
  STATUSES.filter((status) => MINT_BATCH_TRANSITIONS[status].length > 0),
);

/**
 * The statuses a batch may move into `to` from.
 * @throws AppError("invalid_transition") when no status leads there.
 */
export function batchStatusesInto(to: MintBatchStatus): MintBatchStatus[] {
  const from = STATUSES.filter((status) => MINT_BATCH_TRANSITIONS[status].includes(to));
  if (from.length === 0) {
    throw new AppError("invalid_transition", `no mint batch moves into ${to}`, { details: { to } });
  }
  return from;
}
