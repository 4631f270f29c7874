import type { ColumnType } from "kysely";
import type { DbOrTx } from "../db/connect.js";

/**
 * Kysely types for the tables and columns `migrations/0003_attribution.sql` adds. They live beside the
 * code that uses them (merged in with `withTables`) so that `src/db/schema.ts` can be brought in step
 * without two changes racing on one file.
 */
export type AttributionTables = {
  visit_visitors: {
    code: string;
    day: ColumnType<Date, string, string>;
    visitor_hash: string;
  };
  rate_limit_hits: {
    bucket: string;
    window_start: ColumnType<Date, Date | string, Date | string>;
    hits: number;
  };
  orders: { buyer_ip_hash: ColumnType<string | null, string | null | undefined, string | null> };
};

/** `db` (or a transaction) typed with the attribution tables too. */
export function attributionDb(db: DbOrTx) {
  return db.withTables<AttributionTables>();
}
