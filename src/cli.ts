import { performance } from "node:perf_hooks";
import { ConfigError, loadConfig } from "./config.js";
import { connect } from "./db/connect.js";
import { migrate } from "./db/migrate.js";
import { seedDemo } from "./demo/seed.js";
import { createApiKey } from "./ledger/api-keys.js";
import { reconcile } from "./ledger/reconcile.js";
import { signMemberToken } from "./lib/member-token.js";
import { startServer } from "./server.js";

const USAGE = `twinrail <command>

  start                         run the service (embedded database and chain unless configured)
  migrate                       apply migrations to DATABASE_URL (or DATA_DIR)
  keys create --role R [--vendor ID] [--label L]
                                create an API key (admin | integration | vendor); printed once
  token --member ID [--ttl SECONDS]
                                sign a member token with MEMBER_TOKEN_SECRET
  mint                          run one mint batch now against the configured chain and exit
  reconcile                     check journal balance, rails agreement and DB vs chain; exits 1
                                and names each mismatch when anything disagrees
`;

function flag(args: string[], name: string): string | undefined {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? args[index + 1] : undefined;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  const config = loadConfig();
  switch (command) {
    case "start": {
      const t0 = performance.now();
      const running = await startServer(config);
      let demo: Awaited<ReturnType<typeof seedDemo>> | undefined;
      if (running.services.config.demo) {
        demo = await seedDemo(running.services.db, running.services.config, running.services.chain);
      }
      const ms = Math.round(performance.now() - t0);
      printBanner(running.url, ms, demo, running.services.config.DEMO_FILE);
      const stop = async (signal: string) => {
        running.services.logger.info({ signal }, "shutting down");
        await running.close();
        process.exit(0);
      };
      process.once("SIGTERM", () => void stop("SIGTERM"));
      process.once("SIGINT", () => void stop("SIGINT"));
      return -1; // keep running
    }
    case "migrate": {
      const connection = await connect({
        databaseUrl: config.DATABASE_URL,
        directUrl: config.DATABASE_DIRECT_URL,
        poolMode: config.DATABASE_POOL_MODE,
        dataDir: config.DATA_DIR,
        schema: config.DATABASE_SCHEMA,
      });
      const result = await migrate(connection.sessionDb);
      console.log(
        `applied: ${result.applied.join(", ") || "none"}; already applied: ${result.alreadyApplied.length}`,
      );
      await connection.close();
      return 0;
    }
    case "keys": {
      if (args[0] !== "create") break;
      const role = flag(args, "role");
      if (role !== "admin" && role !== "integration" && role !== "vendor") {
        console.error("--role must be admin, integration or vendor");
        return 2;
      }
      const connection = await connect({
        databaseUrl: config.DATABASE_URL,
        directUrl: config.DATABASE_DIRECT_URL,
        poolMode: config.DATABASE_POOL_MODE,
        dataDir: config.DATA_DIR,
        schema: config.DATABASE_SCHEMA,
      });
      await migrate(connection.sessionDb);
      const key = await createApiKey(
        connection.db,
        { id: "cli" },
        { role, vendorId: flag(args, "vendor"), label: flag(args, "label") },
      );
      console.log(key.key);
      await connection.close();
      return 0;
    }
    case "token": {
      const member = flag(args, "member");
      if (!member) {
        console.error("--member ID is required");
        return 2;
      }
      if (config.generatedSecrets.includes("MEMBER_TOKEN_SECRET")) {
        console.error("MEMBER_TOKEN_SECRET is not set: a token signed now would match no running server");
        return 2;
      }
      console.log(signMemberToken(config.secrets.memberToken, member, Number(flag(args, "ttl") ?? 3600)));
      return 0;
    }
    case "mint": {
      const running = await startServer({ ...config, JOBS: false, PORT: 0 });
      const result = await running.services.minter.runOnce();
      console.log(JSON.stringify(result, null, 2));
      await running.close();
      return result.status === "failed" ? 1 : 0;
    }
    case "reconcile": {
      // Journal balance, rails agreement per order, DB minted rows vs on-chain ReferralPaid logs.
      const running = await startServer({ ...config, JOBS: false, PORT: 0 });
      try {
        const report = await reconcile(running.services.db, running.services.chain);
        for (const mismatch of report.mismatches) {
          console.error(`MISMATCH ${mismatch.check}: ${mismatch.subject}: ${mismatch.detail}`);
        }
        console.log(
          JSON.stringify({ ok: report.ok, mismatches: report.mismatches.length, checked: report.checked }),
        );
        return report.ok ? 0 : 1;
      } finally {
        await running.close();
      }
    }
    default:
      break;
  }
  console.error(USAGE);
  return command ? 2 : 0;
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
    lines.push("Demo data is seeded. Try:");
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

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error) => {
    if (error instanceof ConfigError) console.error(error.message);
    else console.error(error);
    process.exit(1);
  },
);
