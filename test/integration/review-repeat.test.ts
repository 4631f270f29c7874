import { describe, expect, it } from "vitest";
import { createApiKey } from "../../src/ledger/api-keys.js";
import { SYSTEM } from "../../src/ledger/audit.js";
import { orderBody, paidEvent, TEST_DB, useTestInstance } from "../support/harness.js";

describe(`a repeated admin decision is a no-op (${TEST_DB})`, () => {
  const t = useTestInstance();

  async function pay(ref: string): Promise<string> {
    await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) });
    const paid = await t.webhook(paidEvent(ref, "170000"));
    return paid.body.reward.id as string;
  }

  const reward = (id: string) =>
    t.services.db
      .selectFrom("referral_rewards")
      .select(["status", "approved_by", "approved_at", "approval_note", "rejected_reason", "updated_at"])
      .where("id", "=", BigInt(id))
      .executeTakeFirstOrThrow();
  const auditEntries = (id: string, action: string) =>
    t.services.db
      .selectFrom("audit_log")
      .selectAll()
      .where("subject_type", "=", "reward")
      .where("subject_id", "=", id)
      .where("action", "=", action)
      .execute();

  it("approving twice keeps the first approver, note and time, writes one audit entry, and reports the repeat as unchanged", async () => {
    const id = await pay("ord_repeat_approve");
    const first = await t.request("POST", "/v1/admin/rewards/approve", {
      key: t.keys.admin,
      body: { ids: [id], note: "first" },
    });
    expect(first.body).toEqual({ approved: [id], unchanged: [], skipped: [] });
    const before = await reward(id);
    expect(before).toMatchObject({ status: "approved", approval_note: "first" });

    // Another admin (another key) approves again, with another note.
    const other = (await createApiKey(t.services.db, SYSTEM, { role: "admin" })).key;
    const second = await t.request("POST", "/v1/admin/rewards/approve", {
      key: other,
      body: { ids: [id], note: "second" },
    });
    expect(second.status).toBe(200);
    expect(second.body).toEqual({ approved: [id], unchanged: [id], skipped: [] });
    expect(await reward(id)).toEqual(before);
    expect(await auditEntries(id, "reward.approved")).toHaveLength(1);
  });

  it("rejecting twice keeps the first reason and writes one audit entry and one journal reversal", async () => {
    const id = await pay("ord_repeat_reject");
    const reject = (reason: string) =>
      t.request("POST", "/v1/admin/rewards/reject", { key: t.keys.admin, body: { ids: [id], reason } });
    expect((await reject("fraud")).body).toEqual({ rejected: [id], unchanged: [], skipped: [] });
    const before = await reward(id);
    expect((await reject("again")).body).toEqual({ rejected: [id], unchanged: [id], skipped: [] });
    expect(await reward(id)).toEqual(before);
    expect(await auditEntries(id, "reward.rejected")).toHaveLength(1);
    const reversals = await t.services.db
      .selectFrom("journal_entries")
      .select("txn_id")
      .distinct()
      .where("order_reference", "=", "ord_repeat_reject")
      .where("event", "=", "reward.rejected")
      .execute();
    expect(reversals).toHaveLength(1);
  });

  it("a mixed call moves the new ids and reports the repeated ones as unchanged", async () => {
    const done = await pay("ord_repeat_mixed_1");
    const fresh = await pay("ord_repeat_mixed_2");
    await t.request("POST", "/v1/admin/rewards/approve", { key: t.keys.admin, body: { ids: [done] } });
    const mixed = await t.request("POST", "/v1/admin/rewards/approve", {
      key: t.keys.admin,
      body: { ids: [done, fresh, "999999"] },
    });
    expect(mixed.body.approved.sort()).toEqual([done, fresh].sort());
    expect(mixed.body.unchanged).toEqual([done]);
    expect(mixed.body.skipped).toEqual([{ id: "999999", reason: "not_found" }]);
    expect(await auditEntries(done, "reward.approved")).toHaveLength(1);
    expect(await auditEntries(fresh, "reward.approved")).toHaveLength(1);
  });
});
