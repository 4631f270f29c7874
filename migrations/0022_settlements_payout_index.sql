-- A payout's settlements (issue 9: a year of data). Never edit after it lands.
--
-- Marking a payout paid moves its settlements by `payout_id` (moveSettlements in
-- src/ledger/status-changes.ts), and no index had that column: each payout read every settlement
-- ever written (test/integration/payout-plans.test.ts failed so). Partial: a settlement gets its
-- entry when it joins a payout — an update that is never HOT anyway (the status is indexed) — so
-- order.paid, which inserts settlements without a payout, writes no more index entries than before.
-- Built in the migration's transaction under a SHARE lock: writes to settlements wait for the build
-- (0.32 s for 900,000 indexed rows of 1,000,000 on this 2-core machine, warm cache).
CREATE INDEX settlements_payout_idx ON settlements (payout_id) WHERE payout_id IS NOT NULL;
