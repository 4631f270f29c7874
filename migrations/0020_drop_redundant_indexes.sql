-- Indexes that another index of the same table already serves (issue 9: rows and index entries per
-- order.paid). Never edit after it lands.
--
-- Each is the leading column of a wider index with the same predicate, so every lookup, range scan
-- and foreign-key check it served is served by the wider one, while each insert (and each non-HOT
-- update) paid for both:
--   orders_referrer_idx (referrer_member_id)             ⊂ orders_referrer_created_idx (referrer_member_id, created_at)
--   settlement_adjustments_settlement_idx (settlement_id) ⊂ settlement_adjustments_source_unique (settlement_id, reason, source_id)
-- An order carries both of its referrer indexes twice (written at checkout, again at `created → paid`,
-- which changes indexed columns): two index entries fewer per paid order.
-- test/integration/schema-indexes.test.ts keeps such pairs out.
DROP INDEX orders_referrer_idx;
DROP INDEX settlement_adjustments_settlement_idx;
