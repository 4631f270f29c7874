import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import path from "node:path";
import { sql } from "kysely";
import pg from "pg";
import { type Address, bytesToHex, type Hex, type Log, parseAbiItem } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import {
  type Chain,
  connectChain,
  HARDHAT_ACCOUNT_0,
  orderRefHash,
  referralRewardsAbi,
  rewardTokenAbi,
} from "../../src/chain/index.js";
import { connect, type Db } from "../../src/db/connect.js";
import { migrate } from "../../src/db/migrate.js";

/**
 * Fault-test plumbing: a `npx hardhat node` over HTTP, Postgres schemas, seeded approved rewards, the
 * minter as a child process (scripts/minter-worker.ts) and the invariants checked after every run.
 */

export const ROOT = path.resolve(__dirname, "../..");
export const DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const MNEMONIC = "test test test test test test test test test test test junk";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

export async function jsonRpc<T = unknown>(
  rpcUrl: string,
  method: string,
  params: unknown[] = [],
): Promise<T> {
  const response = await fetch(rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = (await response.json()) as { result?: T; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result as T;
}

export interface HardhatNode {
  rpcUrl: string;
  stop(): Promise<void>;
}

/** `npx hardhat node --hostname 127.0.0.1 --port <free>` in its own process group. */
export async function startHardhatNode(): Promise<HardhatNode> {
  const port = await freePort();
  const rpcUrl = `http://127.0.0.1:${port}`;
  let output = "";
  const node: ChildProcess = spawn(
    "npx",
    ["hardhat", "node", "--hostname", "127.0.0.1", "--port", String(port)],
    {
      cwd: ROOT,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4_000);
  };
  node.stdout?.on("data", keep);
  node.stderr?.on("data", keep);
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (node.exitCode !== null) throw new Error(`hardhat node exited (${node.exitCode}):\n${output}`);
    if (Date.now() > deadline) throw new Error(`hardhat node did not answer at ${rpcUrl}:\n${output}`);
    try {
      await jsonRpc(rpcUrl, "eth_chainId");
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  return {
    rpcUrl,
    async stop() {
      if (node.pid === undefined || node.exitCode !== null) return;
      const exited = new Promise((resolve) => node.once("exit", resolve));
      process.kill(-node.pid, "SIGTERM");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    },
  };
}

/** Hardhat's default account `index` (the well-known test mnemonic). */
export function hardhatKey(index: number): { address: Address; privateKey: Hex } {
  const account = mnemonicToAccount(MNEMONIC, { addressIndex: index });
  const privateKey = account.getHdKey().privateKey;
  if (!privateKey) throw new Error("no private key");
  return { address: account.address, privateKey: bytesToHex(privateKey) };
}

/** Deploys (account #0 is admin) and grants OPERATOR_ROLE to the given accounts. */
export async function deployAndGrant(
  rpcUrl: string,
  deploymentsFile: string,
  operators: number[],
): Promise<Chain> {
  const chain = await connectChain({
    rpcUrl,
    chainId: 31337,
    operatorPrivateKey: HARDHAT_ACCOUNT_0.privateKey,
    deploymentsFile,
    confirmations: 1,
  });
  const role = await chain.publicClient.readContract({
    address: chain.addresses.referralRewards,
    abi: referralRewardsAbi,
    functionName: "OPERATOR_ROLE",
  });
  for (const index of operators) {
    const hash = await chain.walletClient.writeContract({
      address: chain.addresses.referralRewards,
      abi: referralRewardsAbi,
      functionName: "grantRole",
      args: [role, hardhatKey(index).address],
    });
    await chain.publicClient.waitForTransactionReceipt({ hash });
  }
  return chain;
}

export interface Schema {
  db: Db;
  name: string;
  drop(): Promise<void>;
}

/** A fresh, migrated Postgres schema. */
export async function openSchema(prefix: string): Promise<Schema> {
  const name = `f_${prefix.replace(/[^a-z0-9]/g, "_")}_${randomBytes(4).toString("hex")}`;
  const connection = await connect({ databaseUrl: DATABASE_URL, schema: name, poolSize: 4 });
  await migrate(connection.db as never);
  return {
    db: connection.db,
    name,
    async drop() {
      await connection.close();
      const client = new pg.Client({ connectionString: DATABASE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      await client.end();
    },
  };
}

export interface SeededReward {
  id: bigint;
  orderReference: string;
  orderRef: Hex;
  wallet: Address;
  amountWei: bigint;
}

/**
 * Inserts `count` approved rewards with fresh recipient wallets (`perWallet` rewards per wallet, 2 by
 * default, so the contract's same-recipient summing is exercised) straight into the tables the minter
 * reads.
 */
export async function seedRewards(
  db: Db,
  count: number,
  tag: string,
  options: { perWallet?: number } = {},
): Promise<SeededReward[]> {
  const rewards: SeededReward[] = [];
  const rate = 1_000_000_000n;
  const perWallet = options.perWallet ?? 2;
  for (let i = 0; i < count; i++) {
    const memberId = `m_${tag}_${Math.floor(i / perWallet)}`;
    const wallet = `0x${randomBytes(20).toString("hex")}` as Address;
    if (i % perWallet === 0) {
      await db.insertInto("members").values({ member_id: memberId, wallet_address: wallet }).execute();
    }
    const member = await db
      .selectFrom("members")
      .select("wallet_address")
      .where("member_id", "=", memberId)
      .executeTakeFirstOrThrow();
    const orderReference = `ord_${tag}_${i}`;
    const fiat = BigInt(100 + i);
    const row = await db
      .insertInto("referral_rewards")
      .values({
        order_reference: orderReference,
        order_ref_hash: orderRefHash(orderReference).toLowerCase(),
        referrer_member_id: memberId,
        currency: "USD",
        fiat_basis: fiat,
        wei_per_minor_unit: rate.toString(),
        amount_wei: (fiat * rate).toString(),
        payment_rail: "credit",
        status: "approved",
      } as never)
      .returning("id")
      .executeTakeFirstOrThrow();
    rewards.push({
      id: row.id,
      orderReference,
      orderRef: orderRefHash(orderReference),
      wallet: member.wallet_address as Address,
      amountWei: fiat * rate,
    });
  }
  return rewards;
}

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface WorkerEnv {
  rpcUrl: string;
  schema: string;
  deploymentsFile: string;
  operatorKey: Hex;
  confirmations?: number;
  extra?: Record<string, string>;
}

/** Runs scripts/minter-worker.ts as a child process (`node --import tsx`). */
export function runWorker(
  env: WorkerEnv,
  options: { crashAt?: string; args?: string[]; onSpawn?: (child: ChildProcess) => void } = {},
): Promise<WorkerExit> {
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "scripts/minter-worker.ts",
      ...(options.args ?? ["--until-idle", "--timeout-ms", "90000"]),
    ],
    {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: "test",
        LOG_LEVEL: process.env.FAULT_LOG_LEVEL ?? "error",
        JOBS: "0",
        DEMO: "0",
        DATABASE_URL,
        DATABASE_SCHEMA: env.schema,
        RPC_URL: env.rpcUrl,
        CHAIN_ID: "31337",
        OPERATOR_PRIVATE_KEY: env.operatorKey,
        DEPLOYMENTS_FILE: env.deploymentsFile,
        CHAIN_CONFIRMATIONS: String(env.confirmations ?? 1),
        MINT_LEASE_SECONDS: "1",
        MINT_POLL_MS: "100",
        MINT_STUCK_SECONDS: "3",
        MINT_RETRY_BASE_MS: "50",
        MINT_RPC_RETRIES: "6",
        MINT_CONFIRM_TIMEOUT_SECONDS: "30",
        MINT_GLOBAL_BACKOFF_SECONDS: "1",
        MINT_BATCH_SIZE: "10",
        ...(options.crashAt ? { MINTER_CRASH_AT: options.crashAt } : {}),
        ...env.extra,
      },
    },
  );
  options.onSpawn?.(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-20_000);
  });
  return new Promise((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - started }));
  });
}

