import type { Reward, Settlement } from "../db/schema.js";
import { settlementView } from "../http/routes/admin.js";
import { payoutView } from "../http/routes/ledger-admin.js";
import { toRewardView } from "../ledger/review-rewards.js";
import type { Clawback, Payout } from "./tables.js";

/** Every event type an endpoint can subscribe to. */
export const WEBHOOK_EVENT_TYPES = Object.freeze([
  "reward.created",
  "reward.approved",
  "reward.rejected",
  "reward.minted",
  "reward.cancelled",
  "clawback.created",
  "settlement.due",
  "payout.created",
  "payout.paid",
] as const);
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** A clawback as its webhook shows it (no other route returns one). */
export function clawbackView(row: Clawback) {
  return {
    id: row.id.toString(),
    referrerMemberId: row.referrer_member_id,
    kind: row.kind,
    amountWei: row.amount_wei,
    debtAfterWei: row.debt_after,
    rewardId: row.reward_id.toString(),
    orderReference: row.order_reference,
    sourceId: row.source_id,
    createdAt: row.created_at.toISOString(),
  };
}

type Snapshot = Record<string, unknown>;

/**
 * Rebuilds a row from the trigger's snapshot (`to_jsonb`, top-level numbers as text) with the types the
 * database driver gives the API: bigint, integer and timestamp columns named here, the rest as stored.
 */
function revive<T>(snapshot: Snapshot, columns: { bigint?: string[]; int?: string[]; date?: string[] }): T {
  const row: Snapshot = { ...snapshot };
  const each = (names: string[] | undefined, convert: (value: string) => unknown) => {
    for (const name of names ?? []) {
      const value = row[name];
      if (value !== null && value !== undefined) row[name] = convert(String(value));
    }
  };
  each(columns.bigint, (value) => BigInt(value));
  each(columns.int, (value) => Number(value));
  each(columns.date, (value) => new Date(value));
  return row as T;
}

const REWARD = {
  bigint: ["id", "fiat_basis", "batch_id", "block_number", "clawed_back_basis"],
  int: ["log_index", "attempts"],
  date: ["created_at", "updated_at", "approved_at", "minted_at"],
};
const SETTLEMENT = {
  bigint: [
    "id",
    "merchandise",
    "discount",
    "shipping",
    "gross",
    "platform_fee",
    "referral_commission",
    "net",
    "payout_id",
  ],
  int: ["platform_fee_bps"],
  date: ["scheduled_for", "created_at", "updated_at"],
};
const PAYOUT = {
  bigint: ["id", "amount", "adjustment_total"],
  int: ["settlement_count"],
  date: ["created_at", "paid_at"],
};
const CLAWBACK = { bigint: ["id", "reward_id"], date: ["created_at"] };

/**
 * The `data` of an event: the object as the API returns it, built by the API's own view function from
 * the row as it was when the event happened. `at` is the event's time (a reward's `ageSeconds`).
 */
export function eventData(type: string, snapshot: Snapshot, at: Date): unknown {
  const kind = type.slice(0, type.indexOf("."));
  switch (kind) {
    case "reward": {
      const row = revive<Reward & { display_name: string | null; referrer_wallet: string | null }>(
        snapshot,
        REWARD,
      );
      return toRewardView(row, row.display_name, row.referrer_wallet, at.getTime());
    }
    case "settlement":
      return settlementView(revive<Settlement>(snapshot, SETTLEMENT));
    case "payout":
      return payoutView(revive<Payout>(snapshot, PAYOUT));
    case "clawback":
      return clawbackView(revive<Clawback>(snapshot, CLAWBACK));
    default:
      throw new Error(`no view for webhook event ${type}`);
  }
}

/** The body of a message: `{type, timestamp, data}`, the same bytes at every attempt. */
export function messageBody(message: { event_type: string; snapshot: Snapshot; created_at: Date }): string {
  return JSON.stringify({
    type: message.event_type,
    timestamp: message.created_at.toISOString(),
    data: eventData(message.event_type, message.snapshot, message.created_at),
  });
}
