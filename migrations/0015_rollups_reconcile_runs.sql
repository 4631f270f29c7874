-- Read rollups without hot rows (issue 12, item 2), and the reports of reconcile runs (item 3).
--
-- Every change to a row the dashboards count appends DELTA rows (statement-level AFTER triggers over
-- the transition tables: one INSERT … SELECT per statement, no extra round trip, no row shared between
-- events). For an UPDATE the delta is contribution(new) − contribution(old), so any change — status
-- moves, netting, minting — is counted without the writer knowing about rollups. A fold job
-- (twinrail_fold_rollups) moves deltas into the *_rollup tables with DELETE … RETURNING: a delta
-- committed late is simply not visible to that DELETE and is folded next time, so there is no
-- checkpoint to skip it. The rollup rows are written only by the fold (one at a time, advisory lock).
-- Reads add rollup + deltas of the same snapshot. Days are UTC days; '-infinity' holds what has no
-- day (a minted reward without minted_at) so lifetime sums see it and no date range does.
-- Never edit after it lands.

CREATE FUNCTION twinrail_utc_day(at timestamptz) RETURNS date LANGUAGE sql IMMUTABLE AS
  $$ SELECT coalesce((at AT TIME ZONE 'UTC')::date, '-infinity'::date) $$;

-- Per UTC day × referrer: /v1/me's lifetime counts and the stats' top referrers.
CREATE TABLE referrer_day_rollup (
  referrer_member_id text NOT NULL,
  day          date NOT NULL,
  signups      bigint NOT NULL DEFAULT 0,  -- members attributed to the referrer (attributed_at)
  orders       bigint NOT NULL DEFAULT 0,  -- referred orders (created_at)
  paid_orders  bigint NOT NULL DEFAULT 0,  -- referred orders not 'created' (paid_at) = conversions
  rewards      bigint NOT NULL DEFAULT 0,  -- rewards (created_at)
  live_rewards bigint NOT NULL DEFAULT 0,  -- of those, not rejected/cancelled
  rewards_wei  numeric(78, 0) NOT NULL DEFAULT 0, -- their amount_wei
  pending      bigint NOT NULL DEFAULT 0,  -- rewards in pending_approval
  approved     bigint NOT NULL DEFAULT 0,  -- rewards approved or minting
  minted       bigint NOT NULL DEFAULT 0,  -- rewards minted (minted_at)
  minted_wei   numeric(78, 0) NOT NULL DEFAULT 0,
  PRIMARY KEY (referrer_member_id, day)
);
CREATE INDEX referrer_day_rollup_day_idx ON referrer_day_rollup (day);
CREATE TABLE referrer_day_deltas (LIKE referrer_day_rollup INCLUDING DEFAULTS);
ALTER TABLE referrer_day_deltas ADD COLUMN id bigserial PRIMARY KEY;
CREATE INDEX referrer_day_deltas_referrer_idx ON referrer_day_deltas (referrer_member_id);

-- Per UTC day × metric × key, platform-wide: the stats funnel, token rewards per rail:status, fiat
-- per currency (n = orders, amount = gross, amount2 = referral commission).
CREATE TABLE stats_day_rollup (
  day     date NOT NULL,
  metric  text NOT NULL,
  key     text NOT NULL DEFAULT '',
  n       bigint NOT NULL DEFAULT 0,
  amount  numeric(78, 0) NOT NULL DEFAULT 0,
  amount2 numeric(78, 0) NOT NULL DEFAULT 0,
  PRIMARY KEY (day, metric, key)
);
CREATE TABLE stats_day_deltas (LIKE stats_day_rollup INCLUDING DEFAULTS);
ALTER TABLE stats_day_deltas ADD COLUMN id bigserial PRIMARY KEY;

