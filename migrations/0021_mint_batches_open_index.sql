-- The minter's open batches (issue 9: a year of data). Never edit after it lands.
--
-- Every minter run asks for its operator's batches still in flight — `openBatch` (claim.ts) and
-- `recover` (recover.ts) — by OPEN_BATCH_STATUSES (src/domain/mint-batch-state.ts: the statuses with
-- a way out), and the mint queue counts them. Since wallet mode (0011) those are four statuses, and
-- 0001's partial index covers two (claimed, signed), so the planner could not use it: each run read
-- the whole table, one row for every batch ever sent (test/integration/minter-plans.test.ts failed
-- so). Keyed by operator, the one column every such query names.
DROP INDEX mint_batches_open_idx;
CREATE INDEX mint_batches_open_idx ON mint_batches (operator, lease_expires_at)
  WHERE status IN ('claimed', 'signed', 'awaiting_approval', 'approval_signed');
