import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/http/app.js";
import { REF_COOKIE, signCookieValue } from "../../src/lib/cookies.js";
import { signWebhook } from "../../src/lib/standard-webhooks.js";
import { appRoutes } from "../support/app-routes.js";
import {
  orderBody,
  paidEvent,
  seedCatalog,
  startTestInstance,
  TEST_DB,
  type TestInstance,
} from "../support/harness.js";

/**
 * Issue 12's property: whatever a client sends to whatever route — oversized, negative, unicode, NUL,
 * deeply nested, wrong-typed bodies, params, query strings and headers, with the right credentials or
 * the wrong ones — the answer is never a 5xx. The route table below must equal the express app's, so
 * a new route cannot be left out. FUZZ_RUNS raises the run count (one request per run; shrinking a
 * failure sends more, and every request is counted).
 */
const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 600);
const FUZZ_SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

type Auth = "none" | "admin" | "integration" | "vendor" | "member" | "cron" | "webhook";

interface RouteSpec {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Express path, `:name` for params. */
  path: string;
  auth: Auth;
  /** Plausible values per path param (the fuzzer mixes them with hostile ones). */
  params?: Record<string, string[]>;
  /** Query keys with plausible values. */
  query?: Record<string, string[]>;
  /** A valid body, which the fuzzer mutates. */
  body?: () => unknown;
}

const ANNA_WALLET = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
const PAID = "ord_fuzz_paid";
const OPEN = "ord_fuzz_open";
const now = () => new Date().toISOString();
const dates = ["2026-01-01", "2025-12-01T00:00:00Z", now(), "1970-01-01", "9999-12-31"];
const limits = ["1", "50", "200", "500", "0", "1000"];
const ids = ["1", "2", "3", "42"];

const events = [
  () => paidEvent(OPEN, "170000"),
  () => paidEvent("ord_fuzz_new", "1", { order: orderBody("ord_fuzz_new") }),
  () => ({
    type: "order.refunded",
    data: { orderReference: PAID, refundId: "rf_1", amountRefunded: "1000", refundedAt: now() },
  }),
  () => ({
    type: "order.chargeback",
    data: { orderReference: PAID, disputeId: "dp_1", status: "opened", amount: "170000" },
  }),
  () => ({
    type: "membership.paid",
    data: {
      memberId: "m_buyer_ord_fuzz_paid",
      membershipReference: "mem_1",
      amountPaid: "10000",
      currency: "UAH",
      paidAt: now(),
    },
  }),
  () => ({ type: "customer.created", data: { id: 1 } }),
];

