import { writeFileAtomic } from "../lib/write-file-atomic.js";
import type { Running } from "../server.js";
import { type HistoryResult, seedDemoHistory } from "./history.js";
import type { DemoFile } from "./seed.js";

/** What the demo file says about the 30 days of history (`npm run demo` and the e2e tests wait for `ready`). */
export type DemoHistoryStatus =
  | { status: "seeding"; startedAt: string }
  | ({ status: "ready" } & HistoryResult)
  | { status: "failed"; error: string };

/**
 * Seeds the demo history (src/demo/history.ts) after the service is ready, so `npm start` answers at
 * once and the pages fill in within seconds; the demo file's `history` tells where it is (`seeding`,
 * then `ready` with the counts, or `failed`). The promise never rejects: a failure is logged.
 */
export function seedHistoryInBackground(running: Running, demo: DemoFile): Promise<DemoHistoryStatus> {
  const { db, config, minter, logger } = running.services;
  const write = (history: DemoHistoryStatus) =>
    writeFileAtomic(config.DEMO_FILE, `${JSON.stringify({ ...demo, history }, null, 2)}\n`, { mode: 0o600 });
  write({ status: "seeding", startedAt: new Date().toISOString() });
  return seedDemoHistory({ db, config, minter }).then(
    (result) => {
      const history: DemoHistoryStatus = { status: "ready", ...result };
      write(history);
      logger.info(result, "demo history seeded (30 days)");
      return history;
    },
    (error: unknown) => {
      const history: DemoHistoryStatus = { status: "failed", error: String(error) };
      write(history);
      logger.error({ err: error }, "demo history seeding failed");
      return history;
    },
  );
}
