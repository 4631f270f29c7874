import type { Application } from "express";
import { z } from "zod";
import { ERROR_STATUS, type ErrorCode } from "../errors.js";
import { type Auth, namedSchemas, type Operation, operationOf } from "./route.js";

/**
 * `GET /openapi.json` and `GET /docs`, generated from the routes the app has mounted: every route is
 * registered with `route()` (src/http/route.ts), which records its declared inputs, responses and error
 * codes. Request schemas are the very validators the routes parse with; error responses come from the
 * error-code map (`ERROR_STATUS`, src/errors.ts).
 */

/** One route the express app answers. */
export interface MountedRoute {
  method: string;
  /** The express path (`/r/:code`). */
  path: string;
  operation: Operation | undefined;
}

interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: unknown[] };
  rawPath?: string | string[];
}

/** Every `METHOD path` of the app, walking nested routers, with the operation recorded for it. */
export function mountedRoutes(app: Application): MountedRoute[] {
  const found: MountedRoute[] = [];
  const walk = (stack: unknown[], prefix: string) => {
    for (const raw of stack) {
      const layer = raw as Layer;
      if (layer.route) {
        const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
        for (const path of paths) {
          for (const [method, on] of Object.entries(layer.route.methods)) {
            if (on && method !== "_all")
              found.push({ method, path: prefix + path, operation: operationOf(layer.route) });
          }
        }
      } else if (layer.handle?.stack) {
        const mount = typeof layer.rawPath === "string" && layer.rawPath !== "/" ? layer.rawPath : "";
        walk(layer.handle.stack, prefix + mount);
      }
    }
  };
  walk((app as unknown as { router: { stack: unknown[] } }).router.stack, "");
  return found;
}

/** `/r/:code` → `/r/{code}`. */
export const openApiPath = (path: string) => path.replace(/:(\w+)/g, "{$1}");

const SECURITY: Record<Exclude<Auth, "none">, string> = {
  admin: "apiKey",
  integration: "apiKey",
  vendor: "apiKey",
  member: "memberToken",
  cron: "cronSecret",
  webhook: "webhookSignature",
};

/** The codes an operation can answer with: its own, its credentials', its inputs', and 500/503 for all. */
export function operationErrors(op: Operation): ErrorCode[] {
  const codes = new Set<ErrorCode>(op.errors ?? []);
  if (op.params || op.query || (op.body && op.bodyMode !== "raw")) codes.add("validation_failed");
  if (op.body) codes.add("bad_request");
  if (SECURITY[op.auth as Exclude<Auth, "none">] === "apiKey") {
    codes.add("unauthorized");
    codes.add("forbidden");
  } else if (op.auth === "member" || op.auth === "cron") codes.add("unauthorized");
  else if (op.auth === "webhook") codes.add("invalid_signature");
  codes.add("internal");
  codes.add("database_unavailable");
  return [...codes];
}

