import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { inDays, inEdges, splitDays } from "../rollups/range.js";
import type { StatementFilter, SummaryBucket } from "../vendor-statements.js";

/**
 * `vendorSummary` from `vendor_day_rollup` (per UTC day × vendor × currency × status, effective
 * amounts) plus its unfolded deltas for the whole days of the range, and the settlements of the
 * partial first and last day read from the rows; the adjustments pending netting from
 * `vendor_netting_rollup` plus its deltas (0017). Same result and shape.
 */
export async function vendorSummaryRollup(
  db: DbOrTx,
  vendorId: string,
  filter: Omit<StatementFilter, "status">,
) {
  const split = splitDays(filter.from, filter.to);
  type Row = {
    status: string;
    period: string;
    currency: string;
    n: string;
    gross: string;
    platform_fee: string;
    referral_commission: string;
    net: string;
  };
  const buckets = await sql<Row>`
    WITH d AS (
      SELECT day, currency, status, n, gross, platform_fee, referral_commission, net
        FROM vendor_day_rollup WHERE vendor_id = ${vendorId} AND ${inDays("day", split)}
      UNION ALL
      SELECT day, currency, status, n, gross, platform_fee, referral_commission, net
        FROM vendor_day_deltas WHERE vendor_id = ${vendorId} AND ${inDays("day", split)}
      UNION ALL
      SELECT (s.created_at AT TIME ZONE 'UTC')::date, s.currency, s.status, 1,
             s.gross + coalesce(sum(a.gross_delta), 0), s.platform_fee + coalesce(sum(a.platform_fee_delta), 0),
             s.referral_commission + coalesce(sum(a.referral_commission_delta), 0), s.net + coalesce(sum(a.net_delta), 0)
        FROM settlements s LEFT JOIN settlement_adjustments a ON a.settlement_id = s.id
        WHERE s.vendor_id = ${vendorId} AND ${inEdges("s.created_at", split)}
        GROUP BY s.id)
    SELECT status, to_char(day::timestamp, 'YYYY-MM') AS period, currency, sum(n)::text AS n,
           sum(gross)::text AS gross, sum(platform_fee)::text AS platform_fee,
           sum(referral_commission)::text AS referral_commission, sum(net)::text AS net
    FROM d GROUP BY 1, 2, 3`.execute(db);
  const totals = (key: "status" | "period") => {
    const groups = new Map<string, { key: string; currency: string; n: bigint; sums: bigint[] }>();
    for (const row of buckets.rows) {
      const id = `${row.currency}\u0000${row[key]}`;
      const group = groups.get(id) ?? {
        key: row[key],
        currency: row.currency,
        n: 0n,
        sums: [0n, 0n, 0n, 0n],
      };
      group.n += BigInt(row.n);
      [row.gross, row.platform_fee, row.referral_commission, row.net].forEach((v, i) => {
        group.sums[i]! += BigInt(v);
      });
      groups.set(id, group);
    }
    return [...groups.values()]
      .filter((group) => group.n > 0n)
      .sort((x, y) => cmp(x.currency, y.currency) || cmp(x.key, y.key))
      .map((group) => ({
        key: group.key,
        currency: group.currency,
        bucket: {
          count: Number(group.n),
          gross: group.sums[0]!.toString(),
          platformFee: group.sums[1]!.toString(),
          referralCommission: group.sums[2]!.toString(),
          net: group.sums[3]!.toString(),
        } satisfies SummaryBucket,
      }));
  };
  // Adjustments of paid-out settlements not netted yet: a rollup per vendor × currency (0017), not an
  // anti-join over every adjustment the vendor ever had.
  const pending = await sql<{ currency: string; n: string; net: string }>`
      SELECT currency, sum(n)::text AS n, sum(net)::text AS net
      FROM (SELECT currency, n, net FROM vendor_netting_rollup WHERE vendor_id = ${vendorId}
            UNION ALL
            SELECT currency, n, net FROM vendor_netting_deltas WHERE vendor_id = ${vendorId}) d
      GROUP BY currency HAVING sum(n) <> 0 ORDER BY currency`.execute(db);
  return {
    vendorId,
    from: filter.from?.toISOString() ?? null,
    to: filter.to?.toISOString() ?? null,
    byStatus: totals("status").map((g) => ({ status: g.key, currency: g.currency, ...g.bucket })),
    byPeriod: totals("period").map((g) => ({ period: g.key, currency: g.currency, ...g.bucket })),
    pendingNetting: pending.rows.map((row) => ({
      currency: row.currency,
      count: Number(row.n),
      net: row.net,
    })),
  };
}

/** Byte order, as the ASCII statuses, currencies and YYYY-MM periods sort in SQL. */
const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
