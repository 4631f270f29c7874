import type { Command } from "commander";
import { runReconcile } from "../ledger/reconcile/runs.js";
import { config, type ExitCode, json, withService } from "./context.js";
import type { Run } from "./index.js";

/**
 * `twinrail reconcile [--full]`: by default what changed since the previous stored run (journal
 * transactions begun since its cutoff, the rails of the orders they touch, the accounts that moved,
 * chain logs of the new blocks — src/ledger/reconcile/incremental.ts); `--full` checks everything
 * from the start (journal balance, rails agreement per order, DB minted rows vs on-chain ReferralPaid
 * logs). The first run on a database is full. Every run is stored in `reconcile_runs`.
 */
export function registerReconcile(program: Command, run: Run): void {
  program
    .command("reconcile")
    .description("check journal balance, rails agreement and DB vs chain; exits 1 naming each mismatch")
    .option("--full", "check everything from the start (default: what changed since the last run)")
    .option("--json", "print the whole report (every mismatch, what was checked) as JSON")
    .action(run(check));
}

async function check(options: { full?: boolean; json?: boolean }): Promise<ExitCode> {
  return withService(config(), async (running) => {
    const report = await runReconcile(running.services.db, running.services.chain, { full: options.full });
    for (const mismatch of report.mismatches) {
      console.error(`MISMATCH ${mismatch.check}: ${mismatch.subject}: ${mismatch.detail}`);
    }
    const summary = {
      ok: report.ok,
      mode: report.mode,
      mismatches: report.mismatches.length,
      checked: report.checked,
    };
    console.log(options.json ? json(report) : JSON.stringify(summary));
    return report.ok ? 0 : 1;
  });
}
