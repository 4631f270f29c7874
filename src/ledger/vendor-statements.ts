import { Readable } from "node:stream";
import { sql } from "kysely";
import type { Db, DbOrTx } from "../db/connect.js";
import type { SettlementBreakdownLine, SettlementStatus } from "../db/schema.js";

/**
 * A vendor's view of its settlements: the amounts of the paid order, the appended refund adjustments
 * and the effective result (paid-time amount + Σ adjustments), per order.
 */

export interface StatementFilter {
  from?: Date;
  to?: Date;
  status?: SettlementStatus;
}

export interface VendorSettlementView {
  id: string;
  orderReference: string;
  currency: string;
  status: SettlementStatus;
  scheduledFor: string;
  createdAt: string;
  payoutId: string | null;
  gross: string;
  platformFee: string;
  platformFeeBps: number;
  referralCommission: string;
  net: string;
  lines: SettlementBreakdownLine[];
  adjustments: {
    count: number;
    gross: string;
    platformFee: string;
    referralCommission: string;
    net: string;
    /** Part of `net` netted (or to be netted) from a later payout because the refund came after payout. */
    nextPayout: string;
  };
  effective: { gross: string; platformFee: string; referralCommission: string; net: string };
}

/** One page of a vendor's settlements, oldest first, keyset-paginated by id (`afterId`). */
export async function listVendorSettlements(
  db: DbOrTx,
  vendorId: string,
  filter: StatementFilter,
  page: { afterId?: bigint; limit: number },
): Promise<VendorSettlementView[]> {
  let query = db
    .selectFrom("settlements as s")
    .leftJoin("settlement_adjustments as a", "a.settlement_id", "s.id")
    .selectAll("s")
    .select([
      sql<string>`count(a.id)::text`.as("adj_count"),
      sql<string>`coalesce(sum(a.gross_delta), 0)::text`.as("adj_gross"),
      sql<string>`coalesce(sum(a.platform_fee_delta), 0)::text`.as("adj_fee"),
      sql<string>`coalesce(sum(a.referral_commission_delta), 0)::text`.as("adj_commission"),
      sql<string>`coalesce(sum(a.net_delta), 0)::text`.as("adj_net"),
      sql<string>`coalesce(sum(a.net_delta) filter (where a.applied_to = 'next_payout'), 0)::text`.as(
        "adj_next",
      ),
    ])
    .where("s.vendor_id", "=", vendorId)
    .groupBy("s.id")
    .orderBy("s.id")
    .limit(page.limit);
  if (filter.from) query = query.where("s.created_at", ">=", filter.from);
  if (filter.to) query = query.where("s.created_at", "<", filter.to);
  if (filter.status) query = query.where("s.status", "=", filter.status);
  if (page.afterId !== undefined) query = query.where("s.id", ">", page.afterId);
  const rows = await query.execute();
  return rows.map((row) => {
    const adj = {
      gross: BigInt(row.adj_gross),
      fee: BigInt(row.adj_fee),
      commission: BigInt(row.adj_commission),
      net: BigInt(row.adj_net),
    };
    return {
      id: row.id.toString(),
      orderReference: row.order_reference,
      currency: row.currency,
      status: row.status,
      scheduledFor: row.scheduled_for.toISOString(),
      createdAt: row.created_at.toISOString(),
      payoutId: row.payout_id?.toString() ?? null,
      gross: row.gross.toString(),
      platformFee: row.platform_fee.toString(),
      platformFeeBps: row.platform_fee_bps,
      referralCommission: row.referral_commission.toString(),
      net: row.net.toString(),
      lines: row.breakdown.lines,
      adjustments: {
        count: Number(row.adj_count),
        gross: adj.gross.toString(),
        platformFee: adj.fee.toString(),
        referralCommission: adj.commission.toString(),
        net: adj.net.toString(),
        nextPayout: row.adj_next,
      },
      effective: {
        gross: (row.gross + adj.gross).toString(),
        platformFee: (row.platform_fee + adj.fee).toString(),
        referralCommission: (row.referral_commission + adj.commission).toString(),
        net: (row.net + adj.net).toString(),
      },
    };
  });
}

