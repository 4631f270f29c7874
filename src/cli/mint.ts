import type { Command } from "commander";
import type { MintRunResult } from "../jobs/minter.js";
import { config, type ExitCode, json, print, withService } from "./context.js";
import type { Run } from "./index.js";

/**
 * `twinrail mint [--all]`: one batch now, or batches until the approved queue is empty — one pipelined
 * pass (`runPipeline`, MINT_PIPELINE_DEPTH batches in flight), which stops where the old loop of runs
 * stopped: the queue empty, busy, waiting, a failure, or a released batch that moved nothing on.
 */
export function registerMint(program: Command, run: Run): void {
  program
    .command("mint")
    .description("run one mint batch now against the configured chain and exit")
    .option("--all", "keep minting batches until no approved reward is left (or a run makes no progress)")
    .option("--json", "print the run's result (with --all: {runs, minted, skipped, failed, results}) as JSON")
    .action(run(mint));
}

async function mint(options: { all?: boolean; json?: boolean }): Promise<ExitCode> {
  return withService(config(), async (running) => {
    const { minter } = running.services;
    if (!options.all) {
      const result = await minter.runOnce();
      // One run has always printed its JSON result.
      console.log(json(result));
      return result.status === "failed" ? 1 : 0;
    }
    const started = Date.now();
    const pass = await minter.runPipeline();
    // As one run per batch reported it: the run that found the queue empty (or the lock busy) is the last.
    const results: MintRunResult[] = [...pass.results];
    if (results.length === 0 || pass.status === "empty") {
      results.push({
        batchId: null,
        status: pass.status,
        rewardIds: [],
        txHash: null,
        minted: 0,
        skipped: 0,
        failed: 0,
        ...(pass.error ? { error: pass.error } : {}),
      });
    }
    if (!options.json) {
      for (const result of results) {
        if (result.batchId)
          console.error(`batch ${result.batchId}: ${result.status}, minted ${result.minted}`);
      }
    }
    const summary = {
      runs: results.length,
      batches: pass.batches,
      minted: pass.minted,
      skipped: pass.skipped,
      failed: pass.failed,
      finalStatus: pass.status,
      seconds: (Date.now() - started) / 1000,
      ...(options.json ? { results } : {}),
    };
    print(options.json, summary, () => json(summary));
    return pass.status === "failed" ? 1 : 0;
  });
}
