import { sql } from "kysely";
import type { DbOrTx } from "../db/connect.js";
import type { DisputeStatus } from "../db/schema.js";
import { AppError } from "../errors.js";
import { type Actor, audit } from "./audit.js";
import { recordRefund } from "./record-refund.js";
import type { WebhookOutcome } from "./record-webhook.js";
import { changeHoldReason, moveReward, moveSettlement } from "./status-changes.js";

export interface ChargebackEvent {
  orderReference: string;
  disputeId: string;
  status: DisputeStatus;
  amount: bigint;
}

/**
 * `order.chargeback`, in the webhook's transaction. `opened` holds both rails (the reward if it is not
 * minted yet — `hold_reason = 'dispute'`, which no admin can approve or reject; a reward already held for
 * a mismatch or review is taken over — and the settlements not yet in a payout) and remembers what it
 * held; `won` releases exactly that; `lost` releases and then acts as a full refund of what is left (refund id `dispute:<id>`).
 * A dispute moves opened → won | lost once; the same status again is a duplicate, any other move 409.
 */
export async function recordChargeback(
  trx: DbOrTx,
  actor: Actor,
  event: ChargebackEvent,
  now = new Date(),
): Promise<WebhookOutcome> {
  const order = await trx
    .selectFrom("orders")
    .selectAll()
    .where("order_reference", "=", event.orderReference)
    .forNoKeyUpdate()
    .executeTakeFirst();
  if (!order || order.status === "created") {
    throw new AppError(
      "unprocessable",
      `order ${event.orderReference} is ${order ? "not paid yet" : "unknown"}; nothing was recorded, retry later`,
      { details: { orderReference: event.orderReference } },
    );
  }
  const dispute = await trx
    .selectFrom("disputes")
    .selectAll()
    .where("order_reference", "=", order.order_reference)
    .where("dispute_id", "=", event.disputeId)
    .forNoKeyUpdate()
    .executeTakeFirst();
  const base = { orderReference: order.order_reference, disputeId: event.disputeId, status: event.status };
  if (dispute) {
    if (dispute.status === event.status) return { result: "duplicate", ...base };
    if (dispute.status !== "opened" || event.status === "opened") {
      throw new AppError("invalid_transition", `dispute ${event.disputeId} is already ${dispute.status}`, {
        details: { from: dispute.status, to: event.status },
      });
    }
  }

  if (event.status === "opened") {
    const held = await holdRails(trx, actor, order.order_reference, event.disputeId);
    await trx
      .insertInto("disputes")
      .values({
        order_reference: order.order_reference,
        dispute_id: event.disputeId,
        status: "opened",
        amount: event.amount,
        held_reward_id: held.reward?.id ?? null,
        held_reward_from: held.reward?.from ?? null,
        held_reward_hold_reason: held.reward?.holdReason ?? null,
        held_settlements: JSON.stringify(held.settlements),
      })
      .execute();
    await audit(trx, actor, "dispute.opened", { type: "order", id: order.order_reference }, null, {
      disputeId: event.disputeId,
      amount: event.amount,
      heldReward: held.reward?.id ?? null,
      heldSettlements: held.settlements.map((s) => s.id),
    });
    return {
      result: "recorded",
      ...base,
      held: { reward: Boolean(held.reward), settlements: held.settlements.length },
    };
  }

  // won or lost: first release what this dispute held.
  let released = 0;
  if (dispute) released = await releaseRails(trx, actor, dispute, now);
  if (dispute) {
    await trx
      .updateTable("disputes")
      .set({ status: event.status, amount: event.amount, updated_at: sql<Date>`now()` })
      .where("order_reference", "=", order.order_reference)
      .where("dispute_id", "=", event.disputeId)
      .execute();
  } else {
    await trx
      .insertInto("disputes")
      .values({
        order_reference: order.order_reference,
        dispute_id: event.disputeId,
        status: event.status,
        amount: event.amount,
        held_settlements: "[]",
      })
      .execute();
  }
  await audit(
    trx,
    actor,
    `dispute.${event.status}`,
    { type: "order", id: order.order_reference },
    dispute ? { status: dispute.status } : null,
    { disputeId: event.disputeId, status: event.status, released },
  );
  if (event.status === "won") return { result: "recorded", ...base, released };

  // lost: the rest of the payment goes back, exactly like a refund.
  const remaining = (order.amount_paid ?? 0n) - order.amount_refunded;
  if (remaining === 0n) return { result: "recorded", ...base, released, refunded: "0" };
  const refund = await recordRefund(
    trx,
    actor,
    {
      orderReference: order.order_reference,
      refundId: `dispute:${event.disputeId}`,
      amountRefunded: remaining,
      refundedAt: now,
    },
    { kind: "chargeback", journalEvent: "order.chargeback" },
  );
  return {
    ...refund,
    ...base,
    result: "recorded",
    orderStatus: refund.status,
    released,
    refunded: remaining.toString(),
  };
}

