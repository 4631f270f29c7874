import type { DbOrTx } from "../db/connect.js";
import type { ClawbacksTable } from "../db/schema.js";

/**
 * Clawback debt: what a referrer owes back because an order was refunded after its reward was minted.
 * Kept as an append-only running balance per referrer (`clawbacks.debt_after`); every writer first
 * locks the referrer's member row, so rows for one referrer are strictly ordered and the balance can
 * be checked (CHECK debt_after >= 0) by the database.
 *
 * The lock is `FOR NO KEY UPDATE`, never `FOR UPDATE`: every insert that references the referrer (an
 * order, a sales assist, a reward) takes `FOR KEY SHARE` on the same row, and FOR UPDATE would wait
 * for all of them — the deadlock of issue 9. It is the LAST lock of any transaction (see
 * docs/ledger.md, "Lock order"), and a new reward takes it only when the referrer has debt to net.
 */

/** Serializes every debt change of one referrer (and the reward netting that reads the debt). */
export async function lockReferrer(trx: DbOrTx, memberId: string): Promise<void> {
  await trx
    .selectFrom("members")
    .select("member_id")
    .where("member_id", "=", memberId)
    .forNoKeyUpdate()
    .execute();
}

/** Locks several referrers in the one global order (sorted by member id). */
export async function lockReferrers(trx: DbOrTx, memberIds: Iterable<string>): Promise<void> {
  for (const memberId of [...new Set(memberIds)].sort()) await lockReferrer(trx, memberId);
}

/** The referrer's current clawback debt in wei (0 when none). */
export async function clawbackDebt(db: DbOrTx, memberId: string): Promise<bigint> {
  const last = await db
    .selectFrom("clawbacks")
    .select("debt_after")
    .where("referrer_member_id", "=", memberId)
    .orderBy("id", "desc")
    .limit(1)
    .executeTakeFirst();
  return last ? BigInt(last.debt_after) : 0n;
}

/**
 * Appends one debt change (positive: more debt; negative: netted from a reward). The caller holds
 * `lockReferrer`. Returns the debt after the change.
 */
export async function appendClawback(
  trx: DbOrTx,
  input: {
    referrer: string;
    kind: ClawbacksTable["kind"];
    amountWei: bigint;
    rewardId: bigint;
    orderReference: string;
    sourceId?: string | null;
  },
): Promise<bigint> {
  if (input.amountWei === 0n) return clawbackDebt(trx, input.referrer);
  const debtAfter = (await clawbackDebt(trx, input.referrer)) + input.amountWei;
  await trx
    .insertInto("clawbacks")
    .values({
      referrer_member_id: input.referrer,
      kind: input.kind,
      amount_wei: input.amountWei.toString(),
      debt_after: debtAfter.toString(),
      reward_id: input.rewardId,
      order_reference: input.orderReference,
      source_id: input.sourceId ?? null,
    })
    .execute();
  return debtAfter;
}
