#!/usr/bin/env bash
# The production install on a fresh clone (issue 13.6), as README "Production install" describes it:
#   git clone (this checkout's HEAD) → npm ci → npm run build → npm prune --omit=dev
#   → contracts deployed to `npx hardhat node` (started from this checkout)
#   → NODE_ENV=production … npm run start:prod against PostgreSQL (a fresh schema)
#   → /readyz, the pages, and one authenticated call through the compiled `twinrail/client`.
# Every step has a time limit; any failure prints the step, the service's log tail, and exits 1.
# Cleans up (processes it started, the clone, the schema) on every exit.
#   bash scripts/prod-install-check.sh      (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test)
set -euo pipefail
cd "$(dirname "$0")/.."
MAIN="$PWD"
PG_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/twinrail-prod.XXXXXX")"
SCHEMA="prod_check_$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
CHAIN_PORT="$(free_port)"
APP_PORT="$(free_port)"
NODE_PID=""
APP_PID=""
STARTED=$SECONDS

step() { printf '\n\033[1mprod-install-check [%3ss] %s\033[0m\n' "$((SECONDS - STARTED))" "$*"; }
fail() {
  printf '\n\033[1;31mprod-install-check FAILED: %s\033[0m\n' "$*" >&2
  for log in "$WORK/app.log" "$WORK/chain.log"; do
    [ -s "$log" ] && { echo "--- last lines of $log" >&2; tail -n 40 "$log" >&2; }
  done
  exit 1
}
cleanup() {
  local code=$?
  for pid in $APP_PID $NODE_PID; do
    kill -TERM -- "-$pid" 2>/dev/null && { timeout 15 tail --pid="$pid" -f /dev/null || kill -KILL -- "-$pid"; }
  done 2>/dev/null
  node -e 'const c=new (require("pg").Client)({connectionString:process.argv[1]});c.connect().then(()=>c.query(`DROP SCHEMA IF EXISTS ${process.argv[2]} CASCADE`)).then(()=>c.end(),()=>process.exit(0))' \
    "$PG_URL" "$SCHEMA" 2>/dev/null || true
  rm -rf "$WORK"
  exit "$code"
}
trap cleanup EXIT
trap 'fail "interrupted"' INT TERM
# `timeout` per step: a hung install or build fails the check instead of the CI job's clock.
bounded() { local limit=$1; shift; timeout --kill-after=10 "$limit" "$@"; }

step "dependencies declared (scripts/check-deps.mjs)"
node scripts/check-deps.mjs || fail "an import is not declared in package.json"

step "git clone of HEAD ($(git rev-parse --short HEAD)) into $WORK/twinrail"
git clone --quiet --no-hardlinks "$MAIN" "$WORK/twinrail" || fail "git clone"
cd "$WORK/twinrail"

step "npm ci"
bounded 900 npm ci --no-audit --no-fund --prefer-offline --loglevel=error >"$WORK/npm-ci.log" 2>&1 ||
  { tail -n 30 "$WORK/npm-ci.log"; fail "npm ci"; }

step "npm run build (pages by vite, service + client by tsc into dist/)"
bounded 600 npm run build --silent >"$WORK/build.log" 2>&1 || { tail -n 40 "$WORK/build.log"; fail "npm run build"; }
[ -f dist/web/index.html ] && [ -f dist/web/snippet.js ] || fail "the pages are not in dist/web"
[ -f dist/server/cli.js ] && [ -f dist/server/client/index.js ] && [ -f dist/server/client/index.d.ts ] ||
  fail "dist/server lacks cli.js or the client's .js/.d.ts"

step "npx hardhat node on 127.0.0.1:$CHAIN_PORT (from $MAIN) and contracts deployed (clone's scripts/deploy.ts)"
# Each in its own process group (setsid), stopped as a group: npm and npx run their tool as a child.
(cd "$MAIN" && exec setsid npx hardhat node --hostname 127.0.0.1 --port "$CHAIN_PORT") >"$WORK/chain.log" 2>&1 &
NODE_PID=$!
RPC_URL="http://127.0.0.1:$CHAIN_PORT"
for _ in $(seq 1 120); do
  curl -sf -X POST -H 'content-type: application/json' --data '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' \
    "$RPC_URL" >/dev/null && break
  kill -0 "$NODE_PID" 2>/dev/null || fail "hardhat node exited"
  sleep 0.5
