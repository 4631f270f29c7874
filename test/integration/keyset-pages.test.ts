import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { orderBody, paidEvent, TEST_DB, type TestInstance, useTestInstance } from "../support/harness.js";

/**
 * Keyset pagination (issue 12, item 2): walking the admin queue and the vendor's settlements page by
 * page with `cursor` gives exactly the pages OFFSET would — every row once, in order — with any filter,
 * also when rows are added between two pages (they are newer than the cursor: not on later pages).
 */
describe(`keyset pages equal offset pages (${TEST_DB})`, () => {
  const t: TestInstance = useTestInstance();

  it("admin queue: every page after the first equals the OFFSET page, per filter", async () => {
    for (let i = 0; i < 23; i++) {
      expect(
        (await t.webhook(paidEvent(`ord_ks_${i}`, "170000", { order: orderBody(`ord_ks_${i}`) }))).status,
      ).toBe(200);
    }
    const ids = (
      await t.services.db
        .selectFrom("referral_rewards")
        .select("id")
        .where("order_reference", "like", "ord_ks_%")
        .execute()
    ).map((row) => row.id.toString());
    // A mix of statuses, so the status filter leaves gaps in the ids.
    await t.request("POST", "/v1/admin/rewards/approve", {
      key: t.keys.admin,
      body: { ids: ids.filter((_, i) => i % 3 === 0) },
    });
    for (const filter of [
      {},
      { status: "pending_approval" },
      { status: "approved" },
      { referrer: "m_anna" },
    ] as Array<Record<string, string>>) {
      const offsetIds = async (offset: number, limit: number) =>
        (
          await sql<{ id: string }>`
            SELECT r.id::text AS id FROM referral_rewards r
            WHERE (${filter.status ?? null}::text IS NULL OR r.status = ${filter.status ?? null})
              AND (${filter.referrer ?? null}::text IS NULL OR r.referrer_member_id = ${filter.referrer ?? null})
            ORDER BY r.id DESC LIMIT ${limit} OFFSET ${offset}`.execute(t.services.db)
        ).rows.map((row) => row.id);
      const limit = 4;
      const page = async (cursor: string | null) => {
        const query = new URLSearchParams({ ...filter, limit: String(limit), ...(cursor ? { cursor } : {}) });
        const response = await t.request("GET", `/v1/admin/rewards?${query}`, { key: t.keys.admin });
        expect(response.status).toBe(200);
        return {
          ids: (response.body.items as Array<{ id: string }>).map((item) => item.id),
          next: response.body.nextCursor as string | null,
        };
      };
      let cursor: string | null = null;
      let n = 0;
      do {
        const got = await page(cursor);
        expect(got.ids, `${JSON.stringify(filter)} page ${n}`).toEqual(await offsetIds(n * limit, limit));
        cursor = got.next;
        n++;
      } while (cursor);
      expect(n).toBeGreaterThan(1);
      // A row added between two pages is newer than the cursor: the next page is the one OFFSET gave before.
      const first = await page(null);
      const expected = await offsetIds(limit, limit);
      const ref = `ord_ks_late_${Object.values(filter).join("_") || "all"}`;
      expect((await t.webhook(paidEvent(ref, "170000", { order: orderBody(ref) }))).status).toBe(200);
      expect((await page(first.next)).ids).toEqual(expected);
    }
  });

  it("vendor settlements: keyset pages equal OFFSET pages", async () => {
    const key = await t.keys.vendor("v_books");
    const offsetIds = async (offset: number, limit: number) =>
      (
        await sql<{ id: string }>`SELECT id::text AS id FROM settlements WHERE vendor_id = 'v_books'
                                  ORDER BY settlements.id LIMIT ${limit} OFFSET ${offset}`.execute(
          t.services.db,
        )
      ).rows.map((row) => row.id);
    let cursor: string | null = null;
    let page = 0;
    do {
      const response = await t.request(
        "GET",
        `/v1/vendor/settlements?limit=5${cursor ? `&cursor=${cursor}` : ""}`,
        { key },
      );
      expect(response.status).toBe(200);
      const got = (response.body.items as Array<{ id: string }>).map((item) => item.id);
      expect(got).toEqual(await offsetIds(page * 5, 5));
      cursor = response.body.nextCursor;
      page++;
    } while (cursor);
    expect(page).toBeGreaterThan(3);
  });
});
