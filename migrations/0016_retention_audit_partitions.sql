-- Retention (issue 12, item 5; docs/scaling.md "Retention and partitioning"). Never edit after it lands.
--
-- audit_log becomes a table range-partitioned by month on `at`, so retention drops a whole month
-- (DROP TABLE of one partition: milliseconds, no dead rows) and the append-only row trigger never has
-- to be bypassed. The rows already there are not copied: the old table becomes the partition for
-- everything before the start of next month (audit_log_legacy), which is dropped once its newest
-- possible row is past the window. Costs one scan to validate that bound and one index build on
-- (id, at) under the table's exclusive lock (about 1 s per million rows).
--
-- journal_entries is NOT partitioned: it is the books and is never pruned, and partitions would
-- weaken the guarantees of 0002/0010 (a statement-level trigger with a transition table fires only
-- for inserts into the parent, so an INSERT straight into a partition skips the balance check, and a
-- TRUNCATE of one partition skips the no-truncate trigger). Measurements: docs/scaling.md.
--
-- webhook_events and idempotency_keys keep their primary keys — the dedupe keys, which a partition
-- key would have to join — and are pruned by batched deletes instead; these indexes find what is past
-- the window without a scan.
CREATE INDEX webhook_events_received_at_idx ON webhook_events (received_at);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

-- Whatever indexes and triggers audit_log carries now (0001's, and any a later migration added) move to
-- the partitioned table; a unique index without `at` cannot, and fails this migration loudly.
DO $$
DECLARE
  bound timestamptz := (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
  index_defs text[] := ARRAY(
    SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
     WHERE i.indrelid = 'audit_log'::regclass AND NOT i.indisprimary ORDER BY i.indexrelid);
  index_names text[] := ARRAY(
    SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE i.indrelid = 'audit_log'::regclass AND NOT i.indisprimary ORDER BY i.indexrelid);
  trigger_defs text[] := ARRAY(
    SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t
     WHERE t.tgrelid = 'audit_log'::regclass AND NOT t.tgisinternal ORDER BY t.oid);
  trigger_names text[] := ARRAY(
    SELECT t.tgname::text FROM pg_trigger t
     WHERE t.tgrelid = 'audit_log'::regclass AND NOT t.tgisinternal ORDER BY t.oid);
  pkey text := (SELECT conname FROM pg_constraint WHERE conrelid = 'audit_log'::regclass AND contype = 'p');
  seq text := pg_get_serial_sequence('audit_log', 'id');
  name text;
  def text;
BEGIN
  ALTER TABLE audit_log RENAME TO audit_log_legacy;
  FOREACH name IN ARRAY trigger_names LOOP
    EXECUTE format('DROP TRIGGER %I ON audit_log_legacy', name);
  END LOOP;
  FOREACH name IN ARRAY index_names LOOP
    EXECUTE format('ALTER INDEX %I RENAME TO %I', name, left(name, 50) || '_legacy');
  END LOOP;
  EXECUTE format('ALTER TABLE audit_log_legacy DROP CONSTRAINT %I', pkey);

  CREATE TABLE audit_log (LIKE audit_log_legacy INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)
    PARTITION BY RANGE (at);
  ALTER TABLE audit_log ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id, at);
  EXECUTE format('ALTER SEQUENCE %s OWNED BY audit_log.id', seq);

  EXECUTE format('ALTER TABLE audit_log_legacy ADD CONSTRAINT audit_log_legacy_bound CHECK (at < %L)', bound);
  EXECUTE format('ALTER TABLE audit_log ATTACH PARTITION audit_log_legacy FOR VALUES FROM (MINVALUE) TO (%L)', bound);
  ALTER TABLE audit_log_legacy DROP CONSTRAINT audit_log_legacy_bound;

  -- Created on the parent: each attaches the legacy index of the same definition, or builds one.
  FOREACH def IN ARRAY index_defs LOOP
    EXECUTE def;
  END LOOP;
  -- Row triggers on the parent are cloned to every partition, present and future.
  FOREACH def IN ARRAY trigger_defs LOOP
    EXECUTE def;
  END LOOP;
END $$;

-- The month partitions of audit_log from the month of `at` through `months_ahead` months after it
-- (UTC months, named audit_log_pYYYYMM). Idempotent, and safe from several instances at once (an
-- advisory lock). A month the legacy partition already covers is skipped. Returns what it created.
CREATE FUNCTION twinrail_audit_log_ensure_partitions(months_ahead integer, at timestamptz DEFAULT now())
RETURNS SETOF text LANGUAGE plpgsql SET lock_timeout = '5s' AS $$
DECLARE
  first_month timestamp := date_trunc('month', at AT TIME ZONE 'UTC');
  schema_name text := (SELECT relnamespace::regnamespace::text FROM pg_class WHERE oid = 'audit_log'::regclass);
  lower timestamptz;
  upper timestamptz;
  name text;
BEGIN
  PERFORM pg_advisory_xact_lock(7312016);
  FOR i IN 0..greatest(months_ahead, 0) LOOP
    lower := (first_month + make_interval(months => i)) AT TIME ZONE 'UTC';
    upper := (first_month + make_interval(months => i + 1)) AT TIME ZONE 'UTC';
    name := 'audit_log_p' || to_char(lower AT TIME ZONE 'UTC', 'YYYYMM');
    CONTINUE WHEN to_regclass(format('%I.%I', schema_name, name)) IS NOT NULL;
    -- Covered by the legacy partition (or by one created by hand): nothing to create.
    CONTINUE WHEN EXISTS (
      SELECT 1 FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
       WHERE h.inhparent = 'audit_log'::regclass
         AND twinrail_partition_upper(c.oid) > lower
         AND coalesce(twinrail_partition_lower(c.oid) <= lower, true));
    EXECUTE format('CREATE TABLE %I.%I PARTITION OF audit_log FOR VALUES FROM (%L) TO (%L)',
                   schema_name, name, lower, upper);
    RETURN NEXT name;
  END LOOP;
END $$;

-- The bounds of a range partition on a timestamptz (NULL for MINVALUE / MAXVALUE).
CREATE FUNCTION twinrail_partition_upper(partition oid) RETURNS timestamptz LANGUAGE sql STABLE AS $$
  SELECT (regexp_match(pg_get_expr(relpartbound, oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz
    FROM pg_class WHERE oid = partition
$$;
CREATE FUNCTION twinrail_partition_lower(partition oid) RETURNS timestamptz LANGUAGE sql STABLE AS $$
  SELECT (regexp_match(pg_get_expr(relpartbound, oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz
    FROM pg_class WHERE oid = partition
$$;

-- Drops the partitions of audit_log whose every row is older than `before` (upper bound <= before),
-- the legacy one included. A partition is dropped whole or not at all; the append-only trigger is
-- untouched. Waits at most 5 s for its lock (a long reader of audit_log): the next run tries again.
CREATE FUNCTION twinrail_audit_log_drop_partitions(before timestamptz)
RETURNS SETOF text LANGUAGE plpgsql SET lock_timeout = '5s' AS $$
DECLARE
  part record;
BEGIN
  PERFORM pg_advisory_xact_lock(7312016);
  FOR part IN
    SELECT c.oid::regclass AS rel, c.relname::text AS name FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
     WHERE h.inhparent = 'audit_log'::regclass AND twinrail_partition_upper(c.oid) <= before
     ORDER BY twinrail_partition_upper(c.oid)
  LOOP
    EXECUTE format('DROP TABLE %s', part.rel);
    RETURN NEXT part.name;
  END LOOP;
END $$;

SELECT twinrail_audit_log_ensure_partitions(3);
