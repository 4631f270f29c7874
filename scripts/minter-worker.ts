/**
 * A standalone minter process, for the fault tests and for operators who run the minter apart from
 * the HTTP server. It reads the usual configuration (DATABASE_URL, DATABASE_SCHEMA, RPC_URL,
 * OPERATOR_PRIVATE_KEY, DEPLOYMENTS_FILE, CHAIN_CONFIRMATIONS, MINT_*), then mints in a loop of
 * pipelined passes (MINT_PIPELINE_DEPTH batches in flight).
 *
 *   node --import tsx scripts/minter-worker.ts [--until-idle] [--timeout-ms 60000] [--pause-ms 200]
 *
 * --until-idle   exit 0 once no reward is approved or minting (exit 3 on timeout); without it, run forever.
 * MINTER_CRASH_AT=<point>  test only: SIGKILL this process at that point (see CRASH_POINTS in the minter),
 * MINTER_CRASH_NTH=<n>     the n-th time it is reached (default 1), e.g. with batches already in flight.
 *
 * Each batch's result is printed as one JSON line on stdout.
 */
import { chainApprovals, connectChain } from "../src/chain/index.js";
import { loadConfig } from "../src/config.js";
import { connect } from "../src/db/connect.js";
import { migrate } from "../src/db/migrate.js";
import { CRASH_POINTS, type CrashPoint, createMinter, minterConfig } from "../src/jobs/minter.js";
import { createLogger } from "../src/logger.js";

function flag(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? (process.argv[index + 1] ?? "") : undefined;
}

async function main() {
  const untilIdle = process.argv.includes("--until-idle");
  const timeoutMs = Number(flag("--timeout-ms") ?? 0);
  const pauseMs = Number(flag("--pause-ms") ?? 200);
  // Test-only fault injection; read here so that the application itself never looks at it.
  const crashAt = process.env.MINTER_CRASH_AT as CrashPoint | undefined;
  if (crashAt && !CRASH_POINTS.includes(crashAt)) {
    throw new Error(`MINTER_CRASH_AT must be one of ${CRASH_POINTS.join(", ")}`);
  }
  let crashIn = Number(process.env.MINTER_CRASH_NTH ?? 1);

  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL).child({ job: "minter-worker", pid: process.pid });
  const connection = await connect({
    databaseUrl: config.DATABASE_URL,
    directUrl: config.DATABASE_DIRECT_URL,
    poolMode: config.DATABASE_POOL_MODE,
    dataDir: config.DATA_DIR,
    schema: config.DATABASE_SCHEMA,
    poolSize: 4,
  });
  await migrate(connection.sessionDb);
  // A flaky provider at boot is retried a few times rather than crash-looping the process.
  const chain = await (async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await connectChain({
          rpcUrl: config.RPC_URL,
          chainId: config.CHAIN_ID,
          operatorPrivateKey: config.OPERATOR_PRIVATE_KEY as `0x${string}` | undefined,
          deploymentsFile: config.DEPLOYMENTS_FILE,
          confirmations: config.CHAIN_CONFIRMATIONS,
          approvals: chainApprovals(config),
        });
      } catch (error) {
        if (attempt >= 5) throw error;
        logger.warn({ err: error, attempt }, "cannot connect to the chain yet; retrying");
        await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
      }
    }
  })();
  const minter = createMinter({
    // A real session (DATABASE_DIRECT_URL): the one-sender lock is a session advisory lock.
    db: connection.sessionDb,
    dbKind: connection.kind,
    chain,
    config: minterConfig(config, chain.confirmations),
    logger,
    hooks: {
      at(point, { batchId }) {
        if (point !== crashAt || --crashIn > 0) return;
        process.stdout.write(`${JSON.stringify({ crash: point, batchId: batchId.toString() })}\n`);
        process.kill(process.pid, "SIGKILL");
      },
    },
  });

  let stopping = false;
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      stopping = true;
    });
  }
  const started = Date.now();
  let code = 0;
  while (!stopping) {
    const pass = await minter.runPipeline();
    for (const result of pass.results)
      process.stdout.write(`${JSON.stringify({ pid: process.pid, ...result })}\n`);
    if (pass.results.length === 0)
      process.stdout.write(`${JSON.stringify({ pid: process.pid, status: pass.status })}\n`);
    if (untilIdle) {
      const open = await connection.db
        .selectFrom("referral_rewards")
        .select((eb) => eb.fn.countAll<bigint>().as("n"))
        .where("status", "in", ["approved", "minting"])
        .executeTakeFirstOrThrow();
      if (Number(open.n) === 0) break;
    }
    if (timeoutMs > 0 && Date.now() - started > timeoutMs) {
      code = 3;
      break;
    }
    if (pass.status !== "empty" || pass.results.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }
  await chain.close();
  await connection.close();
  process.exit(code);
}

main().catch((error) => {
  process.stderr.write(
    `minter-worker: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
