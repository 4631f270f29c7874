/**
 * `npm run bench [-- --quick]`: every benchmark in scripts/bench/, each printing its baseline from
 * the same run and the ratio. `--quick` (what CI runs, so the scripts keep working) uses short runs;
 * the figures worth quoting come from the full run on a machine doing nothing else.
 *
 *   ingest.ts    order.paid spread / one hot referrer vs pgbench TPC-B-like, statements per event
 *   replay.ts    the SQL of one order.paid replayed by pgbench (the database's ceiling) vs TPC-B-like
 *   redirect.ts  GET /r/:code vs a bare node:http 302 responder (wrk), exact visit count
 *   mint.ts      10,000 rewards minted through the minter's loop (batch 200) vs one payReferral per tx
 *   csv.ts       vendor CSV export of 103,000 settlements over HTTP (rows/s) vs psql COPY … TO STDOUT
 *   reads.ts     dashboard reads (queue pages, stats, vendor summary, /v1/me), incremental reconcile, CSV
 *                at a filled schema (scripts/bench/fill.ts) vs the scanning queries they replaced
 *
 * Not run here: cost.ts (rows, index entries, FK checks and service CPU per order.paid: counts, no ratio).
 */
import { spawnSync } from "node:child_process";

const passThrough = process.argv.slice(2);
const benches = ["ingest.ts", "replay.ts", "redirect.ts", "mint.ts", "csv.ts", "reads.ts"];
const summaries: string[] = [];
let failed = false;
for (const bench of benches) {
  console.log(`\n== ${bench} ${passThrough.join(" ")} ==`);
  const run = spawnSync(process.execPath, ["--import", "tsx", `scripts/bench/${bench}`, ...passThrough], {
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
  });
  process.stdout.write(run.stdout ?? "");
  const summary = (run.stdout ?? "").trim().split("\n").pop() ?? "";
  summaries.push(run.status === 0 ? summary : `${bench}: FAILED (exit ${run.status})`);
  if (run.status !== 0) failed = true;
}
console.log("\n== summary ==");
for (const line of summaries) console.log(line);
process.exit(failed ? 1 : 0);
