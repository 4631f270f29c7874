-- In-memory code caches (/r/:code, /v1/track, /v1/referral) follow the database through one version
-- number. Every change the public lookup can see — a code issued, deactivated or rotated, a change of
-- owner, the owner's display name — takes the next version in the writing transaction and stamps it on
-- the code row (referral_codes.cache_version). Taking a version locks the single version row until
-- commit, so versions become visible in commit order: an instance that reads version V in a snapshot
-- sees every code row stamped ≤ V, and `cache_version > last` is exactly what changed since it last
-- looked. Instances poll this (no LISTEN/NOTIFY: works through a transaction-pooling pgbouncer).
-- Visit counters (visits_total, unique_visitors_total) are not watched: flushes take no version.
CREATE TABLE code_cache_version (
  id       integer PRIMARY KEY CHECK (id = 1),
  version  bigint NOT NULL CHECK (version >= 0)
);
INSERT INTO code_cache_version (id, version) VALUES (1, 0);

ALTER TABLE referral_codes ADD COLUMN cache_version bigint NOT NULL DEFAULT 0;
CREATE INDEX referral_codes_cache_version_idx ON referral_codes (cache_version);

CREATE FUNCTION next_code_cache_version() RETURNS bigint LANGUAGE sql AS $$
  UPDATE code_cache_version SET version = version + 1 WHERE id = 1 RETURNING version
$$;

CREATE FUNCTION stamp_code_cache_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.cache_version := next_code_cache_version();
  RETURN NEW;
END
$$;

CREATE TRIGGER referral_codes_cache_version_ins
  BEFORE INSERT ON referral_codes
  FOR EACH ROW EXECUTE FUNCTION stamp_code_cache_version();
CREATE TRIGGER referral_codes_cache_version_upd
  BEFORE UPDATE OF code, active, owner_member_id ON referral_codes
  FOR EACH ROW
  WHEN (OLD.code IS DISTINCT FROM NEW.code OR OLD.active IS DISTINCT FROM NEW.active
        OR OLD.owner_member_id IS DISTINCT FROM NEW.owner_member_id)
  EXECUTE FUNCTION stamp_code_cache_version();

-- The badge shows the owner's display name: its codes are stamped again.
CREATE FUNCTION stamp_owner_codes_cache_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE referral_codes SET cache_version = next_code_cache_version() WHERE owner_member_id = NEW.member_id;
  RETURN NULL;
END
$$;
CREATE TRIGGER members_cache_version_display_name
  AFTER UPDATE OF display_name ON members
  FOR EACH ROW
  WHEN (OLD.display_name IS DISTINCT FROM NEW.display_name)
  EXECUTE FUNCTION stamp_owner_codes_cache_version();
