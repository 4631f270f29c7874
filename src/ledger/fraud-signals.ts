import { sql } from "kysely";
import type { DbOrTx } from "../db/connect.js";
import type { FraudSignal } from "../db/schema.js";

/** Thresholds for the computed signals (0 turns one off). */
export interface FraudSignalThresholds {
  /** More attributed orders than this for one referrer in the 24 h up to an order → `velocity_over_cap`. */
  velocityPerDay: number;
  /** A buyer account younger than this (seconds) when it ordered → `new_account_instant_purchase`. */
  newAccountSeconds: number;
}

export const DEFAULT_FRAUD_THRESHOLDS: FraudSignalThresholds = { velocityPerDay: 20, newAccountSeconds: 600 };

interface SignalRow {
  id: bigint;
  shared_ip: boolean | null;
  velocity: bigint | string | number | null;
  wallet_sharers: bigint | string | number | null;
  account_age_seconds: string | number | null;
}

/**
 * Fraud signals for rewards, computed when they are read (so they reflect what is known now, e.g. a
 * wallet another member registered later). They inform the admin; nothing is rejected because of
 * them. Signals:
 * - `shared_ip`: the buyer's signup or checkout IP hash equals the referrer's signup IP hash;
 * - `velocity_over_cap`: the referrer had more attributed orders in the 24 h up to this one than allowed;
 * - `shared_wallet`: the payout wallet is also registered by another member;
 * - `new_account_instant_purchase`: the buyer's account was created moments before the order.
 * (`amount_mismatch` is stored on the reward when the payment is recorded.)
 */
export async function computeFraudSignals(
  db: DbOrTx,
  rewardIds: bigint[],
  thresholds: FraudSignalThresholds = DEFAULT_FRAUD_THRESHOLDS,
): Promise<Map<string, FraudSignal[]>> {
  const signals = new Map<string, FraudSignal[]>();
  if (rewardIds.length === 0) return signals;
  const result = await sql<SignalRow>`
    SELECT r.id,
      (ref.signup_ip_hash IS NOT NULL AND (ref.signup_ip_hash = b.signup_ip_hash
        OR ref.signup_ip_hash = o.buyer_ip_hash)) AS shared_ip,
      (SELECT count(*) FROM orders o2
        WHERE o2.referrer_member_id = r.referrer_member_id
          AND o2.created_at > o.created_at - interval '24 hours'
          AND o2.created_at <= o.created_at) AS velocity,
      (SELECT count(*) FROM members m2
        WHERE coalesce(r.wallet_address, ref.wallet_address) IS NOT NULL
          AND lower(m2.wallet_address) = lower(coalesce(r.wallet_address, ref.wallet_address))
          AND m2.member_id <> r.referrer_member_id) AS wallet_sharers,
      extract(epoch FROM (o.created_at - b.created_at))::float8 AS account_age_seconds
    FROM referral_rewards r
    JOIN members ref ON ref.member_id = r.referrer_member_id
    LEFT JOIN orders o ON o.order_reference = r.order_reference
    LEFT JOIN members b ON b.member_id = r.buyer_member_id
    WHERE r.id IN (${sql.join(rewardIds)})`.execute(db);
  for (const row of result.rows) {
    const list: FraudSignal[] = [];
    if (row.shared_ip) {
      list.push({ code: "shared_ip", detail: "the buyer's IP hash equals the referrer's signup IP hash" });
    }
    const velocity = Number(row.velocity ?? 0);
    if (thresholds.velocityPerDay > 0 && velocity > thresholds.velocityPerDay) {
      list.push({
        code: "velocity_over_cap",
        detail: `the referrer had ${velocity} attributed orders in the 24 h up to this one (cap ${thresholds.velocityPerDay})`,
      });
    }
    const sharers = Number(row.wallet_sharers ?? 0);
    if (sharers > 0) {
      list.push({
        code: "shared_wallet",
        detail: `the payout wallet is also registered by ${sharers} other member${sharers === 1 ? "" : "s"}`,
      });
    }
    const age = row.account_age_seconds === null ? null : Number(row.account_age_seconds);
    if (thresholds.newAccountSeconds > 0 && age !== null && age >= 0 && age < thresholds.newAccountSeconds) {
      list.push({
        code: "new_account_instant_purchase",
        detail: `the buyer's account was ${Math.floor(age)} s old when it ordered`,
      });
    }
    signals.set(row.id.toString(), list);
  }
  return signals;
}

/** Stored signals first (e.g. `amount_mismatch`), then computed ones not already present. */
export function mergeSignals(stored: FraudSignal[], computed: FraudSignal[] | undefined): FraudSignal[] {
  const codes = new Set(stored.map((signal) => signal.code));
  return [...stored, ...(computed ?? []).filter((signal) => !codes.has(signal.code))];
}