async function holdRails(trx: DbOrTx, actor: Actor, orderReference: string, disputeId: string) {
  const reward = await trx
    .selectFrom("referral_rewards")
    .select(["id", "status", "hold_reason"])
    .where("order_reference", "=", orderReference)
    .where("source", "=", "order")
    .forNoKeyUpdate()
    .executeTakeFirst();
  let heldReward:
    | {
        id: bigint;
        from: "pending_approval" | "approved" | "held";
        holdReason: "amount_mismatch" | "review" | null;
      }
    | undefined;
  if (reward && (reward.status === "pending_approval" || reward.status === "approved")) {
    await moveReward(trx, actor, {
      id: reward.id,
      from: reward.status,
      to: "held",
      holdReason: "dispute",
      action: "reward.held",
      detail: { disputeId },
    });
    heldReward = { id: reward.id, from: reward.status, holdReason: null };
  } else if (reward?.status === "held" && reward.hold_reason && reward.hold_reason !== "dispute") {
    // Already held for a mismatch or a review: the dispute takes the hold over (no admin may release
    // it now) and gives the earlier reason back when it is won.
    await changeHoldReason(trx, actor, {
      id: reward.id,
      from: reward.hold_reason,
      to: "dispute",
      action: "reward.held",
      detail: { disputeId },
    });
    heldReward = { id: reward.id, from: "held", holdReason: reward.hold_reason };
  }
  const settlements = await trx
    .selectFrom("settlements")
    .select(["id", "status"])
    .where("order_reference", "=", orderReference)
    .where("status", "in", ["pending", "due"])
    .orderBy("id")
    .forNoKeyUpdate()
    .execute();
  const held: Array<{ id: string; from: "pending" | "due" }> = [];
  for (const settlement of settlements) {
    await moveSettlement(trx, actor, {
      id: settlement.id,
      from: settlement.status,
      to: "held",
      action: "settlement.held",
      detail: { disputeId },
    });
    held.push({ id: settlement.id.toString(), from: settlement.status as "pending" | "due" });
  }
  return { reward: heldReward, settlements: held };
}

/** Restores what the dispute held, if it is still held (a refund may have cancelled it since). */
async function releaseRails(
  trx: DbOrTx,
  actor: Actor,
  dispute: {
    dispute_id: string;
    held_reward_id: bigint | null;
    held_reward_from: "pending_approval" | "approved" | "held" | null;
    held_reward_hold_reason: "amount_mismatch" | "review" | null;
    held_settlements: Array<{ id: string; from: "pending" | "due" }>;
  },
  now: Date,
): Promise<number> {
  let released = 0;
  if (dispute.held_reward_id !== null && dispute.held_reward_from === "held") {
    // The reward was held for a mismatch or a review before the dispute: it stays held for that.
    if (dispute.held_reward_hold_reason) {
      const changed = await changeHoldReason(trx, actor, {
        id: dispute.held_reward_id,
        from: "dispute",
        to: dispute.held_reward_hold_reason,
        action: "reward.released",
        detail: { disputeId: dispute.dispute_id },
      });
      if (changed) released++;
    }
  } else if (dispute.held_reward_id !== null && dispute.held_reward_from) {
    const moved = await moveReward(trx, actor, {
      id: dispute.held_reward_id,
      from: "held",
      fromHoldReason: "dispute",
      to: dispute.held_reward_from,
      action: "reward.released",
      detail: { disputeId: dispute.dispute_id },
    });
    if (moved) released++;
  }
  for (const held of dispute.held_settlements) {
    const settlement = await trx
      .selectFrom("settlements")
      .select(["id", "status", "scheduled_for"])
      .where("id", "=", BigInt(held.id))
      .forNoKeyUpdate()
      .executeTakeFirst();
    if (settlement?.status !== "held") continue;
    // Back where it was; a hold that outlived the schedule goes straight to due.
    const to = held.from === "due" || settlement.scheduled_for.getTime() <= now.getTime() ? "due" : "pending";
    const moved = await moveSettlement(trx, actor, {
      id: settlement.id,
      from: "held",
      to,
      action: "settlement.released",
      detail: { disputeId: dispute.dispute_id },
    });
    if (moved) released++;
  }
  return released;
}
