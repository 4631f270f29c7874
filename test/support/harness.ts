import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { type HttpRequestOptions, type HttpResponse, rawClient, requestRaw } from "../../src/client/http.js";
import { signedWebhook, type TwinrailClient } from "../../src/client/index.js";
import { loadConfig } from "../../src/config.js";
import { createApiKey } from "../../src/ledger/api-keys.js";
import { SYSTEM } from "../../src/ledger/audit.js";
import { signMemberToken } from "../../src/lib/member-token.js";
import { type Running, startServer } from "../../src/server.js";

/**
 * Integration harness. `TEST_DB=postgres` runs against the real server at TEST_DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/test), each instance in its own fresh schema that is dropped
 * afterwards; otherwise in-process PGlite. The chain is the embedded Hardhat network.
 */
export const TEST_DB = process.env.TEST_DB === "postgres" ? "postgres" : "pglite";
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export interface TestInstance extends Running {
  baseUrl: string;
  keys: { admin: string; integration: string; vendor: (vendorId: string) => Promise<string> };
  webhookSecret: string;
  memberToken(memberId: string): string;
  cronSecret: string;
  /** The typed client (`twinrail/client`) for the instance, unauthenticated: pass a key per call. */
  client: TwinrailClient;
  /** Any method and path against the instance through the client; JSON in and out, text kept. */
  request(method: string, path: string, options?: RequestOptions): Promise<TestResponse>;
  /** Posts a correctly signed webhook (override id/timestamp/signature to test failures). */
  webhook(
    event: unknown,
    options?: { id?: string; timestamp?: number; signature?: string; rawBody?: string },
  ): Promise<TestResponse>;
  schema: string | undefined;
}

export type RequestOptions = HttpRequestOptions;
export type TestResponse = HttpResponse;

/** Instances per schema: passing `{ DATABASE_SCHEMA }` runs several instances on one schema, dropped with the last. */
const schemaUsers = new Map<string, number>();

export async function startTestInstance(
  env: Record<string, string> = {},
  options: Parameters<typeof startServer>[1] = {},
): Promise<TestInstance> {
  const schema =
    TEST_DB === "postgres" ? (env.DATABASE_SCHEMA ?? `t_${randomBytes(6).toString("hex")}`) : undefined;
  if (schema) schemaUsers.set(schema, (schemaUsers.get(schema) ?? 0) + 1);
  const config = loadConfig({
    PORT: "0",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    JOBS: "0",
    DEMO: "0",
    WEBHOOK_SECRET: `whsec_${randomBytes(24).toString("base64")}`,
    MEMBER_TOKEN_SECRET: randomBytes(32).toString("hex"),
    CRON_SECRET: randomBytes(16).toString("hex"),
    COOKIE_SECRET: randomBytes(32).toString("hex"),
    IP_HASH_SECRET: randomBytes(32).toString("hex"),
    ...(schema ? { DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema } : {}),
    ...env,
  });
  const running = await startServer(config, options);
  const db = running.services.db;
  const admin = (await createApiKey(db, SYSTEM, { role: "admin" })).key;
  const integration = (await createApiKey(db, SYSTEM, { role: "integration" })).key;
  const baseUrl = running.url;

  const client = rawClient(baseUrl);
  const request = (method: string, path: string, options: RequestOptions = {}) =>
    requestRaw(client, method, path, options);

  const close = running.close;
  return {
    ...running,
    baseUrl,
    schema,
    keys: {
      admin,
      integration,
      vendor: async (vendorId) => (await createApiKey(db, SYSTEM, { role: "vendor", vendorId })).key,
    },
    webhookSecret: config.secrets.webhook,
    cronSecret: config.secrets.cron,
    memberToken: (memberId) => signMemberToken(config.secrets.memberToken, memberId, 3600),
    client,
    request,
    webhook: (event, options = {}) => {
      const signed = signedWebhook(config.secrets.webhook, event, options);
      return request("POST", "/v1/webhooks/payments", signed);
    },
    async close() {
      await close();
      const users = schema ? (schemaUsers.get(schema) ?? 1) - 1 : 0;
      if (schema) schemaUsers.set(schema, users);
      if (schema && users === 0) {
        schemaUsers.delete(schema);
        const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await client.end();
      }
    },
  };
}