/** Every route of the app, with what it needs. Kept in step with the router by the first test. */
const ROUTES: RouteSpec[] = [
  // webhooks.ts
  { method: "POST", path: "/v1/webhooks/payments", auth: "webhook", body: () => events[0]!() },
  // web.ts
  { method: "GET", path: "/snippet.js", auth: "none" },
  { method: "GET", path: "/", auth: "none" },
  { method: "GET", path: "/admin", auth: "none" },
  { method: "GET", path: "/vendor", auth: "none" },
  { method: "GET", path: "/referrer", auth: "none" },
  { method: "GET", path: "/shop", auth: "none" },
  { method: "GET", path: "/tx", auth: "none" },
  // demo-shop.ts (mounted: the instance runs with DEMO=1)
  { method: "GET", path: "/demo-shop/api/products", auth: "none" },
  {
    method: "POST",
    path: "/demo-shop/api/checkout",
    auth: "none",
    body: () => ({
      buyerId: "m_shopper",
      buyerName: "Shopper",
      refCode: "ANNA7F3K",
      items: [{ productId: "p_novel", quantity: 1 }],
    }),
  },
  {
    method: "POST",
    path: "/demo-shop/api/orders/:orderReference/pay",
    auth: "none",
    params: { orderReference: [OPEN, PAID, "ord_missing"] },
  },
  // ops.ts
  { method: "GET", path: "/openapi.json", auth: "none" },
  { method: "GET", path: "/docs", auth: "none" },
  { method: "GET", path: "/healthz", auth: "none" },
  { method: "GET", path: "/readyz", auth: "none" },
  { method: "GET", path: "/metrics", auth: "none" },
  { method: "GET", path: "/v1/cron/mint", auth: "cron" },
  { method: "POST", path: "/v1/cron/mint", auth: "cron" },
  {
    method: "POST",
    path: "/v1/chain/rpc",
    auth: "none",
    body: () => ({ jsonrpc: "2.0", id: 1, method: "eth_blockNumber", params: [] }),
  },
  // public.ts
  { method: "GET", path: "/r/:code", auth: "none", params: { code: ["ANNA7F3K", "anna7f3k", "NOPE123"] } },
  { method: "POST", path: "/v1/track", auth: "none", body: () => ({ code: "ANNA7F3K", path: "/shop/" }) },
  { method: "GET", path: "/v1/referral", auth: "none", query: { code: ["ANNA7F3K", "NOPE123"] } },
  // integration.ts
  {
    method: "POST",
    path: "/v1/members",
    auth: "integration",
    body: () => ({
      memberId: "m_fuzz",
      displayName: "Fuzz",
      walletAddress: ANNA_WALLET,
      refCode: "ANNA7F3K",
      clickId: null,
      clientIp: "203.0.113.7",
    }),
  },
  {
    method: "PATCH",
    path: "/v1/members/:memberId",
    auth: "integration",
    params: { memberId: ["m_anna", "m_fuzz", "m_ghost"] },
    body: () => ({ displayName: "Renamed", walletAddress: ANNA_WALLET }),
  },
  {
    method: "POST",
    path: "/v1/members/:memberId/code",
    auth: "integration",
    params: { memberId: ["m_fuzz", "m_ghost"] },
    body: () => ({ rotate: false, vanity: "FUZZ_1" }),
  },
  {
    method: "PUT",
    path: "/v1/vendors/:vendorId",
    auth: "integration",
    params: { vendorId: ["v_fuzz", "v_books"] },
    body: () => ({ name: "Fuzz", referralCommissionBps: 500, platformFeeBps: 1000, holdDays: 0 }),
  },
  {
    method: "PUT",
    path: "/v1/products/:productId",
    auth: "integration",
    params: { productId: ["p_fuzz", "p_novel"] },
    body: () => ({ vendorId: "v_books", referralCommissionBps: 700 }),
  },
  { method: "POST", path: "/v1/orders", auth: "integration", body: () => orderBody("ord_fuzz_order") },
  // webhook-endpoints.ts
  {
    method: "POST",
    path: "/v1/admin/webhook-endpoints",
    auth: "admin",
    body: () => ({ url: "https://93.184.216.34/hook", events: ["reward.created"], description: "fuzz" }),
  },
  { method: "GET", path: "/v1/admin/webhook-endpoints", auth: "admin" },
  { method: "DELETE", path: "/v1/admin/webhook-endpoints/:id", auth: "admin", params: { id: ids } },
  {
    method: "POST",
    path: "/v1/admin/webhook-endpoints/:id/rotate-secret",
    auth: "admin",
    params: { id: ids },
  },
  { method: "POST", path: "/v1/admin/webhook-endpoints/:id/enable", auth: "admin", params: { id: ids } },
  {
    method: "GET",
    path: "/v1/admin/webhook-endpoints/:id/deliveries",
    auth: "admin",
    params: { id: ids },
    query: { status: ["pending", "delivered", "failed"], limit: limits },
  },
  { method: "POST", path: "/v1/admin/webhook-deliveries/:id/retry", auth: "admin", params: { id: ids } },
  // ledger-admin.ts
  { method: "POST", path: "/v1/admin/payouts", auth: "admin", body: () => ({ vendorId: "v_books" }) },
  {
    method: "GET",
    path: "/v1/admin/payouts",
    auth: "admin",
    query: { vendorId: ["v_books"], status: ["created", "paid"], limit: limits },
  },
  {
    method: "POST",
    path: "/v1/admin/payouts/:payoutId/paid",
    auth: "admin",
    params: { payoutId: ids },
  },
  {
    method: "POST",
    path: "/v1/admin/orders/:orderReference/release-hold",
    auth: "admin",
    params: { orderReference: [PAID, OPEN, "ord_missing"] },
  },
  { method: "GET", path: "/v1/admin/reconcile", auth: "admin" },
  // admin.ts
  {
    method: "GET",
    path: "/v1/admin/rewards",
    auth: "admin",
    query: { status: ["pending_approval", "held"], referrer: ["m_anna"], limit: limits, cursor: ids },
  },
  {
    method: "POST",
    path: "/v1/admin/rewards/approve",
    auth: "admin",
    body: () => ({ ids: ["1"], note: "ok" }),
  },
  {
    method: "POST",
    path: "/v1/admin/rewards/reject",
    auth: "admin",
    body: () => ({ ids: ["2"], reason: "fraud" }),
  },
  { method: "POST", path: "/v1/admin/mint", auth: "admin", body: () => ({ limit: 5 }) },
  { method: "GET", path: "/v1/admin/mint-batches", auth: "admin", query: { limit: limits } },
  { method: "GET", path: "/v1/admin/mint-batches/awaiting-approval", auth: "admin" },
  {
    method: "POST",
    path: "/v1/admin/mint-batches/:id/approval",
    auth: "admin",
    params: { id: ids },
    body: () => ({ signature: `0x${"ab".repeat(65)}` }),
  },
  {
    method: "GET",
    path: "/v1/admin/settlements",
    auth: "admin",
    query: { vendorId: ["v_books"], status: ["pending", "due"], limit: limits },
  },
  { method: "GET", path: "/v1/admin/audit", auth: "admin", query: { limit: limits } },
  // stats.ts
  { method: "GET", path: "/v1/admin/stats", auth: "admin", query: { from: dates, to: dates } },
  // member.ts
  { method: "GET", path: "/v1/me", auth: "member" },
  { method: "GET", path: "/v1/me/rewards", auth: "member", query: { cursor: ids } },
  // programs.ts (issue 14: coupons and commission tiers)
  {
    method: "POST",
    path: "/v1/members/:memberId/coupons",
    auth: "integration",
    params: { memberId: ["m_fuzz", "m_ghost"] },
    body: () => ({ code: "FUZZ-CPN", discountBps: 1000, maxRedemptions: 3 }),
  },
  {
    method: "GET",
    path: "/v1/members/:memberId/coupons",
    auth: "integration",
    params: { memberId: ["m_fuzz"] },
  },
  {
    method: "POST",
    path: "/v1/members/:memberId/coupons/:code/deactivate",
    auth: "integration",
    params: { memberId: ["m_fuzz", "m_ghost"], code: ["FUZZ-CPN", "fuzz-cpn"] },
  },
  { method: "GET", path: "/v1/admin/coupons", auth: "admin", query: { memberId: ["m_fuzz"] } },
  {
    method: "POST",
    path: "/v1/admin/members/:memberId/coupons",
    auth: "admin",
    params: { memberId: ["m_fuzz", "m_ghost"] },
    body: () => ({ discountAmount: "500", currency: "UAH" }),
  },
  {
    method: "POST",
    path: "/v1/admin/coupons/:code/deactivate",
    auth: "admin",
    params: { code: ["FUZZ-CPN"] },
  },
  { method: "GET", path: "/v1/admin/tiers", auth: "admin" },
  {
    method: "PUT",
    path: "/v1/admin/tiers/:tier",
    auth: "admin",
    params: { tier: ["vip", "partner"] },
    body: () => ({ commissionBps: 1500, vendorId: "v_books" }),
  },
  {
    method: "GET",
    path: "/v1/admin/members/:memberId/tier",
    auth: "admin",
    params: { memberId: ["m_fuzz"] },
  },
  {
    method: "PUT",
    path: "/v1/admin/members/:memberId/tier",
    auth: "admin",
    params: { memberId: ["m_fuzz", "m_ghost"] },
    body: () => ({ tier: "vip" }),
  },
  { method: "GET", path: "/v1/me/coupons", auth: "member" },
  { method: "GET", path: "/v1/me/tier", auth: "member" },
  // vendor.ts
  {
    method: "GET",
    path: "/v1/vendor/settlements",
    auth: "vendor",
    query: {
      from: dates,
      to: dates,
      vendorId: ["v_books", "v_games"],
      status: ["pending", "paid"],
      format: ["json", "csv"],
      limit: limits,
      cursor: ids,
    },
  },
  {
    method: "GET",
    path: "/v1/vendor/summary",
    auth: "vendor",
    query: { from: dates, to: dates, vendorId: ["v_books", "v_games"] },
  },
];

