import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { sql } from "kysely";
import type { Logger } from "pino";
import type { Address } from "viem";
import type { Chain } from "../../chain/index.js";
import type { Db } from "../../db/connect.js";
import type { Actor } from "../../ledger/audit.js";
import { describe, withRetry } from "../minter-rpc.js";
import {
  type CrashPoint,
  type FailureKind,
  MINTER_DEFAULTS,
  type MinterConfig,
  type MinterHooks,
  type MinterStats,
  type ResolvedMinterConfig,
} from "./types.js";

export const ACTOR: Actor = { id: "job:minter" };

/**
 * What every module of the minter works with, passed explicitly: the database, the chain, the
 * settings, the logger, the stats (`/readyz`, `/metrics` read them) and the test hooks, plus the
 * little state one minter keeps between runs.
 */
export interface MinterContext {
  db: Db;
  dbKind: "postgres" | "pglite";
  chain: Chain;
  cfg: ResolvedMinterConfig;
  logger: Logger;
  stats: MinterStats;
  hooks: MinterHooks | undefined;
  contract: Address;
  /** The operator address, lower case: batches are owned by it. */
  operator: string;
  /** This process, as recorded on the batches it claims. */
  claimedBy: string;
  state: {
    /** Global reverts in a row: the back-off doubles with each. */
    consecutiveGlobal: number;
    /** The in-process queue of runs (one sender per operator key). */
    local: Promise<unknown>;
    blockGasLimit: { value: bigint; at: number } | undefined;
    /** Set by `drain()` (shutdown): no new run, and a receipt wait stops at its next poll. */
    stopping: boolean;
  };
}

export interface MinterDeps {
  db: Db;
  dbKind: "postgres" | "pglite";
  chain: Chain;
  config: MinterConfig;
  logger: Logger;
  hooks?: MinterHooks;
}

export function createContext(deps: MinterDeps): MinterContext {
  return {
    db: deps.db,
    dbKind: deps.dbKind,
    chain: deps.chain,
    cfg: { ...MINTER_DEFAULTS, ...deps.config } as ResolvedMinterConfig,
    logger: deps.logger,
    stats: emptyStats(),
    hooks: deps.hooks,
    contract: deps.chain.addresses.referralRewards,
    operator: deps.chain.operator.toLowerCase(),
    claimedBy: `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`,
    state: { consecutiveGlobal: 0, local: Promise.resolve(), blockGasLimit: undefined, stopping: false },
  };
}

function emptyStats(): MinterStats {
  return {
    batches: 0,
    minted: 0,
    failures: 0,
    failuresByKind: { rpc: 0, global: 0, item: 0, reverted: 0, timeout: 0, interrupted: 0 },
    feeBumps: 0,
    gasUsed: 0n,
    lastSuccessAt: null,
    lastRunAt: null,
    lastError: null,
    running: false,
    blockedReason: null,
    blockedUntil: null,
    waitingForPeriod: 0,
    waitingForPeriodWei: 0n,
    nextPeriodAt: null,
    deferredForGas: 0,
  };
}

/** A crash point: the fault tests kill the process here. */
export function at(ctx: MinterContext, point: CrashPoint, batchId: bigint): void {
  ctx.hooks?.at?.(point, { batchId });
}

/** A batch's lease from now. */
export const lease = (ctx: MinterContext) =>
  sql<Date>`now() + make_interval(secs => ${ctx.cfg.leaseSeconds})`;

export function fail(ctx: MinterContext, kind: FailureKind, message: string): void {
  ctx.stats.failures++;
  ctx.stats.failuresByKind[kind]++;
  ctx.stats.lastError = message;
}

export function rpc<T>(ctx: MinterContext, label: string, fn: () => Promise<T>): Promise<T> {
  return withRetry(fn, {
    retries: ctx.cfg.rpcRetries,
    baseMs: ctx.cfg.retryBaseMs,
    onRetry: (error, attempt) =>
      ctx.logger.warn({ call: label, attempt, error: describe(error) }, "RPC retry"),
  });
}

export function enterBackoff(ctx: MinterContext, reason: string, until?: Date | null): void {
  const { cfg, stats, state } = ctx;
  state.consecutiveGlobal++;
  let seconds = Math.min(
    cfg.globalBackoffSeconds * 2 ** (state.consecutiveGlobal - 1),
    cfg.globalBackoffMaxSeconds,
  );
  // Waiting for the period cap past the next period is pointless: it resets then.
  if (until) seconds = Math.max(1, Math.min(seconds, Math.ceil((until.getTime() - Date.now()) / 1000)));
  stats.blockedReason = reason;
  stats.blockedUntil = new Date(Date.now() + seconds * 1000);
  fail(ctx, "global", reason);
  ctx.logger.error(
    { alert: "mint_blocked", reason, retryInSeconds: seconds, consecutive: state.consecutiveGlobal },
    "ALERT: the contract refuses every batch (paused or mint cap reached); minting waits",
  );
}

export function clearBackoff(ctx: MinterContext): void {
  const { stats } = ctx;
  if (stats.blockedReason) ctx.logger.info({ was: stats.blockedReason }, "minting unblocked");
  ctx.state.consecutiveGlobal = 0;
  stats.blockedReason = null;
  stats.blockedUntil = null;
}
