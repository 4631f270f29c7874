import type { Db } from "../db/connect.js";
import { AppError } from "../errors.js";
import { type Actor, audit } from "./audit.js";

export interface VendorInput {
  vendorId: string;
  name: string;
  referralCommissionBps?: number | null;
  platformFeeBps: number;
  holdDays: number;
}

/** Creates or replaces a vendor's terms. Existing orders keep the rates snapshotted at checkout. */
export async function upsertVendor(db: Db, actor: Actor, input: VendorInput) {
  return db.transaction().execute(async (trx) => {
    const before = await trx
      .selectFrom("vendors")
      .selectAll()
      .where("vendor_id", "=", input.vendorId)
      .forNoKeyUpdate()
      .executeTakeFirst();
    const values = {
      name: input.name,
      referral_commission_bps: input.referralCommissionBps ?? null,
      platform_fee_bps: input.platformFeeBps,
      hold_days: input.holdDays,
      updated_at: new Date(),
    };
    const vendor = await trx
      .insertInto("vendors")
      .values({ vendor_id: input.vendorId, ...values })
      .onConflict((oc) => oc.column("vendor_id").doUpdateSet(values))
      .returningAll()
      .executeTakeFirstOrThrow();
    await audit(
      trx,
      actor,
      before ? "vendor.updated" : "vendor.created",
      { type: "vendor", id: input.vendorId },
      before,
      vendor,
    );
    return vendor;
  });
}

export interface ProductInput {
  productId: string;
  vendorId: string;
  referralCommissionBps: number | null;
}

/** Creates or replaces a product's commission override (null: use the vendor's rate). */
export async function upsertProduct(db: Db, actor: Actor, input: ProductInput) {
  return db.transaction().execute(async (trx) => {
    const vendor = await trx
      .selectFrom("vendors")
      .select("vendor_id")
      .where("vendor_id", "=", input.vendorId)
      .executeTakeFirst();
    if (!vendor) {
      throw new AppError(
        "unprocessable",
        `vendor ${input.vendorId} does not exist; PUT /v1/vendors/${input.vendorId} first`,
        {
          details: { vendorId: input.vendorId },
        },
      );
    }
    const before = await trx
      .selectFrom("products")
      .selectAll()
      .where("product_id", "=", input.productId)
      .forNoKeyUpdate()
      .executeTakeFirst();
    const values = {
      vendor_id: input.vendorId,
      referral_commission_bps: input.referralCommissionBps,
      updated_at: new Date(),
    };
    const product = await trx
      .insertInto("products")
      .values({ product_id: input.productId, ...values })
      .onConflict((oc) => oc.column("product_id").doUpdateSet(values))
      .returningAll()
      .executeTakeFirstOrThrow();
    await audit(
      trx,
      actor,
      before ? "product.updated" : "product.created",
      { type: "product", id: input.productId },
      before,
      product,
    );
    return product;
  });
}
