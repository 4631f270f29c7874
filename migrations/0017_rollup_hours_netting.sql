-- Reads at scale without raw rows (issue 12; docs/scaling.md "Reads at scale"). Never edit after it lands.
--
-- 1. Hour buckets. 0015's stats read the partial first and last UTC day of a range from the rows, so
--    the default 28-day window (to = now) read every row of today: O(rows), 66 ms at 59k orders. The
--    stats and referrer deltas now also carry the UTC hour of the instant they count, and the fold
--    writes hour rollups beside the day rollups, so a range is whole days + whole hours + at most two
--    sub-hour remnants. A remnant is read from the rows, or as its hour bucket minus the rows of the
--    rest of that hour — for the current hour (to = now) that rest is in the future, i.e. empty.
--    Deltas written before this migration have no hour; their rows are in the hour rollups already
--    (filled from the rows below, with the writers locked out), so the fold puts them into the day
--    rollups only. Top referrers also get week buckets (a 28-day range is mostly whole weeks).
-- 2. Pending netting. /v1/vendor/summary's pendingNetting (adjustments of paid-out settlements that no
--    payout has netted yet) anti-joined every adjustment the vendor ever had. It is now a rollup per
--    vendor × currency of the same deltas-and-fold kind: +adjustment when it is written against a
--    settlement in_payout/paid or its settlement moves into those states while it is not netted, −
--    when it is netted (payout_adjustments) or its settlement leaves them.

