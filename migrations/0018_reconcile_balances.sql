-- Reconcile checkpoints (issue 12; docs/ledger.md "Reconciliation"). Never edit after it lands.
--
-- The incremental reconcile compared each touched account's journal balance summed over all time, so a
-- run after 1,000 orders read every journal row of every touched vendor and referrer (a viral referrer
-- holds a large share of the ledger). It now reads the balance of each account as of a checkpoint plus
-- the journal rows stamped at or after the checkpoint's cutoff (journal_entries_created_idx).
--
-- The checkpoint is exact because of the cutoff's meaning (src/ledger/reconcile/runs.ts): every journal
-- row stamped before a run's cutoff belongs to a transaction that had ended when the run took it, and
-- the journal is append-only (0002), so Σ rows stamped before the cutoff never changes afterwards. A run
-- moves the checkpoint from its cutoff C0 to the run's cutoff C1 by adding the rows stamped in [C0, C1).
-- reconcile --full rebuilds it from every row. A database without a checkpoint row gets one from every
-- row stamped before the previous run's cutoff, once, on its first incremental run after this migration.

-- One row: the instant the balances are as of (rows stamped before it are in them, none after).
CREATE TABLE reconcile_checkpoint (
  one        boolean PRIMARY KEY DEFAULT true CHECK (one),
  cutoff     timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Σ journal amount per account × asset of the rows stamped before reconcile_checkpoint.cutoff.
CREATE TABLE reconcile_balances (
  account text NOT NULL,
  asset   text NOT NULL,
  balance numeric(78, 0) NOT NULL,
  PRIMARY KEY (account, asset)
);