-- Per UTC day (of the settlement) × vendor × currency × status: effective amounts (row + adjustments).
CREATE TABLE vendor_day_rollup (
  vendor_id  text NOT NULL,
  day        date NOT NULL,
  currency   text NOT NULL,
  status     text NOT NULL,
  n          bigint NOT NULL DEFAULT 0,
  gross      bigint NOT NULL DEFAULT 0,
  platform_fee bigint NOT NULL DEFAULT 0,
  referral_commission bigint NOT NULL DEFAULT 0,
  net        bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (vendor_id, day, currency, status)
);
CREATE TABLE vendor_day_deltas (LIKE vendor_day_rollup INCLUDING DEFAULTS);
ALTER TABLE vendor_day_deltas ADD COLUMN id bigserial PRIMARY KEY;
CREATE INDEX vendor_day_deltas_vendor_idx ON vendor_day_deltas (vendor_id);

-- The partial first and last day of a stats or summary range are read from the rows themselves.
CREATE INDEX members_attributed_at_idx ON members (attributed_at) WHERE attributed_at IS NOT NULL;
CREATE INDEX orders_referred_created_idx ON orders (created_at) WHERE referral_applied;
CREATE INDEX orders_referred_paid_idx ON orders (paid_at) WHERE referral_applied;
CREATE INDEX referral_rewards_created_idx ON referral_rewards (created_at);
CREATE INDEX referral_rewards_minted_at_idx ON referral_rewards (minted_at) WHERE minted_at IS NOT NULL;
CREATE INDEX settlements_vendor_created_idx ON settlements (vendor_id, created_at);
CREATE INDEX settlements_commission_created_idx ON settlements (created_at) WHERE referral_commission > 0;
-- The queue's velocity signal counts a referrer's orders of the last 24 h: without this it read every
-- order of the referrer (a viral referrer's queue page took 0.4 s at 55k orders).
CREATE INDEX orders_referrer_created_idx ON orders (referrer_member_id, created_at) WHERE referrer_member_id IS NOT NULL;
-- Incremental reconcile: the journal rows of transactions begun since the last run.
CREATE INDEX journal_entries_created_idx ON journal_entries (created_at);

-- The delta triggers: each body is written once over `r` = the statement's rows with a sign (+1 NEW,
-- −1 OLD); twinrail_delta_triggers makes the INSERT and the UPDATE function of it (static SQL, plans
-- cached) and their statement-level triggers.
CREATE FUNCTION twinrail_delta_triggers(tbl text, name text, body text) RETURNS void LANGUAGE plpgsql AS $m$
DECLARE
  op text;
  rows text;
BEGIN
  FOREACH op IN ARRAY ARRAY['insert', 'update'] LOOP
    rows := CASE op WHEN 'insert' THEN 'SELECT t.*, 1 AS s FROM rollup_new t'
      ELSE 'SELECT t.*, 1 AS s FROM rollup_new t UNION ALL SELECT t.*, -1 AS s FROM rollup_old t' END;
    EXECUTE format('CREATE FUNCTION %I() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN %s; RETURN NULL; END $f$',
      name || '_' || op, replace(replace(body, '{rows}', rows), '{op}', quote_literal(op)));
    EXECUTE format('CREATE TRIGGER %I AFTER %s ON %I REFERENCING %s FOR EACH STATEMENT EXECUTE FUNCTION %I()',
      tbl || '_rollup_' || op, op, tbl,
      CASE op WHEN 'insert' THEN 'NEW TABLE AS rollup_new' ELSE 'OLD TABLE AS rollup_old NEW TABLE AS rollup_new' END,
      name || '_' || op);
  END LOOP;
END $m$;

SELECT twinrail_delta_triggers('members', 'twinrail_member_deltas', $b$
  WITH r AS ({rows}),
  g AS (SELECT twinrail_utc_day(attributed_at) AS day, referred_by_member_id AS referrer, sum(s)::bigint AS n
        FROM r WHERE referred_by_member_id IS NOT NULL GROUP BY 1, 2 HAVING sum(s) <> 0),
  a AS (INSERT INTO referrer_day_deltas (referrer_member_id, day, signups) SELECT referrer, day, n FROM g)
  INSERT INTO stats_day_deltas (day, metric, n) SELECT day, 'signups', sum(n) FROM g GROUP BY day
$b$);