// ---------------------------------------------------------------------------------------------
// Hostile input.

const EDGE_STRINGS = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "%00",
  "0",
  "-1",
  "1",
  "01",
  "1.5",
  "1e19",
  "9223372036854775807",
  "9223372036854775808",
  "-9223372036854775809",
  "18446744073709551616",
  "100000000000000000000",
  "9".repeat(80),
  "NaN",
  "Infinity",
  "null",
  "true",
  "[]",
  "{}",
  "0000-01-01",
  "0000-01-01T00:00:00Z",
  "-000001-01-01T00:00:00Z",
  "9999-12-31T23:59:59-23:59",
  "275760-09-13",
  "2026-02-30",
  "1969-12-31T23:59:59Z",
  "\u0410NNA7F3K",
  "ANNA7F3K\u200b",
  "\uff21\uff2e\uff2e\uff21\uff17\uff26\uff13\uff2b",
  "\ud800",
  "\udfff\ud800",
  "😀".repeat(70),
  "é".repeat(121),
  "../../etc/passwd",
  "<script>alert(1)</script>",
  "' OR 1=1 --",
  "\r\n",
  "\\",
  "%",
  "%E0%A4%A",
  "m_anna",
  "v_books",
  "p_novel",
  "ANNA7F3K",
  PAID,
  OPEN,
];

