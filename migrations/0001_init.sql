-- Twinrail schema v1. Append-only: never edit this file after it lands; add 0002_… instead.
-- Every guarantee the ledger relies on lives here: unique keys for exactly-once effects, CHECKs
-- for amounts and states, triggers for first-touch attribution and append-only logs.

CREATE TABLE members (
  member_id             text PRIMARY KEY CHECK (length(member_id) BETWEEN 1 AND 128),
  display_name          text CHECK (display_name IS NULL OR length(display_name) <= 120),
  wallet_address        text CHECK (wallet_address IS NULL OR wallet_address ~ '^0x[0-9a-f]{40}$'),
  referred_by_member_id text REFERENCES members (member_id),
  referred_by_code      text,
  attribution_source    text CHECK (attribution_source IN ('ref_code', 'cookie', 'click_id')),
  attributed_at         timestamptz,
  signup_ip_hash        text,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  CHECK (referred_by_member_id IS DISTINCT FROM member_id),
  CHECK ((referred_by_member_id IS NULL) = (attributed_at IS NULL)),
  CHECK ((referred_by_member_id IS NULL) = (referred_by_code IS NULL))
);
CREATE INDEX members_referred_by_idx ON members (referred_by_member_id, attributed_at);
CREATE INDEX members_wallet_idx ON members (wallet_address) WHERE wallet_address IS NOT NULL;

-- First touch: once a member is attributed, the attribution can never change.
CREATE FUNCTION twinrail_members_first_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.referred_by_member_id IS NOT NULL AND (
       NEW.referred_by_member_id IS DISTINCT FROM OLD.referred_by_member_id
    OR NEW.referred_by_code IS DISTINCT FROM OLD.referred_by_code
    OR NEW.attributed_at IS DISTINCT FROM OLD.attributed_at
    OR NEW.attribution_source IS DISTINCT FROM OLD.attribution_source) THEN
    RAISE EXCEPTION 'attribution of member % is immutable (first touch)', OLD.member_id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER members_first_touch BEFORE UPDATE ON members
  FOR EACH ROW EXECUTE FUNCTION twinrail_members_first_touch();

CREATE TABLE referral_codes (
  code                   text PRIMARY KEY CHECK (code ~ '^[A-Z0-9][A-Z0-9_-]{2,31}$'),
  owner_member_id        text NOT NULL REFERENCES members (member_id),
  kind                   text NOT NULL CHECK (kind IN ('random', 'vanity')),
  active                 boolean NOT NULL DEFAULT true,
  visits_total           bigint NOT NULL DEFAULT 0 CHECK (visits_total >= 0),
  unique_visitors_total  bigint NOT NULL DEFAULT 0 CHECK (unique_visitors_total >= 0),
  created_at             timestamptz NOT NULL DEFAULT now(),
  deactivated_at         timestamptz,
  CHECK (active = (deactivated_at IS NULL))
);
-- One active code per owner; rotated codes stay (inactive) so past attributions still resolve.
CREATE UNIQUE INDEX referral_codes_one_active_per_owner ON referral_codes (owner_member_id) WHERE active;

CREATE TABLE visit_days (
  code             text NOT NULL REFERENCES referral_codes (code),
  day              date NOT NULL,
  visits           bigint NOT NULL DEFAULT 0 CHECK (visits >= 0),
  unique_visitors  bigint NOT NULL DEFAULT 0 CHECK (unique_visitors >= 0),
  PRIMARY KEY (code, day)
);

CREATE TABLE vendors (
  vendor_id               text PRIMARY KEY CHECK (length(vendor_id) BETWEEN 1 AND 128),
  name                    text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  referral_commission_bps integer CHECK (referral_commission_bps BETWEEN 0 AND 5000),
  platform_fee_bps        integer NOT NULL CHECK (platform_fee_bps BETWEEN 0 AND 10000),
  hold_days               integer NOT NULL CHECK (hold_days BETWEEN 0 AND 365),
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
  product_id              text PRIMARY KEY CHECK (length(product_id) BETWEEN 1 AND 128),
  vendor_id               text NOT NULL REFERENCES vendors (vendor_id),
  referral_commission_bps integer CHECK (referral_commission_bps BETWEEN 0 AND 5000),
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
  order_reference      text PRIMARY KEY CHECK (length(order_reference) BETWEEN 1 AND 128),
  request_hash         text NOT NULL,
  buyer_member_id      text REFERENCES members (member_id),
  currency             text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  referral_applied     boolean NOT NULL,
  referrer_member_id   text REFERENCES members (member_id),
  referral_code        text,
  attribution_source   text CHECK (attribution_source IN ('referred_by', 'explicit_code', 'cookie')),
  attribution_reason   text,
  merchandise_amount   bigint NOT NULL CHECK (merchandise_amount >= 0),
  shipping_amount      bigint NOT NULL CHECK (shipping_amount >= 0),
  discount_amount      bigint NOT NULL CHECK (discount_amount >= 0 AND discount_amount <= merchandise_amount),
  gross_amount         bigint NOT NULL CHECK (gross_amount = merchandise_amount - discount_amount + shipping_amount),
  referral_commission  bigint NOT NULL CHECK (referral_commission >= 0),
  -- Snapshotted at checkout: the conversion used for the token reward when the order is paid.
  wei_per_minor_unit   numeric(78, 0) NOT NULL CHECK (wei_per_minor_unit >= 0),
  status               text NOT NULL DEFAULT 'created'
                       CHECK (status IN ('created', 'paid', 'partially_refunded', 'refunded')),
  payment_rail         text CHECK (payment_rail IN ('card', 'credit')),
  amount_paid          bigint CHECK (amount_paid >= 0),
  amount_refunded      bigint NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0),
  paid_at              timestamptz,
  paid_event_hash      text,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  CHECK (referral_applied = (referrer_member_id IS NOT NULL)),
  CHECK (referral_applied OR referral_commission = 0),
  CHECK (amount_refunded <= coalesce(amount_paid, 0)),
  CHECK ((status = 'created') = (paid_at IS NULL)),
  CHECK (status = 'created' OR (amount_paid IS NOT NULL AND payment_rail IS NOT NULL))
);
CREATE INDEX orders_buyer_idx ON orders (buyer_member_id);
CREATE INDEX orders_referrer_idx ON orders (referrer_member_id) WHERE referrer_member_id IS NOT NULL;

