import { randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { z } from "zod";

/**
 * Every environment variable Twinrail reads, parsed once at boot into a frozen object. Nothing else in
 * the code base reads `process.env`. A wrong value stops boot with a message naming the variable.
 */

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z
  .enum(["1", "0", "true", "false", "yes", "no"])
  .transform((value) => value === "1" || value === "true" || value === "yes");
const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === "" ? undefined : value.trim()));

const DEFAULT_TOKEN_RATES = "UAH:10000000000000000,USD:10000000000000000,EUR:10000000000000000";
const tokenRates = z
  .string()
  .default(DEFAULT_TOKEN_RATES)
  .transform((value, ctx) => {
    // "UAH:10000000000000000,USD:10000000000000000" — wei minted per minor unit of each currency.
    const rates: Record<string, bigint> = {};
    for (const pair of value
      .split(",")
      .map((part) => part.trim())
      .filter(Boolean)) {
      const match = /^([A-Z]{3}):([0-9]{1,40})$/.exec(pair);
      if (!match) {
        ctx.addIssue({ code: "custom", message: `"${pair}" is not CUR:WEI (e.g. USD:10000000000000000)` });
        return z.NEVER;
      }
      rates[match[1]!] = BigInt(match[2]!);
    }
    return rates;
  });

/**
 * express's "trust proxy" setting, parsed the way express documents it: `true`/`false`, a number of
 * hops (`1` = the usual one reverse proxy), or a comma-separated list of addresses, CIDR subnets and
 * the names loopback, linklocal, uniquelocal. (Passed to express as a string, `1` would be the
 * address 0.0.0.1 and `true` would crash boot.)
 */
export type TrustProxy = boolean | number | string[];
const TRUST_PROXY_NAMES = new Set(["loopback", "linklocal", "uniquelocal"]);

function isContiguousNetmask(mask: string): boolean {
  const bits = mask
    .split(".")
    .map((octet) => Number(octet).toString(2).padStart(8, "0"))
    .join("");
  return /^1*0*$/.test(bits);
}

/** Why one entry of a TRUST_PROXY list is not an address, a subnet or a name (undefined when it is). */
function trustProxyEntryProblem(entry: string): string | undefined {
  if (TRUST_PROXY_NAMES.has(entry)) return undefined;
  const [address = "", range, ...extra] = entry.split("/");
  const family = isIP(address);
  if (family === 0 || extra.length > 0) {
    return `"${entry}" is not an IP address, a subnet (address/prefix) or one of loopback, linklocal, uniquelocal`;
  }
  if (range === undefined) return undefined;
  const maxPrefix = family === 4 ? 32 : 128;
  if (/^[0-9]{1,3}$/.test(range) && Number(range) <= maxPrefix) return undefined;
  if (family === 4 && isIP(range) === 4 && isContiguousNetmask(range)) return undefined;
  return `"${entry}": the prefix must be 0–${maxPrefix}${family === 4 ? " or a netmask" : ""}`;
}

const trustProxy = optionalString.transform((value, ctx): TrustProxy | undefined => {
  if (value === undefined) return undefined;
  const lower = value.toLowerCase();
  if (lower === "true") return true;
  if (lower === "false") return false;
  if (/^[0-9]+$/.test(value)) {
    const hops = Number(value);
    if (hops > 100) {
      ctx.addIssue({ code: "custom", message: "a number of proxy hops must be at most 100" });
      return z.NEVER;
    }
    return hops;
  }
  const entries = value
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  const problems = entries.map(trustProxyEntryProblem).filter((problem) => problem !== undefined);
  if (entries.length === 0 || problems.length > 0) {
    ctx.addIssue({
      code: "custom",
      message: `must be true, false, a number of hops or a comma-separated list of addresses/subnets/loopback/linklocal/uniquelocal; ${problems.join("; ") || "empty list"}`,
    });
    return z.NEVER;
  }
  return entries;
});

/** Standard Webhooks keys below this many bytes (after base64-decoding the part after whsec_) are refused. */
export const MIN_WEBHOOK_KEY_BYTES = 24;
const webhookSecret = z.string().superRefine((value, ctx) => {
  if (!value.startsWith("whsec_")) {
    ctx.addIssue({ code: "custom", message: "must start with whsec_" });
    return;
  }
  const encoded = value.slice("whsec_".length);
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(encoded)) {
    ctx.addIssue({ code: "custom", message: "the part after whsec_ must be base64" });
    return;
  }
  const bytes = Buffer.from(encoded, "base64").length;
  if (bytes < MIN_WEBHOOK_KEY_BYTES) {
    ctx.addIssue({
      code: "custom",
      message: `the key after whsec_ is ${bytes} bytes; at least ${MIN_WEBHOOK_KEY_BYTES} are required (e.g. whsec_$(openssl rand -base64 32))`,
    });
  }
});

const envSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  PORT: int(0, 65_535).default(3000),
  HOST: z.string().default("127.0.0.1"),
  PUBLIC_BASE_URL: optionalString.pipe(z.url().optional()),
  LANDING_URL: optionalString.pipe(z.url().optional()),
  TRUST_PROXY: trustProxy,

  DATABASE_URL: optionalString.pipe(z.url().optional()),
  DATABASE_SCHEMA: optionalString.pipe(
    z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/)
      .optional(),
  ),
  DATA_DIR: optionalString,
  // Migrations and the minter (session advisory locks): a direct or session-pooled URL; default DATABASE_URL.
  DATABASE_DIRECT_URL: optionalString.pipe(z.url().optional()),
  // `transaction`: DATABASE_URL is a transaction-pooling PgBouncer (no startup parameters sent on it).
  DATABASE_POOL_MODE: z.enum(["session", "transaction"]).default("session"),

  RPC_URL: optionalString.pipe(z.url().optional()),
  CHAIN_ID: int(1, 2 ** 31).optional(),
  OPERATOR_PRIVATE_KEY: optionalString.pipe(
    z
      .string()
      .regex(/^0x[0-9a-fA-F]{64}$/, "must be 0x followed by 64 hex digits")
      .optional(),
  ),
  DEPLOYMENTS_FILE: optionalString,
  CHAIN_CONFIRMATIONS: int(1, 64).default(1),
  // Approvals (ReferralRewardsV2, docs/contracts.md "Approvals"). `service`: the service holds an approver
  // key and signs each batch the minter submits (DEMO ONLY; the default on chain 31337, with Hardhat account
  // #19). `wallet`: it holds none; the approval comes from the admin's wallet. Production: wallet only.
  APPROVER_KEYS_MODE: z.enum(["service", "wallet"]).optional(),
  APPROVER_PRIVATE_KEY: optionalString.pipe(
    z
      .string()
      .regex(/^0x[0-9a-fA-F]{64}$/, "must be 0x followed by 64 hex digits")
      .optional(),
  ),

  WEBHOOK_SECRET: optionalString.pipe(webhookSecret.optional()),
  MEMBER_TOKEN_SECRET: optionalString.pipe(z.string().min(32, "must be at least 32 characters").optional()),
  CRON_SECRET: optionalString.pipe(z.string().min(16, "must be at least 16 characters").optional()),
  COOKIE_SECRET: optionalString.pipe(z.string().min(32, "must be at least 32 characters").optional()),
  IP_HASH_SECRET: optionalString.pipe(z.string().min(32, "must be at least 32 characters").optional()),

  REF_COOKIE_DAYS: int(1, 365).default(30),
  REFERRAL_COMMISSION_BPS: int(0, 5000).default(500),
  REFERRAL_COMMISSION_MAX_BPS: int(0, 5000).default(5000),
  MEMBERSHIP_REFERRAL_BPS: int(0, 5000).default(1000),
  TOKEN_WEI_PER_MINOR_UNIT: tokenRates,
  ATTRIBUTION_WINDOW_DAYS: int(1, 730).default(90),
  ATTRIBUTION_SCOPE: z.enum(["first_order", "window"]).default("first_order"),
  // Coupons (issue 14): who is credited when a coupon's owner and the buyer's other referrer differ.
  COUPON_PRECEDENCE: z.enum(["coupon", "referrer"]).default("coupon"),
  // Recurring membership rewards: renewals paid within this many months of the first payment (0 = first only).
  RECURRING_MONTHS: int(0, 120).default(0),
  // Auto-approval: pending rewards this many days old, with no refund, chargeback or fraud signal (0 = off).
  REWARD_HOLD_DAYS: int(0, 365).default(0),
  // Anti-abuse caps on signup attribution (0 = unlimited): per referrer per UTC month, per IP hash per UTC day.
  ATTRIBUTION_CAP_PER_REFERRER_MONTH: int(0, 1_000_000).default(0),
  ATTRIBUTION_CAP_PER_IP_DAY: int(0, 1_000_000).default(0),
  // Public endpoints: requests per client address per window, shared by all instances (0 = off).
  RATE_LIMIT_PUBLIC: int(0, 1_000_000).default(300),
  RATE_LIMIT_WINDOW_SECONDS: int(1, 3600).default(60),
  IPV6_SUBNET_PREFIX: int(16, 128).default(64), // IPv6 clients are keyed by this prefix (rate limits, caps, signals)
  // Group commit for order.paid with data.order (docs/scaling.md "Ingest: group commit"): deliveries that
  // arrive while a transaction runs share the next one, up to INGEST_BATCH_MAX (1 = off); at most
  // INGEST_BATCH_IN_FLIGHT run at once, a further one only once INGEST_BATCH_OVERLAP_MIN deliveries wait
  // (or the oldest waited INGEST_BATCH_OVERLAP_WAIT_MS).
  INGEST_BATCH_MAX: int(1, 200).default(32),
  INGEST_BATCH_IN_FLIGHT: int(1, 16).default(2),
  INGEST_BATCH_OVERLAP_MIN: int(1, 200).default(8),
  INGEST_BATCH_OVERLAP_WAIT_MS: int(0, 10_000).default(25), // fewer wait at most this long for a turn
  // Visit counting: buffered in memory, flushed at least every VISIT_FLUSH_MS or once VISIT_FLUSH_MAX wait.
  VISIT_FLUSH_MS: int(20, 60_000).default(1000),
  VISIT_FLUSH_MAX: int(1, 1_000_000).default(5000),
  VISIT_RETENTION_CRON: z.string().default("17 * * * *"),
  // Folds the dashboard rollup deltas into the day rollups (reads add what is not folded yet).
  ROLLUP_FOLD_CRON: z.string().default("*/10 * * * * *"),
  // Retention (docs/scaling.md): webhook dedupe rows kept above every provider's redelivery horizon,
  // idempotency keys, audit_log month partitions (0 = keep all) and how many months are created ahead.
  RETENTION_CRON: z.string().default("43 * * * *"),
  WEBHOOK_EVENT_RETENTION_DAYS: int(7, 3650).default(30),
  IDEMPOTENCY_KEY_RETENTION_HOURS: int(24, 87_600).default(168),
  AUDIT_RETENTION_MONTHS: int(0, 1200).default(24),
  AUDIT_PARTITIONS_AHEAD: int(1, 24).default(3),
  RETENTION_BATCH_SIZE: int(100, 100_000).default(5000),
  // Dashboard and export reads from a streaming replica (docs/scaling.md "Read replica"); beyond
  // READ_MAX_LAG_SECONDS of replay lag, or when it is down, they go to the primary.
  READ_DATABASE_URL: optionalString.pipe(z.url().optional()),
  READ_MAX_LAG_SECONDS: int(1, 86_400).default(30),

  MINT_BATCH_SIZE: int(1, 200).default(20),
  // Batches in flight at once (docs/runbook.md "Pipelining"): the next batch is claimed, signed and sent
  // with the next nonce while the earlier ones wait for their receipts. 1 = one batch at a time.
  MINT_PIPELINE_DEPTH: int(1, 8).default(3),
  // Most gas one mint transaction may ask for (also never above the block gas limit): a claimed batch that
  // needs more is cut to its largest prefix that fits. Default: the EIP-7825 per-transaction cap (2^24).
  MINT_MAX_TX_GAS: int(100_000, 1_000_000_000).default(16_777_216),
  MINT_CRON: z.string().default("* * * * *"),
  // A batch's lease: after it expires, recovery resolves the batch from the chain. Renewed while a run waits.
  MINT_LEASE_SECONDS: int(1, 86_400).default(300),
  // Receipt polling; a transaction not mined MINT_STUCK_SECONDS after it was signed is replaced with the same
  // nonce and fees raised by MINT_FEE_BUMP_PERCENT (at most MINT_MAX_FEE_BUMPS times, never above MINT_MAX_FEE_GWEI).
  MINT_POLL_MS: int(20, 60_000).default(1000),
  MINT_STUCK_SECONDS: int(1, 86_400).default(90),
  MINT_FEE_BUMP_PERCENT: int(10, 500).default(25),
  MINT_MAX_FEE_BUMPS: int(0, 50).default(5),
  MINT_MAX_FEE_GWEI: int(1, 1_000_000).default(500),
  // How long one run waits for its receipt before leaving the batch to the next run's recovery.
  MINT_CONFIRM_TIMEOUT_SECONDS: int(5, 86_400).default(600),
  // Transient RPC failures: retried with exponential back-off (base MINT_RETRY_BASE_MS), at most MINT_RPC_RETRIES times.
  MINT_RPC_RETRIES: int(0, 20).default(5),
  MINT_RETRY_BASE_MS: int(10, 60_000).default(500),
  // A batch refused for a global reason (paused, period cap): alert and wait, doubling up to the max.
  MINT_GLOBAL_BACKOFF_SECONDS: int(1, 86_400).default(60),
  MINT_GLOBAL_BACKOFF_MAX_SECONDS: int(1, 86_400).default(3600),
  SETTLEMENT_CRON: z.string().default("*/5 * * * *"),
  AUTO_APPROVE_CRON: z.string().default("*/5 * * * *"),
  JOBS: bool.default(true),
  // Graceful shutdown (SIGTERM/SIGINT): how long in-flight requests and a mint batch get before a forced exit.
  SHUTDOWN_GRACE_MS: int(100, 600_000).default(10_000),
  // Outbound webhooks (docs/webhooks.md): private, loopback and link-local targets are refused unless
  // allowed (unset: allowed in demo mode only); the retry schedule, seconds before each attempt.
  WEBHOOK_ALLOW_PRIVATE_TARGETS: bool.optional(),
  WEBHOOK_RETRY_SCHEDULE: z
    .string()
    .regex(/^\d{1,6}(,\d{1,6}){0,19}$/, "comma-separated seconds, e.g. 0,5,300")
    .optional(),

  DEMO: bool.optional(),
  DEMO_FILE: z.string().default(".twinrail/demo.json"),
});

