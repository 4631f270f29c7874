import type { ColumnType, Generated, Insertable, Selectable, Updateable } from "kysely";
import type {
  ApiKeyRole,
  CheckoutAttributionSource,
  CouponStatus,
  DisputeStatus,
  HoldReason,
  MintBatchStatus,
  OrderStatus,
  PaymentRail,
  PayoutStatus,
  RateSource,
  RewardSource,
  RewardStatus,
  SettlementStatus,
  SignupAttributionSource,
} from "../domain/enums.js";

export type {
  ApiKeyRole,
  DisputeStatus,
  HoldReason,
  MintBatchStatus,
  OrderStatus,
  PaymentRail,
  PayoutStatus,
  SettlementStatus,
};

/**
 * Kysely's view of the schema in `migrations/`. The SQL is the truth; keep this in step with it.
 * `bigint` columns arrive as JS bigint from both drivers; `numeric(78,0)` (wei) arrives as a string
 * and is converted with `BigInt()` at the edge of each use case.
 */

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Wei = ColumnType<string, string | bigint, string | bigint>;
type Json<T> = ColumnType<T, string, string>;

export interface MembersTable {
  member_id: string;
  display_name: string | null;
  wallet_address: string | null;
  referred_by_member_id: string | null;
  referred_by_code: string | null;
  attribution_source: SignupAttributionSource | null;
  attributed_at: Date | null;
  signup_ip_hash: string | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface ReferralCodesTable {
  code: string;
  owner_member_id: string;
  kind: "random" | "vanity";
  active: ColumnType<boolean, boolean | undefined, boolean>;
  visits_total: Generated<bigint>;
  unique_visitors_total: Generated<bigint>;
  created_at: CreatedAt;
  deactivated_at: Date | null;
}

export interface VisitDaysTable {
  code: string;
  day: ColumnType<Date, string, string>;
  visits: Generated<bigint>;
  unique_visitors: Generated<bigint>;
}

export interface VendorsTable {
  vendor_id: string;
  name: string;
  referral_commission_bps: number | null;
  platform_fee_bps: number;
  hold_days: number;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface ProductsTable {
  product_id: string;
  vendor_id: string;
  referral_commission_bps: number | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface OrdersTable {
  order_reference: string;
  request_hash: string;
  buyer_member_id: string | null;
  currency: string;
  referral_applied: boolean;
  referrer_member_id: string | null;
  referral_code: string | null;
  attribution_source: CheckoutAttributionSource | null;
  attribution_reason: string | null;
  merchandise_amount: bigint;
  shipping_amount: bigint;
  discount_amount: bigint;
  gross_amount: bigint;
  referral_commission: bigint;
  wei_per_minor_unit: Wei;
  status: ColumnType<OrderStatus, OrderStatus | undefined, OrderStatus>;
  payment_rail: PaymentRail | null;
  amount_paid: bigint | null;
  amount_refunded: Generated<bigint>;
  paid_at: Date | null;
  paid_event_hash: string | null;
  /** The coupon the order named (0012) and what became of it. */
  coupon_code: string | null;
  coupon_status: CouponStatus | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface OrderLinesTable {
  order_reference: string;
  line_id: string;
  position: number;
  vendor_id: string;
  product_id: string | null;
  quantity: number;
  unit_amount: bigint;
  subtotal: bigint;
  discount: bigint;
  commission_base: bigint;
  commission_bps: number;
  rate_source: RateSource;
  /** The tier that priced the line (rate_source `tier` only; 0012). */
  rate_tier: string | null;
  platform_fee_bps: number;
  referral_commission: bigint;
}

export interface SettlementBreakdownLine {
  lineId: string;
  productId: string | null;
  quantity: number;
  unitAmount: string;
  subtotal: string;
  discount: string;
  commissionBase: string;
  commissionBps: number;
  rateSource: RateSource;
  referralCommission: string;
}

export interface SettlementsTable {
  id: Generated<bigint>;
  order_reference: string;
  vendor_id: string;
  currency: string;
  merchandise: bigint;
  discount: bigint;
  shipping: bigint;
  gross: bigint;
  platform_fee: bigint;
  referral_commission: bigint;
  net: bigint;
  platform_fee_bps: number;
  breakdown: Json<{ lines: SettlementBreakdownLine[] }>;
  status: ColumnType<SettlementStatus, SettlementStatus | undefined, SettlementStatus>;
  scheduled_for: Date;
  payout_id: bigint | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface PayoutsTable {
  id: Generated<bigint>;
  vendor_id: string;
  currency: string;
  amount: bigint;
  status: ColumnType<PayoutStatus, PayoutStatus | undefined>;
  created_at: CreatedAt;
  paid_at: Date | null;
  settlement_count: Generated<number>;
  adjustment_total: Generated<bigint>;
}

export interface ErpSalesAssistsTable {
  id: Generated<bigint>;
  order_reference: string;
  vendor_id: string;
  referrer_member_id: string;
  referral_code: string;
  referral_commission: bigint;
  created_at: CreatedAt;
}

export interface MintBatchesTable {
  id: Generated<bigint>;
  status: ColumnType<MintBatchStatus, MintBatchStatus | undefined, MintBatchStatus>;
  operator: string;
  chain_id: number;
  lease_expires_at: Date;
  reward_count: number;
  total_wei: Wei;
  nonce: bigint | null;
  raw_tx: string | null;
  tx_hash: string | null;
  block_number: bigint | null;
  gas_used: Wei | null;
  error: string | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
  /** 0004: who claimed the batch (host:pid:random), fee bumps so far, last broadcast time. */
  claimed_by: string | null;
  fee_bumps: ColumnType<number, number | undefined, number>;
  broadcast_at: Date | null;
  /** 0011: wallet mode — the typed data's payouts and deadline, the wallet's signature and its signer. */
  approval_payouts: ColumnType<ApprovalPayoutJson[] | null, string | null | undefined, string | null>;
  approval_deadline: ColumnType<bigint | null, bigint | null | undefined, bigint | null>;
  approval_signature: string | null;
  approval_approver: string | null;
  approval_signed_at: Date | null;
}

/** 0011: one payout of a batch's approval typed data as stored (amount in wei, a decimal string). */
export interface ApprovalPayoutJson {
  orderRef: string;
  to: string;
  amount: string;
}

/** 0004: every signed transaction of a batch (replacements share its nonce), persisted before broadcast. */
export interface MintBatchTxsTable {
  tx_hash: string;
  batch_id: bigint;
  nonce: bigint;
  raw_tx: string;
  max_fee_per_gas: Wei;
  max_priority_fee_per_gas: Wei;
  created_at: CreatedAt;
}

/** 0004: which rewards each batch claimed (kept after a release). */
export interface MintBatchRewardsTable {
  batch_id: bigint;
  reward_id: bigint;
}

/** The `referral_rewards.status` column: every reward status (src/domain/enums.ts). */
export type RewardStatusColumn = RewardStatus;

export interface FraudSignal {
  code: string;
  detail: string;
}

export interface ReferralRewardsTable {
  id: Generated<bigint>;
  order_reference: string;
  order_ref_hash: string;
  source: ColumnType<RewardSource, RewardSource | undefined, never>;
  referrer_member_id: string;
  buyer_member_id: string | null;
  wallet_address: string | null;
  currency: string;
  fiat_basis: bigint;
  wei_per_minor_unit: Wei;
  amount_wei: Wei;
  payment_rail: PaymentRail;
  status: RewardStatusColumn;
  fraud_signals: ColumnType<FraudSignal[], string | undefined, string>;
  approved_by: string | null;
  approved_at: Date | null;
  approval_note: string | null;
  rejected_reason: string | null;
  batch_id: bigint | null;
  tx_hash: string | null;
  block_number: bigint | null;
  log_index: number | null;
  minted_at: Date | null;
  failure_reason: string | null;
  attempts: Generated<number>;
  created_at: CreatedAt;
  updated_at: Timestamp;
  /** Earlier clawback debt netted from this reward before mint (0002). */
  clawback_netted_wei: ColumnType<string, string | bigint | undefined, string | bigint>;
  /** Fiat basis refunded after the reward was minted (or in flight), owed back as clawback debt (0002). */
  clawed_back_basis: Generated<bigint>;
  /** Why a `held` reward is held; null in any other status (0008, cleared by trigger on leaving). */
  hold_reason: ColumnType<HoldReason | null, HoldReason | null | undefined, HoldReason | null>;
}

export interface WebhookEventsTable {
  provider: string;
  event_id: string;
  payload_hash: string;
  event_type: string;
  response: Json<Record<string, unknown>>;
  received_at: CreatedAt;
}

export interface ApiKeysTable {
  id: string;
  secret_hash: string;
  role: ApiKeyRole;
  vendor_id: string | null;
  label: string | null;
  created_at: CreatedAt;
  revoked_at: Date | null;
  /** Written at most once a minute per key (src/ledger/api-keys.ts `noteKeyUsed`). */
  last_used_at: Date | null;
}

export interface IdempotencyKeysTable {
  principal: string;
  key: string;
  request_hash: string;
  status_code: number;
  response: Json<unknown>;
  created_at: CreatedAt;
}

export interface AuditLogTable {
  id: Generated<bigint>;
  at: CreatedAt;
  actor: string;
  action: string;
  subject_type: string;
  subject_id: string;
  before: Json<unknown> | null;
  after: Json<unknown> | null;
  request_id: string | null;
}

export interface JournalEntriesTable {
  id: Generated<bigint>;
  txn_id: string;
  event: string;
  order_reference: string | null;
  account: string;
  /** A currency code, or "WEI" for reward tokens. */
  asset: string;
  /** Signed: positive = debit, negative = credit. */
  amount: Wei;
  created_at: CreatedAt;
}

export interface OrderRefundsTable {
  order_reference: string;
  refund_id: string;
  kind: "refund" | "chargeback";
  amount: bigint;
  refunded_at: Date;
  amount_refunded_after: bigint;
  created_at: CreatedAt;
}

export interface DisputesTable {
  order_reference: string;
  dispute_id: string;
  status: DisputeStatus;
  amount: bigint;
  held_reward_id: bigint | null;
  held_reward_from: "pending_approval" | "approved" | "held" | null;
  /** The reason the reward was held for before the dispute took the hold over (0008). */
  held_reward_hold_reason: ColumnType<
    Exclude<HoldReason, "dispute"> | null,
    Exclude<HoldReason, "dispute"> | null | undefined,
    Exclude<HoldReason, "dispute"> | null
  >;
  held_settlements: Json<Array<{ id: string; from: "pending" | "due" }>>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface SettlementAdjustmentsTable {
  id: Generated<bigint>;
  settlement_id: bigint;
  order_reference: string;
  vendor_id: string;
  currency: string;
  reason: "refund" | "chargeback";
  source_id: string;
  gross_delta: bigint;
  platform_fee_delta: bigint;
  referral_commission_delta: bigint;
  net_delta: bigint;
  applied_to: "settlement" | "next_payout";
  created_at: CreatedAt;
}

export interface PayoutAdjustmentsTable {
  adjustment_id: bigint;
  payout_id: bigint;
  created_at: CreatedAt;
}

export interface ClawbacksTable {
  id: Generated<bigint>;
  referrer_member_id: string;
  kind: "debt" | "netted" | "restored" | "released";
  amount_wei: Wei;
  debt_after: Wei;
  reward_id: bigint;
  order_reference: string;
  source_id: string | null;
  created_at: CreatedAt;
}

export interface MembershipPaymentsTable {
  membership_reference: string;
  member_id: string;
  amount_paid: bigint;
  currency: string;
  paid_at: Date;
  terms_hash: string;
  referrer_member_id: string | null;
  /** 0012: the membership (period 1's reference) and the period this payment is for. */
  membership_id: string;
  period: ColumnType<number, number | undefined, number>;
  referral_bps: number | null;
  amount_refunded: Generated<bigint>;
  created_at: CreatedAt;
}

export interface MembershipRefundsTable {
  membership_reference: string;
  refund_id: string;
  amount: bigint;
  refunded_at: Date;
  amount_refunded_after: bigint;
  created_at: CreatedAt;
}

export interface CouponsTable {
  code: string;
  owner_member_id: string;
  discount_bps: number | null;
  discount_amount: bigint | null;
  currency: string | null;
  expires_at: Date | null;
  max_redemptions: number | null;
  redemptions: Generated<number>;
  active: Generated<boolean>;
  deactivated_at: Date | null;
  created_at: CreatedAt;
}

export interface CommissionTiersTable {
  tier: string;
  /** A vendor id, or `*` for every vendor. */
  vendor_id: string;
  commission_bps: number;
  updated_at: Timestamp;
}

export interface MemberTiersTable {
  member_id: string;
  /** A vendor id, or `*` for every vendor. */
  vendor_id: string;
  tier: string;
  updated_at: Timestamp;
}

export interface Database {
  members: MembersTable;
  referral_codes: ReferralCodesTable;
  visit_days: VisitDaysTable;
  vendors: VendorsTable;
  products: ProductsTable;
  orders: OrdersTable;
  order_lines: OrderLinesTable;
  payouts: PayoutsTable;
  settlements: SettlementsTable;
  erp_sales_assists: ErpSalesAssistsTable;
  mint_batches: MintBatchesTable;
  mint_batch_txs: MintBatchTxsTable;
  mint_batch_rewards: MintBatchRewardsTable;
  referral_rewards: ReferralRewardsTable;
  webhook_events: WebhookEventsTable;
  api_keys: ApiKeysTable;
  idempotency_keys: IdempotencyKeysTable;
  audit_log: AuditLogTable;
  journal_entries: JournalEntriesTable;
  order_refunds: OrderRefundsTable;
  disputes: DisputesTable;
  settlement_adjustments: SettlementAdjustmentsTable;
  payout_adjustments: PayoutAdjustmentsTable;
  clawbacks: ClawbacksTable;
  membership_payments: MembershipPaymentsTable;
  membership_refunds: MembershipRefundsTable;
  coupons: CouponsTable;
  commission_tiers: CommissionTiersTable;
  member_tiers: MemberTiersTable;
}

export type Member = Selectable<MembersTable>;
export type ReferralCode = Selectable<ReferralCodesTable>;
export type Vendor = Selectable<VendorsTable>;
export type Order = Selectable<OrdersTable>;
export type NewOrder = Insertable<OrdersTable>;
export type Settlement = Selectable<SettlementsTable>;
export type Reward = Selectable<ReferralRewardsTable>;
export type RewardUpdate = Updateable<ReferralRewardsTable>;
export type MintBatch = Selectable<MintBatchesTable>;
export type Coupon = Selectable<CouponsTable>;
