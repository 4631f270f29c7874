-- A year of top-referrer rollups at (beyond) 1M-order density, for timing /v1/admin/stats's statements
-- without filling a million orders (docs/scaling.md "Reads without raw rows (0017)"): every one of
-- 2,000 referrers active every day (730k referrer-day rows), 120 in every hour (1.05M referrer-hour
-- rows), ten stats metrics per day and per hour; the raw tables empty. Needs a schema migrated to 0017
-- with members named m_fill_r* (scripts/bench/fill.ts) as the template:
--
--   psql -v src=bench_stats -f scripts/bench/stats-synth.sql "$BENCH_DATABASE_URL"
--
-- then call readAdminStatsRollup against schema bench_top_synth.
DROP SCHEMA IF EXISTS bench_top_synth CASCADE;
CREATE SCHEMA bench_top_synth;
SET search_path = bench_top_synth;
CREATE TABLE members (LIKE :src.members INCLUDING ALL);
INSERT INTO members SELECT * FROM :src.members WHERE member_id LIKE 'm_fill_r%';
CREATE TABLE referral_codes AS SELECT * FROM :src.referral_codes WHERE false;
CREATE TABLE visit_days (LIKE :src.visit_days INCLUDING ALL);
CREATE TABLE orders (LIKE :src.orders INCLUDING INDEXES);
CREATE TABLE referral_rewards (LIKE :src.referral_rewards INCLUDING INDEXES);
CREATE TABLE settlements (LIKE :src.settlements INCLUDING INDEXES);
CREATE TABLE stats_day_rollup (LIKE :src.stats_day_rollup INCLUDING ALL);
CREATE TABLE stats_hour_rollup (LIKE :src.stats_hour_rollup INCLUDING ALL);
CREATE TABLE stats_day_deltas (LIKE :src.stats_day_deltas INCLUDING ALL);
CREATE TABLE referrer_day_rollup (LIKE :src.referrer_day_rollup INCLUDING ALL);
CREATE TABLE referrer_week_rollup (LIKE :src.referrer_week_rollup INCLUDING ALL);
CREATE TABLE referrer_hour_rollup (LIKE :src.referrer_hour_rollup INCLUDING ALL);
CREATE TABLE referrer_day_deltas (LIKE :src.referrer_day_deltas INCLUDING ALL);
INSERT INTO referrer_day_rollup (referrer_member_id, day, signups, orders, paid_orders, rewards, live_rewards, rewards_wei)
  SELECT 'm_fill_r' || r, current_date - d, 1 + r % 3, 1 + (d + r) % 5, 1, 1, 1, 1000000000000000000
  FROM generate_series(0, 1999) r, generate_series(0, 364) d;
INSERT INTO referrer_week_rollup
  SELECT date_trunc('week', day::timestamp)::date, referrer_member_id, sum(signups), sum(orders), sum(live_rewards),
         sum(rewards_wei)
  FROM referrer_day_rollup GROUP BY 1, 2;
INSERT INTO referrer_hour_rollup (hour, referrer_member_id, signups, orders, live_rewards, rewards_wei)
  SELECT date_trunc('hour', now()) - h * interval '1 hour', 'm_fill_r' || ((h * 7 + k * 13) % 2000), 1, 1, 1,
         1000000000000000000
  FROM generate_series(0, 365 * 24) h, generate_series(0, 119) k ON CONFLICT DO NOTHING;
INSERT INTO stats_day_rollup (day, metric, key, n, amount)
  SELECT current_date - d, m, CASE WHEN m = 'token' THEN 'card:s' || i WHEN m = 'fiat' THEN 'UAH' ELSE '' END, 2740, 1
  FROM generate_series(0, 364) d,
       unnest(ARRAY['signups', 'orders', 'paid_orders', 'rewards', 'minted', 'token', 'token', 'token', 'token', 'fiat'])
         WITH ORDINALITY AS t(m, i);
INSERT INTO stats_hour_rollup (hour, metric, key, n, amount)
  SELECT date_trunc('hour', now()) - h * interval '1 hour', m,
         CASE WHEN m = 'token' THEN 'card:s' || i WHEN m = 'fiat' THEN 'UAH' ELSE '' END, 114, 1
  FROM generate_series(0, 365 * 24) h,
       unnest(ARRAY['signups', 'orders', 'paid_orders', 'rewards', 'minted', 'token', 'token', 'token', 'token', 'fiat'])
         WITH ORDINALITY AS t(m, i);
ANALYZE members, referrer_day_rollup, referrer_week_rollup, referrer_hour_rollup, stats_day_rollup, stats_hour_rollup;
