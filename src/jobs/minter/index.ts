import { describe } from "../minter-rpc.js";
import { createContext, fail, type MinterContext, type MinterDeps } from "./context.js";
import { exclusively } from "./lock.js";
import { type Pass, pipeline } from "./pipeline.js";
import { recover } from "./recover.js";
import type { Minter, MintPassResult, MintRunResult } from "./types.js";

/**
 * The minter: exactly-once payment of approved rewards. The contract refuses to pay an orderRef twice
 * (at most once); this worker retries until every approved reward is paid (at least once). Steps, as
 * in DESIGN.md: claim with SKIP LOCKED and a lease (claim.ts) → one sender per operator key (lock.ts)
 * → skip what the chain already paid (resolve.ts) → fit the period cap and the gas (fit.ts), simulate
 * (isolating items that revert on their own; simulate.ts) → sign and PERSIST the raw tx before
 * broadcast → wait for the receipt, rebroadcasting and replacing a stuck tx with a higher fee, every
 * signed hash persisted first (send.ts) → mark rows from the logs (settle.ts, mark.ts, release.ts).
 * `runPipeline` overlaps batches (pipeline.ts): the next one is claimed, signed and sent with the next
 * nonce while the earlier ones wait for their receipts, at most MINT_PIPELINE_DEPTH in flight.
 * Batches whose run died are resolved from the chain (recover.ts): the receipt of any recorded hash,
 * else `paidOrders` and the `ReferralPaid` logs. Every status change passes transitions.ts.
 */

export type {
  CrashPoint,
  FailureKind,
  Minter,
  MinterConfig,
  MinterHooks,
  MinterStats,
  MintPassResult,
  MintRunResult,
} from "./types.js";
export { CRASH_POINTS, minterConfig } from "./types.js";

const BUSY: MintRunResult = {
  batchId: null,
  status: "busy",
  rewardIds: [],
  txHash: null,
  minted: 0,
  skipped: 0,
  failed: 0,
};

/** A pass's totals; its status is the result that ended it. */
function summarize(pass: Pass): MintPassResult {
  const { results, stop } = pass;
  const batches = results.filter((result) => result.batchId !== null);
  return {
    status: stop?.status ?? results.at(-1)?.status ?? "empty",
    batches: batches.length,
    minted: results.reduce((sum, result) => sum + result.minted, 0),
    skipped: results.reduce((sum, result) => sum + result.skipped, 0),
    failed: results.reduce((sum, result) => sum + result.failed, 0),
    results,
    ...(stop?.error ? { error: stop.error } : {}),
  };
}

/** The checks before a run or pass: shutting down, backing off (unless `manual`). */
function refusal(ctx: MinterContext, manual: boolean): MintRunResult | undefined {
  if (ctx.state.stopping) return { ...BUSY, error: "shutting down" };
  const { stats } = ctx;
  if (!manual && stats.blockedUntil && stats.blockedUntil > new Date()) {
    return { ...BUSY, status: "waiting", error: `backing off: ${stats.blockedReason}` };
  }
  return undefined;
}

export function createMinter(deps: MinterDeps): Minter {
  const ctx = createContext(deps);
  const { cfg, stats } = ctx;
  /** Recovery, then the pipeline; a failure outside a batch is reported, never thrown halfway. */
  const pass = async (options: { limit: number; depth: number; maxBatches: number }): Promise<Pass> => {
    try {
      await recover(ctx, cfg.confirmTimeoutSeconds);
    } catch (error) {
      fail(ctx, "interrupted", describe(error));
      ctx.logger.error({ err: error }, "mint run failed");
      const result: MintRunResult = { ...BUSY, status: "failed", error: describe(error) };
      return { results: [result], stop: result };
    }
    return pipeline(ctx, { ...options, limit: Math.min(options.limit, 200) });
  };
  return {
    stats,
    drain: async () => {
      ctx.state.stopping = true;
      // The queue's tail: settles once the running run (if any) and those queued behind it are done.
      await ctx.state.local.catch(() => undefined);
    },
    recover: () =>
      exclusively(ctx, { resolved: 0 }, () => recover(ctx, Math.min(cfg.confirmTimeoutSeconds, 15))),
    runOnce: (options = {}) =>
      exclusively<MintRunResult>(ctx, BUSY, async () => {
        const refused = refusal(ctx, options.manual ?? false);
        if (refused) return refused;
        // One batch: claimed, sent and settled before the run returns.
        const done = await pass({ limit: options.limit ?? cfg.batchSize, depth: 1, maxBatches: 1 });
        return done.results[0] ?? done.stop ?? { ...BUSY, status: "empty" };
      }),
    runPipeline: (options = {}) =>
      exclusively<MintPassResult>(ctx, { ...summarize({ results: [], stop: BUSY }) }, async () => {
        const refused = refusal(ctx, false);
        if (refused) return summarize({ results: [], stop: refused });
        return summarize(
          await pass({
            limit: options.limit ?? cfg.batchSize,
            depth: Math.max(1, options.depth ?? cfg.pipelineDepth),
            maxBatches: options.maxBatches ?? Number.POSITIVE_INFINITY,
          }),
        );
      }),
  };
}
