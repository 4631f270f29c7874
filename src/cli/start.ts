import { performance } from "node:perf_hooks";
import closeWithGrace from "close-with-grace";
import type { Command } from "commander";
import { seedHistoryInBackground } from "../demo/background.js";
import { seedDemo } from "../demo/seed.js";
import { startServer } from "../server.js";
import { config, type ExitCode } from "./context.js";
import type { Run } from "./index.js";

/** `twinrail start`: the service, with graceful shutdown on SIGTERM/SIGINT (a second one forces exit). */
export function registerStart(program: Command, run: Run): void {
  program
    .command("start")
    .description("run the service (embedded database and chain unless configured)")
    .action(run(start));
}

async function start(): Promise<ExitCode> {
  const cfg = config();
  const t0 = performance.now();
  const running = await startServer(cfg);
  const { logger } = running.services;
  // Installed before the demo seed: a SIGTERM during boot still closes cleanly.
  closeWithGrace(
    {
      delay: cfg.SHUTDOWN_GRACE_MS,
      logger: { error: (message: unknown) => logger.error({ err: message }, "shutdown failed") },
      onSecondSignal: (signal: string) => logger.warn({ signal }, "second signal: exiting now"),
      onTimeout: (ms: number) => logger.error({ graceMs: ms }, "shutdown grace period over: exiting now"),
    },
    async ({ signal, err }) => {
      if (err) logger.error({ err }, "fatal error: shutting down");
      else logger.info({ signal, graceMs: cfg.SHUTDOWN_GRACE_MS }, "shutting down");
      await running.close();
      logger.info("shut down");
    },
  );
  let demo: Awaited<ReturnType<typeof seedDemo>> | undefined;
  if (running.services.config.demo) {
    demo = await seedDemo(running.services.db, running.services.config, running.services.chain);
    // 30 days of history through the ledger's use cases, after ready (the banner says so).
    void seedHistoryInBackground(running, demo);
  }
  printBanner(running.url, Math.round(performance.now() - t0), demo, running.services.config.DEMO_FILE);
  return -1; // keep running
}

function printBanner(
  url: string,
  ms: number,
  demo: Awaited<ReturnType<typeof seedDemo>> | undefined,
  demoFile: string,
) {
  const lines = [`\nTwinrail is ready at ${url} (boot ${ms} ms)\n`];
  if (demo) {
    // The credential rides in the URL fragment, which browsers never send to a server (nor to its logs);
    // the page moves it into sessionStorage and clears it from the address bar.
    lines.push("Open a page, signed in (click):");
    lines.push(`  admin console        ${url}/admin/#token=${demo.keys.admin}`);
    lines.push(`  vendor settlements   ${url}/vendor/#token=${demo.keys.vendor}`);
    lines.push(`  referrer dashboard   ${url}/referrer/#token=${demo.referrer.token}`);
    lines.push(`  storefront demo      ${url}/r/${demo.referrer.code}  (a referral link → ${url}/shop/)`);
    lines.push("");
    lines.push(
      "Demo data is seeded; 30 days of history (visits, orders, refunds, a mint batch, payouts) are being",
      "seeded in the background and fill the pages within seconds (logged: 'demo history seeded'). Try:",
    );
    for (const [name, link] of Object.entries(demo.urls)) lines.push(`  ${name.padEnd(14)} ${link}`);
    lines.push("", "Credentials (Authorization: Bearer …):");
    lines.push(`  admin API key        ${demo.keys.admin}`);
    lines.push(`  integration API key  ${demo.keys.integration}`);
    lines.push(`  vendor API key       ${demo.keys.vendor}  (vendor ${demo.vendorId})`);
    lines.push(
      `  referrer token       ${demo.referrer.token}  (member ${demo.referrer.memberId}, code ${demo.referrer.code})`,
    );
    lines.push(`  cron secret          ${demo.cronSecret}`);
    lines.push(
      "",
      `Everything above, plus the webhook secret, is in ${demoFile}. Run \`npm run demo\` in another terminal to drive the whole story.`,
    );
  }
  console.log(lines.join("\n"));
}
