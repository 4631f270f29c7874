import { Writable } from "node:stream";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/logger.js";
import { startTestInstance, TEST_DATABASE_URL, TEST_DB } from "../support/harness.js";

/**
 * The boot warns when PostgreSQL runs without autovacuum (this project's machines do; a deployment
 * should not): no table is ever analyzed there, and plans made on small tables stay as they grow.
 */
describe.skipIf(TEST_DB !== "postgres")(`PostgreSQL settings at boot (${TEST_DB})`, () => {
  it("warns about autovacuum exactly when the server has it off", async () => {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    const { rows } = await client.query<{ autovacuum: string }>("SHOW autovacuum");
    await client.end();
    const lines: Array<{ level: number; msg: string }> = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()));
        done();
      },
    });
    const t = await startTestInstance({}, { logger: createLogger("warn", stream) });
    await t.close();
    const warned = lines.some((line) => line.level === 40 && /autovacuum off/.test(line.msg));
    expect(warned).toBe(rows[0]!.autovacuum === "off");
  });
});