const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.int(),
  detail: z.string(),
  code: z.enum(Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]]),
  requestId: z.string(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

type JsonSchema = Record<string, unknown>;

/** Converts zod to JSON Schema, moving named schemas into `components` and pointing `$ref`s there. */
function converter() {
  const components: Record<string, JsonSchema> = {};
  const convert = (schema: z.ZodType, io: "input" | "output"): JsonSchema => {
    const {
      $schema: _ignored,
      $defs,
      ...rest
    } = z.toJSONSchema(schema, {
      io,
      unrepresentable: "any",
      metadata: namedSchemas,
    }) as JsonSchema & { $defs?: Record<string, JsonSchema> };
    const relink = <T>(value: T): T =>
      JSON.parse(JSON.stringify(value).replaceAll('"#/$defs/', '"#/components/schemas/'));
    for (const [name, definition] of Object.entries($defs ?? {})) {
      // A request and a response may name the same schema; input and output then differ only in
      // defaults and transforms, so the first one converted stands for both.
      components[name] ??= relink(definition);
    }
    return relink(rest);
  };
  return { components, convert };
}

function parameters(op: Operation, convert: (schema: z.ZodType, io: "input") => JsonSchema) {
  const list: JsonSchema[] = [];
  for (const [where, schema] of [
    ["path", op.params],
    ["query", op.query],
  ] as const) {
    if (!schema) continue;
    const shape = (schema as z.ZodObject).shape as Record<string, z.ZodType>;
    for (const [name, field] of Object.entries(shape)) {
      list.push({
        name,
        in: where,
        required: where === "path" || !field.safeParse(undefined).success,
        schema: convert(field, "input"),
      });
    }
  }
  return list;
}

/** OpenAPI 3.1 for `GET /openapi.json`: every route `app` has mounted. */
export function openApiDocument(app: Application, baseUrl: string, version: string) {
  const { components, convert } = converter();
  const paths: Record<string, Record<string, unknown>> = {};
  for (const mounted of mountedRoutes(app)) {
    const op = mounted.operation;
    if (!op) continue;
    const responses: Record<string, unknown> = {};
    for (const response of op.responses) {
      const contentType = response.contentType ?? "application/json";
      responses[String(response.status)] = {
        description: response.description,
        ...(response.headers
          ? {
              headers: Object.fromEntries(
                Object.entries(response.headers).map(([name, description]) => [
                  name,
                  { description, schema: { type: "string" } },
                ]),
              ),
            }
          : {}),
        ...(response.schema || response.contentType
          ? {
              content: {
                [contentType]: {
                  schema: response.schema ? convert(response.schema, "output") : { type: "string" },
                },
              },
            }
          : {}),
      };
    }
    const byStatus = new Map<number, ErrorCode[]>();
    for (const code of operationErrors(op)) {
      const status = ERROR_STATUS[code];
      byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
    }
    for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
      const problem = {
        schema: {
          allOf: [
            { $ref: "#/components/schemas/Problem" },
            { type: "object", properties: { code: { type: "string", enum: codes } } },
          ],
        },
      };
      // A status the route also answers with its own body (503 from /readyz) carries both media types.
      const declared = responses[String(status)] as { description: string; content?: object } | undefined;
      responses[String(status)] = declared
        ? {
            ...declared,
            description: `${declared.description}; problem: ${codes.join(", ")}`,
            content: { ...declared.content, "application/problem+json": problem },
          }
        : { description: codes.join(", "), content: { "application/problem+json": problem } };
    }
    const params = parameters(op, convert);
    const path = openApiPath(op.path);
    paths[path] = {
      ...paths[path],
      [op.method]: {
        operationId: `${op.method}${op.path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? "").toUpperCase())}`,
        summary: op.summary,
        tags: [op.tag],
        security: op.auth === "none" ? [] : [{ [SECURITY[op.auth]]: [] }],
        ...(params.length ? { parameters: params } : {}),
        ...(op.body
          ? {
              requestBody: {
                required: op.bodyMode !== "optional",
                content: { "application/json": { schema: convert(op.body, "input") } },
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
      schemas: { Problem: convert(problemSchema, "output"), ...components },
    },
  };
}

const escapeHtml = (text: string) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** `GET /docs`: a plain, script-free page listing every operation (the full schemas are in /openapi.json). */
export function docsPage(app: Application): string {
  const rows = mountedRoutes(app)
    .flatMap(({ operation: op }) => (op ? [op] : []))
    .map(
      (op) =>
        `<tr><td><code>${op.method.toUpperCase()}</code></td><td><code>${escapeHtml(openApiPath(op.path))}</code></td><td>${escapeHtml(op.auth)}</td><td>${escapeHtml(op.summary)}</td></tr>`,
    )
    .join("\n");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Twinrail API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1b1f2a}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #dde;padding:.4rem .6rem;text-align:left;vertical-align:top}code{font-size:.9em}</style>
</head><body><h1>Twinrail API</h1>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1, generated from the route registrations: request schemas are the validators, responses the declared views). Errors are <code>application/problem+json</code> with a stable <code>code</code>.</p>
<table><thead><tr><th>method</th><th>path</th><th>auth</th><th>what it does</th></tr></thead><tbody>
${rows}
</tbody></table></body></html>`;
}
