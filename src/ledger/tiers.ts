import { sql } from "kysely";
import type { Db } from "../db/connect.js";
import { ANY_VENDOR } from "../domain/rates.js";
import { AppError } from "../errors.js";
import { type Actor, audit } from "./audit.js";

/**
 * Commission tiers (issue 14). A tier's rate is set platform-wide or for one vendor's program; a
 * referrer is put in a tier platform-wide or in one vendor's program. Checkout resolves a line's rate
 * product override → tier → vendor → platform (domain/rates.ts) and snapshots it with its source and
 * tier on the order line, so a change here prices new orders only.
 */

async function requireVendor(db: Db, vendorId: string | null | undefined): Promise<string> {
  if (vendorId === null || vendorId === undefined) return ANY_VENDOR;
  const vendor = await db
    .selectFrom("vendors")
    .select("vendor_id")
    .where("vendor_id", "=", vendorId)
    .executeTakeFirst();
  if (!vendor) {
    throw new AppError("unprocessable", `unknown vendor ${vendorId}: PUT /v1/vendors/:vendorId first`, {
      details: { vendorId },
    });
  }
  return vendorId;
}

/** Sets (creates or replaces) a tier's rate, platform-wide or for one vendor's program. */
export async function setTierRate(
  db: Db,
  actor: Actor,
  input: { tier: string; vendorId?: string | null; commissionBps: number },
) {
  const vendorId = await requireVendor(db, input.vendorId);
  return db.transaction().execute(async (trx) => {
    const before = await trx
      .selectFrom("commission_tiers")
      .select("commission_bps")
      .where("tier", "=", input.tier)
      .where("vendor_id", "=", vendorId)
      .executeTakeFirst();
    const row = await trx
      .insertInto("commission_tiers")
      .values({ tier: input.tier, vendor_id: vendorId, commission_bps: input.commissionBps })
      .onConflict((oc) =>
        oc.columns(["tier", "vendor_id"]).doUpdateSet({
          commission_bps: input.commissionBps,
          updated_at: sql<Date>`now()`,
        }),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
    await audit(
      trx,
      actor,
      "tier.rate_set",
      { type: "tier", id: `${input.tier}:${vendorId}` },
      before ? { commissionBps: before.commission_bps } : null,
      { commissionBps: row.commission_bps },
    );
    return row;
  });
}

/** Puts a member in a tier (platform-wide or in one vendor's program), or out of it (`tier: null`). */
export async function setMemberTier(
  db: Db,
  actor: Actor,
  memberId: string,
  input: { tier: string | null; vendorId?: string | null },
): Promise<void> {
  const vendorId = await requireVendor(db, input.vendorId);
  await db.transaction().execute(async (trx) => {
    const member = await trx
      .selectFrom("members")
      .select("member_id")
      .where("member_id", "=", memberId)
      .executeTakeFirst();
    if (!member) throw new AppError("not_found", `member ${memberId} does not exist`);
    const before = await trx
      .selectFrom("member_tiers")
      .select("tier")
      .where("member_id", "=", memberId)
      .where("vendor_id", "=", vendorId)
      .executeTakeFirst();
    if (input.tier === null) {
      await trx
        .deleteFrom("member_tiers")
        .where("member_id", "=", memberId)
        .where("vendor_id", "=", vendorId)
        .execute();
    } else {
      const tier = input.tier;
      await trx
        .insertInto("member_tiers")
        .values({ member_id: memberId, vendor_id: vendorId, tier })
        .onConflict((oc) =>
          oc.columns(["member_id", "vendor_id"]).doUpdateSet({ tier, updated_at: sql<Date>`now()` }),
        )
        .execute();
    }
    await audit(
      trx,
      actor,
      "member.tier_set",
      { type: "member", id: memberId },
      { tier: before?.tier ?? null, vendorId },
      { tier: input.tier, vendorId },
    );
  });
}
