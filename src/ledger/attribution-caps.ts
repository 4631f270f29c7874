import { sql } from "kysely";
import type { Config } from "../config.js";
import type { DbOrTx } from "../db/connect.js";

export type CapConfig = Pick<Config, "ATTRIBUTION_CAP_PER_REFERRER_MONTH" | "ATTRIBUTION_CAP_PER_IP_DAY">;

/** Which cap an attribution would exceed, if any. */
export type CapHit = { cap: "referrer_month" | "ip_day"; limit: number; used: number } | null;

/**
 * Checks the anti-abuse caps for one more signup attribution to `referrerMemberId` (0 = unlimited):
 * members attributed to this referrer in the current UTC month, and members attributed today (UTC)
 * whose signup came from the same IP hash.
 *
 * Count-then-insert is only exact under a lock, so this serializes per referrer and per IP hash
 * (transaction-scoped advisory locks) for the rest of the caller's transaction: N concurrent signups
 * against a cap of K attribute exactly K. Locks are taken in one order (referrer, then IP) by every
 * caller, and they are advisory locks, not row locks: a row lock on the referrer's `members` row would
 * wait for the key-share locks of every insert referencing it, and two members signing up with each
 * other's codes would take the two member rows in opposite orders (the deadlocks of issue 9).
 */
export async function checkAttributionCaps(
  trx: DbOrTx,
  config: CapConfig,
  input: { referrerMemberId: string; ipHash: string | null; now: Date },
): Promise<CapHit> {
  const perReferrer = config.ATTRIBUTION_CAP_PER_REFERRER_MONTH;
  const perIp = config.ATTRIBUTION_CAP_PER_IP_DAY;
  const monthStart = new Date(Date.UTC(input.now.getUTCFullYear(), input.now.getUTCMonth(), 1));
  const dayStart = new Date(
    Date.UTC(input.now.getUTCFullYear(), input.now.getUTCMonth(), input.now.getUTCDate()),
  );

  if (perReferrer > 0) {
    await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`twinrail:referrer-cap:${input.referrerMemberId}`}, 0))`.execute(
      trx,
    );
    const used = Number(
      (
        await trx
          .selectFrom("members")
          .select((eb) => eb.fn.countAll<bigint>().as("n"))
          .where("referred_by_member_id", "=", input.referrerMemberId)
          .where("attributed_at", ">=", monthStart)
          .executeTakeFirstOrThrow()
      ).n,
    );
    if (used >= perReferrer) return { cap: "referrer_month", limit: perReferrer, used };
  }

  if (perIp > 0 && input.ipHash) {
    await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`twinrail:ip-cap:${input.ipHash}`}, 0))`.execute(
      trx,
    );
    const used = Number(
      (
        await trx
          .selectFrom("members")
          .select((eb) => eb.fn.countAll<bigint>().as("n"))
          .where("signup_ip_hash", "=", input.ipHash)
          .where("attributed_at", ">=", dayStart)
          .executeTakeFirstOrThrow()
      ).n,
    );
    if (used >= perIp) return { cap: "ip_day", limit: perIp, used };
  }
  return null;
}
