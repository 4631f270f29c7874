import type { ColumnType, Generated, Insertable, Selectable, Updateable } from "kysely";

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
  attribution_source: "ref_code" | "cookie" | "click_id" | null;
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

export type OrderStatus = "created" | "paid" | "partially_refunded" | "refunded";
export type PaymentRail = "card" | "credit";

export interface OrdersTable {
  order_reference: string;
  request_hash: string;
  buyer_member_id: string | null;
  currency: string;
  referral_applied: boolean;
  referrer_member_id: string | null;
  referral_code: string | null;
  attribution_source: "referred_by" | "explicit_code" | "cookie" | null;
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
  rate_source: "product" | "vendor" | "platform";
  platform_fee_bps: number;
  referral_commission: bigint;
}

export type SettlementStatus = "pending" | "due" | "in_payout" | "paid" | "held" | "cancelled";

export interface SettlementBreakdownLine {
  lineId: string;
  productId: string | null;
  quantity: number;
  unitAmount: string;
  subtotal: string;
  discount: string;
  commissionBase: string;
  commissionBps: number;
  rateSource: "product" | "vendor" | "platform";
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
  status: ColumnType<"created" | "paid" | "failed", "created" | "paid" | "failed" | undefined>;
  created_at: CreatedAt;
  paid_at: Date | null;
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

export type MintBatchStatus = "claimed" | "signed" | "confirmed" | "failed" | "released";

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
}

export type RewardStatusColumn =
  | "pending_approval"
  | "approved"
  | "minting"
  | "minted"
  | "rejected"
  | "cancelled"
  | "failed"
  | "held";

export interface FraudSignal {
  code: string;
  detail: string;
}

export interface ReferralRewardsTable {
  id: Generated<bigint>;
  order_reference: string;
  order_ref_hash: string;
  source: ColumnType<"order" | "membership", "order" | "membership" | undefined, never>;
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
}

export interface WebhookEventsTable {
  provider: string;
  event_id: string;
  payload_hash: string;
  event_type: string;
  response: Json<Record<string, unknown>>;
  received_at: CreatedAt;
}

export type ApiKeyRole = "admin" | "integration" | "vendor";

export interface ApiKeysTable {
  id: string;
  secret_hash: string;
  role: ApiKeyRole;
  vendor_id: string | null;
  label: string | null;
  created_at: CreatedAt;
  revoked_at: Date | null;
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
  referral_rewards: ReferralRewardsTable;
  webhook_events: WebhookEventsTable;
  api_keys: ApiKeysTable;
  idempotency_keys: IdempotencyKeysTable;
  audit_log: AuditLogTable;
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
