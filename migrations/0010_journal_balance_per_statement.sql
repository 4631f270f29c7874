-- The journal's balance check, once per statement instead of once per row at commit. Every journal
-- transaction is written by ONE statement (postJournal, and the multi-row CTEs of order.paid and the
-- minter), so checking the rows a statement inserted, grouped by txn_id and asset, is the same
-- guarantee — a transaction split over statements must balance in each of them, which is stricter —
-- at one query per statement where the deferred row trigger ran one query per journal row at COMMIT.
-- Never edit after it lands.
DROP TRIGGER journal_entries_balanced ON journal_entries;

CREATE FUNCTION twinrail_journal_statement_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  unbalanced record;
BEGIN
  SELECT txn_id, asset, sum(amount) AS total INTO unbalanced
    FROM journal_new_rows
    GROUP BY txn_id, asset HAVING sum(amount) <> 0 LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'journal transaction % does not balance in %: off by %',
      unbalanced.txn_id, unbalanced.asset, unbalanced.total USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER journal_entries_balanced_per_statement AFTER INSERT ON journal_entries
  REFERENCING NEW TABLE AS journal_new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION twinrail_journal_statement_balanced();