const longString = fc
  .tuple(fc.constantFrom("x", "9", "é", "😀", "\u0000", "A"), fc.integer({ min: 100, max: 70_000 }))
  .map(([unit, n]) => unit.repeat(n));

const hostileString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...EDGE_STRINGS), weight: 5 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 300 }), weight: 2 },
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 60 }), weight: 1 },
  { arbitrary: fc.string({ maxLength: 300 }), weight: 1 },
  { arbitrary: fc.bigInt({ min: -(2n ** 70n), max: 2n ** 90n }).map(String), weight: 2 },
  { arbitrary: longString, weight: 1 },
);

/** For URLs: the same, with long strings kept under Node's 16 KB header limit (else it is all 431s). */
const hostileUrlString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: hostileString.filter((value) => value.length < 3000), weight: 9 },
  { arbitrary: fc.integer({ min: 3000, max: 5000 }).map((n) => "9".repeat(n)), weight: 1 },
);

const hostileNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(1e19, -1, 0, -0, 2 ** 31, 2 ** 53 + 2, 1.5, 1e308, -1e308, 5e-324),
);

const hostileValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", maxDepth: 3 },
    hostileString,
    hostileNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(hostileString, tie("value"), { maxKeys: 4 }),
  ),
})).value;

/** Deeply nested JSON: its depth and shape (the text is built when sent, so reports stay short). */
interface Deep {
  depth: number;
  shape: "array" | "object";
}
const deepJson: fc.Arbitrary<Deep> = fc.record({
  depth: fc.integer({ min: 1, max: 100_000 }),
  shape: fc.constantFrom("array" as const, "object" as const),
});
/** The JSON text of a `Deep` (written out: the test's own JSON.stringify would overflow the stack). */
const deepText = ({ depth, shape }: Deep) =>
  shape === "array"
    ? `${"[".repeat(depth)}${"]".repeat(depth)}`
    : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;

interface Mutation {
  seed: number;
  op: "set" | "delete" | "deep";
  value: unknown;
  deep: Deep;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  seed: fc.nat(),
  op: fc.constantFrom("set", "set", "set", "delete", "deep"),
  value: hostileValue,
  deep: deepJson,
});

const DEEP = "__twinrail_fuzz_deep__";
const KNOWN_DEEP_IDEMPOTENCY_LIMIT = 1000;
const MAX_URL = 6000;
/** Replaced, when sent, by a genuinely signed first-touch cookie for ANNA7F3K. */
const GENUINE_COOKIE = "__genuine_tw_ref__";

