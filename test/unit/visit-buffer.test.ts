import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/connect.js";
import { VisitBuffer } from "../../src/ledger/visit-buffer.js";

/** A database whose transactions always fail: the buffer must keep every visit for the next flush. */
const failingDb = {
  transaction: () => ({ execute: async () => Promise.reject(new Error("database down")) }),
} as unknown as Db;

describe("VisitBuffer", () => {
  it("puts a failed batch back, merged with visits recorded meanwhile, so none is lost", async () => {
    const buffer = new VisitBuffer(failingDb, { intervalMs: 60_000, maxPending: 1_000_000 });
    for (let i = 0; i < 10; i += 1) buffer.record("ANNA7F3K", "2025-06-01", `v${i % 3}`);
    const flushing = buffer.flush();
    buffer.record("ANNA7F3K", "2025-06-01", "v9");
    await expect(flushing).rejects.toThrow("database down");
    expect(buffer.size).toBe(11);
    await expect(buffer.close()).rejects.toThrow("database down");
    expect(buffer.size).toBe(11);
  });
});
