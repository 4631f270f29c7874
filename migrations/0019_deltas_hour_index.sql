-- Unfolded rollup deltas by hour (issue 12; docs/scaling.md "Reads without raw rows"). Never edit
-- after it lands.
--
-- Since 0017 the stats and top-referrer reads take the unfolded deltas of the window's whole days OR of
-- its partial hours (`day` in … OR `hour` in …). Only `day` had an index, so the OR could not use one and
-- each read scanned the whole delta table, live and dead rows alike: a fold deletes what it folded, and
-- until VACUUM reclaims it the table keeps growing (193 MB for 3,839 live rows after a 206k-order fill,
-- a 48 ms scan in every /v1/admin/stats). With `hour` indexed too, the OR is a bitmap union of two index
-- scans over the live window (top referrers 74 → 15 ms on the same table).
CREATE INDEX stats_day_deltas_hour_idx ON stats_day_deltas (hour) WHERE hour IS NOT NULL;
CREATE INDEX referrer_day_deltas_hour_idx ON referrer_day_deltas (hour) WHERE hour IS NOT NULL;
