/**
 * Mint: 10,000 approved rewards over 1,000 referrers, minted on the embedded chain (in-process Hardhat,
 * automine) through the minter's own loop (one pipelined pass, `runPipeline`, until the queue is empty)
 * with MINT_BATCH_SIZE=200 and MINT_PIPELINE_DEPTH batches in flight (`--depth`, default 3; `--depth 1`
 * is the unpipelined loop), on PostgreSQL in a scratch schema. Timed from the first claim to the last
 * receipt (target < 30 s).
 * Baselines from the same chain in the same run: one `payReferral` per transaction (to a new and to an
 * existing holder) and 21,000 × N, the intrinsic cost alone of N plain transactions.
 *
 *   npx tsx scripts/bench/mint.ts            # 10,000 rewards, 1,000 referrers
 *   npx tsx scripts/bench/mint.ts --quick    # 1,000 rewards, 100 referrers
 *   npx tsx scripts/bench/mint.ts --rewards 4000 --referrers 400 --batch 200
 *   npx tsx scripts/bench/mint.ts --depth 1  # one batch at a time (the loop before pipelining)
 *   npx tsx scripts/bench/mint.ts --block-ms 500  # automine off, a block every 500 ms (a real chain's wait)
 *
 * Rewards are created with the ledger's own `createReward` (status `approved`), referrers with
 * `registerMember`. Exits 1 when a reward is left unminted or paid twice on chain.
 */
import pino from "pino";
import { type Address, parseEventLogs } from "viem";
import { connectChain, orderRefHash, referralRewardsAbi } from "../../src/chain/index.js";
import { connect } from "../../src/db/connect.js";
import { migrate } from "../../src/db/migrate.js";
import { createMinter, type MintRunResult } from "../../src/jobs/minter.js";
import { SYSTEM } from "../../src/ledger/audit.js";
import { registerMember } from "../../src/ledger/register-member.js";
import { createReward } from "../../src/ledger/reward-changes.js";
import { BENCH_DATABASE_URL, dropSchema, fmt, numberArg, quick, scratchSchema } from "./support.js";

const REWARDS = numberArg("rewards", quick ? 1_000 : 10_000);
const REFERRERS = numberArg("referrers", quick ? 100 : 1_000);
const BATCH = numberArg("batch", 200);
const DEPTH = numberArg("depth", 3);
/** 0: automine (a block per transaction, at once); else automine off and a block every BLOCK_MS. */
const BLOCK_MS = numberArg("block-ms", 0);
const RATE = 10n ** 16n; // wei per minor unit
const TARGET_SECONDS = 30;

