#!/usr/bin/env bash
# A throwaway primary + streaming replica pair for the read-replica test (test/replica). Never the
# main cluster, never port 5439 (the resilience suite's).
#
#   scripts/pg-replica-pair.sh [start]   create if missing and start both: primary 5441, replica 5442
#   scripts/pg-replica-pair.sh stop      stop both
#   scripts/pg-replica-pair.sh drop      stop and delete both
#
# The primary is a scripts/pg-scratch-cluster.sh cluster with replication allowed from 127.0.0.1;
# the replica is a pg_basebackup -R of it (standby.signal + primary_conninfo), hot standby on.
# REPLICA_PRIMARY_PORT / REPLICA_STANDBY_PORT override the ports. Needs root (or postgres).
set -euo pipefail
cd "$(dirname "$0")/.."

ACTION="${1:-start}"
PRIMARY=replica_primary
STANDBY=replica_standby
PRIMARY_PORT="${REPLICA_PRIMARY_PORT:-5441}"
STANDBY_PORT="${REPLICA_STANDBY_PORT:-5442}"
for port in "$PRIMARY_PORT" "$STANDBY_PORT"; do
  case "$port" in 5432 | 5439) echo "refusing port $port (main cluster / resilience suite)" >&2; exit 2 ;; esac
done
VERSION="${PG_VERSION:-$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n1)}"
exists() { pg_lsclusters -h "$VERSION" "$1" >/dev/null 2>&1; }
running() { pg_lsclusters -h "$VERSION" "$1" 2>/dev/null | awk '{print $4}' | grep -q online; }
ctl() { pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$@"; }

case "$ACTION" in
  stop)
    if exists "$STANDBY" && running "$STANDBY"; then ctl "$STANDBY" stop -m fast; fi
    bash scripts/pg-scratch-cluster.sh "$PRIMARY" "$PRIMARY_PORT" stop
    exit 0
    ;;
  drop)
    if exists "$STANDBY"; then pg_dropcluster --stop "$VERSION" "$STANDBY"; fi
    bash scripts/pg-scratch-cluster.sh "$PRIMARY" "$PRIMARY_PORT" drop
    exit 0
    ;;
  start) ;;
  *) echo "unknown action $ACTION (start | stop | drop)" >&2; exit 2 ;;
esac

bash scripts/pg-scratch-cluster.sh "$PRIMARY" "$PRIMARY_PORT" >/dev/null
# pg-scratch-cluster.sh rewrites pg_hba.conf on every start: allow replication again, then reload.
PRIMARY_CONF="/etc/postgresql/$VERSION/$PRIMARY"
echo "host  replication all 127.0.0.1/32 trust" >>"$PRIMARY_CONF/pg_hba.conf"
ctl "$PRIMARY" reload

STANDBY_CONF="/etc/postgresql/$VERSION/$STANDBY"
if ! exists "$STANDBY"; then
  pg_createcluster --quiet --no-status --start-conf=manual --locale=C.UTF-8 -p "$STANDBY_PORT" "$VERSION" "$STANDBY" \
    -- --auth-local=trust --auth-host=trust >/dev/null
fi
DATA="$(pg_lsclusters -h "$VERSION" "$STANDBY" | awk '{print $6}')"
if [ ! -f "$DATA/standby.signal" ]; then
  # Fresh (or a half-made one from an interrupted run): replace its data with a base backup of the primary.
  if running "$STANDBY"; then ctl "$STANDBY" stop -m fast; fi
  find "$DATA" -mindepth 1 -delete
  pg_basebackup -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$DATA" -R -X stream -c fast
  chown -R postgres:postgres "$DATA"
  chmod 700 "$DATA"
fi
cat >"$STANDBY_CONF/pg_hba.conf" <<'HBA'
# scripts/pg-replica-pair.sh: a throwaway test replica, reachable from this machine only.
local all all trust
host  all all 127.0.0.1/32 trust
host  all all ::1/128 trust
HBA
mkdir -p "$STANDBY_CONF/conf.d"
cat >"$STANDBY_CONF/conf.d/scratch.conf" <<CONFIG
# scripts/pg-replica-pair.sh
listen_addresses = '127.0.0.1'
port = $STANDBY_PORT
ssl = off
fsync = off
shared_buffers = 32MB
max_connections = 60
hot_standby = on
log_min_messages = warning
CONFIG
chown -R postgres:postgres "$STANDBY_CONF" 2>/dev/null || true
if running "$STANDBY"; then ctl "$STANDBY" reload; else ctl "$STANDBY" start; fi
for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 -p "$STANDBY_PORT" && break
  sleep 0.5
done
pg_isready -q -h 127.0.0.1 -p "$STANDBY_PORT" || { echo "replica did not come up on $STANDBY_PORT" >&2; exit 5; }
[ "$(psql -h 127.0.0.1 -p "$STANDBY_PORT" -U postgres -d test -tAc 'SELECT pg_is_in_recovery()')" = "t" ] ||
  { echo "the cluster on $STANDBY_PORT is not a standby" >&2; exit 5; }
echo "replica pair ready: primary postgres://postgres@127.0.0.1:$PRIMARY_PORT/test, replica postgres://postgres@127.0.0.1:$STANDBY_PORT/test"