SELECT twinrail_delta_triggers('orders', 'twinrail_order_deltas', $b$
  WITH r AS ({rows}),
  c AS (
    SELECT twinrail_utc_day(created_at) AS day, referrer_member_id AS referrer, s AS orders, 0 AS paid
      FROM r WHERE referral_applied
    UNION ALL
    SELECT twinrail_utc_day(paid_at), referrer_member_id, 0, s FROM r WHERE referral_applied AND status <> 'created'),
  g AS (SELECT day, referrer, sum(orders)::bigint AS orders, sum(paid)::bigint AS paid FROM c
        GROUP BY day, referrer HAVING sum(orders) <> 0 OR sum(paid) <> 0),
  a AS (INSERT INTO referrer_day_deltas (referrer_member_id, day, orders, paid_orders)
        SELECT referrer, day, orders, paid FROM g)
  INSERT INTO stats_day_deltas (day, metric, n)
    SELECT t.day, m.metric, m.n FROM
      (SELECT day, sum(orders)::bigint AS o, sum(paid)::bigint AS p FROM g GROUP BY day) t,
      LATERAL (VALUES ('orders', t.o), ('paid_orders', t.p)) m(metric, n)
    WHERE m.n <> 0
$b$);

SELECT twinrail_delta_triggers('referral_rewards', 'twinrail_reward_deltas', $b$
  WITH r AS ({rows}),
  c AS (
    SELECT twinrail_utc_day(created_at) AS day, referrer_member_id AS referrer, s AS rewards,
           CASE WHEN status IN ('rejected', 'cancelled') THEN 0 ELSE s END AS live_rewards,
           CASE WHEN status IN ('rejected', 'cancelled') THEN 0 ELSE s * amount_wei END AS rewards_wei,
           CASE WHEN status = 'pending_approval' THEN s ELSE 0 END AS pending,
           CASE WHEN status IN ('approved', 'minting') THEN s ELSE 0 END AS approved,
           0 AS minted, 0::numeric AS minted_wei
      FROM r
    UNION ALL
    SELECT twinrail_utc_day(minted_at), referrer_member_id, 0, 0, 0, 0, 0, s, s * amount_wei
      FROM r WHERE status = 'minted'),
  g AS (SELECT day, referrer, sum(rewards)::bigint AS rewards, sum(live_rewards)::bigint AS live_rewards,
               sum(rewards_wei) AS rewards_wei,
               sum(pending)::bigint AS pending, sum(approved)::bigint AS approved,
               sum(minted)::bigint AS minted, sum(minted_wei) AS minted_wei
        FROM c GROUP BY day, referrer
        HAVING sum(rewards) <> 0 OR sum(live_rewards) <> 0 OR sum(rewards_wei) <> 0 OR sum(pending) <> 0 OR sum(approved) <> 0
            OR sum(minted) <> 0 OR sum(minted_wei) <> 0),
  a AS (INSERT INTO referrer_day_deltas
          (referrer_member_id, day, rewards, live_rewards, rewards_wei, pending, approved, minted, minted_wei)
        SELECT referrer, day, rewards, live_rewards, rewards_wei, pending, approved, minted, minted_wei FROM g),
  t AS (SELECT twinrail_utc_day(created_at) AS day, payment_rail || ':' || status AS key,
               sum(s)::bigint AS n, sum(s * amount_wei) AS amount
        FROM r GROUP BY 1, 2 HAVING sum(s) <> 0 OR sum(s * amount_wei) <> 0)
  INSERT INTO stats_day_deltas (day, metric, key, n, amount)
    SELECT day, 'token', key, n, amount FROM t
    UNION ALL SELECT day, 'rewards', '', sum(rewards)::bigint, 0 FROM g GROUP BY day HAVING sum(rewards) <> 0
    UNION ALL SELECT day, 'minted', '', sum(minted)::bigint, sum(minted_wei) FROM g GROUP BY day
      HAVING sum(minted) <> 0 OR sum(minted_wei) <> 0
$b$);

