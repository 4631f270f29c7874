#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests that stop or restart the server (test/resilience). Never
# the main cluster: other suites share that one.
#
#   scripts/pg-scratch-cluster.sh NAME PORT          create if missing, start, ensure database `test`
#   scripts/pg-scratch-cluster.sh NAME PORT stop     stop it
#   scripts/pg-scratch-cluster.sh NAME PORT drop     stop and delete it
#
# Idempotent. Needs root (or the postgres user) and Debian's postgresql-common (pg_createcluster,
# pg_ctlcluster), which every machine with the main cluster has; PG_VERSION overrides the version
# (default: the newest installed server). Trust authentication on 127.0.0.1 only, fsync off (the
# tests restart PostgreSQL, never the machine), small memory settings.
set -euo pipefail

NAME="${1:?usage: $0 NAME PORT [start|stop|drop]}"
PORT="${2:?usage: $0 NAME PORT [start|stop|drop]}"
ACTION="${3:-start}"
[[ "$NAME" =~ ^[a-z][a-z0-9_]*$ ]] || { echo "cluster name must match ^[a-z][a-z0-9_]*\$: $NAME" >&2; exit 2; }
[[ "$PORT" =~ ^[0-9]+$ ]] && [ "$PORT" -ge 1024 ] && [ "$PORT" -le 65535 ] || { echo "bad port: $PORT" >&2; exit 2; }
[ "$NAME" != "main" ] || { echo "refusing to touch the main cluster" >&2; exit 2; }

for tool in pg_createcluster pg_ctlcluster pg_lsclusters pg_isready psql; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install postgresql-common postgresql)" >&2; exit 3; }
done
if [ "$(id -u)" -ne 0 ] && [ "$(id -un)" != "postgres" ]; then
  echo "run as root or postgres (pg_createcluster and pg_ctlcluster act as the cluster owner)" >&2
  exit 3
fi

VERSION="${PG_VERSION:-$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n1)}"
[ -x "/usr/lib/postgresql/$VERSION/bin/postgres" ] || { echo "no PostgreSQL server $VERSION installed" >&2; exit 3; }
CONF="/etc/postgresql/$VERSION/$NAME"
exists() { pg_lsclusters -h "$VERSION" "$NAME" >/dev/null 2>&1; }
running() { pg_lsclusters -h "$VERSION" "$NAME" 2>/dev/null | awk '{print $4}' | grep -qx online; }
ctl() { pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$NAME" "$@"; }

case "$ACTION" in
  stop)
    if exists && running; then ctl stop -m fast; fi
    exit 0
    ;;
  drop)
    if exists; then pg_dropcluster --stop "$VERSION" "$NAME"; fi
    exit 0
    ;;
  start) ;;
  *) echo "unknown action $ACTION (start | stop | drop)" >&2; exit 2 ;;
esac

if exists; then
  current_port="$(pg_lsclusters -h "$VERSION" "$NAME" | awk '{print $3}')"
  if [ "$current_port" != "$PORT" ]; then
    echo "cluster $VERSION/$NAME exists on port $current_port, not $PORT (drop it first: $0 $NAME $PORT drop)" >&2
    exit 4
  fi
else
  # Explicit --auth-* keeps pg_createcluster from rewriting pg_hba.conf to peer/md5; it is replaced below anyway.
  pg_createcluster --quiet --no-status --start-conf=manual --locale=C.UTF-8 -p "$PORT" "$VERSION" "$NAME" \
    -- --auth-local=trust --auth-host=trust >/dev/null
fi

# Rewritten every time, so a half-configured cluster from an interrupted run is repaired.
cat >"$CONF/pg_hba.conf" <<'HBA'
# scripts/pg-scratch-cluster.sh: a throwaway test cluster, reachable from this machine only.
local all all trust
host  all all 127.0.0.1/32 trust
host  all all ::1/128 trust
HBA
mkdir -p "$CONF/conf.d"
cat >"$CONF/conf.d/scratch.conf" <<CONFIG
# scripts/pg-scratch-cluster.sh
listen_addresses = '127.0.0.1'
port = $PORT
ssl = off
fsync = off
full_page_writes = off
shared_buffers = 32MB
max_connections = 60
log_min_messages = warning
CONFIG
chown -R postgres:postgres "$CONF" 2>/dev/null || true

if running; then
  ctl reload
else
  ctl start
fi
for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 -p "$PORT" && break
  sleep 0.5
done
pg_isready -q -h 127.0.0.1 -p "$PORT" || { echo "cluster $VERSION/$NAME did not come up on $PORT" >&2; exit 5; }

if [ "$(psql -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'")" != "1" ]; then
  psql -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -qc "CREATE DATABASE test"
fi
echo "scratch cluster $VERSION/$NAME ready: postgres://postgres@127.0.0.1:$PORT/test"
