import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OPEN_BATCH_STATUSES } from "../../src/domain/mint-batch-state.js";
import { createMinter } from "../../src/jobs/minter.js";
import { startTestInstance, TEST_DATABASE_URL, TEST_DB, type TestInstance } from "../support/harness.js";
import { captureStatements, explainCaptured, seqScans } from "../support/plans.js";

/**
 * The minter's queries on `mint_batches` stay index lookups as the table grows (one row per batch ever
 * sent, a year of them): every run asks for its operator's open batches. Until migration 0021 the
 * partial index covered two of the four open statuses (wallet mode added two), and each run scanned
 * the whole table. The statements are captured from the driver during real minter runs over 3,000
 * finished batches (analyzed), then EXPLAINed with the values they were sent with.
 */
const FINISHED = 3_000;

describe.skipIf(TEST_DB !== "postgres")(`minter queries on a year of batches (${TEST_DB})`, () => {
  let t: TestInstance;
  beforeAll(async () => {
    t = await startTestInstance({ MINT_BATCH_SIZE: "50" });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("the partial index of open batches names exactly the open statuses", async () => {
    const { rows } = await sql<{ predicate: string }>`
      SELECT pg_get_expr(i.indpred, i.indrelid) AS predicate
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
       WHERE c.relname = 'mint_batches_open_idx' AND c.relnamespace = current_schema()::regnamespace`.execute(
      t.services.db,
    );
    const statuses = [...(rows[0]?.predicate ?? "").matchAll(/'([a-z_]+)'/g)].map((m) => m[1]);
    expect(statuses.sort()).toEqual([...OPEN_BATCH_STATUSES].sort());
  });

  it(`reads no more than the open batches with ${FINISHED} finished ones`, async () => {
    const operator = t.services.chain!.walletClient.account!.address.toLowerCase();
    await sql`INSERT INTO mint_batches (status, operator, chain_id, lease_expires_at, reward_count, total_wei)
      SELECT 'released', ${operator}::text, 31337, now() - interval '1 day', 0, 0
        FROM generate_series(1, ${FINISHED}::int)`.execute(t.services.db);
    await sql`ANALYZE mint_batches`.execute(t.services.db);
    const minter = createMinter({
      db: t.services.db,
      dbKind: t.services.dbKind,
      chain: t.services.chain,
      config: { batchSize: 50, leaseSeconds: 30, confirmations: 1, pollMs: 20, retryBaseMs: 10 },
      logger: t.services.logger,
    });
    const captured = await captureStatements(
      (text) => /mint_batches/.test(text),
      async () => {
        await minter.recover();
        await minter.runOnce();
      },
    );
    expect(captured.length).toBeGreaterThan(0);
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(`SET search_path TO ${t.schema}`);
      const scanned: string[] = [];
      for (const statement of captured) {
        const plan = await explainCaptured(client, statement);
        if (seqScans(plan).includes("mint_batches")) scanned.push(statement.text.slice(0, 160));
      }
      expect(scanned).toEqual([]);
    } finally {
      await client.end();
    }
  });
});