-- Settlements: vendor amounts on insert and on every status move, with the settlement's adjustments
-- so far (the refund path locks the settlement rows before it appends adjustments, so a move and an
-- adjustment serialize and the later one sees the earlier); fiat stats count orders as the distinct
-- references of the statement (all settlements of one order are written by one statement, and a
-- status move cancels out).
SELECT twinrail_delta_triggers('settlements', 'twinrail_settlement_deltas', $b$
  WITH r AS ({rows}),
  adj AS (
    SELECT a.settlement_id, sum(a.gross_delta) AS gross, sum(a.platform_fee_delta) AS fee,
           sum(a.referral_commission_delta) AS commission, sum(a.net_delta) AS net
      FROM settlement_adjustments a WHERE {op} = 'update' AND a.settlement_id IN (SELECT id FROM r)
      GROUP BY a.settlement_id),
  g AS (
    SELECT r.vendor_id, twinrail_utc_day(r.created_at) AS day, r.currency, r.status, sum(r.s)::bigint AS n,
           sum(r.s * (r.gross + coalesce(adj.gross, 0)))::bigint AS gross,
           sum(r.s * (r.platform_fee + coalesce(adj.fee, 0)))::bigint AS fee,
           sum(r.s * (r.referral_commission + coalesce(adj.commission, 0)))::bigint AS commission,
           sum(r.s * (r.net + coalesce(adj.net, 0)))::bigint AS net
      FROM r LEFT JOIN adj ON adj.settlement_id = r.id
      GROUP BY 1, 2, 3, 4
      HAVING sum(r.s) <> 0 OR sum(r.s * (r.gross + coalesce(adj.gross, 0))) <> 0
          OR sum(r.s * (r.net + coalesce(adj.net, 0))) <> 0),
  v AS (INSERT INTO vendor_day_deltas (vendor_id, day, currency, status, n, gross, platform_fee,
          referral_commission, net)
        SELECT * FROM g)
  INSERT INTO stats_day_deltas (day, metric, key, n, amount, amount2)
    SELECT day, 'fiat', currency, sum(orders), sum(gross), sum(commission) FROM (
      SELECT twinrail_utc_day(created_at) AS day, currency, s, s * count(DISTINCT order_reference) AS orders,
             sum(s * gross) AS gross, sum(s * referral_commission) AS commission
        FROM r WHERE referral_commission > 0 GROUP BY 1, 2, 3) f
    GROUP BY day, currency HAVING sum(orders) <> 0 OR sum(gross) <> 0 OR sum(commission) <> 0
$b$);

CREATE FUNCTION twinrail_adjustment_deltas() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO vendor_day_deltas (vendor_id, day, currency, status, n, gross, platform_fee,
                                 referral_commission, net)
    SELECT s.vendor_id, twinrail_utc_day(s.created_at), s.currency, s.status, 0, sum(a.gross_delta),
           sum(a.platform_fee_delta), sum(a.referral_commission_delta), sum(a.net_delta)
      FROM rollup_new a JOIN settlements s ON s.id = a.settlement_id
      GROUP BY 1, 2, 3, 4;
  RETURN NULL;
END $$;
CREATE TRIGGER settlement_adjustments_rollup AFTER INSERT ON settlement_adjustments
  REFERENCING NEW TABLE AS rollup_new FOR EACH STATEMENT EXECUTE FUNCTION twinrail_adjustment_deltas();

DROP FUNCTION twinrail_delta_triggers(text, text, text);

-- Folds every visible delta into the rollups; returns how many delta rows it moved (0 when another
-- fold holds the lock). Deltas committed after this statement's snapshot stay for the next fold.
CREATE FUNCTION twinrail_fold_rollups(batch integer) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  moved bigint := 0;
  k bigint;
