import type { NextFunction, Request, RequestHandler, Response, Router } from "express";
import { z } from "zod";
import type { ErrorCode } from "../errors.js";
import { parse } from "./validate.js";

/**
 * One place declares a route: `route(router, spec, handler)` registers the express handler and records
 * the operation for the OpenAPI document (`src/http/openapi.ts`), so the document is generated from what
 * is mounted and cannot drift. The declared `params`, `query` and `body` are what the handler receives,
 * parsed (400 `validation_failed` naming every field otherwise); the declared responses and error codes
 * are what the document says the route answers.
 */

/** Who may call a route; the guard itself is the router's middleware (`requireRole`, `requireMember`…). */
export type Auth = "none" | "admin" | "integration" | "vendor" | "member" | "cron" | "webhook";

export type Method = "get" | "post" | "put" | "patch" | "delete";

/** One answer of a route: its status and, when it has a body, its content. */
export interface ResponseSpec {
  status: number;
  description: string;
  /** The JSON body (`application/json` unless `contentType` says otherwise). */
  schema?: z.ZodType;
  /** A non-JSON body (`text/html`, `text/csv`…), described as a string unless `schema` is given. */
  contentType?: string;
  /** Response headers worth documenting (a redirect's `location`), name → description. */
  headers?: Readonly<Record<string, string>>;
}

type AnyObject = z.ZodObject | z.ZodPipe<z.ZodObject>;
type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface RouteSpec<P extends AnyObject | undefined, Q extends AnyObject | undefined, B> {
  method: Method;
  /** The express path (`/v1/members/:memberId`). */
  path: string;
  summary: string;
  /** The surface, as the document groups it. */
  tag: string;
  auth: Auth;
  /** Path parameters, parsed from `req.params` (errors at `path.<name>`). */
  params?: P;
  /** The query string, parsed from `req.query` (errors at `query.<name>`). */
  query?: Q;
  /** The JSON body, parsed from `req.body` (errors at `body.<field>`). */
  body?: B;
  /**
   * `"optional"`: a request without a body is parsed as `{}`. `"raw"`: the handler parses the body
   * itself (the webhook verifies its raw bytes first); the schema only documents it.
   */
  bodyMode?: "required" | "optional" | "raw";
  responses: readonly [ResponseSpec, ...ResponseSpec[]];
  /** Codes the route itself (or the use case behind it) can answer with; see `operationErrors`. */
  errors?: readonly ErrorCode[];
  /** Express middleware run before the input is parsed (auth, rate limit, idempotency…). */
  middleware?: readonly RequestHandler[];
}

/** What the handler receives: the parsed inputs. */
export interface RouteInput<P, Q, B> {
  params: Parsed<P>;
  query: Parsed<Q>;
  body: Parsed<B>;
}

/** A recorded operation: the spec as the document needs it. */
export type Operation = Omit<
  RouteSpec<AnyObject | undefined, AnyObject | undefined, z.ZodType | undefined>,
  "middleware"
>;

const OPERATIONS = new WeakMap<object, Operation>();

/** The operation recorded for an express route (`layer.route`), if it was registered with `route()`. */
export function operationOf(expressRoute: object): Operation | undefined {
  return OPERATIONS.get(expressRoute);
}

/** Registers `handler` for `spec.method spec.path` on `router` and records the operation. */
export function route<
  P extends AnyObject | undefined = undefined,
  Q extends AnyObject | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
>(
  router: Router,
  spec: RouteSpec<P, Q, B>,
  handler: (req: Request, res: Response, input: RouteInput<P, Q, B>, next: NextFunction) => unknown,
): void {
  const run: RequestHandler = async (req, res, next) => {
    const input = {
      params: spec.params ? parse(spec.params, req.params, "path") : undefined,
      query: spec.query ? parse(spec.query, req.query, "query") : undefined,
      body:
        spec.body && spec.bodyMode !== "raw"
          ? parse(spec.body, spec.bodyMode === "optional" ? (req.body ?? {}) : req.body)
          : undefined,
    } as RouteInput<P, Q, B>;
    await handler(req, res, input, next);
  };
  router[spec.method](spec.path, ...(spec.middleware ?? []), run);
  const stack = (router as unknown as { stack: Array<{ route?: object }> }).stack;
  const registered = stack[stack.length - 1]?.route;
  if (!registered) throw new Error(`route ${spec.method} ${spec.path} was not registered`);
  const { middleware: _middleware, ...operation } = spec;
  OPERATIONS.set(registered, operation as Operation);
}

/** The named schemas of the document (`#/components/schemas/<name>`). */
export const namedSchemas = z.registry<{ id: string; description?: string }>();

/** Names `schema` in the document: every use of it becomes a `$ref` to one component. */
export function named<T extends z.ZodType>(id: string, schema: T, description?: string): T {
  namedSchemas.add(schema, description ? { id, description } : { id });
  return schema;
}
