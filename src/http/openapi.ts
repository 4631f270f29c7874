import { z } from "zod";
import { approveBody, mintBody, rejectBody } from "./routes/admin.js";
import {
  codeBody,
  memberBody,
  memberPatchBody,
  orderBody,
  productBody,
  vendorBody,
} from "./routes/integration.js";
import { trackBody } from "./routes/public.js";
import { membershipPaid, orderChargeback, orderPaid, orderRefunded } from "./routes/webhooks.js";

type Auth = "none" | "admin" | "integration" | "vendor" | "member" | "cron" | "webhook";

interface Operation {
  method: "get" | "post" | "put" | "patch";
  path: string;
  summary: string;
  auth: Auth;
  body?: z.ZodType;
  query?: Record<string, string>;
  ok: number;
}

/**
 * The route table as integrators see it. Request bodies are the very zod schemas the routes validate
 * with, converted to JSON Schema, so the document cannot drift from what the server accepts.
 */
const OPERATIONS: Operation[] = [
  {
    method: "get",
    path: "/r/{code}",
    summary: "Referral link: 302 to LANDING_URL, first-touch cookies",
    auth: "none",
    ok: 302,
  },
  {
    method: "post",
    path: "/v1/track",
    summary: "Count a visit; sets the cookies if absent; always 204",
    auth: "none",
    body: trackBody,
    ok: 204,
  },
  {
    method: "get",
    path: "/v1/referral",
    summary: "Badge data from ?code= or the cookie",
    auth: "none",
    query: { code: "a referral code" },
    ok: 200,
  },
  {
    method: "post",
    path: "/v1/members",
    summary: "Signup: create a member and persist referredBy (first touch)",
    auth: "integration",
    body: memberBody,
    ok: 201,
  },
  {
    method: "patch",
    path: "/v1/members/{memberId}",
    summary: "Update display name or wallet",
    auth: "integration",
    body: memberPatchBody,
    ok: 200,
  },
  {
    method: "post",
    path: "/v1/members/{memberId}/code",
    summary: "Get, rotate or claim (vanity) the member's referral code",
    auth: "integration",
    body: codeBody,
    ok: 201,
  },
  {
    method: "put",
    path: "/v1/vendors/{vendorId}",
    summary: "Create or replace a vendor's terms",
    auth: "integration",
    body: vendorBody,
    ok: 200,
  },
  {
    method: "put",
    path: "/v1/products/{productId}",
    summary: "Create or replace a product's commission override",
    auth: "integration",
    body: productBody,
    ok: 200,
  },
  {
    method: "post",
    path: "/v1/orders",
    summary: "Checkout: attribution and rates snapshotted",
    auth: "integration",
    body: orderBody,
    ok: 201,
  },
  {
    method: "post",
    path: "/v1/webhooks/payments",
    summary: "Payment events (Standard Webhooks signature)",
    auth: "webhook",
    body: z.union([orderPaid, orderRefunded, orderChargeback, membershipPaid]),
    ok: 200,
  },
  {
    method: "get",
    path: "/v1/admin/rewards",
    summary: "Approval queue and history with fraud signals",
    auth: "admin",
    query: { status: "reward status", referrer: "member id", limit: "1–200", cursor: "nextCursor" },
    ok: 200,
  },
  {
    method: "post",
    path: "/v1/admin/rewards/approve",
    summary: "Approve rewards",
    auth: "admin",
    body: approveBody,
    ok: 200,
  },
  {
    method: "post",
    path: "/v1/admin/rewards/reject",
    summary: "Reject rewards with a reason",
    auth: "admin",
    body: rejectBody,
    ok: 200,
  },
  {
    method: "post",
    path: "/v1/admin/mint",
    summary: "Mint one batch now",
    auth: "admin",
    body: mintBody,
    ok: 200,
  },
  {
    method: "get",
    path: "/v1/admin/mint-batches",
    summary: "Mint batches with status, tx hashes, gas",
    auth: "admin",
    ok: 200,
  },
  {
    method: "get",
    path: "/v1/admin/stats",
    summary: "Funnel, totals per rail, top referrers",
    auth: "admin",
    query: { from: "date", to: "date" },
    ok: 200,
  },
  {
    method: "get",
    path: "/v1/admin/settlements",
    summary: "All vendors' settlements",
    auth: "admin",
    query: { vendorId: "vendor id", status: "settlement status" },
    ok: 200,
  },
  {
    method: "post",
    path: "/v1/admin/payouts",
    summary: "Turn due settlements into payouts (one per vendor)",
    auth: "admin",
    ok: 200,
  },
  {
    method: "post",
    path: "/v1/admin/payouts/{payoutId}/paid",
    summary: "Mark a payout and its settlements paid",
    auth: "admin",
    ok: 200,
  },
  {
    method: "post",
    path: "/v1/admin/orders/{orderReference}/release-hold",
    summary: "Release the settlements held for an amount mismatch (rail A)",
    auth: "admin",
    ok: 200,
  },
  {
    method: "get",
    path: "/v1/admin/reconcile",
    summary: "Journal balance, rails agreement, DB ↔ chain",
    auth: "admin",
    ok: 200,
  },
  { method: "get", path: "/v1/admin/audit", summary: "Audit log", auth: "admin", ok: 200 },
  {
    method: "get",
    path: "/v1/vendor/settlements",
    summary: "The vendor's settlements (JSON, or CSV with Accept: text/csv or ?format=csv)",
    auth: "vendor",
    query: { from: "date", to: "date", status: "settlement status", format: "json | csv" },
    ok: 200,
  },
  {
    method: "get",
    path: "/v1/vendor/summary",
    summary: "Totals per status and period",
    auth: "vendor",
    ok: 200,
  },
  {
    method: "get",
    path: "/v1/me",
    summary: "The referrer's code, visits, signups, conversions and rewards",
    auth: "member",
    ok: 200,
  },
  {
    method: "get",
    path: "/v1/me/rewards",
    summary: "The referrer's reward history",
    auth: "member",
    query: { cursor: "nextCursor" },
    ok: 200,
  },
  {
    method: "post",
    path: "/v1/cron/mint",
    summary: "Scheduled mint trigger (also GET)",
    auth: "cron",
    ok: 200,
  },
  { method: "get", path: "/healthz", summary: "Process up", auth: "none", ok: 200 },
  { method: "get", path: "/readyz", summary: "Database, chain and minter state", auth: "none", ok: 200 },
  { method: "get", path: "/metrics", summary: "Prometheus metrics", auth: "none", ok: 200 },
];

