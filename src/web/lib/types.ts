/** Response shapes from /work/shared/API.md (fields the pages read; extra fields are ignored). */

export interface FraudSignal {
  code: string;
  detail: string;
}

export interface RewardView {
  id: string;
  orderReference: string;
  referrer?: { memberId: string; displayName: string | null; wallet: string | null };
  buyerMemberId: string | null;
  currency: string;
  fiatBasis: string;
  amountWei: string;
  paymentRail: string;
  status: string;
  /** Why a `held` reward is held: `dispute` (only the dispute's outcome releases it), `amount_mismatch`, `review`. */
  holdReason?: string | null;
  fraudSignals?: FraudSignal[];
  approvedBy?: string | null;
  batchId: string | null;
  txHash: string | null;
  blockNumber: string | null;
  failureReason: string | null;
  createdAt: string;
  ageSeconds: number;
}

export interface Page<T> {
  items: T[];
  nextCursor?: string | null;
}

export interface MintBatch {
  id: string;
  status: string;
  rewardCount: number;
  totalWei: string | null;
  txHash: string | null;
  blockNumber: string | null;
  gasUsed: string | null;
  nonce: string | null;
  error: string | null;
  createdAt: string;
}

export interface MintResult {
  batchId: string | null;
  status: string;
  rewardIds: string[];
  txHash: string | null;
  minted?: number;
  skipped?: number;
  failed?: number;
  error?: string;
}

export interface SettlementLine {
  lineId: string;
  productId: string | null;
  quantity: number;
  unitAmount: string;
  subtotal: string;
  discount?: string;
  commissionBase?: string;
  commissionBps: number;
  rateSource: "product" | "vendor" | "platform" | string;
  referralCommission: string;
}

export interface Settlement {
  id: string;
  orderReference: string;
  vendorId: string;
  currency: string;
  gross: string;
  platformFee: string;
  platformFeeBps?: number;
  referralCommission: string;
  net: string;
  lines: SettlementLine[];
  status: string;
  scheduledFor: string;
  payoutId: string | null;
  createdAt: string;
  paidAt?: string | null;
  adjustments?: { count: number; net: string };
  effective?: { gross: string; platformFee: string; referralCommission: string; net: string };
}

export interface AuditEntry {
  id: string;
  at: string;
  actor: string;
  action: string;
  subject: { type: string; id: string };
  before: unknown;
  after: unknown;
  requestId: string | null;
}

export interface Me {
  memberId: string;
  displayName?: string | null;
  code: string | null;
  shareUrl: string | null;
  visits: {
    total: number;
    today: number;
    last7d: number;
    last28d: number;
    daily?: Array<{ day: string; visits: number }>;
  };
  signups: number;
  conversions: number;
  rewards: { pendingApproval: number; approved: number; minted: number; totalMintedWei: string };
  clawbackDebtWei: string;
  wallet: string | null;
}
