-- Outbound webhooks (issue 13.1): endpoints, a transactional outbox of messages and one delivery per
-- (message, endpoint). The messages are written by statement-level AFTER triggers on the tables whose
-- changes they announce, so they commit or roll back with the change itself and cost the writing
-- statement no round trip; with no enabled endpoint subscribing, a trigger only probes
-- webhook_endpoints and writes nothing. Each message carries the row as it was (to_jsonb, numbers as
-- text so bigint and numeric(78) survive JSON), mapped by the delivery job through the API's views.
-- Never edit after it lands.

CREATE TABLE webhook_endpoints (
  id                         bigserial PRIMARY KEY,
  url                        text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
  -- Event types delivered; empty = every type.
  events                     text[] NOT NULL DEFAULT '{}',
  description                text CHECK (length(description) <= 500),
  secret                     text NOT NULL,
  -- After a rotation the old secret keeps signing (a second v1 signature) until it expires.
  previous_secret            text,
  previous_secret_expires_at timestamptz,
  enabled                    boolean NOT NULL DEFAULT true,
  disabled_reason            text,
  disabled_at                timestamptz,
  -- Start of the current run of failed attempts (null after a success).
  failing_since              timestamptz,
  created_at                 timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_messages (
  id          bigserial PRIMARY KEY,
  event_type  text NOT NULL,
  subject_id  text NOT NULL,
  snapshot    jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- No foreign key to webhook_endpoints: every writer of an event would take a KEY SHARE lock on the
-- endpoint row; deleting an endpoint deletes its deliveries in the same statement instead.
CREATE TABLE webhook_deliveries (
  id               bigserial PRIMARY KEY,
  message_id       bigint NOT NULL REFERENCES webhook_messages (id),
  endpoint_id      bigint NOT NULL,
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts         integer NOT NULL DEFAULT 0,
  -- When the next attempt is due; while an attempt runs, the end of its lease.
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  last_attempt_at  timestamptz,
  last_status_code integer,
  last_error       text,
  delivered_at     timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id DESC);

CREATE TABLE webhook_delivery_attempts (
  id           bigserial PRIMARY KEY,
  delivery_id  bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  attempt      integer NOT NULL,
  at           timestamptz NOT NULL,
  status_code  integer,
  error        text,
  duration_ms  integer NOT NULL
);
CREATE INDEX webhook_delivery_attempts_delivery ON webhook_delivery_attempts (delivery_id, id);

-- Top-level JSON numbers as strings (exact: jsonb numbers are numeric).
CREATE FUNCTION twinrail_webhook_snapshot(doc jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(jsonb_object_agg(key, CASE jsonb_typeof(value) WHEN 'number' THEN to_jsonb(value #>> '{}') ELSE value END), '{}'::jsonb)
    FROM jsonb_each(doc)
$$;

-- Whether any enabled endpoint takes events of this type.
CREATE FUNCTION twinrail_webhook_subscribed(event text) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.enabled AND (e.events = '{}' OR event = ANY (e.events)))
$$;

-- One delivery per new message and subscribing endpoint.
CREATE FUNCTION twinrail_webhook_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webhook_deliveries (message_id, endpoint_id, next_attempt_at)
  SELECT m.id, e.id, m.created_at
    FROM webhook_new_messages m
    JOIN webhook_endpoints e ON e.enabled AND (e.events = '{}' OR m.event_type = ANY (e.events))
   ORDER BY m.id, e.id;
  RETURN NULL;
END $$;
CREATE TRIGGER webhook_messages_fan_out AFTER INSERT ON webhook_messages
  REFERENCING NEW TABLE AS webhook_new_messages
  FOR EACH STATEMENT EXECUTE FUNCTION twinrail_webhook_fan_out();

-- reward.created; reward.approved / rejected / minted / cancelled on entering that status.
CREATE FUNCTION twinrail_webhook_rewards() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled) THEN RETURN NULL; END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO webhook_messages (event_type, subject_id, snapshot)
    SELECT 'reward.created', n.id::text,
           twinrail_webhook_snapshot(to_jsonb(n) || jsonb_build_object('display_name', m.display_name, 'referrer_wallet', m.wallet_address))
      FROM webhook_new_rows n LEFT JOIN members m ON m.member_id = n.referrer_member_id
     WHERE twinrail_webhook_subscribed('reward.created')
     ORDER BY n.id;
  ELSE
    INSERT INTO webhook_messages (event_type, subject_id, snapshot)
    SELECT 'reward.' || n.status, n.id::text,
           twinrail_webhook_snapshot(to_jsonb(n) || jsonb_build_object('display_name', m.display_name, 'referrer_wallet', m.wallet_address))
      FROM webhook_new_rows n
      JOIN webhook_old_rows o ON o.id = n.id
      LEFT JOIN members m ON m.member_id = n.referrer_member_id
     WHERE n.status IS DISTINCT FROM o.status
       AND n.status IN ('approved', 'rejected', 'minted', 'cancelled')
       AND twinrail_webhook_subscribed('reward.' || n.status)
     ORDER BY n.id;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER referral_rewards_webhook_insert AFTER INSERT ON referral_rewards
  REFERENCING NEW TABLE AS webhook_new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION twinrail_webhook_rewards();
CREATE TRIGGER referral_rewards_webhook_update AFTER UPDATE ON referral_rewards
  REFERENCING OLD TABLE AS webhook_old_rows NEW TABLE AS webhook_new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION twinrail_webhook_rewards();

-- clawback.created: every clawback row (its kind says debt, netted, restored or released).
CREATE FUNCTION twinrail_webhook_clawbacks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled) THEN RETURN NULL; END IF;
  INSERT INTO webhook_messages (event_type, subject_id, snapshot)
  SELECT 'clawback.created', n.id::text, twinrail_webhook_snapshot(to_jsonb(n))
    FROM webhook_new_rows n
   WHERE twinrail_webhook_subscribed('clawback.created')
   ORDER BY n.id;
  RETURN NULL;
END $$;
CREATE TRIGGER clawbacks_webhook_insert AFTER INSERT ON clawbacks
  REFERENCING NEW TABLE AS webhook_new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION twinrail_webhook_clawbacks();

-- settlement.due: a settlement written as due or entering due.
CREATE FUNCTION twinrail_webhook_settlements() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled) THEN RETURN NULL; END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO webhook_messages (event_type, subject_id, snapshot)
    SELECT 'settlement.due', n.id::text, twinrail_webhook_snapshot(to_jsonb(n))
      FROM webhook_new_rows n
     WHERE n.status = 'due' AND twinrail_webhook_subscribed('settlement.due')
     ORDER BY n.id;
  ELSE
    INSERT INTO webhook_messages (event_type, subject_id, snapshot)
    SELECT 'settlement.due', n.id::text, twinrail_webhook_snapshot(to_jsonb(n))
      FROM webhook_new_rows n JOIN webhook_old_rows o ON o.id = n.id
     WHERE n.status = 'due' AND o.status <> 'due' AND twinrail_webhook_subscribed('settlement.due')
     ORDER BY n.id;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER settlements_webhook_insert AFTER INSERT ON settlements
  REFERENCING NEW TABLE AS webhook_new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION twinrail_webhook_settlements();
CREATE TRIGGER settlements_webhook_update AFTER UPDATE ON settlements
  REFERENCING OLD TABLE AS webhook_old_rows NEW TABLE AS webhook_new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION twinrail_webhook_settlements();

-- payout.created; payout.paid on entering paid.
CREATE FUNCTION twinrail_webhook_payouts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled) THEN RETURN NULL; END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO webhook_messages (event_type, subject_id, snapshot)
    SELECT 'payout.created', n.id::text, twinrail_webhook_snapshot(to_jsonb(n))
      FROM webhook_new_rows n
     WHERE twinrail_webhook_subscribed('payout.created')
     ORDER BY n.id;
  ELSE
    INSERT INTO webhook_messages (event_type, subject_id, snapshot)
    SELECT 'payout.paid', n.id::text, twinrail_webhook_snapshot(to_jsonb(n))
      FROM webhook_new_rows n JOIN webhook_old_rows o ON o.id = n.id
     WHERE n.status = 'paid' AND o.status <> 'paid' AND twinrail_webhook_subscribed('payout.paid')
     ORDER BY n.id;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER payouts_webhook_insert AFTER INSERT ON payouts
  REFERENCING NEW TABLE AS webhook_new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION twinrail_webhook_payouts();
CREATE TRIGGER payouts_webhook_update AFTER UPDATE ON payouts
  REFERENCING OLD TABLE AS webhook_old_rows NEW TABLE AS webhook_new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION twinrail_webhook_payouts();