export interface SummaryBucket {
  count: number;
  gross: string;
  platformFee: string;
  referralCommission: string;
  net: string;
}

/**
 * Totals of a vendor's settlements (effective amounts) per currency and status, and per currency and
 * month of the sale; plus the refund adjustments still waiting to be netted from a payout.
 */
export async function vendorSummary(db: DbOrTx, vendorId: string, filter: Omit<StatementFilter, "status">) {
  const range = sql.join(
    [
      sql`s.vendor_id = ${vendorId}`,
      ...(filter.from ? [sql`s.created_at >= ${filter.from}`] : []),
      ...(filter.to ? [sql`s.created_at < ${filter.to}`] : []),
    ],
    sql` AND `,
  );
  const effective = sql`
    SELECT s.id, s.currency, s.status, to_char(date_trunc('month', s.created_at AT TIME ZONE 'UTC'), 'YYYY-MM') AS period,
           s.gross + coalesce(sum(a.gross_delta), 0) AS gross,
           s.platform_fee + coalesce(sum(a.platform_fee_delta), 0) AS platform_fee,
           s.referral_commission + coalesce(sum(a.referral_commission_delta), 0) AS referral_commission,
           s.net + coalesce(sum(a.net_delta), 0) AS net
    FROM settlements s LEFT JOIN settlement_adjustments a ON a.settlement_id = s.id
    WHERE ${range}
    GROUP BY s.id`;
  type Row = {
    key: string;
    currency: string;
    n: string;
    gross: string;
    platform_fee: string;
    referral_commission: string;
    net: string;
  };
  const totals = (group: "status" | "period") =>
    sql<Row>`
      SELECT ${sql.ref(group)} AS key, currency, count(*)::text AS n, sum(gross)::text AS gross,
             sum(platform_fee)::text AS platform_fee, sum(referral_commission)::text AS referral_commission,
             sum(net)::text AS net
      FROM (${effective}) e GROUP BY ${sql.ref(group)}, currency ORDER BY currency, ${sql.ref(group)}`.execute(
      db,
    );
  const bucket = (row: Row): SummaryBucket => ({
    count: Number(row.n),
    gross: row.gross,
    platformFee: row.platform_fee,
    referralCommission: row.referral_commission,
    net: row.net,
  });
  const [byStatus, byPeriod, pending] = await Promise.all([
    totals("status"),
    totals("period"),
    sql<{ currency: string; n: string; net: string }>`
      SELECT a.currency, count(*)::text AS n, sum(a.net_delta)::text AS net
      FROM settlement_adjustments a
      JOIN settlements s ON s.id = a.settlement_id
      LEFT JOIN payout_adjustments p ON p.adjustment_id = a.id
      WHERE a.vendor_id = ${vendorId} AND p.adjustment_id IS NULL AND s.status IN ('in_payout', 'paid')
      GROUP BY a.currency ORDER BY a.currency`.execute(db),
  ]);
  return {
    vendorId,
    from: filter.from?.toISOString() ?? null,
    to: filter.to?.toISOString() ?? null,
    byStatus: byStatus.rows.map((row) => ({ status: row.key, currency: row.currency, ...bucket(row) })),
    byPeriod: byPeriod.rows.map((row) => ({ period: row.key, currency: row.currency, ...bucket(row) })),
    pendingNetting: pending.rows.map((row) => ({
      currency: row.currency,
      count: Number(row.n),
      net: row.net,
    })),
  };
}

/**
 * One CSV cell, safe to open in a spreadsheet: a cell starting with = + - @ tab or CR is prefixed with
 * a single quote so it cannot run as a formula, unless it is a plain integer (`-4000` stays a number);
 * cells with a comma, quote or line break are quoted.
 */
