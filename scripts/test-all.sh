#!/usr/bin/env bash
# `npm test`: every check, in the order a failure is cheapest to find. The same script runs in CI.
# PostgreSQL at 127.0.0.1:5432 and Debian's chromium are used when present; under CI=true they are
# required (CI installs/starts them first, see .ci/run), on a workstation a missing one is reported
# as skipped, loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
RESULTS="$(mktemp)"
trap 'rm -f "$RESULTS"' EXIT
# Runs a test command and keeps its output, so the closing line can add up what ran.
counted() { "$@" 2>&1 | tee -a "$RESULTS"; }
section() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }
skipped=()

section "lint (biome)"
npx biome check .

section "contracts (hardhat compile + test)"
counted npx hardhat test
npx tsx scripts/gen-abi.ts --check

section "typecheck (tsc --noEmit)"
npx tsc --noEmit -p .

section "unit tests"
counted npx vitest run --project unit

section "integration tests on PGlite"
TEST_DB=pglite counted npx vitest run --project integration

pg_up=false
if node -e "const c=new (require('pg').Client)({connectionString:process.argv[1]});c.connect().then(()=>c.end(),()=>process.exit(1))" "$PG_URL" 2>/dev/null; then
  pg_up=true
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL is not reachable at $PG_URL (required in CI)"; exit 1
fi

section "integration tests on PostgreSQL"
if $pg_up; then
  TEST_DB=postgres TEST_DATABASE_URL="$PG_URL" counted npx vitest run --project integration
else
  skipped+=("integration on PostgreSQL: nothing listens at $PG_URL")
fi

section "minter fault tests (kill -9 at each crash point, RPC faults, stuck tx, two minters)"
if $pg_up; then
  TEST_DATABASE_URL="$PG_URL" counted npx vitest run --project faults
else
  skipped+=("minter fault tests: they need PostgreSQL at $PG_URL")
fi

section "resilience (PostgreSQL restart under load)"
# A throwaway cluster (never the main one, other suites share it) restarted in the middle of a webhook
# storm; RESILIENCE_PG_PORT (default 5439) must be free for it.
RESILIENCE_PG_PORT="${RESILIENCE_PG_PORT:-5439}"
if command -v pg_createcluster >/dev/null && { [ "$(id -u)" -eq 0 ] || [ "$(id -un)" = "postgres" ]; }; then
  bash scripts/pg-scratch-cluster.sh resilience "$RESILIENCE_PG_PORT"
  RESILIENCE_PG_PORT="$RESILIENCE_PG_PORT" counted npx vitest run --project resilience
  bash scripts/pg-scratch-cluster.sh resilience "$RESILIENCE_PG_PORT" stop
elif [ "${CI:-}" = "true" ]; then
  echo "the resilience test needs pg_createcluster (postgresql-common) and root (required in CI)"; exit 1
else
  skipped+=("resilience: needs pg_createcluster (postgresql-common) and root for a scratch cluster")
fi

section "read replica (READ_DATABASE_URL against a streaming replica)"
# A throwaway primary + replica pair (pg_basebackup -R), never the main cluster; ports 5441 and 5442.
if command -v pg_createcluster >/dev/null && command -v pg_basebackup >/dev/null && { [ "$(id -u)" -eq 0 ] || [ "$(id -un)" = "postgres" ]; }; then
  bash scripts/pg-replica-pair.sh
  TEST_DB=postgres TEST_DATABASE_URL="postgres://postgres@127.0.0.1:${REPLICA_PRIMARY_PORT:-5441}/test" \
    REPLICA_STANDBY_URL="postgres://postgres@127.0.0.1:${REPLICA_STANDBY_PORT:-5442}/test" \
    counted npx vitest run --project replica
  bash scripts/pg-replica-pair.sh stop
elif [ "${CI:-}" = "true" ]; then
  echo "the replica test needs pg_createcluster and pg_basebackup (postgresql-common) and root (required in CI)"; exit 1
else
  skipped+=("read replica: needs pg_createcluster, pg_basebackup and root for a scratch primary + replica")
fi

section "end-to-end tests in Chromium"
if [ -n "$(ls test/e2e/*.test.ts 2>/dev/null)" ]; then
  if [ -x /usr/bin/chromium ]; then
    counted npx vitest run --project e2e
  elif [ "${CI:-}" = "true" ]; then
    echo "/usr/bin/chromium is missing (required in CI)"; exit 1
  else
    skipped+=("e2e: /usr/bin/chromium is missing (apt-get install -y chromium)")
  fi
fi

section "benchmarks, quick run (npm run bench -- --quick: the scripts keep working; figures from the full run)"
if $pg_up && command -v wrk >/dev/null; then
  npx tsx scripts/bench/index.ts --quick
elif [ "${CI:-}" = "true" ]; then
  echo "the quick benchmark run needs PostgreSQL and wrk (required in CI)"; exit 1
else
  skipped+=("benchmarks: they need PostgreSQL at $PG_URL and wrk (apt-get install -y wrk)")
fi

section "production install on a fresh clone (scripts/prod-install-check.sh)"
# git clone of HEAD → npm ci → npm run build → npm prune --omit=dev → start:prod on PostgreSQL against
# `npx hardhat node`, /readyz and an authenticated call through the compiled twinrail/client.
if $pg_up; then
  TEST_DATABASE_URL="$PG_URL" bash scripts/prod-install-check.sh
else
  skipped+=("production install check: it needs PostgreSQL at $PG_URL")
fi

section "demo smoke test (npm run demo)"
npx tsx scripts/demo.ts

if [ ${#skipped[@]} -gt 0 ]; then
  section "SKIPPED"
  printf '  - %s\n' "${skipped[@]}"
fi
# One plain closing line over every runner above (mocha's "N passing", vitest's "Tests  N passed").
passed=$(sed 's/\x1b\[[0-9;]*m//g' "$RESULTS" | awk '/^ *[0-9]+ passing/ {n += $1} /^ *Tests +[0-9]+ passed/ {n += $2} END {print n + 0}')
echo
echo "all checks passed"
echo "${passed} passed, 0 failed"
