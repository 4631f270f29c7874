import type { Reward } from "../../db/schema.js";
import { remainingAfterOrderRefunds } from "../../domain/money.js";
import type { ReconcileCheck } from "../reconcile.js";

/** A settlement with its adjustments summed, as the reconcile queries read it (decimal strings). */
export interface SettlementSums {
  id: string;
  order_reference: string;
  vendor_id: string;
  currency: string;
  status: string;
  gross: string;
  platform_fee: string;
  referral_commission: string;
  net: string;
  adj_gross: string;
  adj_fee: string;
  adj_commission: string;
  adj_net: string;
  unnetted_net: string;
}

export interface OrderFacts {
  order_reference: string;
  amount_paid: bigint | null;
  amount_refunded: bigint;
  gross_amount: bigint;
  referral_applied: boolean;
}

type Miss = (check: ReconcileCheck, subject: string, detail: string) => void;

/**
 * The per-order checks of reconciliation — refunds, settlement_refunds, rails — for one paid order,
 * from its refunds' sum, its settlements (with adjustments) and its reward. Shared by the full and the
 * incremental run.
 */
export function checkOrder(
  order: OrderFacts,
  refunded: bigint,
  settlements: readonly SettlementSums[],
  reward: Pick<Reward, "id" | "status" | "fiat_basis" | "clawed_back_basis"> | undefined,
  miss: Miss,
): void {
  const subject = `order ${order.order_reference}`;
  const paid = order.amount_paid ?? 0n;
  if (refunded !== order.amount_refunded) {
    miss("refunds", subject, `amount_refunded ${order.amount_refunded} but refunds sum to ${refunded}`);
  }
  if (order.amount_refunded > paid) {
    miss("refunds", subject, `refunded ${order.amount_refunded} exceeds paid ${paid}`);
  }
  let commission = 0n;
  for (const s of settlements) {
    const effective = {
      gross: BigInt(s.gross) + BigInt(s.adj_gross),
      fee: BigInt(s.platform_fee) + BigInt(s.adj_fee),
      commission: BigInt(s.referral_commission) + BigInt(s.adj_commission),
      net: BigInt(s.net) + BigInt(s.adj_net),
    };
    commission += effective.commission;
    if (order.amount_refunded <= paid && paid > 0n) {
      const left = (original: string) =>
        remainingAfterOrderRefunds(BigInt(original), paid, order.gross_amount, order.amount_refunded);
      const expected = {
        fee: left(s.platform_fee),
        commission: left(s.referral_commission),
        net: left(s.net),
      };
      if (
        expected.fee !== effective.fee ||
        expected.commission !== effective.commission ||
        expected.net !== effective.net ||
        effective.gross !== effective.net + effective.fee + effective.commission
      ) {
        miss(
          "settlement_refunds",
          `settlement ${s.id}`,
          `effective fee/commission/net ${effective.fee}/${effective.commission}/${effective.net} but refunds imply ${expected.fee}/${expected.commission}/${expected.net}`,
        );
      }
    }
  }
  if (reward && reward.status !== "rejected") {
    const basis = reward.fiat_basis - reward.clawed_back_basis;
    if (basis !== commission) {
      miss(
        "rails",
        subject,
        `reward ${reward.id} basis ${basis} but settlements carry ${commission} commission`,
      );
    }
  } else if (!reward && commission > 0n && order.referral_applied) {
    miss("rails", subject, `${commission} commission but no reward`);
  }
}
