import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { prepared } from "../../db/prepared.js";
import { type AuditRow, auditRowsJson } from "../audit.js";
import { insertAssists, insertJournal, type insertRailA, insertSettlements } from "./insert-rail-a.js";
import { type insertReward, insertRewards } from "./insert-reward.js";
import { type WebhookResponseRow, webhookResponses } from "./webhook-responses.js";

type RailA = Parameters<typeof insertRailA>[1];
type RewardInsert = Parameters<typeof insertReward>[1];

/**
 * What one order of a batch writes: rail A, and its reward (without clawback netting, its row with
 * its `id`) if it has one.
 */
export interface PaidRows {
  orderReference: string;
  railA: RailA;
  reward: RewardInsert | null;
}

/**
 * One statement for a batch of paid orders (the grouped `order.paid`): `insertRailA` and
 * `insertReward` for every order at once — settlements in (order, vendor) order, sales assists, both
 * rails' journal transactions, rewards in order-reference order, and the audit entries with the new
 * settlement and reward ids as subjects, and the deliveries' stored responses (`webhookResponses`).
 * Rewards carry their ids (drawn by insert-paid-orders.ts), so the responses are known before this
 * runs. Rewards of a batch never net clawback debt (the caller sends referrers with debt down the
 * one-event path). Answers, per order, the settlements inserted and the reward row; a reward missing
 * from the answer already existed (the caller rolls back, responses included).
 */
export async function insertPaidRows(
  trx: DbOrTx,
  orders: PaidRows[],
  responses: { provider: string; rows: WebhookResponseRow[] },
): Promise<{
  settlements: Map<string, number>;
  rewards: Map<string, { id: bigint; status: string; amount_wei: string }>;
}> {
  const settlements = orders.flatMap((o) => o.railA.settlements);
  const rewards = orders.flatMap((o) => (o.reward ? [o.reward.reward] : []));
  const audit: AuditRow[] = [];
  const keys: string[] = [];
  for (const o of orders) {
    for (const row of o.railA.audit) {
      audit.push(row);
      keys.push(o.orderReference);
    }
    if (o.reward) {
      audit.push(o.reward.audit);
      keys.push(o.orderReference);
    }
  }
  const journal = orders.flatMap((o) => [...o.railA.journal, ...(o.reward?.journal ?? [])]);
  const result = await sql<{
    settlements: Array<{ order_reference: string; n: number }> | null;
    rewards: Array<{
      id: string | number;
      order_reference: string;
      status: string;
      amount_wei: string;
    }> | null;
  }>`${prepared("insert-paid-rows")}
    WITH s AS (${insertSettlements(settlements)}),
    assists AS (${insertAssists(orders.flatMap((o) => o.railA.assists))}),
    journal AS (${insertJournal(journal)}),
    r AS (${insertRewards(rewards, true)}),
    ${webhookResponses(responses.provider, responses.rows)},
    audit AS (
      INSERT INTO audit_log (actor, action, subject_type, subject_id, before, after, request_id)
      SELECT a.actor, a.action, a.subject_type,
             CASE a.subject_type WHEN 'settlement' THEN s.id::text WHEN 'reward' THEN r.id::text
                  ELSE a.subject_id END,
             a.before, a.after, a.request_id
        FROM json_to_recordset(${auditRowsJson(audit, keys)}::json)
          AS a(k text, actor text, action text, subject_type text, subject_id text, before jsonb, after jsonb,
               request_id text)
        LEFT JOIN s ON a.subject_type = 'settlement' AND s.order_reference = a.k AND s.vendor_id = a.subject_id
        LEFT JOIN r ON a.subject_type = 'reward' AND r.order_reference = a.k
       WHERE (a.subject_type <> 'settlement' OR s.id IS NOT NULL) AND (a.subject_type <> 'reward' OR r.id IS NOT NULL)
    )
    SELECT (SELECT json_agg(json_build_object('order_reference', g.order_reference, 'n', g.n))
              FROM (SELECT order_reference, count(*)::int AS n FROM s GROUP BY order_reference) g) AS settlements,
           (SELECT json_agg(json_build_object('id', r.id::text, 'order_reference', r.order_reference, 'status', r.status,
                     'amount_wei', r.amount_wei::text)) FROM r) AS rewards`.execute(trx);
  const row = result.rows[0];
  return {
    settlements: new Map((row?.settlements ?? []).map((s) => [s.order_reference, Number(s.n)])),
    rewards: new Map(
      (row?.rewards ?? []).map((r) => [
        r.order_reference,
        { id: BigInt(r.id), status: r.status, amount_wei: r.amount_wei },
      ]),
    ),
  };
}
