import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import type { Db, DbOrTx } from "../db/connect.js";
import type { Coupon } from "../db/schema.js";
import { generateCode, normalizeCode } from "../domain/codes.js";
import { AppError } from "../errors.js";
import { type Actor, audit } from "./audit.js";

export interface NewCoupon {
  code?: string | null;
  discountBps?: number | null;
  discountAmount?: bigint | null;
  currency?: string | null;
  expiresAt?: Date | null;
  maxRedemptions?: number | null;
}

/**
 * Creates a coupon for `memberId`: the requested code normalized like a referral code (refused when
 * it does not normalize), or a random one. Its name must be free among referral AND coupon codes —
 * the `code_names` claim (0012) settles collisions, also with a concurrent vanity referral code.
 * A discount is a percentage (`discountBps`) or an amount in one `currency`, not both.
 */
export async function createCoupon(
  db: Db,
  actor: Actor,
  memberId: string,
  input: NewCoupon,
): Promise<Coupon> {
  let requested: string | undefined;
  if (input.code !== undefined && input.code !== null) {
    const normalized = normalizeCode(input.code);
    if (!normalized.ok) {
      throw new AppError(
        "validation_failed",
        `coupon code is not allowed (${normalized.reason}): use 3–32 of A–Z, 0–9, _ and -`,
        { details: { field: "code", reason: normalized.reason } },
      );
    }
    requested = normalized.code;
  }
  return db.transaction().execute(async (trx) => {
    const member = await trx
      .selectFrom("members")
      .select("member_id")
      .where("member_id", "=", memberId)
      .executeTakeFirst();
    if (!member) throw new AppError("not_found", `member ${memberId} does not exist; POST /v1/members first`);
    const candidates = requested ? [requested] : Array.from({ length: 5 }, () => generateCode(randomBytes));
    for (const code of candidates) {
      const inserted = await trx
        .insertInto("coupons")
        .values({
          code,
          owner_member_id: memberId,
          discount_bps: input.discountBps ?? null,
          discount_amount: input.discountAmount ?? null,
          currency:
            input.discountAmount !== undefined && input.discountAmount !== null ? input.currency! : null,
          expires_at: input.expiresAt ?? null,
          max_redemptions: input.maxRedemptions ?? null,
        })
        .onConflict((oc) => oc.column("code").doNothing())
        .returningAll()
        .executeTakeFirst();
      if (inserted) {
        await audit(trx, actor, "coupon.created", { type: "coupon", id: code }, null, {
          memberId,
          discountBps: inserted.discount_bps,
          discountAmount: inserted.discount_amount,
          currency: inserted.currency,
          expiresAt: inserted.expires_at?.toISOString() ?? null,
          maxRedemptions: inserted.max_redemptions,
        });
        return inserted;
      }
    }
    throw new AppError(
      "code_taken",
      requested ? `code ${requested} is taken; choose another` : "could not allocate a unique code; retry",
    );
  });
}

/**
 * Deactivates a coupon (it redeems no more; orders already credited keep their referrer). Undefined
 * when the coupon does not exist, or is not `memberId`'s when one is given. Deactivating twice is a no-op.
 */
export async function deactivateCoupon(
  db: Db,
  actor: Actor,
  code: string,
  memberId?: string,
): Promise<Coupon | undefined> {
  const normalized = normalizeCode(code);
  if (!normalized.ok) return undefined;
  return db.transaction().execute(async (trx) => {
    let q = trx
      .updateTable("coupons")
      .set({ active: false, deactivated_at: sql<Date>`now()` })
      .where("code", "=", normalized.code)
      .where("active", "=", true);
    if (memberId !== undefined) q = q.where("owner_member_id", "=", memberId);
    const updated = await q.returningAll().executeTakeFirst();
    if (updated) {
      await audit(
        trx,
        actor,
        "coupon.deactivated",
        { type: "coupon", id: updated.code },
        { active: true },
        { active: false },
      );
      return updated;
    }
    let existing = trx.selectFrom("coupons").selectAll().where("code", "=", normalized.code);
    if (memberId !== undefined) existing = existing.where("owner_member_id", "=", memberId);
    return existing.executeTakeFirst();
  });
}

/** Gives back a redemption counted by a checkout that then lost its order to a concurrent identical one. */
export async function undoRedemption(trx: DbOrTx, code: string): Promise<void> {
  await trx
    .updateTable("coupons")
    .set({ redemptions: sql<number>`redemptions - 1` })
    .where("code", "=", code)
    .where("redemptions", ">", 0)
    .execute();
}
