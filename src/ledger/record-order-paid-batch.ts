import type { Db } from "../db/connect.js";
import { inTransaction } from "../db/transaction.js";
import type { Actor } from "./audit.js";
import { type CreateOrderInput, checkoutInputs, planCheckout } from "./create-order.js";
import {
  type OrderPaidEvent,
  paidOrderWrites,
  paidOutcome,
  paidTermsHash,
  type recordOrderPaid,
} from "./record-order-paid.js";
import type { WebhookDelivery, WebhookOutcome } from "./record-webhook.js";
import { rewardRows } from "./reward-changes.js";
import { claimWithContexts } from "./statements/claim-with-contexts.js";
import { insertPaidOrders } from "./statements/insert-paid-orders.js";
import { insertPaidRows, type PaidRows } from "./statements/insert-paid-rows.js";

/** One `order.paid` delivery that carries its order (`data.order`), as the route parsed it. */
export interface BatchItem {
  delivery: WebhookDelivery;
  event: OrderPaidEvent & { order: CreateOrderInput };
  actor: Actor;
}

type Config = Parameters<typeof recordOrderPaid>[1];

/**
 * Whether `item` may be grouped with others: it carries its order, under the same reference, and no
 * coupon (a coupon's redemption is a row lock and a retry of its own). The batch also needs distinct
 * webhook ids, orders and buyers (see `OrderPaidBatcher`).
 */
export function groupable(item: BatchItem): boolean {
  const order = item.event.order;
  return order.orderReference === item.event.orderReference && !order.couponCode;
}

/** Why a batch went back to one transaction per event (counted in `/metrics`). */
export type LeaveReason =
  | "order_exists"
  | "checkout_refused"
  | "coupon"
  | "not_payable"
  | "clawback_debt"
  | "reward_exists"
  | "first_paid_taken"
  | "error";

class LeavesBatch extends Error {
  constructor(readonly reason: LeaveReason) {
    super(`the batch leaves the grouped path: ${reason}`);
  }
}

/**
 * Group commit for `order.paid` (docs/scaling.md "Ingest: group commit"): the events of `items`, each
 * a first delivery of a new order, recorded in ONE transaction of three statements whatever their
 * number — claim the webhook rows and read the checkout contexts; insert the orders already paid,
 * their buyers and lines, drawing the reward ids; both rails with the rewards and the stored
 * responses — instead of one transaction of eight round trips each. Row by row it writes what
 * `recordWebhook` + `recordOrderPaid` write (the same pure builders: planCheckout, paidOrderWrites,
 * rewardRows; test/integration/order-paid-batch.test.ts compares the two), and it takes its locks
 * level by level in the documented order (src/db/transaction.ts), sorted within each level.
 *
 * Anything off the common path — an order that exists, a checkout the rules refuse, a payment that
 * does not move the order, a referrer with clawback debt to net, a reward reference taken, a buyer's
 * first-paid row taken meanwhile, any error —
 * rolls the whole batch back: `rest` then holds every item, for the one-event path to record (and to
 * answer with its own 4xx). Deliveries already recorded (redeliveries) are never claimed and are in
 * `rest` too. `recorded` maps the webhook ids committed here to their outcomes.
 */
export async function recordOrderPaidBatch(
  db: Db,
  config: Config,
  items: BatchItem[],
): Promise<{
  recorded: Map<string, WebhookOutcome>;
  rest: BatchItem[];
  left?: LeaveReason;
  error?: unknown;
}> {
  try {
    return await inTransaction(db, (trx) => run(trx, config, items), { name: "webhook order.paid batch" });
  } catch (error) {
    if (error instanceof LeavesBatch) return { recorded: new Map(), rest: items, left: error.reason };
    return { recorded: new Map(), rest: items, left: "error", error };
  }
}

