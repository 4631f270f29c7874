import { describe } from "../minter-rpc.js";
import { mintBatch } from "./batch.js";
import { createContext, fail, type MinterDeps } from "./context.js";
import { exclusively } from "./lock.js";
import { recover } from "./recover.js";
import type { Minter, MintRunResult } from "./types.js";

/**
 * The minter: exactly-once payment of approved rewards. The contract refuses to pay an orderRef twice
 * (at most once); this worker retries until every approved reward is paid (at least once). Steps, as
 * in DESIGN.md: claim with SKIP LOCKED and a lease (claim.ts) → one sender per operator key (lock.ts)
 * → skip what the chain already paid (resolve.ts) → fit the period cap and the gas (fit.ts), simulate
 * (isolating items that revert on their own; simulate.ts) → sign and PERSIST the raw tx before
 * broadcast → wait for the receipt, rebroadcasting and replacing a stuck tx with a higher fee, every
 * signed hash persisted first (send.ts) → mark rows from the logs (settle.ts, mark.ts, release.ts).
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

export function createMinter(deps: MinterDeps): Minter {
  const ctx = createContext(deps);
  const { cfg, stats } = ctx;
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
        if (ctx.state.stopping) return { ...BUSY, error: "shutting down" };
        if (!options.manual && stats.blockedUntil && stats.blockedUntil > new Date()) {
          return { ...BUSY, status: "waiting", error: `backing off: ${stats.blockedReason}` };
        }
        try {
          await recover(ctx, cfg.confirmTimeoutSeconds);
          return await mintBatch(ctx, Math.min(options.limit ?? cfg.batchSize, 200));
        } catch (error) {
          // A database or chain failure outside a batch: reported, never thrown halfway.
          fail(ctx, "interrupted", describe(error));
          ctx.logger.error({ err: error }, "mint run failed");
          return { ...BUSY, status: "failed", error: describe(error) };
        }
      }),
  };
}
