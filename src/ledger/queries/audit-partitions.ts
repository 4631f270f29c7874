import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";

export interface AuditPartition {
  name: string;
  /** null for the legacy partition (everything before its upper bound). */
  from: Date | null;
  to: Date;
}

/** The partitions of `audit_log`, oldest first, with their bounds (0016). */
export async function listAuditPartitions(db: DbOrTx): Promise<AuditPartition[]> {
  const { rows } = await sql<{ name: string; from: Date | null; to: Date }>`
    SELECT c.relname AS name, twinrail_partition_lower(c.oid) AS "from", twinrail_partition_upper(c.oid) AS "to"
      FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
     WHERE h.inhparent = 'audit_log'::regclass
     ORDER BY twinrail_partition_upper(c.oid)`.execute(db);
  return rows.map((row) => ({ name: row.name, from: row.from && new Date(row.from), to: new Date(row.to) }));
}
