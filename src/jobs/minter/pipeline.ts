import { describe } from "../minter-rpc.js";
import { claimAndSend, complete, type InFlight, leaveToRecovery } from "./batch.js";
import { fail, type MinterContext } from "./context.js";
import type { MintRunResult } from "./types.js";

/** What a pass did: every batch's result in the order each was finished, and the result that ended it. */
export interface Pass {
  results: MintRunResult[];
  /** The result that stopped the pass (`empty` when the queue ran dry); undefined after `maxBatches`. */
  stop: MintRunResult | undefined;
}

const FAILED: MintRunResult = {
  batchId: null,
  status: "failed",
  rewardIds: [],
  txHash: null,
  minted: 0,
  skipped: 0,
  failed: 0,
};

/**
 * A released batch that still moved the queue on (rewards found paid, failed alone, or deferred to the
 * next batch for gas) is followed by the next claim; anything else ends the pass.
 */
function movedOn(result: MintRunResult): boolean {
  return (
    result.status === "released" &&
    !result.error &&
    (result.skipped > 0 || result.failed > 0 || (result.deferred ?? 0) > 0)
  );
}

/**
 * The minter's loop, pipelined: a producer claims, sizes, signs, persists and broadcasts batch after
 * batch, each with the nonce after the previous one's, while a consumer waits for the oldest batch's
 * receipt and settles it — at most `depth` batches in flight. Both run under the caller's one-sender
 * lock, so nonces are handed out by this process alone, in order. The consumer settles in nonce order:
 * a later nonce is never mined before an earlier one. When the oldest batch does not confirm:
 * - its nonce was used (reverted, or taken by another transaction): the later ones go on as usual;
 * - it was not (timeout, shutdown, interrupted): the later ones cannot be mined before it, so they are
 *   left to recovery (signed and persisted, lease expired), which resumes them in nonce order.
 * Either way nothing more is claimed. A batch whose broadcast the node refused holds the producer back
 * until it is settled (it is resent at once); one the node silently lost while later batches wait
 * behind its nonce is resent as soon as the consumer sees the node does not know it (send.ts `drive`).
 * Depth 1 and `maxBatches` 1 are the one-batch run (`runOnce`).
 */
export async function pipeline(
  ctx: MinterContext,
  options: { limit: number; depth: number; maxBatches: number },
): Promise<Pass> {
  const results: MintRunResult[] = [];
  const queue: InFlight[] = [];
  let producing = true;
  /** Set once a batch did not confirm: nothing more is claimed. */
  let halted = false;
  /** Set once a batch's nonce was not used: the batches behind it are left to recovery. */
  let abandon: string | undefined;
  let stop: MintRunResult | undefined;
  let waiters: (() => void)[] = [];
  const changed = () => new Promise<void>((resolve) => waiters.push(resolve));
  const notify = () => {
    const woken = waiters;
    waiters = [];
    for (const wake of woken) wake();
  };

  const produce = async () => {
    let nonceAtLeast: number | undefined;
    try {
      for (let claimed = 0; claimed < options.maxBatches; claimed++) {
        // A free slot, and every batch in flight taken by the node (a refused one is resent first).
        while (!halted && (queue.length >= options.depth || queue.some((batch) => !batch.accepted))) {
          await changed();
        }
        if (halted || ctx.state.stopping) return;
        const reservedWei = queue.reduce((sum, batch) => sum + batch.totalWei, 0n);
        const step = await claimAndSend(ctx, options.limit, {
          first: claimed === 0,
          nonceAtLeast,
          reservedWei,
        });
        if ("result" in step) {
          if (step.result.status !== "empty") results.push(step.result);
          if (movedOn(step.result)) continue;
          stop ??= step.result;
          return;
        }
        nonceAtLeast = step.sent.plan.nonce + 1;
        queue.push(step.sent);
        notify();
        // Wallet mode stays one batch at a time: the batch was sent exactly as its approver signed it.
        if (step.sent.wallet) return;
      }
    } catch (error) {
      // A database or chain failure outside a batch (or a crash hook): reported, never thrown halfway.
      const message = describe(error);
      fail(ctx, "interrupted", message);
      ctx.logger.error({ err: error }, "mint run failed");
      const result = { ...FAILED, error: message };
      results.push(result);
      stop ??= result;
    } finally {
      producing = false;
      notify();
    }
  };

  const consume = async () => {
    for (;;) {
      while (queue.length === 0 && producing) await changed();
      const head = queue[0];
      if (!head) return;
      let result: MintRunResult;
      if (abandon) {
        result = await leaveToRecovery(ctx, head, abandon);
      } else {
        const done = await complete(ctx, head, () => queue.slice(1).map((batch) => batch.plan.batchId));
        result = done.result;
        if (result.status !== "confirmed") {
          halted = true;
          // A batch that did not confirm says more about the pass than the queue running dry.
          if (!stop || stop.status === "empty") stop = result;
          if (!done.nonceUsed)
            abandon = `batch ${head.base.batchId} before it did not confirm (its nonce is unused)`;
        }
      }
      queue.shift();
      results.push(result);
      notify();
    }
  };

  await Promise.all([produce(), consume()]);
  return { results, stop };
}