BEGIN
  IF NOT pg_try_advisory_xact_lock(7312015) THEN RETURN 0; END IF;
  WITH d AS (DELETE FROM referrer_day_deltas WHERE id IN (SELECT id FROM referrer_day_deltas LIMIT batch)
             RETURNING *),
  ins AS (INSERT INTO referrer_day_rollup AS t
      SELECT referrer_member_id, day, sum(signups), sum(orders), sum(paid_orders), sum(rewards), sum(live_rewards),
             sum(rewards_wei),
             sum(pending), sum(approved), sum(minted), sum(minted_wei)
      FROM d GROUP BY referrer_member_id, day ORDER BY referrer_member_id, day
      ON CONFLICT (referrer_member_id, day) DO UPDATE SET
        signups = t.signups + excluded.signups, orders = t.orders + excluded.orders,
        paid_orders = t.paid_orders + excluded.paid_orders, rewards = t.rewards + excluded.rewards,
        live_rewards = t.live_rewards + excluded.live_rewards,
        rewards_wei = t.rewards_wei + excluded.rewards_wei, pending = t.pending + excluded.pending,
        approved = t.approved + excluded.approved, minted = t.minted + excluded.minted,
        minted_wei = t.minted_wei + excluded.minted_wei)
  SELECT count(*) INTO k FROM d;
  moved := moved + k;
  WITH d AS (DELETE FROM stats_day_deltas WHERE id IN (SELECT id FROM stats_day_deltas LIMIT batch)
             RETURNING *),
  ins AS (INSERT INTO stats_day_rollup AS t
      SELECT day, metric, key, sum(n), sum(amount), sum(amount2) FROM d GROUP BY day, metric, key
      ON CONFLICT (day, metric, key) DO UPDATE SET
        n = t.n + excluded.n, amount = t.amount + excluded.amount, amount2 = t.amount2 + excluded.amount2)
  SELECT count(*) INTO k FROM d;
  moved := moved + k;
  WITH d AS (DELETE FROM vendor_day_deltas WHERE id IN (SELECT id FROM vendor_day_deltas LIMIT batch)
             RETURNING *),
  ins AS (INSERT INTO vendor_day_rollup AS t
      SELECT vendor_id, day, currency, status, sum(n), sum(gross), sum(platform_fee), sum(referral_commission),
             sum(net)
      FROM d GROUP BY vendor_id, day, currency, status
      ON CONFLICT (vendor_id, day, currency, status) DO UPDATE SET
        n = t.n + excluded.n, gross = t.gross + excluded.gross, platform_fee = t.platform_fee + excluded.platform_fee,
        referral_commission = t.referral_commission + excluded.referral_commission, net = t.net + excluded.net)
  SELECT count(*) INTO k FROM d;
  RETURN moved + k;
END $$;

-- Rows that existed before this migration: one delta each, as if they had just been written.
INSERT INTO referrer_day_deltas (referrer_member_id, day, signups)
  SELECT referred_by_member_id, twinrail_utc_day(attributed_at), count(*) FROM members
  WHERE referred_by_member_id IS NOT NULL GROUP BY 1, 2;
INSERT INTO stats_day_deltas (day, metric, n)
  SELECT twinrail_utc_day(attributed_at), 'signups', count(*) FROM members
  WHERE referred_by_member_id IS NOT NULL GROUP BY 1;
INSERT INTO referrer_day_deltas (referrer_member_id, day, orders)
  SELECT referrer_member_id, twinrail_utc_day(created_at), count(*) FROM orders WHERE referral_applied GROUP BY 1, 2;
INSERT INTO referrer_day_deltas (referrer_member_id, day, paid_orders)
  SELECT referrer_member_id, twinrail_utc_day(paid_at), count(*) FROM orders
  WHERE referral_applied AND status <> 'created' GROUP BY 1, 2;