CREATE FUNCTION twinrail_utc_hour(at timestamptz) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS
  $$ SELECT coalesce(date_trunc('hour', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', '-infinity'::timestamptz) $$;

-- No writer may commit between the backfill below and the new trigger bodies.
LOCK TABLE members, orders, referral_rewards, settlements, settlement_adjustments, payout_adjustments
  IN SHARE ROW EXCLUSIVE MODE;

ALTER TABLE stats_day_deltas ADD COLUMN hour timestamptz;
ALTER TABLE referrer_day_deltas ADD COLUMN hour timestamptz;

-- Per UTC hour × metric × key: what stats_day_rollup holds, an hour at a time.
CREATE TABLE stats_hour_rollup (
  hour    timestamptz NOT NULL,
  metric  text NOT NULL,
  key     text NOT NULL DEFAULT '',
  n       bigint NOT NULL DEFAULT 0,
  amount  numeric(78, 0) NOT NULL DEFAULT 0,
  amount2 numeric(78, 0) NOT NULL DEFAULT 0,
  PRIMARY KEY (hour, metric, key)
);
-- Per UTC hour × referrer: the columns of the stats' top referrers.
CREATE TABLE referrer_hour_rollup (
  hour               timestamptz NOT NULL,
  referrer_member_id text NOT NULL,
  signups            bigint NOT NULL DEFAULT 0,
  orders             bigint NOT NULL DEFAULT 0,
  live_rewards       bigint NOT NULL DEFAULT 0,
  rewards_wei        numeric(78, 0) NOT NULL DEFAULT 0,
  PRIMARY KEY (hour, referrer_member_id)
);
-- Per ISO week (UTC, starting Monday) × referrer: the same columns, so a 28-day top-referrer read
-- sums 3 week rows and the odd days per referrer instead of 27 day rows. Filled from the day rollup
-- (the unfolded deltas carry their day and are folded into both).
CREATE TABLE referrer_week_rollup (
  week               date NOT NULL,
  referrer_member_id text NOT NULL,
  signups            bigint NOT NULL DEFAULT 0,
  orders             bigint NOT NULL DEFAULT 0,
  live_rewards       bigint NOT NULL DEFAULT 0,
  rewards_wei        numeric(78, 0) NOT NULL DEFAULT 0,
  PRIMARY KEY (week, referrer_member_id)
);
-- Reads take the unfolded deltas of their window only (the fold keeps them to seconds of writes).
CREATE INDEX stats_day_deltas_day_idx ON stats_day_deltas (day);
CREATE INDEX referrer_day_deltas_day_idx ON referrer_day_deltas (day);

-- Adjustments of settlements in_payout/paid not netted by a payout yet, per vendor × currency.
CREATE TABLE vendor_netting_rollup (
  vendor_id text NOT NULL,
  currency  text NOT NULL,
  n         bigint NOT NULL DEFAULT 0,
  net       bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (vendor_id, currency)
);
CREATE TABLE vendor_netting_deltas (LIKE vendor_netting_rollup INCLUDING DEFAULTS);
ALTER TABLE vendor_netting_deltas ADD COLUMN id bigserial PRIMARY KEY;
CREATE INDEX vendor_netting_deltas_vendor_idx ON vendor_netting_deltas (vendor_id);

-- The backfill: the hour rollups and the netting rollup as the rows stand now.
INSERT INTO stats_hour_rollup (hour, metric, key, n, amount, amount2)
  SELECT hour, metric, key, sum(n), sum(amount), sum(amount2) FROM (
    SELECT twinrail_utc_hour(attributed_at) AS hour, 'signups' AS metric, '' AS key, count(*) AS n,
           0::numeric AS amount, 0::numeric AS amount2
      FROM members WHERE referred_by_member_id IS NOT NULL GROUP BY 1
    UNION ALL SELECT twinrail_utc_hour(created_at), 'orders', '', count(*), 0, 0
      FROM orders WHERE referral_applied GROUP BY 1
    UNION ALL SELECT twinrail_utc_hour(paid_at), 'paid_orders', '', count(*), 0, 0
      FROM orders WHERE referral_applied AND status <> 'created' GROUP BY 1
    UNION ALL SELECT twinrail_utc_hour(created_at), 'rewards', '', count(*), 0, 0 FROM referral_rewards GROUP BY 1
    UNION ALL SELECT twinrail_utc_hour(minted_at), 'minted', '', count(*), sum(amount_wei), 0
      FROM referral_rewards WHERE status = 'minted' GROUP BY 1
    UNION ALL SELECT twinrail_utc_hour(created_at), 'token', payment_rail || ':' || status, count(*), sum(amount_wei), 0
      FROM referral_rewards GROUP BY 1, 3
    UNION ALL SELECT twinrail_utc_hour(created_at), 'fiat', currency, count(DISTINCT order_reference), sum(gross),
           sum(referral_commission)
      FROM settlements WHERE referral_commission > 0 GROUP BY 1, 3) x
  GROUP BY 1, 2, 3;
INSERT INTO referrer_hour_rollup (hour, referrer_member_id, signups, orders, live_rewards, rewards_wei)
  SELECT hour, referrer, sum(signups), sum(orders), sum(live), sum(wei) FROM (
    SELECT twinrail_utc_hour(attributed_at) AS hour, referred_by_member_id AS referrer, count(*) AS signups,
           0::bigint AS orders, 0::bigint AS live, 0::numeric AS wei
      FROM members WHERE referred_by_member_id IS NOT NULL GROUP BY 1, 2
    UNION ALL SELECT twinrail_utc_hour(created_at), referrer_member_id, 0, count(*), 0, 0
      FROM orders WHERE referral_applied GROUP BY 1, 2
    UNION ALL SELECT twinrail_utc_hour(created_at), referrer_member_id, 0, 0,
           count(*) FILTER (WHERE status NOT IN ('rejected', 'cancelled')),
           coalesce(sum(amount_wei) FILTER (WHERE status NOT IN ('rejected', 'cancelled')), 0)
      FROM referral_rewards GROUP BY 1, 2) x
  GROUP BY 1, 2
  HAVING sum(signups) <> 0 OR sum(orders) <> 0 OR sum(live) <> 0 OR sum(wei) <> 0;
INSERT INTO referrer_week_rollup (week, referrer_member_id, signups, orders, live_rewards, rewards_wei)
  SELECT date_trunc('week', day::timestamp)::date, referrer_member_id, sum(signups), sum(orders), sum(live_rewards),
         sum(rewards_wei)
  FROM referrer_day_rollup GROUP BY 1, 2
  HAVING sum(signups) <> 0 OR sum(orders) <> 0 OR sum(live_rewards) <> 0 OR sum(rewards_wei) <> 0;
INSERT INTO vendor_netting_rollup (vendor_id, currency, n, net)
  SELECT a.vendor_id, a.currency, count(*), sum(a.net_delta)
  FROM settlement_adjustments a
  JOIN settlements s ON s.id = a.settlement_id
  LEFT JOIN payout_adjustments p ON p.adjustment_id = a.id
  WHERE p.adjustment_id IS NULL AND s.status IN ('in_payout', 'paid')
  GROUP BY 1, 2;

-- The trigger functions of 0015, rewritten in place (the triggers stay): each body over `r` = the
-- statement's rows with a sign, as there.
CREATE FUNCTION twinrail_delta_functions(name text, body text) RETURNS void LANGUAGE plpgsql AS $m$
DECLARE
  op text;
  rows text;
BEGIN
  FOREACH op IN ARRAY ARRAY['insert', 'update'] LOOP
    rows := CASE op WHEN 'insert' THEN 'SELECT t.*, 1 AS s FROM rollup_new t'
      ELSE 'SELECT t.*, 1 AS s FROM rollup_new t UNION ALL SELECT t.*, -1 AS s FROM rollup_old t' END;
    EXECUTE format('CREATE OR REPLACE FUNCTION %I() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN %s; RETURN NULL; END $f$',
      name || '_' || op, replace(replace(body, '{rows}', rows), '{op}', quote_literal(op)));
  END LOOP;
END $m$;

SELECT twinrail_delta_functions('twinrail_member_deltas', $b$
  WITH r AS ({rows}),
  g AS (SELECT twinrail_utc_hour(attributed_at) AS hour, referred_by_member_id AS referrer, sum(s)::bigint AS n
        FROM r WHERE referred_by_member_id IS NOT NULL GROUP BY 1, 2 HAVING sum(s) <> 0),
  a AS (INSERT INTO referrer_day_deltas (referrer_member_id, day, hour, signups)
        SELECT referrer, twinrail_utc_day(hour), hour, n FROM g)
  INSERT INTO stats_day_deltas (day, hour, metric, n)
    SELECT twinrail_utc_day(hour), hour, 'signups', sum(n) FROM g GROUP BY hour
$b$);

SELECT twinrail_delta_functions('twinrail_order_deltas', $b$
  WITH r AS ({rows}),
  c AS (
    SELECT twinrail_utc_hour(created_at) AS hour, referrer_member_id AS referrer, s AS orders, 0 AS paid
      FROM r WHERE referral_applied
    UNION ALL
    SELECT twinrail_utc_hour(paid_at), referrer_member_id, 0, s FROM r WHERE referral_applied AND status <> 'created'),
  g AS (SELECT hour, referrer, sum(orders)::bigint AS orders, sum(paid)::bigint AS paid FROM c
        GROUP BY hour, referrer HAVING sum(orders) <> 0 OR sum(paid) <> 0),
  a AS (INSERT INTO referrer_day_deltas (referrer_member_id, day, hour, orders, paid_orders)
        SELECT referrer, twinrail_utc_day(hour), hour, orders, paid FROM g)
  INSERT INTO stats_day_deltas (day, hour, metric, n)
    SELECT twinrail_utc_day(t.hour), t.hour, m.metric, m.n FROM
      (SELECT hour, sum(orders)::bigint AS o, sum(paid)::bigint AS p FROM g GROUP BY hour) t,
      LATERAL (VALUES ('orders', t.o), ('paid_orders', t.p)) m(metric, n)
    WHERE m.n <> 0
$b$);

SELECT twinrail_delta_functions('twinrail_reward_deltas', $b$
  WITH r AS ({rows}),
  c AS (
    SELECT twinrail_utc_hour(created_at) AS hour, referrer_member_id AS referrer, s AS rewards,
           CASE WHEN status IN ('rejected', 'cancelled') THEN 0 ELSE s END AS live_rewards,
           CASE WHEN status IN ('rejected', 'cancelled') THEN 0 ELSE s * amount_wei END AS rewards_wei,
           CASE WHEN status = 'pending_approval' THEN s ELSE 0 END AS pending,
           CASE WHEN status IN ('approved', 'minting') THEN s ELSE 0 END AS approved,
           0 AS minted, 0::numeric AS minted_wei
      FROM r
    UNION ALL
    SELECT twinrail_utc_hour(minted_at), referrer_member_id, 0, 0, 0, 0, 0, s, s * amount_wei
      FROM r WHERE status = 'minted'),
  g AS (SELECT hour, referrer, sum(rewards)::bigint AS rewards, sum(live_rewards)::bigint AS live_rewards,
               sum(rewards_wei) AS rewards_wei,
               sum(pending)::bigint AS pending, sum(approved)::bigint AS approved,
               sum(minted)::bigint AS minted, sum(minted_wei) AS minted_wei
        FROM c GROUP BY hour, referrer
        HAVING sum(rewards) <> 0 OR sum(live_rewards) <> 0 OR sum(rewards_wei) <> 0 OR sum(pending) <> 0 OR sum(approved) <> 0
            OR sum(minted) <> 0 OR sum(minted_wei) <> 0),
  a AS (INSERT INTO referrer_day_deltas
          (referrer_member_id, day, hour, rewards, live_rewards, rewards_wei, pending, approved, minted, minted_wei)
        SELECT referrer, twinrail_utc_day(hour), hour, rewards, live_rewards, rewards_wei, pending, approved, minted,
               minted_wei FROM g),
  t AS (SELECT twinrail_utc_hour(created_at) AS hour, payment_rail || ':' || status AS key,
               sum(s)::bigint AS n, sum(s * amount_wei) AS amount
        FROM r GROUP BY 1, 2 HAVING sum(s) <> 0 OR sum(s * amount_wei) <> 0)
  INSERT INTO stats_day_deltas (day, hour, metric, key, n, amount)
    SELECT twinrail_utc_day(hour), hour, 'token', key, n, amount FROM t
    UNION ALL SELECT twinrail_utc_day(hour), hour, 'rewards', '', sum(rewards)::bigint, 0 FROM g GROUP BY hour
      HAVING sum(rewards) <> 0
    UNION ALL SELECT twinrail_utc_day(hour), hour, 'minted', '', sum(minted)::bigint, sum(minted_wei) FROM g GROUP BY hour
      HAVING sum(minted) <> 0 OR sum(minted_wei) <> 0
$b$);

-- Settlements: as 0015 (vendor amounts per day, fiat stats now per hour), and the netting rollup: the
-- adjustments not netted yet of a settlement that moves into or out of in_payout/paid.
SELECT twinrail_delta_functions('twinrail_settlement_deltas', $b$
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
        SELECT * FROM g),
  nd AS (INSERT INTO vendor_netting_deltas (vendor_id, currency, n, net)
        SELECT a.vendor_id, a.currency, sum(r.s)::bigint, sum(r.s * a.net_delta)::bigint
          FROM r JOIN settlement_adjustments a ON a.settlement_id = r.id
          WHERE {op} = 'update' AND r.status IN ('in_payout', 'paid')
            AND NOT EXISTS (SELECT 1 FROM payout_adjustments p WHERE p.adjustment_id = a.id)
          GROUP BY 1, 2 HAVING sum(r.s) <> 0 OR sum(r.s * a.net_delta) <> 0)
  INSERT INTO stats_day_deltas (day, hour, metric, key, n, amount, amount2)
    SELECT twinrail_utc_day(hour), hour, 'fiat', currency, sum(orders), sum(gross), sum(commission) FROM (
      SELECT twinrail_utc_hour(created_at) AS hour, currency, s, s * count(DISTINCT order_reference) AS orders,
             sum(s * gross) AS gross, sum(s * referral_commission) AS commission
        FROM r WHERE referral_commission > 0 GROUP BY 1, 2, 3) f
    GROUP BY hour, currency HAVING sum(orders) <> 0 OR sum(gross) <> 0 OR sum(commission) <> 0
$b$);

DROP FUNCTION twinrail_delta_functions(text, text);

-- An adjustment written against a paid-out settlement waits for the next payout (the refund path holds
-- the settlement row, so its status cannot move meanwhile).
CREATE OR REPLACE FUNCTION twinrail_adjustment_deltas() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO vendor_day_deltas (vendor_id, day, currency, status, n, gross, platform_fee,
                                 referral_commission, net)
    SELECT s.vendor_id, twinrail_utc_day(s.created_at), s.currency, s.status, 0, sum(a.gross_delta),
           sum(a.platform_fee_delta), sum(a.referral_commission_delta), sum(a.net_delta)
      FROM rollup_new a JOIN settlements s ON s.id = a.settlement_id
      GROUP BY 1, 2, 3, 4;
  INSERT INTO vendor_netting_deltas (vendor_id, currency, n, net)
    SELECT a.vendor_id, a.currency, count(*), sum(a.net_delta)
      FROM rollup_new a JOIN settlements s ON s.id = a.settlement_id
      WHERE s.status IN ('in_payout', 'paid')
      GROUP BY 1, 2;
  RETURN NULL;
END $$;

-- A netted adjustment leaves the rollup if its settlement is paid out (one that is still due was never
-- in it). The settlements are held FOR SHARE first: a payout failing back to due meanwhile waits, and
-- then sees this netting (and takes nothing out); one that moved first is seen here.
CREATE FUNCTION twinrail_netting_deltas() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM settlements s
    WHERE s.id IN (SELECT a.settlement_id FROM rollup_new p JOIN settlement_adjustments a ON a.id = p.adjustment_id)
    ORDER BY s.id FOR SHARE;
  INSERT INTO vendor_netting_deltas (vendor_id, currency, n, net)
    SELECT a.vendor_id, a.currency, -count(*), -sum(a.net_delta)
      FROM rollup_new p JOIN settlement_adjustments a ON a.id = p.adjustment_id
      JOIN settlements s ON s.id = a.settlement_id
      WHERE s.status IN ('in_payout', 'paid')
      GROUP BY 1, 2;
  RETURN NULL;
END $$;
CREATE TRIGGER payout_adjustments_rollup AFTER INSERT ON payout_adjustments
  REFERENCING NEW TABLE AS rollup_new FOR EACH STATEMENT EXECUTE FUNCTION twinrail_netting_deltas();

-- The fold of 0015, and: deltas with an hour go into the hour rollups too, referrer deltas into the
-- week rollup; netting deltas.
CREATE OR REPLACE FUNCTION twinrail_fold_rollups(batch integer) RETURNS bigint LANGUAGE plpgsql AS $$
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
        minted_wei = t.minted_wei + excluded.minted_wei),
  insh AS (INSERT INTO referrer_hour_rollup AS t
      SELECT hour, referrer_member_id, sum(signups), sum(orders), sum(live_rewards), sum(rewards_wei)
      FROM d WHERE hour IS NOT NULL GROUP BY hour, referrer_member_id
      HAVING sum(signups) <> 0 OR sum(orders) <> 0 OR sum(live_rewards) <> 0 OR sum(rewards_wei) <> 0
      ORDER BY hour, referrer_member_id
      ON CONFLICT (hour, referrer_member_id) DO UPDATE SET
        signups = t.signups + excluded.signups, orders = t.orders + excluded.orders,
        live_rewards = t.live_rewards + excluded.live_rewards, rewards_wei = t.rewards_wei + excluded.rewards_wei),
  insw AS (INSERT INTO referrer_week_rollup AS t
      SELECT date_trunc('week', day::timestamp)::date, referrer_member_id, sum(signups), sum(orders), sum(live_rewards),
             sum(rewards_wei)
      FROM d GROUP BY 1, 2
      HAVING sum(signups) <> 0 OR sum(orders) <> 0 OR sum(live_rewards) <> 0 OR sum(rewards_wei) <> 0
      ORDER BY 1, 2
      ON CONFLICT (week, referrer_member_id) DO UPDATE SET
        signups = t.signups + excluded.signups, orders = t.orders + excluded.orders,
        live_rewards = t.live_rewards + excluded.live_rewards, rewards_wei = t.rewards_wei + excluded.rewards_wei)
  SELECT count(*) INTO k FROM d;
  moved := moved + k;
  WITH d AS (DELETE FROM stats_day_deltas WHERE id IN (SELECT id FROM stats_day_deltas LIMIT batch)
             RETURNING *),
  ins AS (INSERT INTO stats_day_rollup AS t
      SELECT day, metric, key, sum(n), sum(amount), sum(amount2) FROM d GROUP BY day, metric, key
      ON CONFLICT (day, metric, key) DO UPDATE SET
        n = t.n + excluded.n, amount = t.amount + excluded.amount, amount2 = t.amount2 + excluded.amount2),
  insh AS (INSERT INTO stats_hour_rollup AS t
      SELECT hour, metric, key, sum(n), sum(amount), sum(amount2) FROM d WHERE hour IS NOT NULL
      GROUP BY hour, metric, key
      ON CONFLICT (hour, metric, key) DO UPDATE SET
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
  moved := moved + k;
  WITH d AS (DELETE FROM vendor_netting_deltas WHERE id IN (SELECT id FROM vendor_netting_deltas LIMIT batch)
             RETURNING *),
  ins AS (INSERT INTO vendor_netting_rollup AS t
      SELECT vendor_id, currency, sum(n), sum(net) FROM d GROUP BY vendor_id, currency
      ON CONFLICT (vendor_id, currency) DO UPDATE SET n = t.n + excluded.n, net = t.net + excluded.net)
  SELECT count(*) INTO k FROM d;
  RETURN moved + k;
END $$;