export function csvCell(value: string | number | null | undefined): string {
  let text = value === null || value === undefined ? "" : String(value);
  if (/^[=+\-@\t\r]/.test(text) && !/^-?[0-9]+$/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const CSV_COLUMNS = [
  "settlement_id",
  "order_reference",
  "currency",
  "status",
  "scheduled_for",
  "created_at",
  "payout_id",
  "gross",
  "platform_fee",
  "platform_fee_bps",
  "referral_commission",
  "net",
  "adjustments_net",
  "effective_gross",
  "effective_platform_fee",
  "effective_referral_commission",
  "effective_net",
  "line_rates",
] as const;

/** The CSV row of one settlement, in `CSV_COLUMNS` order (line rates as `lineId:bps:source;…`). */
export function csvRow(view: VendorSettlementView): string {
  return [
    view.id,
    view.orderReference,
    view.currency,
    view.status,
    view.scheduledFor,
    view.createdAt,
    view.payoutId,
    view.gross,
    view.platformFee,
    view.platformFeeBps,
    view.referralCommission,
    view.net,
    view.adjustments.net,
    view.effective.gross,
    view.effective.platformFee,
    view.effective.referralCommission,
    view.effective.net,
    view.lines.map((line) => `${line.lineId}:${line.commissionBps}:${line.rateSource}`).join(";"),
  ]
    .map(csvCell)
    .join(",");
}

/**
 * One settlement as the CSV needs it. `numbers` is the run of cells from `scheduled_for` to
 * `effective_net` already joined by the server: instants (`to_char`, as `toISOString()`) and integers,
 * which `csvCell` would leave unchanged; the text cells come apart, for the formula guard.
 */
interface CsvSourceRow {
  id: string;
  order_reference: string;
  currency: string;
  status: string;
  numbers: string;
  lines: string;
}

/** `Date#toISOString()` in SQL (to_char truncates to milliseconds, as the driver's date parser does). */
const iso = (column: string) =>
  sql.raw(`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);

/**
 * The rows of `csvRow`, oldest first, in one statement: the adjustments summed per settlement of the
 * vendor once (a hash join), not per page. `afterId`/`limit` give the keyset pages of the PGlite path.
 */
function csvSource(vendorId: string, filter: StatementFilter, page?: { afterId?: bigint; limit: number }) {
  const where = [
    sql`s.vendor_id = ${vendorId}`,
    ...(filter.from ? [sql`s.created_at >= ${filter.from}`] : []),
    ...(filter.to ? [sql`s.created_at < ${filter.to}`] : []),
    ...(filter.status ? [sql`s.status = ${filter.status}`] : []),
    ...(page?.afterId !== undefined ? [sql`s.id > ${page.afterId}`] : []),
  ];
  return sql<CsvSourceRow>`
    SELECT s.id::text AS id, s.order_reference, s.currency, s.status,
           concat_ws(',', ${iso("s.scheduled_for")}, ${iso("s.created_at")}, coalesce(s.payout_id::text, ''),
             s.gross, s.platform_fee, s.platform_fee_bps, s.referral_commission, s.net, coalesce(a.net, 0),
             s.gross + coalesce(a.gross, 0), s.platform_fee + coalesce(a.fee, 0),
             s.referral_commission + coalesce(a.commission, 0), s.net + coalesce(a.net, 0)) AS numbers,
           (s.breakdown -> 'lines')::text AS lines
    FROM settlements s
    LEFT JOIN (
      SELECT settlement_id, sum(gross_delta) AS gross, sum(platform_fee_delta) AS fee,
             sum(referral_commission_delta) AS commission, sum(net_delta) AS net
      FROM settlement_adjustments WHERE vendor_id = ${vendorId} GROUP BY settlement_id
    ) a ON a.settlement_id = s.id
    WHERE ${sql.join(where, sql` AND `)}
    ORDER BY s.id${page ? sql` LIMIT ${page.limit}` : sql``}`;
}

/** `csvRow` of a `CsvSourceRow`: the same cells, the text ones through `csvCell`, the same line rates. */
function csvSourceLine(row: CsvSourceRow): string {
  const lines = JSON.parse(row.lines) as SettlementBreakdownLine[];
  let rates = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    rates += `${i > 0 ? ";" : ""}${line.lineId}:${line.commissionBps}:${line.rateSource}`;
  }
  return `${row.id},${csvCell(row.order_reference)},${csvCell(row.currency)},${csvCell(row.status)},${row.numbers},${csvCell(rates)}\r\n`;
}

export interface VendorCsvOptions {
  /**
   * `cursor` (PostgreSQL): one statement read through a server-side cursor (`DECLARE … NO SCROLL`,
   * `FETCH batch`) in one read-only REPEATABLE READ transaction, so the file is one snapshot.
   * `pages` (PGlite, one session for the whole process): keyset pages of `batch` rows, one query
   * each, so other callers run between pages instead of waiting for the whole export.
   */
  mode: "cursor" | "pages";
  /** Rows per FETCH / page. Default 5000. */
  batch?: number;
}

/**
 * The vendor's settlements as CSV (header first, CRLF line ends, `csvRow`'s cells), a chunk per
 * batch of rows. Pulled: the next batch is read only when the consumer asks for the next chunk, so
 * `Readable.from(…)` piped into a response honours its back-pressure (at most one batch in memory).
 * Ending the iteration early (client gone) closes the cursor and its transaction.
 */
export async function* vendorSettlementsCsv(
  db: Db,
  vendorId: string,
  filter: StatementFilter,
  options: VendorCsvOptions,
): AsyncGenerator<string, void, undefined> {
  const batch = options.batch ?? 5000;
  yield `${CSV_COLUMNS.join(",")}\r\n`;
  if (options.mode === "pages") {
    let afterId: bigint | undefined;
    for (;;) {
      const { rows } = await csvSource(vendorId, filter, { afterId, limit: batch }).execute(db);
      if (rows.length > 0) yield rows.map(csvSourceLine).join("");
      if (rows.length < batch) return;
      afterId = BigInt(rows[rows.length - 1]!.id);
    }
  }
  const trx = await db
    .startTransaction()
    .setIsolationLevel("repeatable read")
    .setAccessMode("read only")
    .execute();
  let done = false;
  let next: Promise<{ rows: CsvSourceRow[] }> | undefined;
  try {
    await sql`DECLARE vendor_csv NO SCROLL CURSOR FOR ${csvSource(vendorId, filter)}`.execute(trx);
    const fetch = sql.raw<CsvSourceRow>(`FETCH ${Math.trunc(batch)} FROM vendor_csv`);
    // One batch read ahead: the server produces the next batch while this one is formatted and
    // written, so at most two batches are in memory whatever the client's speed.
    next = fetch.execute(trx);
    while (next) {
      const page: { rows: CsvSourceRow[] } = await next;
      next = page.rows.length === batch ? fetch.execute(trx) : undefined;
      if (page.rows.length > 0) yield page.rows.map(csvSourceLine).join("");
    }
    await trx.commit().execute();
    done = true;
  } finally {
    // Early return (consumer gone) or an error: the cursor goes with the transaction.
    if (!done) {
      await next?.catch(() => undefined);
      await trx
        .rollback()
        .execute()
        .catch(() => undefined);
    }
  }
}

/**
 * `vendorSettlementsCsv` as a byte stream for `pipeline(…, res)`: a 64 KiB high-water mark, so a
 * batch is read from the database only once the previous one has been taken by the response (which
 * waits for 'drain' on the socket).
 */
export function vendorSettlementsCsvStream(
  db: Db,
  vendorId: string,
  filter: StatementFilter,
  options: VendorCsvOptions,
): Readable {
  return Readable.from(vendorSettlementsCsv(db, vendorId, filter, options), {
    objectMode: false,
    highWaterMark: 64 * 1024,
  });
}
