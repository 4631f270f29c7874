import { AppError } from "../errors.js";
import { allocate, applyBps, BPS_DENOMINATOR, divideHalfEven } from "./money.js";
import type { RateSource } from "./rates.js";

/**
 * The fiat computation for one order (rail A) and the basis of its token reward (rail B). One written
 * rule, applied in this order, all amounts in integer minor units:
 *
 * 1. line subtotal = quantity × unitAmount.
 * 2. The order discount is allocated to lines proportional to their subtotals (largest remainder,
 *    `allocate`), so each line's discount is at most its subtotal and the shares sum to the discount.
 * 3. Shipping is allocated to vendors proportional to their merchandise subtotal (Σ of their line
 *    subtotals; evenly if every vendor's merchandise is 0). Shipping is NOT commissionable and carries
 *    no platform fee.
 * 4. commissionBase(line) = subtotal − line discount.
 * 5. A vendor's referral commission = divideHalfEven(Σ_lines commissionBase × bps, 10 000): rounded
 *    ONCE, half-even, on the vendor total (not per line, so many small lines cannot round a vendor
 *    up). It is then split back across the vendor's lines with `allocate` weighted by
 *    commissionBase × bps, so the lines sum exactly to the vendor total. 0 when `referral` is false.
 * 6. platform fee = applyBps(vendor merchandise − vendor discount, platformFeeBps).
 * 7. vendor gross = merchandise − discount + shipping; net = gross − platform fee − referral commission.
 *
 * Invariants: Σ vendor gross = orderGross (what the buyer pays: Σ subtotals − discount + shipping) and
 * Σ vendor referral commission = referralCommission = the fiat basis of the token reward. Vendors are
 * listed in order of first appearance in the lines, and lines keep their input order.
 *
 * Refused with AppError("validation_failed"): no lines; a quantity that is not a positive integer; a
 * negative unit amount, shipping or discount; a discount above Σ subtotals; a duplicate lineId; a
 * vendor without terms (or with two sets); and a vendor whose platform fee plus referral commission
 * would exceed its gross, since a negative net payout cannot be settled (the vendor's rates are
 * misconfigured and must be fixed before the order can be accepted).
 */

/** One order line with its commission rate already resolved and snapshotted (see `rates.ts`). */
export interface OrderLineInput {
  lineId: string;
  vendorId: string;
  productId: string | null;
  quantity: number;
  unitAmount: bigint;
  commissionBps: number;
  rateSource: RateSource;
}

/** A vendor's platform fee rate, snapshotted with the order. */
export interface VendorTerms {
  vendorId: string;
  platformFeeBps: number;
}

/** Everything `computeOrderSettlement` needs; amounts in minor units of the order currency. */
export interface OrderSettlementInput {
  lines: readonly OrderLineInput[];
  vendors: readonly VendorTerms[];
  shippingAmount: bigint;
  discountAmount: bigint;
  /** Whether the order is attributed to a referrer; false zeroes every referral commission. */
  referral: boolean;
}

/** One line of a vendor's settlement breakdown. */
export interface LineSettlement {
  lineId: string;
  productId: string | null;
  quantity: number;
  unitAmount: bigint;
  subtotal: bigint;
  discount: bigint;
  commissionBase: bigint;
  commissionBps: number;
  rateSource: RateSource;
  referralCommission: bigint;
}

/** One vendor's share of the order and what it is paid. */
export interface VendorSettlement {
  vendorId: string;
  gross: bigint;
  merchandise: bigint;
  discount: bigint;
  shipping: bigint;
  platformFee: bigint;
  referralCommission: bigint;
  net: bigint;
  lines: LineSettlement[];
}

/** The whole fiat computation for one order. */
export interface OrderSettlement {
  /** Σ line subtotals − discount + shipping: what the buyer pays. */
  orderGross: bigint;
  /** Σ vendor referral commissions; the fiat basis of the token reward. */
  referralCommission: bigint;
  vendors: VendorSettlement[];
}

function invalid(message: string, details: Record<string, unknown>): AppError {
  return new AppError("validation_failed", message, { details });
}

function isBps(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 10_000;
}

/**
 * Computes the settlement of one order per vendor, per the rule in this module's doc comment.
 * @throws AppError("validation_failed") for the inputs listed there.
 */