const referralPaid = parseAbiItem(
  "event ReferralPaid(bytes32 indexed orderRef, address indexed to, uint256 amount, uint64 batchId)",
);

export interface Invariants {
  /** Rewards with more than one ReferralPaid log. */
  doublePaid: number;
  /** Rewards not `minted` in the database, or with no ReferralPaid log on-chain. */
  unpaid: number;
  /** Minted rows whose tx hash or block differs from their ReferralPaid log. */
  mismatched: number;
  /** Recipients whose token balance differs from the sum of their rewards. */
  balanceMismatch: number;
}

/** The exactly-once invariants for `rewards`, from the chain's logs and balances and the database rows. */
export async function checkInvariants(db: Db, chain: Chain, rewards: SeededReward[]): Promise<Invariants> {
  const logs = (await chain.publicClient.getLogs({
    address: chain.addresses.referralRewards,
    event: referralPaid,
    fromBlock: chain.deployBlock,
    toBlock: "latest",
  })) as (Log & { args: { orderRef: Hex } })[];
  const byRef = new Map<string, (typeof logs)[number][]>();
  for (const log of logs) {
    const key = log.args.orderRef.toLowerCase();
    byRef.set(key, [...(byRef.get(key) ?? []), log]);
  }
  const rows = await db
    .selectFrom("referral_rewards")
    .select(["id", "status", "tx_hash", "block_number"])
    .where(
      "id",
      "in",
      rewards.map((reward) => reward.id),
    )
    .execute();
  const rowById = new Map(rows.map((row) => [row.id, row]));
  let doublePaid = 0;
  let unpaid = 0;
  let mismatched = 0;
  const expected = new Map<string, bigint>();
  for (const reward of rewards) {
    const paid = byRef.get(reward.orderRef.toLowerCase()) ?? [];
    const row = rowById.get(reward.id);
    if (paid.length > 1) doublePaid++;
    if (paid.length === 0 || row?.status !== "minted") unpaid++;
    const log = paid[0];
    if (
      row?.status === "minted" &&
      log &&
      (row.tx_hash !== log.transactionHash?.toLowerCase() || row.block_number !== log.blockNumber)
    ) {
      mismatched++;
    }
    expected.set(
      reward.wallet.toLowerCase(),
      (expected.get(reward.wallet.toLowerCase()) ?? 0n) + reward.amountWei,
    );
  }
  let balanceMismatch = 0;
  for (const [wallet, amount] of expected) {
    const balance = await chain.publicClient.readContract({
      address: chain.addresses.rewardToken,
      abi: rewardTokenAbi,
      functionName: "balanceOf",
      args: [wallet as Address],
    });
    if (balance !== amount) balanceMismatch++;
  }
  return { doublePaid, unpaid, mismatched, balanceMismatch };
}

/** Counts rows per status, for failure messages. */
export async function statusCounts(db: Db): Promise<Record<string, number>> {
  const rows = await sql<{ status: string; n: string }>`
    SELECT status, count(*)::text AS n FROM referral_rewards GROUP BY status`.execute(db);
  return Object.fromEntries(rows.rows.map((row) => [row.status, Number(row.n)]));
}