/** Applies mutations to a copy of `template` (replace or delete a random nested field); the JSON text. */
function mutate(template: unknown, mutations: Mutation[]): string {
  let value = structuredClone(template);
  const deepParts: string[] = [];
  for (const m of mutations) {
    const paths: Array<Array<string | number>> = [[]];
    const collect = (node: unknown, path: Array<string | number>) => {
      if (Array.isArray(node)) {
        for (const [i, item] of node.entries()) collect(item, [...path, i]);
      } else if (node && typeof node === "object") {
        for (const [key, item] of Object.entries(node)) collect(item, [...path, key]);
      }
      if (path.length > 0) paths.push(path);
    };
    collect(value, []);
    const path = paths[m.seed % paths.length]!;
    const replacement = m.op === "deep" ? `${DEEP}${deepParts.push(deepText(m.deep)) - 1}` : m.value;
    if (path.length === 0) {
      value = m.op === "delete" ? undefined : replacement;
      continue;
    }
    let parent = value as Record<string | number, unknown>;
    for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
    const last = path[path.length - 1]!;
    if (m.op === "delete") {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else parent[last] = replacement;
  }
  if (value === undefined) return "";
  let text = JSON.stringify(value);
  deepParts.forEach((deep, i) => {
    text = text.replace(`"${DEEP}${i}"`, deep);
  });
  return text;
}

/** encodeURIComponent, or a raw (possibly malformed) escape when the string has lone surrogates. */
function encode(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return "%ED%A0%80";
  }
}

const RAW_SEGMENTS = ["%", "%00", "%E0%A4%A", "..", "%2F", "%2e%2e", "a%20b", "%FF%FE"];

const asciiHeader = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)),
  minLength: 1,
  maxLength: 300,
});

/** `arbitrary` in `percent` % of the runs, null otherwise. */
function sometimes<T>(arbitrary: fc.Arbitrary<T>, percent: number): fc.Arbitrary<T | null> {
  return fc.oneof({ arbitrary: fc.constant(null), weight: 100 - percent }, { arbitrary, weight: percent });
}

interface FuzzRequest {
  route: number;
  /** Which webhook event template, for the webhook route. */
  event: number;
  auth: "right" | "none" | "admin" | "integration" | "vendor" | "member" | "cron" | "garbage";
  memberSub: string;
  params: Array<{ pick: number; hostile: string; raw: string; mode: "valid" | "hostile" | "raw" }>;
  query: Array<{ key: number; value: string; hostile: boolean; pick: number }>;
  extraQuery: string | null;
  body:
    | { kind: "template"; mutations: Mutation[] }
    | { kind: "value"; value: unknown }
    | { kind: "deep"; deep: Deep }
    | { kind: "bytes"; bytes: Uint8Array }
    | { kind: "text"; text: string }
    | { kind: "none" };
  contentType: string | null;
  idempotencyKey: string | null;
  accept: string | null;
  cookie: string | null;
  webhook: { id: string; stale: boolean; badSignature: boolean; timestamp: string | null };
}

/** FUZZ_ROUTE=<substring of "METHOD path"> fuzzes only the matching routes (for chasing a failure). */
const FOCUS = ROUTES.flatMap((route, index) =>
  `${route.method} ${route.path}`.includes(process.env.FUZZ_ROUTE ?? "") ? [index] : [],
);