export function computeOrderSettlement(input: OrderSettlementInput): OrderSettlement {
  const { lines, shippingAmount, discountAmount, referral } = input;
  if (lines.length === 0) throw invalid("an order needs at least one line", { field: "lines" });
  if (shippingAmount < 0n) throw invalid("shippingAmount must not be negative", { field: "shippingAmount" });
  if (discountAmount < 0n) throw invalid("discountAmount must not be negative", { field: "discountAmount" });

  const terms = new Map<string, VendorTerms>();
  for (const vendor of input.vendors) {
    if (terms.has(vendor.vendorId)) {
      throw invalid(`vendor ${vendor.vendorId} has two sets of terms`, { vendorId: vendor.vendorId });
    }
    if (!isBps(vendor.platformFeeBps)) {
      throw invalid(`vendor ${vendor.vendorId} platformFeeBps must be an integer in 0–10000`, {
        vendorId: vendor.vendorId,
      });
    }
    terms.set(vendor.vendorId, vendor);
  }

  const lineIds = new Set<string>();
  const subtotals: bigint[] = [];
  let merchandiseTotal = 0n;
  for (const [index, line] of lines.entries()) {
    if (lineIds.has(line.lineId)) throw invalid(`duplicate lineId ${line.lineId}`, { lineId: line.lineId });
    lineIds.add(line.lineId);
    if (!Number.isSafeInteger(line.quantity) || line.quantity <= 0) {
      throw invalid(`line ${line.lineId}: quantity must be a positive integer`, {
        field: `lines[${index}].quantity`,
      });
    }
    if (line.unitAmount < 0n) {
      throw invalid(`line ${line.lineId}: unitAmount must not be negative`, {
        field: `lines[${index}].unitAmount`,
      });
    }
    if (!isBps(line.commissionBps)) {
      throw invalid(`line ${line.lineId}: commissionBps must be an integer in 0–10000`, {
        field: `lines[${index}].commissionBps`,
      });
    }
    if (!terms.has(line.vendorId)) {
      throw invalid(`line ${line.lineId}: vendor ${line.vendorId} has no terms`, { vendorId: line.vendorId });
    }
    const subtotal = BigInt(line.quantity) * line.unitAmount;
    subtotals.push(subtotal);
    merchandiseTotal += subtotal;
  }
  if (discountAmount > merchandiseTotal) {
    throw invalid(`discountAmount ${discountAmount} exceeds the merchandise total ${merchandiseTotal}`, {
      field: "discountAmount",
    });
  }

  const lineDiscounts = allocate(discountAmount, subtotals);

  // Group line indexes by vendor, vendors in order of first appearance.
  const vendorLines = new Map<string, number[]>();
  for (const [index, line] of lines.entries()) {
    const group = vendorLines.get(line.vendorId);
    if (group) group.push(index);
    else vendorLines.set(line.vendorId, [index]);
  }
  const vendorIds = [...vendorLines.keys()];
  const vendorMerchandise = vendorIds.map((vendorId) =>
    vendorLines.get(vendorId)!.reduce((sum, index) => sum + subtotals[index]!, 0n),
  );
  const vendorShipping = allocate(shippingAmount, vendorMerchandise);

  const vendors: VendorSettlement[] = [];
  let orderCommission = 0n;
  for (const [vendorIndex, vendorId] of vendorIds.entries()) {
    const indexes = vendorLines.get(vendorId)!;
    const merchandise = vendorMerchandise[vendorIndex]!;
    const shipping = vendorShipping[vendorIndex]!;
    const discount = indexes.reduce((sum, index) => sum + lineDiscounts[index]!, 0n);
    const bases = indexes.map((index) => subtotals[index]! - lineDiscounts[index]!);
    const weighted = indexes.map((index, i) => bases[i]! * BigInt(lines[index]!.commissionBps));
    const weightedSum = weighted.reduce((sum, value) => sum + value, 0n);
    const commission = referral ? divideHalfEven(weightedSum, BPS_DENOMINATOR) : 0n;
    const lineCommissions = allocate(commission, weighted);

    const platformFee = applyBps(merchandise - discount, terms.get(vendorId)!.platformFeeBps);
    const gross = merchandise - discount + shipping;
    const net = gross - platformFee - commission;
    if (net < 0n) {
      throw invalid(
        `vendor ${vendorId}: platform fee ${platformFee} plus referral commission ${commission} exceed its gross ${gross}; lower the vendor's fee or commission rates`,
        {
          vendorId,
          gross: gross.toString(),
          platformFee: platformFee.toString(),
          referralCommission: commission.toString(),
        },
      );
    }

    vendors.push({
      vendorId,
      gross,
      merchandise,
      discount,
      shipping,
      platformFee,
      referralCommission: commission,
      net,
      lines: indexes.map((index, i) => {
        const line = lines[index]!;
        return {
          lineId: line.lineId,
          productId: line.productId,
          quantity: line.quantity,
          unitAmount: line.unitAmount,
          subtotal: subtotals[index]!,
          discount: lineDiscounts[index]!,
          commissionBase: bases[i]!,
          commissionBps: line.commissionBps,
          rateSource: line.rateSource,
          referralCommission: lineCommissions[i]!,
        };
      }),
    });
    orderCommission += commission;
  }

  const orderGross = merchandiseTotal - discountAmount + shippingAmount;
  return { orderGross, referralCommission: orderCommission, vendors };
}

/**
 * The token reward for a fiat basis (rail B): `fiatBasisMinor × weiPerMinorUnit`, exact. The basis is
 * the order's `referralCommission`, so the two rails can always be reconciled.
 * @throws RangeError on a negative argument.
 */
export function rewardWei(fiatBasisMinor: bigint, weiPerMinorUnit: bigint): bigint {
  if (fiatBasisMinor < 0n || weiPerMinorUnit < 0n) {
    throw new RangeError("rewardWei: fiat basis and rate must be non-negative");
  }
  return fiatBasisMinor * weiPerMinorUnit;
}
