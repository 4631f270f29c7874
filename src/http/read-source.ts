import type { Response } from "express";
import type { Db } from "../db/connect.js";
import type { Services } from "../services.js";

/** Response headers that say where a dashboard read went and how stale it may be. */
export const READ_SOURCE_HEADER = "x-twinrail-read-source";
export const REPLICA_LAG_HEADER = "x-twinrail-replica-lag-seconds";
export const DATA_AS_OF_HEADER = "x-twinrail-data-as-of";

/**
 * The database a dashboard or export read should use: the read replica (`READ_DATABASE_URL`) while it
 * answers within `READ_MAX_LAG_SECONDS`, else the primary. Sets the headers that tell the page:
 * `x-twinrail-read-source` (`replica` | `primary`), `x-twinrail-replica-lag-seconds` (replica only)
 * and `x-twinrail-data-as-of` (ISO instant the data is current as of). Writes never come here.
 */
export async function readDb(services: Services, res: Response): Promise<Db> {
  const pick = services.reads ? await services.reads.pick() : undefined;
  res.setHeader(READ_SOURCE_HEADER, pick?.source ?? "primary");
  if (pick?.lagSeconds !== null && pick?.lagSeconds !== undefined)
    res.setHeader(REPLICA_LAG_HEADER, pick.lagSeconds.toFixed(3));
  res.setHeader(DATA_AS_OF_HEADER, (pick?.asOf ?? new Date()).toISOString());
  return pick?.db ?? services.db;
}
