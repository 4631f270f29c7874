-- Clawback kind `released` (negative): debt booked against a reward refunded while it was `minting`,
-- undone when the minter proves that batch unpaid and releases the reward (the refund is then applied
-- to the reward itself, as before mint). `netted` and `released` are the only kinds that lower the debt.
DO $$
DECLARE
  c record;
BEGIN
  FOR c IN SELECT conname FROM pg_constraint
           WHERE conrelid = 'clawbacks'::regclass AND contype = 'c'
             AND (pg_get_constraintdef(oid) LIKE '%kind%netted%')
  LOOP
    EXECUTE format('ALTER TABLE clawbacks DROP CONSTRAINT %I', c.conname);
  END LOOP;
END $$;
ALTER TABLE clawbacks
  ADD CONSTRAINT clawbacks_kind_known CHECK (kind IN ('debt', 'netted', 'restored', 'released')),
  ADD CONSTRAINT clawbacks_kind_sign CHECK ((kind IN ('netted', 'released')) = (amount_wei < 0));
