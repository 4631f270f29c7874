-- A referrer's codes, active or not (issue 9: a year of data). Never edit after it lands.
--
-- The referrer dashboard (`GET /v1/me`, src/ledger/queries/member-dashboard.ts) sums the visits of
-- every code a member ever owned, and 0001 indexed the owner only for the active code (the partial
-- unique index): each dashboard read every code of every referrer
-- (test/integration/plan-audit.test.ts failed so). Codes are written when issued or replaced, never by
-- order.paid.
CREATE INDEX referral_codes_owner_idx ON referral_codes (owner_member_id);
