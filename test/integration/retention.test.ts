import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { monthsBefore, runRetention } from "../../src/jobs/retention.js";
import { listAuditPartitions } from "../../src/ledger/queries/audit-partitions.js";
import { dropAuditPartitions, ensureAuditPartitions, pruneBefore } from "../../src/ledger/retention.js";
import { orderBody, paidEvent, useTestInstance } from "../support/harness.js";

/**
 * Retention (issue 12.5, migration 0016): pruning removes only what is past its window, dedupe and
 * idempotency keep working inside it, audit_log month partitions are created ahead and dropped whole
 * past the window, and the audit log stays append-only on the partitioned table.
 */
const DAY = 86_400_000;
const OPTIONS = {
  webhookEventDays: 30,
  idempotencyKeyHours: 168,
  auditMonths: 24,
  auditPartitionsAhead: 3,
  batchSize: 100,
};

describe("retention", () => {
  const t = useTestInstance();
  const db = () => t.services.db;
  const age = (table: "webhook_events" | "idempotency_keys", column: string, where: string, ms: number) =>
    sql`UPDATE ${sql.table(table)} SET ${sql.ref(column)} = now() - ${`${ms} milliseconds`}::interval
        WHERE ${sql.raw(where)}`.execute(db());

  it("prunes webhook events past the window and still answers a redelivery inside it as a duplicate", async () => {
    for (const ref of ["ret-old", "ret-young"]) {
      expect(
        (await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) })).status,
      ).toBe(201);
    }
    const young = paidEvent("ret-young", "170000");
    expect((await t.webhook(paidEvent("ret-old", "170000"), { id: "msg_ret_old" })).status).toBe(200);
    expect((await t.webhook(young, { id: "msg_ret_young" })).status).toBe(200);
    await age("webhook_events", "received_at", "event_id = 'msg_ret_old'", 31 * DAY);
    await age("webhook_events", "received_at", "event_id = 'msg_ret_young'", 29 * DAY);

    const result = await runRetention(db(), OPTIONS);
    expect(result.webhookEvents).toBe(1);
    const left = await sql<{ event_id: string }>`
      SELECT event_id FROM webhook_events WHERE event_id LIKE 'msg_ret_%' ORDER BY 1`.execute(db());
    expect(left.rows.map((row) => row.event_id)).toEqual(["msg_ret_young"]);
    // Inside the window the stored delivery still dedupes: same answer, nothing booked twice.
    const again = await t.webhook(young, { id: "msg_ret_young" });
    expect(again.status).toBe(200);
    expect(again.body.result).toBe("duplicate");
    const rewards = await sql<{ n: bigint }>`
      SELECT count(*) AS n FROM referral_rewards WHERE order_reference = 'ret-young'`.execute(db());
    expect(Number(rewards.rows[0]?.n)).toBe(1);
  });

  it("prunes idempotency keys past the window and still replays a key inside it", async () => {
    const post = (key: string, memberId: string) =>
      t.request("POST", "/v1/members", {
        key: t.keys.integration,
        body: { memberId, displayName: memberId },
        headers: { "idempotency-key": key },
      });
    expect((await post("idem-old", "m_idem_old")).status).toBe(201);
    expect((await post("idem-young", "m_idem_young")).status).toBe(201);
    await age("idempotency_keys", "created_at", "key = 'idem-old'", 169 * 3_600_000);
    await age("idempotency_keys", "created_at", "key = 'idem-young'", 167 * 3_600_000);

    const result = await runRetention(db(), OPTIONS);
    expect(result.idempotencyKeys).toBe(1);
    const young = await post("idem-young", "m_idem_young");
    expect(young.headers.get("idempotent-replayed")).toBe("true");
    // Past the window the key is new again: the request runs (and finds the member it created before).
    const old = await post("idem-old", "m_idem_old");
    expect(old.headers.get("idempotent-replayed")).toBeNull();
  });

  it("deletes in batches of the configured size, and a capped run leaves the rest to the next", async () => {
    await sql`
      INSERT INTO webhook_events (provider, event_id, payload_hash, event_type, response, received_at)
      SELECT 'bulk', 'bulk_' || g, 'h', 'order.paid', '{}'::jsonb, now() - interval '40 days'
        FROM generate_series(1, 250) g`.execute(db());
    await sql`
      INSERT INTO webhook_events (provider, event_id, payload_hash, event_type, response, received_at)
      VALUES ('bulk', 'bulk_recent', 'h', 'order.paid', '{}'::jsonb, now() - interval '1 day')`.execute(db());
    const cutoff = new Date(Date.now() - 30 * DAY);
    expect(await pruneBefore(db(), "webhook_events", cutoff, { batchSize: 100, maxBatches: 2 })).toBe(200);
    expect(await pruneBefore(db(), "webhook_events", cutoff, { batchSize: 100 })).toBe(50);
    const left = await sql<{ event_id: string }>`
      SELECT event_id FROM webhook_events WHERE provider = 'bulk'`.execute(db());
    expect(left.rows.map((row) => row.event_id)).toEqual(["bulk_recent"]);
  });

  it("creates audit_log partitions ahead; an audit row for a month without one cannot be written", async () => {
    const partitions = await listAuditPartitions(db());
    expect(partitions[0]?.name).toBe("audit_log_legacy");
    const now = new Date();
    // The migration (and boot) made the coming months.
    expect(partitions.at(-1)!.to.getTime()).toBeGreaterThan(monthsBefore(now, -3).getTime());

    const far = new Date(Date.UTC(now.getUTCFullYear() + 3, 4, 15));
    const insertAt = (at: Date) =>
      sql`INSERT INTO audit_log (actor, action, subject_type, subject_id, at)
          VALUES ('test', 'retention.probe', 'probe', ${at.toISOString()}, ${at})`.execute(db());
    await expect(insertAt(far)).rejects.toThrow(/no partition/);
    // Two instances maintaining at once: each month is created once, and neither fails.
    const [a, b] = await Promise.all([
      ensureAuditPartitions(db(), 2, far),
      ensureAuditPartitions(db(), 2, far),
    ]);
    const suffix = `${far.getUTCFullYear()}0`;
    expect([...a, ...b].sort()).toEqual([
      `audit_log_p${suffix}5`,
      `audit_log_p${suffix}6`,
      `audit_log_p${suffix}7`,
    ]);
    await insertAt(far);
    expect(await ensureAuditPartitions(db(), 2, far)).toEqual([]);
  });

  it("drops only partitions whose every row is past the window, and the audit log stays append-only", async () => {
    const now = new Date();
    const nextYear = new Date(Date.UTC(now.getUTCFullYear() + 1, 0, 10));
    await ensureAuditPartitions(db(), 1, nextYear);
    for (const at of [nextYear, new Date(Date.UTC(now.getUTCFullYear() + 1, 1, 10))]) {
      await sql`INSERT INTO audit_log (actor, action, subject_type, subject_id, at)
                VALUES ('test', 'retention.keep', 'probe', ${at.toISOString()}, ${at})`.execute(db());
    }
    const count = async () =>
      Number(
        (
          await sql<{
            n: bigint;
          }>`SELECT count(*) AS n FROM audit_log WHERE action = 'retention.keep'`.execute(db())
        ).rows[0]?.n,
      );
    const jan = `audit_log_p${nextYear.getUTCFullYear()}01`;
    // Append-only holds on every partition, through the parent or straight at the partition.
    await expect(
      sql`UPDATE audit_log SET actor = 'x' WHERE action = 'retention.keep'`.execute(db()),
    ).rejects.toThrow(/append-only/);
    await expect(sql`DELETE FROM ${sql.table(jan)}`.execute(db())).rejects.toThrow(/append-only/);
    await expect(sql`DELETE FROM audit_log_legacy`.execute(db())).rejects.toThrow(/append-only/);
    expect(await count()).toBe(2);

    // A cutoff inside January drops nothing of January (the partition still holds rows younger than it).
    const early = await dropAuditPartitions(db(), new Date(Date.UTC(nextYear.getUTCFullYear(), 0, 20)));
    expect(early).not.toContain(jan);
    expect(await count()).toBe(2);

    // The cutoff at February's start: everything before it goes, the legacy partition included.
    const dropped = await dropAuditPartitions(db(), new Date(Date.UTC(nextYear.getUTCFullYear(), 1, 1)));
    expect(dropped).toContain(jan);
    expect([...early, ...dropped]).toContain("audit_log_legacy");
    expect(await count()).toBe(1);
    // The current month was the legacy partition's: maintenance creates it again, and audit rows land.
    expect(await ensureAuditPartitions(db(), 0)).toHaveLength(1);
    await sql`INSERT INTO audit_log (actor, action, subject_type, subject_id)
              VALUES ('test', 'retention.after', 'probe', 'now')`.execute(db());
  });
});