const SECURITY: Record<Exclude<Auth, "none">, string> = {
  admin: "apiKey",
  integration: "apiKey",
  vendor: "apiKey",
  member: "memberToken",
  cron: "cronSecret",
  webhook: "webhookSignature",
};

const ERRORS: Record<string, string> = {
  "400": "validation_failed / bad_request",
  "401": "unauthorized / invalid_signature",
  "403": "forbidden (wrong role or another vendor's data)",
  "409": "conflict (order_conflict, webhook_conflict, invalid_transition, code_taken)",
  "422": "unprocessable (idempotency_conflict, refund_exceeds_paid, …)",
  "429": "rate_limited",
};

function jsonSchema(schema: z.ZodType) {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    io: "input",
    unrepresentable: "any",
  }) as Record<string, unknown>;
  return rest;
}

/** OpenAPI 3.1 for `GET /openapi.json`. */
export function openApiDocument(baseUrl: string, version: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    const parameters = [
      ...[...op.path.matchAll(/\{(\w+)\}/g)].map((match) => ({
        name: match[1],
        in: "path",
        required: true,
        schema: { type: "string" },
      })),
      ...Object.entries(op.query ?? {}).map(([name, description]) => ({
        name,
        in: "query",
        required: false,
        description,
        schema: { type: "string" },
      })),
    ];
    const responses: Record<string, unknown> = { [String(op.ok)]: { description: "success" } };
    for (const [status, description] of Object.entries(ERRORS)) {
      responses[status] = {
        description,
        content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
      };
    }
    paths[op.path] = {
      ...paths[op.path],
      [op.method]: {
        summary: op.summary,
        tags: [op.auth === "none" ? "public" : op.auth],
        ...(op.auth === "none" ? { security: [] } : { security: [{ [SECURITY[op.auth]]: [] }] }),
        ...(parameters.length ? { parameters } : {}),
        ...(op.body
          ? {
              requestBody: {
                required: true,
                content: { "application/json": { schema: jsonSchema(op.body) } },
              },
            }
          : {}),
        responses,
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Twinrail",
      version,
      description: "Dual-rail referral ledger. Amounts are decimal strings of integer minor units or wei.",
    },
    servers: [{ url: baseUrl }],
    paths,
    components: {
      securitySchemes: {
        apiKey: {
          type: "http",
          scheme: "bearer",
          description: "tw_<id>_<secret>, created with `twinrail keys create`",
        },
        memberToken: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description: "HS256, signed with MEMBER_TOKEN_SECRET, sub = member id, exp required",
        },
        cronSecret: { type: "http", scheme: "bearer", description: "CRON_SECRET" },
        webhookSignature: {
          type: "apiKey",
          in: "header",
          name: "webhook-signature",
          description: "v1,<base64 HMAC-SHA256 of id.timestamp.body>, with webhook-id and webhook-timestamp",
        },
      },
      schemas: {
        Problem: {
          type: "object",
          required: ["type", "title", "status", "detail", "code", "requestId"],
          properties: {
            type: { type: "string" },
            title: { type: "string" },
            status: { type: "integer" },
            detail: { type: "string" },
            code: { type: "string" },
            requestId: { type: "string" },
            errors: {
              type: "array",
              items: {
                type: "object",
                properties: { path: { type: "string" }, message: { type: "string" } },
              },
            },
          },
        },
      },
    },
  };
}

const escapeHtml = (text: string) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** `GET /docs`: a plain, script-free page listing every operation (the full schemas are in /openapi.json). */
export function docsPage(): string {
  const rows = OPERATIONS.map(
    (op) =>
      `<tr><td><code>${op.method.toUpperCase()}</code></td><td><code>${escapeHtml(op.path)}</code></td><td>${escapeHtml(op.auth)}</td><td>${escapeHtml(op.summary)}</td></tr>`,
  ).join("\n");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Twinrail API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1b1f2a}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #dde;padding:.4rem .6rem;text-align:left;vertical-align:top}code{font-size:.9em}</style>
</head><body><h1>Twinrail API</h1>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1, request schemas generated from the validators). Errors are <code>application/problem+json</code> with a stable <code>code</code>.</p>
<table><thead><tr><th>method</th><th>path</th><th>auth</th><th>what it does</th></tr></thead><tbody>
${rows}
</tbody></table></body></html>`;
}