const request: fc.Arbitrary<FuzzRequest> = fc.record({
  route: fc.constantFrom(...FOCUS),
  event: fc.nat({ max: events.length - 1 }),
  auth: fc.oneof(
    { arbitrary: fc.constant("right" as const), weight: 12 },
    {
      arbitrary: fc.constantFrom(
        "none" as const,
        "admin" as const,
        "integration" as const,
        "vendor" as const,
        "member" as const,
        "cron" as const,
        "garbage" as const,
      ),
      weight: 3,
    },
  ),
  memberSub: fc.oneof(
    { arbitrary: fc.constantFrom("m_anna", "m_ghost", "m_buyer_ord_fuzz_paid"), weight: 8 },
    { arbitrary: fc.string({ minLength: 1, maxLength: 128 }), weight: 1 },
  ),
  params: fc.array(
    fc.record({
      pick: fc.nat(),
      hostile: hostileUrlString,
      raw: fc.constantFrom(...RAW_SEGMENTS),
      mode: fc.constantFrom("valid" as const, "valid" as const, "hostile" as const, "raw" as const),
    }),
    { minLength: 2, maxLength: 2 },
  ),
  query: fc.array(
    fc.record({ key: fc.nat(), value: hostileUrlString, hostile: fc.boolean(), pick: fc.nat() }),
    {
      maxLength: 5,
    },
  ),
  extraQuery: sometimes(
    fc.oneof(
      fc.constantFrom(
        ...RAW_SEGMENTS.map((raw) => `x=${raw}`),
        "cursor[]=1",
        "limit=1&limit=2",
        "a[b]=1",
        "=",
        "&&",
      ),
      hostileUrlString.map((value) => `${encode(value)}=${encode(value)}`),
    ),
    25,
  ),
  body: fc.oneof(
    {
      arbitrary: fc.record({
        kind: fc.constant("template" as const),
        mutations: fc.array(mutation, { maxLength: 3 }),
      }),
      weight: 8,
    },
    { arbitrary: fc.record({ kind: fc.constant("value" as const), value: hostileValue }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant("deep" as const), deep: deepJson }), weight: 1 },
    {
      arbitrary: fc.record({ kind: fc.constant("bytes" as const), bytes: fc.uint8Array({ maxLength: 300 }) }),
      weight: 1,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant("text" as const),
        text: fc.constantFrom(
          "{not json",
          '{"a":"\\u0000"}',
          '"\\u0000"',
          "null",
          "[]",
          '{"__proto__":{"x":1}}',
          '{"constructor":{"prototype":{"x":1}}}',
          `{"a":"${"x".repeat(300_000)}"}`,
          "",
        ),
      }),
      weight: 1,
    },
    { arbitrary: fc.constant({ kind: "none" as const }), weight: 1 },
  ),
  contentType: fc.oneof(
    { arbitrary: fc.constant("application/json"), weight: 10 },
    {
      arbitrary: fc.constantFrom(
        null,
        "text/plain",
        "application/json; charset=utf-16",
        "application/x-www-form-urlencoded",
        "application/merge-patch+json",
      ),
      weight: 1,
    },
  ),
  idempotencyKey: sometimes(asciiHeader, 25),
  accept: sometimes(fc.constantFrom("text/csv", "application/json", "*/*", "text/html", "x/y;q=foo"), 30),
  cookie: sometimes(
    fc.oneof(
      asciiHeader.map((value) => `tw_ref=${value.replace(/[;,]/g, "")}`),
      fc.constantFrom("tw_ref=", "tw_ref=%00", "tw_ref=%E0%A4%A", "a=b; tw_ref=x.y.z", GENUINE_COOKIE),
    ),
    25,
  ),
  webhook: fc.record({
    id: fc.oneof(
      { arbitrary: fc.nat().map((n) => `evt_${n}`), weight: 6 },
      { arbitrary: asciiHeader, weight: 2 },
      { arbitrary: fc.integer({ min: 250, max: 400 }).map((n) => "w".repeat(n)), weight: 1 },
    ),
    stale: fc.oneof(
      { arbitrary: fc.constant(false), weight: 9 },
      { arbitrary: fc.constant(true), weight: 1 },
    ),
    badSignature: fc.oneof(
      { arbitrary: fc.constant(false), weight: 9 },
      { arbitrary: fc.constant(true), weight: 1 },
    ),
    timestamp: sometimes(fc.constantFrom("", "abc", "-1", "99999999999999", "1e3", "0"), 10),
  }),
});

// ---------------------------------------------------------------------------------------------

