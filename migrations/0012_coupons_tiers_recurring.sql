-- Issue 14: coupon codes tied to a referrer, commission tiers, recurring membership rewards.
-- Append-only: never edit after it lands.

-- One name space for every code a person types: referral codes and coupon codes. Each insert into
-- either table first claims its name here (BEFORE INSERT trigger, ON CONFLICT DO NOTHING); a name that
-- is taken — by either kind, committed or still being inserted by another transaction, whose commit the
-- claim waits for — makes the trigger skip the row, so the caller's INSERT … ON CONFLICT DO NOTHING …
-- RETURNING sees "nothing inserted" exactly as for a duplicate key of its own table.
CREATE TABLE code_names (
  code        text PRIMARY KEY CHECK (code ~ '^[A-Z0-9][A-Z0-9_-]{2,31}$'),
  kind        text NOT NULL CHECK (kind IN ('referral', 'coupon')),
  created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO code_names (code, kind) SELECT code, 'referral' FROM referral_codes ON CONFLICT DO NOTHING;

CREATE FUNCTION twinrail_claim_code_name() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO code_names (code, kind) VALUES (NEW.code, TG_ARGV[0]) ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER referral_codes_claim_name BEFORE INSERT ON referral_codes
  FOR EACH ROW EXECUTE FUNCTION twinrail_claim_code_name('referral');

-- Coupons: a code a buyer types at checkout; the order is credited to its owner (see the precedence
-- rule in docs/ledger.md "Coupons"). `redemptions` is counted by one conditional UPDATE per checkout
-- (… WHERE redemptions < max_redemptions), so max_redemptions holds under concurrency.
CREATE TABLE coupons (
  code             text PRIMARY KEY CHECK (code ~ '^[A-Z0-9][A-Z0-9_-]{2,31}$'),
  owner_member_id  text NOT NULL REFERENCES members (member_id),
  discount_bps     integer CHECK (discount_bps BETWEEN 0 AND 10000),
  discount_amount  bigint CHECK (discount_amount >= 0),
  currency         text CHECK (currency ~ '^[A-Z]{3}$'),
  expires_at       timestamptz,
  max_redemptions  integer CHECK (max_redemptions > 0),
  redemptions      integer NOT NULL DEFAULT 0 CHECK (redemptions >= 0),
  active           boolean NOT NULL DEFAULT true,
  deactivated_at   timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CHECK (active = (deactivated_at IS NULL)),
  CHECK (max_redemptions IS NULL OR redemptions <= max_redemptions),
  CHECK (discount_bps IS NULL OR discount_amount IS NULL),
  CHECK ((discount_amount IS NULL) = (currency IS NULL))
);
CREATE INDEX coupons_owner_idx ON coupons (owner_member_id, created_at);

CREATE TRIGGER coupons_claim_name BEFORE INSERT ON coupons
  FOR EACH ROW EXECUTE FUNCTION twinrail_claim_code_name('coupon');

-- The order records the coupon it was given (when it named one) and what became of it.
ALTER TABLE orders ADD COLUMN coupon_code text REFERENCES coupons (code);
ALTER TABLE orders ADD COLUMN coupon_status text
  CHECK (coupon_status IN ('redeemed', 'unknown_coupon', 'inactive_coupon', 'expired_coupon',
                           'coupon_exhausted', 'currency_mismatch', 'self_referral'));
ALTER TABLE orders DROP CONSTRAINT orders_attribution_source_check;
ALTER TABLE orders ADD CONSTRAINT orders_attribution_source_check
  CHECK (attribution_source IN ('referred_by', 'explicit_code', 'cookie', 'coupon'));
CREATE INDEX orders_coupon_idx ON orders (coupon_code) WHERE coupon_code IS NOT NULL;

-- Commission tiers. A tier's rate, platform-wide (vendor_id = '*') or for one vendor's program.
CREATE TABLE commission_tiers (
  tier            text NOT NULL CHECK (tier ~ '^[a-z][a-z0-9_-]{0,31}$'),
  vendor_id       text NOT NULL CHECK (vendor_id = '*' OR length(vendor_id) BETWEEN 1 AND 128),
  commission_bps  integer NOT NULL CHECK (commission_bps BETWEEN 0 AND 5000),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tier, vendor_id)
);
-- A referrer's tier, platform-wide (vendor_id = '*') or in one vendor's program.
CREATE TABLE member_tiers (
  member_id   text NOT NULL REFERENCES members (member_id),
  vendor_id   text NOT NULL CHECK (vendor_id = '*' OR length(vendor_id) BETWEEN 1 AND 128),
  tier        text NOT NULL CHECK (tier ~ '^[a-z][a-z0-9_-]{0,31}$'),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (member_id, vendor_id)
);

-- Lines snapshot the tier that priced them (rate_source 'tier').
ALTER TABLE order_lines ADD COLUMN rate_tier text;
ALTER TABLE order_lines DROP CONSTRAINT order_lines_rate_source_check;
ALTER TABLE order_lines ADD CONSTRAINT order_lines_rate_source_check
  CHECK (rate_source IN ('product', 'tier', 'vendor', 'platform'));
ALTER TABLE order_lines ADD CONSTRAINT order_lines_rate_tier_check
  CHECK ((rate_source = 'tier') = (rate_tier IS NOT NULL));

-- Recurring memberships: each period is its own payment row, keyed (as before) by its reference —
-- the membership reference for period 1, `membershipReference#period` for renewals — with the
-- membership and period it belongs to. `referral_bps` snapshots MEMBERSHIP_REFERRAL_BPS at payment,
-- so refunds reduce the reward by the rate it was paid with.
ALTER TABLE membership_payments ADD COLUMN membership_id text;
ALTER TABLE membership_payments ADD COLUMN period integer NOT NULL DEFAULT 1 CHECK (period >= 1);
ALTER TABLE membership_payments ADD COLUMN referral_bps integer CHECK (referral_bps BETWEEN 0 AND 5000);
ALTER TABLE membership_payments ADD COLUMN amount_refunded bigint NOT NULL DEFAULT 0
  CHECK (amount_refunded >= 0 AND amount_refunded <= amount_paid);
UPDATE membership_payments SET membership_id = membership_reference WHERE membership_id IS NULL;
ALTER TABLE membership_payments ALTER COLUMN membership_id SET NOT NULL;
ALTER TABLE membership_payments ADD CONSTRAINT membership_payments_period_unique UNIQUE (membership_id, period);

CREATE TABLE membership_refunds (
  membership_reference   text NOT NULL REFERENCES membership_payments (membership_reference),
  refund_id              text NOT NULL CHECK (length(refund_id) BETWEEN 1 AND 256),
  amount                 bigint NOT NULL CHECK (amount > 0),
  refunded_at            timestamptz NOT NULL,
  amount_refunded_after  bigint NOT NULL CHECK (amount_refunded_after > 0),
  created_at             timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (membership_reference, refund_id)
);
