/**
 * The response shapes the pages read: generated from the server's OpenAPI document (api.generated.ts,
 * `npx tsx scripts/api-types.ts`), which the route registrations declare. Never restated by hand.
 */
import type { components } from "./api.generated";

type Schemas = components["schemas"];

export type FraudSignal = Schemas["FraudSignal"];
/** A reward in the admin queue (with referrer, fraud signals and approver). */
export type RewardView = Schemas["RewardView"];
/** A reward as its referrer sees it (`GET /v1/me/rewards`). */
export type MemberReward = Omit<RewardView, "referrer" | "fraudSignals" | "approvedBy">;
export type MintBatch = Schemas["MintBatch"];
export type MintResult = Schemas["MintResult"];
export type SettlementLine = Schemas["SettlementLine"];
/** A settlement in the admin console (`GET /v1/admin/settlements`). */
export type Settlement = Schemas["Settlement"];
/** A settlement with its refund adjustments (`GET /v1/vendor/settlements`). */
export type VendorSettlement = Schemas["VendorSettlement"];
export type AuditEntry = Schemas["AuditEntry"];
export type Me = Schemas["Me"];
export type Payout = Schemas["Payout"];
export type AdminStats = Schemas["AdminStats"];

/** A list answer; keyset-paginated ones carry `nextCursor`. */
export interface Page<T> {
  items: T[];
  nextCursor?: string | null;
}
export type MintBatchAwaitingApproval = Schemas["MintBatchAwaitingApproval"];
