import type { Command } from "commander";
import type { MintRunResult } from "../jobs/minter.js";
import { config, type ExitCode, json, print, withService } from "./context.js";
import type { Run } from "./index.js";

/** `twinrail mint [--all]`: one batch now, or batches until the approved queue is empty. */
export function registerMint(program: Command, run: Run): void {
  program
    .command("mint")
    .description("run one mint batch now against the configured chain and exit")
    .option("--all", "keep minting batches until no approved reward is left (or a run makes no progress)")
    .option("--json", "print the run's result (with --all: {runs, minted, skipped, failed, results}) as JSON")
    .action(run(mint));
}

/** A run that leaves the queue as it was: `--all` stops there instead of spinning. */
const STOPS = new Set<MintRunResult["status"]>(["empty", "busy", "waiting", "failed"]);

async function mint(options: { all?: boolean; json?: boolean }): Promise<ExitCode> {
  return withService(config(), async (running) => {
    const { minter } = running.services;
    if (!options.all) {
      const result = await minter.runOnce();
      // One run has always printed its JSON result.
      console.log(json(result));
      return result.status === "failed" ? 1 : 0;
    }
    const results: MintRunResult[] = [];
    const started = Date.now();
    for (;;) {
      const result = await minter.runOnce();
      results.push(result);
      if (!options.json && result.batchId)
        console.error(`batch ${result.batchId}: ${result.status}, minted ${result.minted}`);
      if (STOPS.has(result.status)) break;
      // A released batch that minted nothing and deferred nothing would repeat forever.
      if (result.status === "released" && result.minted === 0 && !result.deferred) break;
    }
    const last = results[results.length - 1]!;
    const summary = {
      runs: results.length,
      batches: results.filter((r) => r.batchId !== null).length,
      minted: results.reduce((n, r) => n + r.minted, 0),
      skipped: results.reduce((n, r) => n + r.skipped, 0),
      failed: results.reduce((n, r) => n + r.failed, 0),
      finalStatus: last.status,
      seconds: (Date.now() - started) / 1000,
      ...(options.json ? { results } : {}),
    };
    print(options.json, summary, () => json(summary));
    return last.status === "failed" ? 1 : 0;
  });
}
