import { sql } from "kysely";
import type { DbOrTx } from "../db/connect.js";
import { AppError } from "../errors.js";
import type { Actor } from "./audit.js";
import { moveSettlement } from "./status-changes.js";

/**
 * Amount-mismatch holds on rail A. A payment whose `amountPaid` differs from the order total writes
 * the order's settlements `held` (record-order-paid.ts), next to its reward held for
 * `amount_mismatch`: no vendor is paid out until an admin resolves the mismatch, either by approving
 * the held reward (`reviewRewards` calls `releaseMismatchHoldsOfRewards` first) or, for an order with
 * no reward to approve, with `POST /v1/admin/orders/:orderReference/release-hold`.
 *
 * While a dispute is open on the order nothing is released: the dispute's outcome decides. A
 * settlement released goes back to `pending` (the settlements job makes it `due` on its schedule).
 * Locks follow the one lock order: order → settlements (by id) → reward.
 */

export interface MismatchRelease {
  orderReference: string;
  /** Settlements moved out of `held` by this call (none when already released). */
  released: string[];
}

/**
 * Releases the amount-mismatch hold of one order's settlements. 404 for an unknown order, 409 when the
 * order was paid its total (nothing to resolve) or while a dispute is open on it. Repeating it after
 * the release answers with `released: []`.
 */
export async function releaseMismatchHold(
  trx: DbOrTx,
  actor: Actor,
  orderReference: string,
): Promise<MismatchRelease> {
  const order = await trx
    .selectFrom("orders")
    .select(["order_reference", "status", "amount_paid", "gross_amount"])
    .where("order_reference", "=", orderReference)
    .forNoKeyUpdate()
    .executeTakeFirst();
  if (!order) throw new AppError("not_found", `order ${orderReference} does not exist`);
  if (order.status === "created" || order.amount_paid === null || order.amount_paid === order.gross_amount) {
    throw new AppError(
      "invalid_transition",
      `order ${orderReference} has no amount mismatch hold (it is ${order.status === "created" ? "not paid" : "paid its total"})`,
      { details: { orderReference } },
    );
  }
  return releaseLocked(trx, actor, orderReference, { refuseOnDispute: true });
}

/**
 * For an admin approving rewards: releases the rail-A hold of every order whose reward among `rewardIds`
 * is held for an amount mismatch (and has no open dispute), before the rewards are moved. Locks each
 * such order, its settlements and then its reward, so the approval that follows finds the reward as
 * it was checked here.
 */
export async function releaseMismatchHoldsOfRewards(
  trx: DbOrTx,
  actor: Actor,
  rewardIds: bigint[],
): Promise<MismatchRelease[]> {
  if (rewardIds.length === 0) return [];
  const candidates = await sql<{ order_reference: string }>`
    SELECT o.order_reference FROM referral_rewards r
      JOIN orders o ON o.order_reference = r.order_reference
     WHERE r.id IN (${sql.join(rewardIds.map((id) => id.toString()))}) AND r.source = 'order'
       AND r.status = 'held' AND o.amount_paid IS DISTINCT FROM o.gross_amount
       AND EXISTS (SELECT 1 FROM settlements s WHERE s.order_reference = o.order_reference AND s.status = 'held')
     ORDER BY o.order_reference`.execute(trx);
  const results: MismatchRelease[] = [];
  for (const { order_reference } of candidates.rows) {
    await trx
      .selectFrom("orders")
      .select("order_reference")
      .where("order_reference", "=", order_reference)
      .forNoKeyUpdate()
      .execute();
    const result = await releaseLocked(trx, actor, order_reference, { refuseOnDispute: false });
    // The reward last (the lock order); the approval's conditional update then moves it.
    await trx
      .selectFrom("referral_rewards")
      .select("id")
      .where("order_reference", "=", order_reference)
      .where("source", "=", "order")
      .forNoKeyUpdate()
      .execute();
    if (result.released.length > 0) results.push(result);
  }
  return results;
}

/** The order row is locked by the caller. */
async function releaseLocked(
  trx: DbOrTx,
  actor: Actor,
  orderReference: string,
  options: { refuseOnDispute: boolean },
): Promise<MismatchRelease> {
  const dispute = await trx
    .selectFrom("disputes")
    .select("dispute_id")
    .where("order_reference", "=", orderReference)
    .where("status", "=", "opened")
    .executeTakeFirst();
  if (dispute) {
    if (options.refuseOnDispute) {
      throw new AppError(
        "invalid_transition",
        `order ${orderReference} has an open dispute (${dispute.dispute_id}): its outcome decides the hold`,
        { details: { orderReference, disputeId: dispute.dispute_id } },
      );
    }
    return { orderReference, released: [] };
  }
  const held = await trx
    .selectFrom("settlements")
    .select("id")
    .where("order_reference", "=", orderReference)
    .where("status", "=", "held")
    .orderBy("id")
    .forNoKeyUpdate()
    .execute();
  const released: string[] = [];
  for (const settlement of held) {
    const moved = await moveSettlement(trx, actor, {
      id: settlement.id,
      from: "held",
      to: "pending",
      action: "settlement.released",
      detail: { reason: "amount_mismatch_resolved", orderReference },
    });
    if (moved) released.push(settlement.id.toString());
  }
  return { orderReference, released };
}