INSERT INTO stats_day_deltas (day, metric, n)
  SELECT twinrail_utc_day(created_at), 'orders', count(*) FROM orders WHERE referral_applied GROUP BY 1;
INSERT INTO stats_day_deltas (day, metric, n)
  SELECT twinrail_utc_day(paid_at), 'paid_orders', count(*) FROM orders
  WHERE referral_applied AND status <> 'created' GROUP BY 1;
INSERT INTO referrer_day_deltas (referrer_member_id, day, rewards, live_rewards, rewards_wei, pending, approved)
  SELECT referrer_member_id, twinrail_utc_day(created_at), count(*),
         count(*) FILTER (WHERE status NOT IN ('rejected', 'cancelled')),
         coalesce(sum(amount_wei) FILTER (WHERE status NOT IN ('rejected', 'cancelled')), 0),
         count(*) FILTER (WHERE status = 'pending_approval'),
         count(*) FILTER (WHERE status IN ('approved', 'minting'))
  FROM referral_rewards GROUP BY 1, 2;
INSERT INTO referrer_day_deltas (referrer_member_id, day, minted, minted_wei)
  SELECT referrer_member_id, twinrail_utc_day(minted_at), count(*), sum(amount_wei)
  FROM referral_rewards WHERE status = 'minted' GROUP BY 1, 2;
INSERT INTO stats_day_deltas (day, metric, key, n, amount)
  SELECT twinrail_utc_day(created_at), 'token', payment_rail || ':' || status, count(*), sum(amount_wei)
  FROM referral_rewards GROUP BY 1, 3;
INSERT INTO stats_day_deltas (day, metric, n)
  SELECT twinrail_utc_day(created_at), 'rewards', count(*) FROM referral_rewards GROUP BY 1;
INSERT INTO stats_day_deltas (day, metric, n, amount)
  SELECT twinrail_utc_day(minted_at), 'minted', count(*), sum(amount_wei)
  FROM referral_rewards WHERE status = 'minted' GROUP BY 1;
INSERT INTO vendor_day_deltas (vendor_id, day, currency, status, n, gross, platform_fee, referral_commission, net)
  SELECT s.vendor_id, twinrail_utc_day(s.created_at), s.currency, s.status, count(*),
         sum(s.gross + coalesce(a.gross, 0)), sum(s.platform_fee + coalesce(a.fee, 0)),
         sum(s.referral_commission + coalesce(a.commission, 0)), sum(s.net + coalesce(a.net, 0))
  FROM settlements s LEFT JOIN (
    SELECT settlement_id, sum(gross_delta) AS gross, sum(platform_fee_delta) AS fee,
           sum(referral_commission_delta) AS commission, sum(net_delta) AS net
    FROM settlement_adjustments GROUP BY settlement_id) a ON a.settlement_id = s.id
  GROUP BY 1, 2, 3, 4;
INSERT INTO stats_day_deltas (day, metric, key, n, amount, amount2)
  SELECT twinrail_utc_day(created_at), 'fiat', currency, count(DISTINCT order_reference), sum(gross),
         sum(referral_commission)
  FROM settlements WHERE referral_commission > 0 GROUP BY 1, 3;

-- Each reconcile run's report: incremental runs check what changed since the previous run's cutoff.
CREATE TABLE reconcile_runs (
  id              bigserial PRIMARY KEY,
  mode            text NOT NULL CHECK (mode IN ('full', 'incremental')),
  -- Journal rows of transactions begun at or after this instant were checked (null: everything).
  window_from     timestamptz,
  -- The next run starts here: the run's start, or the start of the oldest transaction then in flight.
  cutoff          timestamptz NOT NULL,
  -- Chain logs were checked up to this block (null: no chain).
  to_block        bigint,
  ok              boolean NOT NULL,
  mismatch_count  integer NOT NULL,
  report          jsonb NOT NULL,
  started_at      timestamptz NOT NULL,
  finished_at     timestamptz NOT NULL DEFAULT now()
);