/**
 * The header most integration files share: one instance for the enclosing \`describe\`, started (and,
 * unless \`seed: false\`, given \`seedCatalog\`) in its beforeAll and closed in its afterAll. The value
 * returned stands for that instance from the hooks on: tests and helpers use it as they would the
 * instance itself.
 */
export function useTestInstance(
  options: { env?: Record<string, string>; seed?: boolean } = {},
): TestInstance {
  let instance: TestInstance | undefined;
  beforeAll(async () => {
    instance = await startTestInstance(options.env);
    if (options.seed !== false) await seedCatalog(instance);
  });
  afterAll(async () => {
    await instance?.close();
  });
  return new Proxy({} as TestInstance, {
    get(_, property) {
      if (!instance)
        throw new Error(`the test instance is used before its beforeAll ran (.${String(property)})`);
      return Reflect.get(instance, property);
    },
  });
}

/** Seeds two vendors, products with and without overrides, and a referrer with a wallet and a code. */
export async function seedCatalog(t: TestInstance) {
  const key = t.keys.integration;
  await t.request("PUT", "/v1/vendors/v_books", {
    key,
    body: { name: "Books", platformFeeBps: 1000, holdDays: 0 },
  });
  await t.request("PUT", "/v1/vendors/v_games", {
    key,
    body: { name: "Games", referralCommissionBps: 800, platformFeeBps: 1200, holdDays: 7 },
  });
  await t.request("PUT", "/v1/products/p_novel", {
    key,
    body: { vendorId: "v_books", referralCommissionBps: 1000 },
  });
  await t.request("PUT", "/v1/products/p_chess", {
    key,
    body: { vendorId: "v_games", referralCommissionBps: null },
  });
  await t.request("POST", "/v1/members", {
    key,
    body: {
      memberId: "m_anna",
      displayName: "Anna",
      walletAddress: "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
    },
  });
  const code = await t.request("POST", "/v1/members/m_anna/code", { key, body: { vanity: "ANNA7F3K" } });
  return { referrerCode: code.body.code as string };
}

export function orderBody(orderReference: string, extra: Record<string, unknown> = {}) {
  return {
    orderReference,
    // A buyer per order: with ATTRIBUTION_SCOPE=first_order only a first paid order is attributed.
    buyerMemberId: `m_buyer_${orderReference}`,
    refCode: "ANNA7F3K",
    currency: "UAH",
    lines: [
      { lineId: "l1", vendorId: "v_books", productId: "p_novel", quantity: 2, unitAmount: "25000" },
      { lineId: "l2", vendorId: "v_games", productId: "p_chess", quantity: 1, unitAmount: "120000" },
    ],
    shippingAmount: "0",
    discountAmount: "0",
    ...extra,
  };
}

export function paidEvent(orderReference: string, amountPaid: string, extra: Record<string, unknown> = {}) {
  return {
    type: "order.paid",
    data: {
      orderReference,
      amountPaid,
      currency: "UAH",
      paymentRail: "card",
      paidAt: new Date().toISOString(),
      ...extra,
    },
  };
}

/** Row counts of the tables a test asserts on. */
export async function counts(t: TestInstance, orderReference: string) {
  const db = t.services.db;
  const count = async (table: "settlements" | "erp_sales_assists" | "referral_rewards") =>
    Number(
      (
        await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<bigint>().as("n"))
          .where("order_reference", "=", orderReference)
          .executeTakeFirstOrThrow()
      ).n,
    );
  const webhooks = Number(
    (await sql<{ n: bigint }>`select count(*) as n from webhook_events`.execute(db)).rows[0]?.n ?? 0,
  );
  return {
    settlements: await count("settlements"),
    assists: await count("erp_sales_assists"),
    rewards: await count("referral_rewards"),
    webhooks,
  };
}
