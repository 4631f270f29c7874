-- Twinrail schema v2: the ledger's depth. Append-only journal, refunds, disputes, settlement
-- adjustments, payouts netting, clawback debt, membership payments. Never edit after it lands.

-- The double-entry journal. Signed amounts: positive = debit, negative = credit. One business event
-- posts one journal transaction (txn_id) that sums to zero per asset (a currency code, or WEI for
-- reward tokens). numeric(78,0) because wei amounts exceed bigint.
CREATE TABLE journal_entries (
  id               bigserial PRIMARY KEY,
  txn_id           uuid NOT NULL,
  event            text NOT NULL CHECK (length(event) BETWEEN 1 AND 64),
  order_reference  text,
  account          text NOT NULL CHECK (account ~ '^[a-z_]+(:[A-Za-z0-9_.:@-]+)*$'),
  asset            text NOT NULL CHECK (asset = 'WEI' OR asset ~ '^[A-Z]{3}$'),
  amount           numeric(78, 0) NOT NULL CHECK (amount <> 0),
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journal_entries_txn_idx ON journal_entries (txn_id);
CREATE INDEX journal_entries_order_idx ON journal_entries (order_reference) WHERE order_reference IS NOT NULL;
CREATE INDEX journal_entries_account_idx ON journal_entries (account, asset);

-- Corrections are new entries: the journal refuses UPDATE, DELETE and TRUNCATE.
CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
  FOR EACH ROW EXECUTE FUNCTION twinrail_append_only();
CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON journal_entries
  FOR EACH STATEMENT EXECUTE FUNCTION twinrail_append_only();

-- Checked at COMMIT (deferred), so a transaction may post its lines one by one: every journal
-- transaction touched must balance per asset, or the whole database transaction fails.
CREATE FUNCTION twinrail_journal_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  unbalanced record;
BEGIN
  SELECT asset, sum(amount) AS total INTO unbalanced
    FROM journal_entries WHERE txn_id = NEW.txn_id
    GROUP BY asset HAVING sum(amount) <> 0 LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'journal transaction % does not balance in %: off by %',
      NEW.txn_id, unbalanced.asset, unbalanced.total USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON journal_entries
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION twinrail_journal_balanced();

-- Refunds: unique per order (a replayed refundId is a duplicate, never a second refund).
CREATE TABLE order_refunds (
  order_reference  text NOT NULL REFERENCES orders (order_reference),
  refund_id        text NOT NULL CHECK (length(refund_id) BETWEEN 1 AND 256),
  kind             text NOT NULL CHECK (kind IN ('refund', 'chargeback')),
  amount           bigint NOT NULL CHECK (amount > 0),
  refunded_at      timestamptz NOT NULL,
  amount_refunded_after bigint NOT NULL CHECK (amount_refunded_after >= amount),
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (order_reference, refund_id)
);
CREATE TRIGGER order_refunds_append_only BEFORE UPDATE OR DELETE ON order_refunds
  FOR EACH ROW EXECUTE FUNCTION twinrail_append_only();

-- Disputes (chargebacks): opened holds both rails, won releases what this dispute held, lost is a
-- full refund. What was held, and from which status, is kept so the release restores exactly that.
CREATE TABLE disputes (
  order_reference   text NOT NULL REFERENCES orders (order_reference),
  dispute_id        text NOT NULL CHECK (length(dispute_id) BETWEEN 1 AND 256),
  status            text NOT NULL CHECK (status IN ('opened', 'won', 'lost')),
  amount            bigint NOT NULL CHECK (amount >= 0),
  held_reward_id    bigint REFERENCES referral_rewards (id),
  held_reward_from  text CHECK (held_reward_from IN ('pending_approval', 'approved')),
  held_settlements  jsonb NOT NULL DEFAULT '[]',
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (order_reference, dispute_id),
  CHECK ((held_reward_id IS NULL) = (held_reward_from IS NULL))
);

-- Settlement rows keep the amounts of the paid order; every later change is an appended
-- adjustment. Effective amount = settlement + Σ adjustments. `applied_to` records whether the
-- settlement had already gone into a payout when the adjustment was made (then it is netted from the
-- vendor's next payout) — either way an adjustment is paid out exactly once, via payout_adjustments.
CREATE TABLE settlement_adjustments (
  id                         bigserial PRIMARY KEY,
  settlement_id              bigint NOT NULL REFERENCES settlements (id),
  order_reference            text NOT NULL REFERENCES orders (order_reference),
  vendor_id                  text NOT NULL REFERENCES vendors (vendor_id),
  currency                   text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  reason                     text NOT NULL CHECK (reason IN ('refund', 'chargeback')),
  source_id                  text NOT NULL,
  gross_delta                bigint NOT NULL CHECK (gross_delta <= 0),
  platform_fee_delta         bigint NOT NULL CHECK (platform_fee_delta <= 0),
  referral_commission_delta  bigint NOT NULL CHECK (referral_commission_delta <= 0),
  net_delta                  bigint NOT NULL CHECK (net_delta <= 0),
  applied_to                 text NOT NULL CHECK (applied_to IN ('settlement', 'next_payout')),
  created_at                 timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT settlement_adjustments_source_unique UNIQUE (settlement_id, reason, source_id),
  CHECK (net_delta = gross_delta - platform_fee_delta - referral_commission_delta)
);
CREATE INDEX settlement_adjustments_vendor_idx ON settlement_adjustments (vendor_id, currency);
CREATE INDEX settlement_adjustments_settlement_idx ON settlement_adjustments (settlement_id);
CREATE TRIGGER settlement_adjustments_append_only BEFORE UPDATE OR DELETE ON settlement_adjustments
  FOR EACH ROW EXECUTE FUNCTION twinrail_append_only();

-- Which payout netted which adjustment: the primary key makes netting happen at most once.
CREATE TABLE payout_adjustments (
  adjustment_id  bigint PRIMARY KEY REFERENCES settlement_adjustments (id),
  payout_id      bigint NOT NULL REFERENCES payouts (id),
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payout_adjustments_payout_idx ON payout_adjustments (payout_id);
CREATE TRIGGER payout_adjustments_append_only BEFORE UPDATE OR DELETE ON payout_adjustments
  FOR EACH ROW EXECUTE FUNCTION twinrail_append_only();

ALTER TABLE payouts
  ADD COLUMN settlement_count integer NOT NULL DEFAULT 0 CHECK (settlement_count >= 0),
  ADD COLUMN adjustment_total bigint NOT NULL DEFAULT 0 CHECK (adjustment_total <= 0),
  ADD CONSTRAINT payouts_amount_non_negative CHECK (amount >= 0);

-- Rewards: a refund after mint is clawed back (clawed_back_basis, in fiat minor units) instead of
-- editing what was minted; earlier clawback debt is netted from a new reward before mint
-- (clawback_netted_wei), so amount_wei is what the chain is asked to mint.
ALTER TABLE referral_rewards
  ADD COLUMN clawback_netted_wei numeric(78, 0) NOT NULL DEFAULT 0 CHECK (clawback_netted_wei >= 0),
  ADD COLUMN clawed_back_basis bigint NOT NULL DEFAULT 0 CHECK (clawed_back_basis >= 0),
  ADD CONSTRAINT referral_rewards_clawed_back_le_basis CHECK (clawed_back_basis <= fiat_basis);
DO $$
DECLARE
  c record;
BEGIN
  FOR c IN SELECT conname FROM pg_constraint
           WHERE conrelid = 'referral_rewards'::regclass AND contype = 'c'
             AND pg_get_constraintdef(oid) LIKE 'CHECK ((amount_wei = %fiat_basis%wei_per_minor_unit%'
  LOOP
    EXECUTE format('ALTER TABLE referral_rewards DROP CONSTRAINT %I', c.conname);
  END LOOP;
END $$;
ALTER TABLE referral_rewards ADD CONSTRAINT referral_rewards_amount_is_basis_less_netting
  CHECK (amount_wei + clawback_netted_wei = fiat_basis * wei_per_minor_unit);

-- Clawback debt per referrer, as an append-only running balance. Rows for one referrer are written
-- under a lock on the member row, so debt_after is the balance after this row and can never go
-- below zero (CHECK).
CREATE TABLE clawbacks (
  id                  bigserial PRIMARY KEY,
  referrer_member_id  text NOT NULL REFERENCES members (member_id),
  kind                text NOT NULL CHECK (kind IN ('debt', 'netted', 'restored')),
  amount_wei          numeric(78, 0) NOT NULL CHECK (amount_wei <> 0),
  debt_after          numeric(78, 0) NOT NULL CHECK (debt_after >= 0),
  reward_id           bigint NOT NULL REFERENCES referral_rewards (id),
  order_reference     text NOT NULL,
  source_id           text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  CHECK ((kind = 'netted') = (amount_wei < 0))
);
CREATE INDEX clawbacks_referrer_idx ON clawbacks (referrer_member_id, id);
CREATE TRIGGER clawbacks_append_only BEFORE UPDATE OR DELETE ON clawbacks
  FOR EACH ROW EXECUTE FUNCTION twinrail_append_only();

-- membership.paid: one row per membership payment; the reward (if any) is keyed by the reference.
CREATE TABLE membership_payments (
  membership_reference text PRIMARY KEY CHECK (length(membership_reference) BETWEEN 1 AND 128),
  member_id            text NOT NULL REFERENCES members (member_id),
  amount_paid          bigint NOT NULL CHECK (amount_paid >= 0),
  currency             text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  paid_at              timestamptz NOT NULL,
  terms_hash           text NOT NULL,
  referrer_member_id   text REFERENCES members (member_id),
  created_at           timestamptz NOT NULL DEFAULT now()
);
