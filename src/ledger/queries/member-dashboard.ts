import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { readMemberCountsRollup } from "./member-counts-rollup.js";

/**
 * What `GET /v1/me` shows a referrer: the member row (undefined when there is none), the active
 * code, visits (today, last 7 and 28 UTC days, per day over the last 28, lifetime), signups,
 * conversions (from the referrer's day rollup) and reward counts. Counts arrive as the drivers return
 * them (strings or bigints).
 */
export async function readMemberDashboard(db: DbOrTx, memberId: string) {
  const member = await db
    .selectFrom("members")
    .selectAll()
    .where("member_id", "=", memberId)
    .executeTakeFirst();
  if (!member) return undefined;
  const code = await db
    .selectFrom("referral_codes")
    .select(["code", "visits_total"])
    .where("owner_member_id", "=", memberId)
    .where("active", "=", true)
    .executeTakeFirst();
  const visits = await db
    .selectFrom("visit_days as v")
    .innerJoin("referral_codes as c", "c.code", "v.code")
    .select([
      // Visit days are UTC days (see visit-buffer.ts), whatever the session's TimeZone.
      sql<string>`coalesce(sum(v.visits) filter (where v.day = (now() at time zone 'utc')::date), 0)`.as(
        "today",
      ),
      sql<string>`coalesce(sum(v.visits) filter (where v.day > (now() at time zone 'utc')::date - 7), 0)`.as(
        "last7d",
      ),
      sql<string>`coalesce(sum(v.visits) filter (where v.day > (now() at time zone 'utc')::date - 28), 0)`.as(
        "last28d",
      ),
    ])
    .where("c.owner_member_id", "=", memberId)
    // The three sums look back 28 days at most: the rest of the code's history is not read.
    .where(sql<boolean>`v.day > (now() at time zone 'utc')::date - 28`)
    .executeTakeFirstOrThrow();
  // The last 28 UTC days, oldest first, for the dashboard's chart (days without visits omitted).
  const daily = await db
    .selectFrom("visit_days as v")
    .innerJoin("referral_codes as c", "c.code", "v.code")
    .select([sql<string>`to_char(v.day, 'YYYY-MM-DD')`.as("day"), sql<string>`sum(v.visits)`.as("visits")])
    .where("c.owner_member_id", "=", memberId)
    .where(sql<boolean>`v.day > (now() at time zone 'utc')::date - 28`)
    .groupBy("v.day")
    .orderBy("v.day")
    .execute();
  const totalVisits = await db
    .selectFrom("referral_codes")
    .select(sql<string>`coalesce(sum(visits_total), 0)`.as("total"))
    .where("owner_member_id", "=", memberId)
    .executeTakeFirstOrThrow();
  const { signups, conversions, rewards } = await readMemberCountsRollup(db, memberId);
  return { member, code, visits, daily, totalVisits, signups, conversions, rewards };
}

/** The counts `readMemberCountsRollup` keeps, by scanning members, orders and rewards (tests, checks). */
export async function readMemberCountsScan(db: DbOrTx, memberId: string) {
  const signups = await db
    .selectFrom("members")
    .select((eb) => eb.fn.countAll<bigint>().as("n"))
    .where("referred_by_member_id", "=", memberId)
    .executeTakeFirstOrThrow();
  const conversions = await db
    .selectFrom("orders")
    .select((eb) => eb.fn.countAll<bigint>().as("n"))
    .where("referrer_member_id", "=", memberId)
    .where("status", "<>", "created")
    .executeTakeFirstOrThrow();
  const rewards = await db
    .selectFrom("referral_rewards")
    .select([
      sql<string>`count(*) filter (where status = 'pending_approval')`.as("pending"),
      sql<string>`count(*) filter (where status = 'approved' or status = 'minting')`.as("approved"),
      sql<string>`count(*) filter (where status = 'minted')`.as("minted"),
      sql<string>`coalesce(sum(amount_wei) filter (where status = 'minted'), 0)`.as("minted_wei"),
    ])
    .where("referrer_member_id", "=", memberId)
    .executeTakeFirstOrThrow();
  return { signups, conversions, rewards };
}