async function main() {
  const schema = scratchSchema("bench_mint");
  const connection = await connect({ databaseUrl: BENCH_DATABASE_URL, schema, poolSize: 8 });
  const { db } = connection;
  // Approvals off so the v1 `payReferral` baselines below can run; the minter still signs approvals.
  const chain = await connectChain({ confirmations: 1, approvals: { required: false } });
  let exitCode = 0;
  try {
    await migrate(db as never);
    const wallets: Address[] = [];
    for (let i = 0; i < REFERRERS; i++) {
      const wallet = `0x${(0xbe000000 + i).toString(16).padStart(40, "0")}` as Address;
      wallets.push(wallet);
      await registerMember(db, SYSTEM, { memberId: `m_ref_${i}`, walletAddress: wallet });
    }
    const seedStarted = performance.now();
    for (let from = 0; from < REWARDS; from += 500) {
      await db.transaction().execute(async (trx) => {
        for (let i = from; i < Math.min(from + 500, REWARDS); i++) {
          const ref = `bench_mint_${i}`;
          await createReward(trx, SYSTEM, "bench.seed", {
            orderReference: ref,
            orderRefHash: orderRefHash(ref).toLowerCase(),
            source: "membership",
            referrer: `m_ref_${i % REFERRERS}`,
            buyer: null,
            wallet: wallets[i % REFERRERS]!,
            currency: "USD",
            fiatBasis: BigInt(1_000 + (i % 997)),
            weiPerMinorUnit: RATE,
            paymentRail: "credit",
            status: "approved",
            signals: [],
            approvedBy: "bench",
            knownDebt: 0n,
          });
        }
      });
    }
    console.log(
      `seeded ${fmt(REWARDS)} approved rewards over ${fmt(REFERRERS)} referrers in ${fmt((performance.now() - seedStarted) / 1000, 1)} s`,
    );

    const minter = createMinter({
      db,
      dbKind: "postgres",
      chain,
      config: {
        batchSize: BATCH,
        leaseSeconds: 120,
        confirmations: 1,
        pollMs: 20,
        retryBaseMs: 50,
        pipelineDepth: DEPTH,
      },
      logger: pino({ level: process.env.LOG_LEVEL ?? "warn" }),
      hooks: {
        at(point) {
          // The last receipt: the moment the last batch's receipt is in hand (before its rows are marked).
          if (point === "after-receipt") lastReceiptAt = performance.now();
        },
      },
    });
    if (BLOCK_MS > 0) {
      const request = chain.publicClient.request as (args: {
        method: string;
        params: unknown[];
      }) => Promise<unknown>;
      await request({ method: "evm_setAutomine", params: [false] });
      await request({ method: "evm_setIntervalMining", params: [BLOCK_MS] });
    }
    const started = performance.now();
    let lastReceiptAt = started;
    const pass = await minter.runPipeline({ maxBatches: (REWARDS / BATCH) * 4 + 20 });
    const settledAt = performance.now();
    const results: MintRunResult[] = pass.results;
    for (const result of results) {
      if (result.status !== "confirmed")
        console.error(`batch ${result.batchId}: ${result.status} ${result.error ?? ""}`);
    }
    if (pass.status !== "empty") console.error(`pass ended ${pass.status}: ${pass.error ?? ""}`);
    // As before pipelining: from the first claim until the last batch's rows are marked from its receipt.
    const seconds = (settledAt - started) / 1000;
    const minted = minter.stats.minted;
    const confirmed = results.filter((result) => result.status === "confirmed");
    const gasPerPayout = Number(minter.stats.gasUsed) / Math.max(1, minted);

    // Exactly once: one ReferralPaid per reward, every row minted.
    const logs = await chain.publicClient.getContractEvents({
      address: chain.addresses.referralRewards,
      abi: referralRewardsAbi,
      eventName: "ReferralPaid",
      fromBlock: chain.deployBlock,
    });
    const refs = new Set(logs.map((log) => log.args.orderRef?.toLowerCase()));
    const rows = await db
      .selectFrom("referral_rewards")
      .select(["status", (eb) => eb.fn.countAll<bigint>().as("n")])
      .groupBy("status")
      .execute();
    const mintedRows = Number(rows.find((row) => row.status === "minted")?.n ?? 0);
    if (mintedRows !== REWARDS || logs.length !== REWARDS || refs.size !== REWARDS) {
      console.error(`NOT exactly once: rows ${JSON.stringify(rows)}, ${logs.length} logs, ${refs.size} refs`);
      exitCode = 1;
    }

    // Baselines on the same chain: one payReferral per transaction, to a new and to an existing holder.
    const single = async (ref: string, to: Address) => {
      const hash = await chain.walletClient.writeContract({
        address: chain.addresses.referralRewards,
        abi: referralRewardsAbi,
        functionName: "payReferral",
        args: [orderRefHash(ref), to, 1_234n * RATE],
      });
      const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
      if (
        parseEventLogs({ abi: referralRewardsAbi, logs: receipt.logs, eventName: "ReferralPaid" }).length !==
        1
      ) {
        throw new Error("baseline payReferral did not pay");
      }
      return Number(receipt.gasUsed);
    };
    const singleNew = await single("bench_mint_single_new", "0x00000000000000000000000000000000000b3c11");
    const singleExisting = await single("bench_mint_single_existing", wallets[0]!);
    const batches = await db
      .selectFrom("mint_batches")
      .select(["reward_count", "gas_used"])
      .where("status", "=", "confirmed")
      .execute();
    const largest = Math.max(...batches.map((batch) => batch.reward_count));

    console.log(
      `${fmt(confirmed.length)} transactions (largest ${largest} payouts, ${fmt(Number(minter.stats.deferredForGas))} rewards deferred for gas), ` +
        `${fmt(results.length)} runs; rows ${JSON.stringify(Object.fromEntries(rows.map((row) => [row.status, Number(row.n)])))}`,
    );
    const intrinsic = Number(minter.stats.gasUsed) / (21_000 * Math.max(1, minted));
    console.log(
      `gas per payout ${fmt(gasPerPayout)}; one payReferral per tx ${fmt(singleNew)} (new holder) / ${fmt(singleExisting)} (existing holder)` +
        ` → batch = ${fmt(gasPerPayout / singleNew, 3)}x / ${fmt(gasPerPayout / singleExisting, 3)}x of it; batch gas = ${fmt(intrinsic, 2)}x of 21,000 x N`,
    );
    const rate = minted / seconds;
    console.log(
      `mint: ${fmt(minted)} rewards in ${fmt(seconds, 2)} s = ${fmt(rate)}/s (last receipt in hand after ${fmt((lastReceiptAt - started) / 1000, 2)} s), ` +
        `${fmt(gasPerPayout)} gas/payout (one payReferral per tx: ${fmt(singleNew)}-${fmt(singleExisting)}), batch ${BATCH}, depth ${DEPTH}${BLOCK_MS ? `, a block every ${BLOCK_MS} ms` : ", automine"}, ` +
        `${seconds < TARGET_SECONDS || quick ? "ok" : "SLOW"} (target < ${TARGET_SECONDS} s for 10,000)`,
    );
  } finally {
    await chain.close();
    await connection.close();
    await dropSchema(schema);
  }
  process.exit(exitCode);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