done
curl -sf -X POST -H 'content-type: application/json' --data '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' \
  "$RPC_URL" >/dev/null || fail "hardhat node did not answer within 60 s"
bounded 180 npx tsx scripts/deploy.ts --rpc-url "$RPC_URL" --out "$WORK/deployment.json" >"$WORK/deploy.log" 2>&1 ||
  { cat "$WORK/deploy.log"; fail "deploy"; }

step "npm prune --omit=dev"
bounded 300 npm prune --omit=dev --no-audit --no-fund --loglevel=error >"$WORK/prune.log" 2>&1 ||
  { tail -n 30 "$WORK/prune.log"; fail "npm prune"; }
# (typescript itself stays: viem declares it as a peer. Nothing runs it.)
for dev in tsx hardhat vite vitest ts-node @nomicfoundation/hardhat-toolbox; do
  [ ! -e "node_modules/$dev" ] || fail "node_modules/$dev is still installed after the prune"
done

step "NODE_ENV=production npm run start:prod (PostgreSQL schema $SCHEMA, port $APP_PORT)"
secret() { node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))'; }
export NODE_ENV=production RPC_URL DATABASE_URL="$PG_URL" DATABASE_SCHEMA="$SCHEMA" PORT="$APP_PORT" HOST=127.0.0.1 \
  OPERATOR_PRIVATE_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80 \
  DEPLOYMENTS_FILE="$WORK/deployment.json" LOG_LEVEL=info \
  WEBHOOK_SECRET="whsec_$(node -e 'console.log(require("crypto").randomBytes(24).toString("base64"))')" \
  MEMBER_TOKEN_SECRET="$(secret)" CRON_SECRET="$(secret)" COOKIE_SECRET="$(secret)" IP_HASH_SECRET="$(secret)"
setsid npm run start:prod >"$WORK/app.log" 2>&1 &
APP_PID=$!
BASE="http://127.0.0.1:$APP_PORT"
ready=false
for _ in $(seq 1 240); do
  if curl -sf "$BASE/readyz" >/dev/null; then ready=true; break; fi
  kill -0 "$APP_PID" 2>/dev/null || fail "npm run start:prod exited"
  sleep 0.25
done
$ready || fail "/readyz did not answer 200 within 60 s"
echo "ready: $(curl -s "$BASE/readyz")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/admin/")" = "200" ] || fail "GET /admin/ is not 200 (prebuilt pages)"

step "an authenticated API call through the compiled twinrail/client"
KEY="$(bounded 60 node dist/server/cli.js keys create --role admin --label prod-check)" || fail "twinrail keys create"
BASE="$BASE" KEY="$KEY" bounded 60 node -e '
  const { createTwinrailClient } = require("twinrail/client");
  const admin = createTwinrailClient({ baseUrl: process.env.BASE, token: process.env.KEY });
  (async () => {
    const rewards = await admin.GET("/v1/admin/rewards", { params: { query: { limit: 5 } } });
    if (rewards.response.status !== 200 || !Array.isArray(rewards.data?.items)) throw new Error(`rewards: ${rewards.response.status} ${JSON.stringify(rewards.error)}`);
    const anonymous = await createTwinrailClient({ baseUrl: process.env.BASE }).GET("/v1/admin/rewards");
    if (anonymous.response.status !== 401) throw new Error(`without a key: ${anonymous.response.status}, not 401`);
    console.log(`GET /v1/admin/rewards: 200 with ${rewards.data.items.length} items; 401 without the key`);
  })().catch((error) => { console.error(error); process.exit(1); });
' || fail "authenticated call"

step "passed in $((SECONDS - STARTED)) s"