CREATE TABLE order_lines (
  order_reference     text NOT NULL REFERENCES orders (order_reference),
  line_id             text NOT NULL CHECK (length(line_id) BETWEEN 1 AND 128),
  position            integer NOT NULL CHECK (position >= 0),
  vendor_id           text NOT NULL REFERENCES vendors (vendor_id),
  product_id          text,
  quantity            integer NOT NULL CHECK (quantity > 0),
  unit_amount         bigint NOT NULL CHECK (unit_amount >= 0),
  subtotal            bigint NOT NULL CHECK (subtotal = unit_amount * quantity),
  discount            bigint NOT NULL CHECK (discount >= 0 AND discount <= subtotal),
  commission_base     bigint NOT NULL CHECK (commission_base = subtotal - discount),
  commission_bps      integer NOT NULL CHECK (commission_bps BETWEEN 0 AND 5000),
  rate_source         text NOT NULL CHECK (rate_source IN ('product', 'vendor', 'platform')),
  -- The vendor's platform fee, snapshotted with the commission rate so payment uses checkout terms.
  platform_fee_bps    integer NOT NULL CHECK (platform_fee_bps BETWEEN 0 AND 10000),
  referral_commission bigint NOT NULL CHECK (referral_commission >= 0 AND referral_commission <= commission_base),
  PRIMARY KEY (order_reference, line_id)
);

CREATE TABLE payouts (
  id          bigserial PRIMARY KEY,
  vendor_id   text NOT NULL REFERENCES vendors (vendor_id),
  currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  amount      bigint NOT NULL,
  status      text NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'paid', 'failed')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  paid_at     timestamptz
);

CREATE TABLE settlements (
  id                   bigserial PRIMARY KEY,
  order_reference      text NOT NULL REFERENCES orders (order_reference),
  vendor_id            text NOT NULL REFERENCES vendors (vendor_id),
  currency             text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  merchandise          bigint NOT NULL CHECK (merchandise >= 0),
  discount             bigint NOT NULL CHECK (discount >= 0 AND discount <= merchandise),
  shipping             bigint NOT NULL CHECK (shipping >= 0),
  gross                bigint NOT NULL CHECK (gross = merchandise - discount + shipping),
  platform_fee         bigint NOT NULL CHECK (platform_fee >= 0),
  referral_commission  bigint NOT NULL CHECK (referral_commission >= 0),
  net                  bigint NOT NULL CHECK (net = gross - platform_fee - referral_commission AND net >= 0),
  platform_fee_bps     integer NOT NULL CHECK (platform_fee_bps BETWEEN 0 AND 10000),
  breakdown            jsonb NOT NULL,
  status               text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'due', 'in_payout', 'paid', 'held', 'cancelled')),
  scheduled_for        timestamptz NOT NULL,
  payout_id            bigint REFERENCES payouts (id),
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT settlements_order_vendor_unique UNIQUE (order_reference, vendor_id),
  CHECK ((status IN ('in_payout', 'paid')) = (payout_id IS NOT NULL))
);
CREATE INDEX settlements_vendor_status_idx ON settlements (vendor_id, status, scheduled_for);

CREATE TABLE erp_sales_assists (
  id                  bigserial PRIMARY KEY,
  order_reference     text NOT NULL REFERENCES orders (order_reference),
  vendor_id           text NOT NULL REFERENCES vendors (vendor_id),
  referrer_member_id  text NOT NULL REFERENCES members (member_id),
  referral_code       text NOT NULL,
  referral_commission bigint NOT NULL CHECK (referral_commission >= 0),
  created_at          timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT erp_sales_assists_order_vendor_unique UNIQUE (order_reference, vendor_id)
);