async function run(
  trx: Parameters<Parameters<typeof inTransaction>[1]>[0],
  config: Config,
  items: BatchItem[],
): Promise<{ recorded: Map<string, WebhookOutcome>; rest: BatchItem[] }> {
  const provider = items[0]!.delivery.provider;
  // The webhook rows claimed and every checkout context read, in one statement; checkout is then
  // decided one by one and inserted in one.
  const inputs = items.map((item) => checkoutInputs(config, item.event.order, { now: item.event.paidAt }));
  const { claimed, contexts } = await claimWithContexts(
    trx,
    provider,
    items.map((item, i) => ({ ...item.delivery, context: inputs[i]!.context })),
  );
  const at = items.flatMap((item, i) => (claimed.has(item.delivery.eventId) ? [i] : []));
  const batch = at.map((i) => items[i]!);
  const rest = items.filter((item) => !claimed.has(item.delivery.eventId));
  if (batch.length === 0) return { recorded: new Map(), rest };

  const plans = batch.map((item, j) => {
    const i = at[j]!;
    if (contexts[i]!.existing) throw new LeavesBatch("order_exists");
    let plan: ReturnType<typeof planCheckout>;
    try {
      plan = planCheckout(
        config,
        item.actor,
        item.event.order,
        { now: item.event.paidAt },
        inputs[i]!,
        contexts[i]!,
      );
    } catch {
      throw new LeavesBatch("checkout_refused");
    }
    // insertPaidOrders redeems no coupon: an order that would is recorded by the one-event path.
    if (plan.rows.coupon) throw new LeavesBatch("coupon");
    return plan;
  });
  // Inserted already paid (one statement instead of an insert and a `created → paid` update): a
  // payment in another currency than its order's does not move it, on either path.
  for (const [i, item] of batch.entries()) {
    if (plans[i]!.rows.order.currency !== item.event.currency) throw new LeavesBatch("not_payable");
  }
  const paid = await insertPaidOrders(
    trx,
    batch.map((item, i) => ({
      ...plans[i]!.rows,
      payment: { ...item.event, termsHash: paidTermsHash(item.event) },
    })),
    config.ATTRIBUTION_SCOPE,
  );
  if (paid === "first_paid_taken") throw new LeavesBatch("first_paid_taken");
  if (paid.size !== batch.length) throw new LeavesBatch("order_exists");
  const writes = batch.map((item) => {
    const found = paid.get(item.event.orderReference);
    if (!found) throw new LeavesBatch("not_payable");
    const { order, rewardId } = found;
    let built: ReturnType<typeof paidOrderWrites>;
    try {
      built = paidOrderWrites(item.actor, item.event, order);
    } catch {
      throw new LeavesBatch("error");
    }
    // Netting debt takes the referrer's row lock and reads the debt again: the one-event path does it.
    if (built.reward && order.referrer_debt > 0n) throw new LeavesBatch("clawback_debt");
    const reward = built.reward ? rewardRows(item.actor, "order.paid", built.reward, 0n).insert : null;
    if (reward) reward.reward = { id: rewardId.toString(), ...reward.reward };
    const rows: PaidRows = { orderReference: order.order_reference, railA: built.railA, reward };
    // The answer, known before the rows are written (the reward's id was drawn with the order): the
    // statement below stores it, and what it reports written must be what the answer says.
    const expected = {
      settlements: built.railA.settlements.length,
      reward: reward
        ? { id: rewardId, status: String(reward.reward.status), amount_wei: String(reward.reward.amount_wei) }
        : undefined,
    };
    const outcome = paidOutcome(order, built.mismatch, expected.settlements, expected.reward);
    return { item, order, rows, expected, outcome };
  });
  const recorded = new Map(writes.map((w) => [w.item.delivery.eventId, w.outcome]));
  const inserted = await insertPaidRows(
    trx,
    writes.map((w) => w.rows),
    { provider, rows: writes.map((w) => ({ ...w.item.delivery, response: w.outcome })) },
  );
  for (const { order, expected } of writes) {
    const reward = inserted.rewards.get(order.order_reference);
    if (expected.reward && !reward) throw new LeavesBatch("reward_exists");
    const same =
      (inserted.settlements.get(order.order_reference) ?? 0) === expected.settlements &&
      reward?.id === expected.reward?.id &&
      reward?.status === expected.reward?.status &&
      reward?.amount_wei === expected.reward?.amount_wei;
    if (!same) throw new LeavesBatch("error");
  }
  return { recorded, rest };
}
