import { readFileSync } from "node:fs";
import SwaggerParser from "@apidevtools/swagger-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_TYPES_FILE, apiTypesSource, documentOfAllRoutes } from "../../scripts/api-types.js";
import { ERROR_STATUS } from "../../src/errors.js";
import { createApp } from "../../src/http/app.js";
import { appRoutes } from "../support/app-routes.js";
import { seedCatalog, startTestInstance, TEST_DB, type TestInstance } from "../support/harness.js";

type Doc = {
  paths: Record<string, Record<string, { security: unknown[]; responses: Record<string, ResponseObject> }>>;
  components: { schemas: Record<string, unknown> };
};
type ResponseObject = {
  content?: Record<string, { schema: { allOf?: Array<{ properties?: { code?: { enum: string[] } } }> } }>;
};

/** `METHOD /path/{param}` of every operation in the document. */
const documented = (doc: Doc) =>
  Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
  );

/** The error codes the document lists for one operation, by HTTP status. */
const errorCodes = (responses: Record<string, ResponseObject>) =>
  Object.fromEntries(
    Object.entries(responses).flatMap(([status, response]) => {
      const codes = response.content?.["application/problem+json"]?.schema.allOf?.[1]?.properties?.code?.enum;
      return codes ? [[status, codes]] : [];
    }),
  );

describe(`OpenAPI document generated from the route registrations (${TEST_DB})`, () => {
  let t: TestInstance;
  let doc: Doc;
  beforeAll(async () => {
    // Demo mode and the embedded chain: every surface is mounted, the demo shop and the RPC door too.
    t = await startTestInstance({ DEMO: "1" });
    await seedCatalog(t);
    const res = await t.request("GET", "/openapi.json");
    expect(res.status).toBe(200);
    doc = res.body as Doc;
  });
  afterAll(async () => {
    await t?.close();
  });

  it("lists every express route of the app, and only those", () => {
    const app = createApp(t.services) as unknown as { router: { stack: unknown[] } };
    const routes = appRoutes(app).map((route) => route.replace(/:(\w+)/g, "{$1}"));
    expect(new Set(routes).size).toBe(routes.length);
    expect(documented(doc).sort()).toEqual(routes.sort());
  });

  it("is a valid OpenAPI 3.1 document (swagger-parser)", async () => {
    const validated = await SwaggerParser.validate(structuredClone(doc) as never);
    expect((validated as { openapi?: string }).openapi).toBe("3.1.0");
  });

  it("gives every operation a response schema and the problem responses of its error codes", () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const where = `${method.toUpperCase()} ${path}`;
        const success = Object.keys(op.responses).filter((status) => Number(status) < 400);
        expect(success.length, where).toBeGreaterThan(0);
        const errors = errorCodes(op.responses);
        // Every operation can fail inside (500) and lose its database (503).
        expect(errors["500"], where).toContain("internal");
        expect(errors["503"], where).toContain("database_unavailable");
        for (const [status, codes] of Object.entries(errors)) {
          for (const code of codes)
            expect(ERROR_STATUS[code as keyof typeof ERROR_STATUS], where).toBe(Number(status));
        }
        if (op.security.length > 0) expect(errors["401"], where).toBeDefined();
      }
    }
  });

  it("states each route's own error codes, credentials and views", () => {
    const orders = doc.paths["/v1/orders"]!.post!;
    expect(errorCodes(orders.responses)).toMatchObject({
      "400": expect.arrayContaining(["validation_failed"]),
      "401": ["unauthorized"],
      "403": ["forbidden"],
      "409": ["order_conflict"],
      "422": expect.arrayContaining(["idempotency_conflict"]),
    });
    expect(orders.responses["201"]!.content!["application/json"]!.schema).toEqual({
      $ref: "#/components/schemas/OrderResult",
    });
    const webhook = doc.paths["/v1/webhooks/payments"]!.post!;
    expect(errorCodes(webhook.responses)["401"]).toEqual(["invalid_signature"]);
    expect(doc.paths["/r/{code}"]!.get!.security).toEqual([]);
    expect(errorCodes(doc.paths["/r/{code}"]!.get!.responses)["429"]).toEqual(["rate_limited"]);
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(["Problem", "RewardView", "Settlement", "MintBatch", "AuditEntry", "Me"]),
    );
  });

  it("matches the document the pages' types are generated from (src/web/lib/api.generated.ts)", async () => {
    const offline = documentOfAllRoutes() as unknown as Doc;
    // The served document and the one built without a database describe the same routes and views.
    expect(offline.paths).toEqual(doc.paths);
    expect(offline.components).toEqual(doc.components);
    expect(readFileSync(API_TYPES_FILE, "utf8"), "run npx tsx scripts/api-types.ts").toBe(
      await apiTypesSource(offline),
    );
  });
});