CREATE TABLE mint_batches (
  id               bigserial PRIMARY KEY,
  status           text NOT NULL DEFAULT 'claimed'
                   CHECK (status IN ('claimed', 'signed', 'confirmed', 'failed', 'released')),
  operator         text NOT NULL,
  chain_id         integer NOT NULL,
  lease_expires_at timestamptz NOT NULL,
  reward_count     integer NOT NULL CHECK (reward_count >= 0),
  total_wei        numeric(78, 0) NOT NULL CHECK (total_wei >= 0),
  nonce            bigint CHECK (nonce >= 0),
  raw_tx           text,
  tx_hash          text CHECK (tx_hash IS NULL OR tx_hash ~ '^0x[0-9a-f]{64}$'),
  block_number     bigint,
  gas_used         numeric(78, 0),
  error            text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CHECK (status NOT IN ('signed', 'confirmed') OR (tx_hash IS NOT NULL AND raw_tx IS NOT NULL AND nonce IS NOT NULL)),
  CHECK (status <> 'confirmed' OR block_number IS NOT NULL)
);
CREATE INDEX mint_batches_open_idx ON mint_batches (lease_expires_at) WHERE status IN ('claimed', 'signed');

CREATE TABLE referral_rewards (
  id                  bigserial PRIMARY KEY,
  -- One reward per order (or membership payment), whatever path tries to create it.
  order_reference     text NOT NULL CONSTRAINT referral_rewards_order_reference_unique UNIQUE,
  order_ref_hash      text NOT NULL CONSTRAINT referral_rewards_order_ref_hash_unique UNIQUE
                      CHECK (order_ref_hash ~ '^0x[0-9a-f]{64}$'),
  source              text NOT NULL DEFAULT 'order' CHECK (source IN ('order', 'membership')),
  referrer_member_id  text NOT NULL REFERENCES members (member_id),
  buyer_member_id     text REFERENCES members (member_id),
  wallet_address      text CHECK (wallet_address IS NULL OR wallet_address ~ '^0x[0-9a-f]{40}$'),
  currency            text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  fiat_basis          bigint NOT NULL CHECK (fiat_basis >= 0),
  wei_per_minor_unit  numeric(78, 0) NOT NULL CHECK (wei_per_minor_unit >= 0),
  amount_wei          numeric(78, 0) NOT NULL CHECK (amount_wei >= 0),
  payment_rail        text NOT NULL CHECK (payment_rail IN ('card', 'credit')),
  status              text NOT NULL CHECK (status IN
                        ('pending_approval', 'approved', 'minting', 'minted', 'rejected', 'cancelled', 'failed', 'held')),
  fraud_signals       jsonb NOT NULL DEFAULT '[]',
  approved_by         text,
  approved_at         timestamptz,
  approval_note       text,
  rejected_reason     text,
  batch_id            bigint REFERENCES mint_batches (id),
  tx_hash             text CHECK (tx_hash IS NULL OR tx_hash ~ '^0x[0-9a-f]{64}$'),
  block_number        bigint,
  log_index           integer,
  minted_at           timestamptz,
  failure_reason      text,
  attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  CHECK (amount_wei = fiat_basis * wei_per_minor_unit),
  CHECK (status <> 'minting' OR batch_id IS NOT NULL),
  CHECK (status <> 'minted' OR (tx_hash IS NOT NULL AND block_number IS NOT NULL AND wallet_address IS NOT NULL))
);
CREATE INDEX referral_rewards_status_idx ON referral_rewards (status, id);
CREATE INDEX referral_rewards_referrer_idx ON referral_rewards (referrer_member_id, id);
CREATE INDEX referral_rewards_batch_idx ON referral_rewards (batch_id) WHERE batch_id IS NOT NULL;

CREATE TABLE webhook_events (
  provider      text NOT NULL,
  event_id      text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 256),
  payload_hash  text NOT NULL,
  event_type    text NOT NULL,
  response      jsonb NOT NULL,
  received_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider, event_id)
);

CREATE TABLE api_keys (
  id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9]{12}$'),
  secret_hash text NOT NULL CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
  role        text NOT NULL CHECK (role IN ('admin', 'integration', 'vendor')),
  vendor_id   text REFERENCES vendors (vendor_id),
  label       text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz,
  CHECK ((role = 'vendor') = (vendor_id IS NOT NULL))
);

CREATE TABLE idempotency_keys (
  principal     text NOT NULL,
  key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  request_hash  text NOT NULL,
  status_code   integer NOT NULL,
  response      jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (principal, key)
);

CREATE TABLE audit_log (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  actor       text NOT NULL,
  action      text NOT NULL,
  subject_type text NOT NULL,
  subject_id  text NOT NULL,
  before      jsonb,
  after       jsonb,
  request_id  text
);
CREATE INDEX audit_log_subject_idx ON audit_log (subject_type, subject_id);

CREATE FUNCTION twinrail_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: corrections are new entries', TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION twinrail_append_only();