export type Env = z.infer<typeof envSchema>;

export interface Config extends Omit<Env, "WEBHOOK_SECRET" | "MEMBER_TOKEN_SECRET" | "CRON_SECRET"> {
  readonly publicBaseUrl: string;
  readonly landingUrl: string;
  readonly embeddedChain: boolean;
  readonly demo: boolean;
  readonly secrets: Readonly<{
    webhook: string;
    memberToken: string;
    cron: string;
    cookie: string;
    ipHash: string;
  }>;
  /** Names of the secrets generated at boot because they were not configured (not their values). */
  readonly generatedSecrets: readonly string[];
}

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`Invalid configuration:\n${issues.map((issue) => `  - ${issue}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Parses the environment once. Throws `ConfigError` naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Readonly<Config> {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join(".") || "(env)"}: ${issue.message}`),
    );
  }
  const e = parsed.data;
  const issues: string[] = [];
  if (e.REFERRAL_COMMISSION_BPS > e.REFERRAL_COMMISSION_MAX_BPS) {
    issues.push("REFERRAL_COMMISSION_BPS: must not exceed REFERRAL_COMMISSION_MAX_BPS");
  }
  if (e.RPC_URL && !e.OPERATOR_PRIVATE_KEY) {
    issues.push("OPERATOR_PRIVATE_KEY: required when RPC_URL is set");
  }
  if (e.NODE_ENV === "production") {
    // A generated secret differs per instance and changes at every restart: never in production.
    const configured = {
      WEBHOOK_SECRET: e.WEBHOOK_SECRET,
      MEMBER_TOKEN_SECRET: e.MEMBER_TOKEN_SECRET,
      CRON_SECRET: e.CRON_SECRET,
      COOKIE_SECRET: e.COOKIE_SECRET,
      IP_HASH_SECRET: e.IP_HASH_SECRET,
    };
    for (const [name, value] of Object.entries(configured)) {
      if (!value)
        issues.push(`${name}: must be set when NODE_ENV=production (secrets are never generated there)`);
    }
    // The minter never holds an approver key in production: a leaked host would hold both keys.
    if (e.APPROVER_PRIVATE_KEY) issues.push("APPROVER_PRIVATE_KEY: must not be set when NODE_ENV=production");
    if (e.APPROVER_KEYS_MODE === "service") {
      issues.push("APPROVER_KEYS_MODE: service is for the demo only; use wallet when NODE_ENV=production");
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);

  const generatedSecrets: string[] = [];
  const secret = (name: string, value: string | undefined, make: () => string) => {
    if (value) return value;
    generatedSecrets.push(name);
    return make();
  };
  const random = (bytes: number) => randomBytes(bytes).toString("base64url");

  const publicBaseUrl = (e.PUBLIC_BASE_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, "");
  const { WEBHOOK_SECRET, MEMBER_TOKEN_SECRET, CRON_SECRET, ...rest } = e;
  const config: Config = {
    ...rest,
    publicBaseUrl,
    landingUrl: e.LANDING_URL ?? `${publicBaseUrl}/shop/`,
    embeddedChain: !e.RPC_URL,
    // With no database configured we are a self-contained demo unless told otherwise.
    demo: e.DEMO ?? (!e.DATABASE_URL && !e.RPC_URL),
    secrets: Object.freeze({
      webhook: secret("WEBHOOK_SECRET", WEBHOOK_SECRET, () => `whsec_${randomBytes(24).toString("base64")}`),
      memberToken: secret("MEMBER_TOKEN_SECRET", MEMBER_TOKEN_SECRET, () => random(32)),
      cron: secret("CRON_SECRET", CRON_SECRET, () => random(24)),
      cookie: secret("COOKIE_SECRET", e.COOKIE_SECRET, () => random(32)),
      ipHash: secret("IP_HASH_SECRET", e.IP_HASH_SECRET, () => random(32)),
    }),
    generatedSecrets,
  };
  return Object.freeze(config);
}