describe(`route fuzz: no input answers 5xx (${TEST_DB})`, () => {
  let t: TestInstance;
  let vendorKey: string;
  let sent = 0;
  const statuses = new Map<string, Map<number, number>>();

  beforeAll(async () => {
    t = await startTestInstance({ DEMO: "1", RATE_LIMIT_PUBLIC: "1000000" });
    await seedCatalog(t);
    vendorKey = await t.keys.vendor("v_books");
    const key = t.keys.integration;
    await t.request("POST", "/v1/orders", { key, body: orderBody(PAID) });
    await t.request("POST", "/v1/orders", { key, body: orderBody(OPEN) });
    expect((await t.webhook(paidEvent(PAID, "170000"))).status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("lists every route of the app", () => {
    const app = createApp(t.services) as unknown as { router: { stack: unknown[] } };
    const listed = ROUTES.map((route) => `${route.method} ${route.path}`).sort();
    expect(appRoutes(app).sort()).toEqual(listed);
  });

  /** Builds and sends one request; returns what was sent (for the failure report) and the answer. */
  async function send(input: FuzzRequest) {
    const route = ROUTES[input.route]!;
    const paramNames = [...route.path.matchAll(/:(\w+)/g)].map((match) => match[1]!);
    let path = route.path;
    paramNames.forEach((name, i) => {
      const p = input.params[i]!;
      const valid = route.params?.[name] ?? ["x"];
      const segment =
        p.mode === "valid"
          ? encode(valid[p.pick % valid.length]!)
          : p.mode === "hostile"
            ? encode(p.hostile) || "%20"
            : p.raw;
      path = path.replace(`:${name}`, segment);
    });

    const queryKeys = Object.keys(route.query ?? {});
    const parts: string[] = [];
    for (const q of input.query) {
      if (queryKeys.length === 0 && !q.hostile) continue;
      const key = queryKeys.length ? queryKeys[q.key % queryKeys.length]! : encode(q.value);
      const plausible = route.query?.[key] ?? [q.value];
      const value = q.hostile ? q.value : plausible[q.pick % plausible.length]!;
      parts.push(`${encode(key)}=${encode(value)}`);
    }
    if (input.extraQuery) parts.push(input.extraQuery);
    // Under Node's 16 KB header limit, with room for a redirect echoing the URL (the client has one too).
    while (parts.length > 1 && parts.join("&").length + path.length > MAX_URL) parts.pop();
    const url = `${path}${parts.length ? `?${parts.join("&")}` : ""}`;

    const headers: Record<string, string> = {};
    const auth = input.auth === "right" ? route.auth : input.auth;
    const bearer = {
      none: undefined,
      webhook: undefined,
      admin: t.keys.admin,
      integration: t.keys.integration,
      vendor: vendorKey,
      member: t.memberToken(input.memberSub),
      cron: t.cronSecret,
      garbage: "tw_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbb",
    }[auth];
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    // Known, outside this suite's files: the idempotency middleware hashes the body recursively, so a
    // body nested more than ~2,000 deep with an Idempotency-Key overflows the stack (500). Pinned by the
    // `it.fails` below; not generated here so the property keeps looking for new failures.
    const deepest = Math.max(
      0,
      ...(input.body.kind === "deep" ? [input.body.deep.depth] : []),
      ...(input.body.kind === "template"
        ? input.body.mutations.filter((m) => m.op === "deep").map((m) => m.deep.depth)
        : []),
    );
    if (input.idempotencyKey && route.method === "POST" && deepest <= KNOWN_DEEP_IDEMPOTENCY_LIMIT) {
      headers["idempotency-key"] = input.idempotencyKey;
    }
    if (input.accept) headers.accept = input.accept;
    if (input.cookie) {
      headers.cookie = input.cookie.replace(
        GENUINE_COOKIE,
        `${REF_COOKIE}=${signCookieValue(t.services.config.secrets.cookie, "ANNA7F3K")}`,
      );
    }

    let body: string | Uint8Array | undefined;
    if (route.method !== "GET") {
      const b = input.body;
      if (b.kind === "template") {
        const template = route.auth === "webhook" ? events[input.event]!() : route.body?.();
        // Known, outside this suite's files: /v1/chain/rpc echoes the request's `id` into its answer, and
        // a deeply nested one overflows res.json (500). Pinned by an `it.fails` below.
        const mutations =
          route.path === "/v1/chain/rpc" ? b.mutations.filter((m) => m.op !== "deep") : b.mutations;
        body = template === undefined ? undefined : mutate(template, mutations);
      } else if (b.kind === "value") body = JSON.stringify(b.value);
      else if (b.kind === "deep") body = deepText(b.deep);
      else if (b.kind === "text") body = b.text;
      else if (b.kind === "bytes") body = b.bytes;
      if (body !== undefined && input.contentType) headers["content-type"] = input.contentType;
    }

    if (route.auth === "webhook" && auth === "webhook") {
      const raw = body === undefined ? "" : body;
      const timestamp = Math.floor(Date.now() / 1000) - (input.webhook.stale ? 600 : 0);
      headers["webhook-id"] = input.webhook.id;
      headers["webhook-timestamp"] = input.webhook.timestamp ?? String(timestamp);
      headers["webhook-signature"] = input.webhook.badSignature
        ? "v1,AAAA"
        : signWebhook(t.webhookSecret, input.webhook.id, timestamp, Buffer.from(raw));
    }

    sent++;
    let res: Response;
    try {
      res = await fetch(`${t.baseUrl}${url}`, {
        method: route.method,
        headers,
        body: body as RequestInit["body"],
        redirect: "manual",
      });
    } catch (error) {
      // The client's own limit (a redirect echoing a long URL): the server did answer, below 500.
      const code = (error as { cause?: { code?: string } }).cause?.code;
      if (code === "UND_ERR_HEADERS_OVERFLOW") return { status: 0, text: "", sent: { url } };
      throw error;
    }
    const text = await res.text();
    const perRoute = statuses.get(`${route.method} ${route.path}`) ?? new Map<number, number>();
    perRoute.set(res.status, (perRoute.get(res.status) ?? 0) + 1);
    statuses.set(`${route.method} ${route.path}`, perRoute);
    const shown =
      typeof body === "string"
        ? `${body.slice(0, 300)}${body.length > 300 ? `… (${body.length} chars)` : ""}`
        : body
          ? `<${body.length} bytes>`
          : undefined;
    return {
      status: res.status,
      text,
      sent: {
        method: route.method,
        url: url.slice(0, 300),
        headers: { ...headers, authorization: auth },
        body: shown,
      },
    };
  }

  // Found by this suite: the idempotency hash (canonicalJson) recursed into any depth. Bodies nested
  // deeper than 32 levels are refused first (src/http/middleware/body-depth.ts).
  it("a body nested 5,000 deep with an Idempotency-Key answers below 500", async () => {
    const res = await t.request("POST", "/v1/orders", {
      key: t.keys.integration,
      body: deepText({ depth: 5000, shape: "array" }),
      headers: { "idempotency-key": "deep-1" },
    });
    expect(res.status).toBeLessThan(500);
  });

  // Found by this suite: /v1/chain/rpc echoed any `id`; JSON-RPC ids are a string, a number or null.
  it("/v1/chain/rpc with an id nested 5,000 deep answers below 500", async () => {
    const res = await t.request("POST", "/v1/chain/rpc", {
      body: `{"jsonrpc":"2.0","method":"eth_chainId","params":[],"id":${deepText({ depth: 5000, shape: "array" })}}`,
    });
    expect(res.status).toBeLessThan(500);
  });

  // Found by this suite: a host-signed `sub` with U+0000 reached the database; it must look like a member id.
  it("a member token whose sub holds U+0000 answers below 500", async () => {
    const res = await t.request("GET", "/v1/me", { key: t.memberToken("m_\u0000") });
    expect(res.status).toBeLessThan(500);
  });

  it(`answers every request below 500 (${FUZZ_RUNS} runs)`, async () => {
    const failures: string[] = [];
    const started = performance.now();
    try {
      await fc.assert(
        fc.asyncProperty(request, async (input) => {
          const { status, text, sent: what } = await send(input);
          if (status >= 500) {
            failures.push(`${status} for ${JSON.stringify(what)}\n  → ${text.slice(0, 500)}`);
            return false;
          }
          return true;
        }),
        { numRuns: FUZZ_RUNS, seed: FUZZ_SEED, endOnFailure: false },
      );
    } finally {
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      console.log(
        `route-fuzz (${TEST_DB}): ${sent} requests in ${seconds} s over ${statuses.size}/${ROUTES.length} routes`,
      );
      if (process.env.FUZZ_VERBOSE) {
        for (const [route, counts] of [...statuses].sort()) {
          console.log(`  ${route}: ${[...counts].map(([s, n]) => `${s}×${n}`).join(" ")}`);
        }
      }
      if (failures.length) console.error(`5xx answers:\n${failures.slice(0, 10).join("\n")}`);
    }
  }, 1_800_000);
});
