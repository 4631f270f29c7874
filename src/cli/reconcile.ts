import type { Command } from "commander";
import { reconcile } from "../ledger/reconcile.js";
import { config, type ExitCode, json, withService } from "./context.js";
import type { Run } from "./index.js";

/**
 * `twinrail reconcile [--full]`. Today every run is the full reconcile (journal balance, rails
 * agreement per order, DB minted rows vs on-chain ReferralPaid logs). When the incremental reconcile
 * lands as a ledger function, make it the default here: `options.full ? reconcile(…) : incremental(…)`.
 */
export function registerReconcile(program: Command, run: Run): void {
  program
    .command("reconcile")
    .description("check journal balance, rails agreement and DB vs chain; exits 1 naming each mismatch")
    .option("--full", "check everything from the start (today's only mode)")
    .option("--json", "print the whole report (every mismatch, what was checked) as JSON")
    .action(run(check));
}

async function check(options: { full?: boolean; json?: boolean }): Promise<ExitCode> {
  return withService(config(), async (running) => {
    const report = await reconcile(running.services.db, running.services.chain);
    for (const mismatch of report.mismatches) {
      console.error(`MISMATCH ${mismatch.check}: ${mismatch.subject}: ${mismatch.detail}`);
    }
    const summary = { ok: report.ok, mismatches: report.mismatches.length, checked: report.checked };
    console.log(options.json ? json({ ...report, mode: "full" }) : JSON.stringify(summary));
    return report.ok ? 0 : 1;
  });
}
