import type { ErrorRequestHandler, Request, RequestHandler } from "express";
import { describeDbError, isDatabaseUnavailable } from "../../db/connect.js";
import { AppError, isAppError } from "../../errors.js";

/** Seconds a client is asked to wait while the database is unavailable (restart, failover). */
export const DATABASE_RETRY_AFTER_SECONDS = 5;
/** One log line per distinct database error per window; the rest of an outage's requests are counted. */
const DB_LOG_WINDOW_MS = 10_000;
const dbLogged = new Map<string, { at: number; suppressed: number }>();

function logDatabaseUnavailable(req: Request, error: unknown) {
  // Code and message only: never the error object (statement parameters, connection details).
  const summary = describeDbError(error);
  const now = Date.now();
  const seen = dbLogged.get(summary);
  if (seen && now - seen.at < DB_LOG_WINDOW_MS) {
    seen.suppressed++;
    return;
  }
  if (dbLogged.size > 100) dbLogged.clear();
  dbLogged.set(summary, { at: now, suppressed: 0 });
  req.log?.warn(
    { db: summary, ...(seen?.suppressed ? { suppressedSinceLast: seen.suppressed } : {}) },
    "database unavailable; answered 503",
  );
}

/** RFC 9457 problem+json for every error, with a stable `code` and the request id. */
export const problemHandler: ErrorRequestHandler = (error, req, res, _next) => {
  let problem: AppError;
  if (isAppError(error)) problem = error;
  else if (isDatabaseUnavailable(error)) {
    // A restart or failover: the request's transaction did not commit (or, if its COMMIT was cut off
    // in flight, did: a redelivered webhook then answers "duplicate"), so "try again" is the answer.
    logDatabaseUnavailable(req, error);
    problem = new AppError("database_unavailable", "the database is unavailable; retry later");
  } else if (error?.type === "entity.parse.failed")
    problem = new AppError("bad_request", "the body is not valid JSON");
  else if (error?.type === "entity.too.large") problem = new AppError("bad_request", "the body is too large");
  else if (error?.status === 400 || error?.statusCode === 400)
    problem = new AppError("bad_request", "bad request");
  else {
    req.log?.error({ err: error }, "unhandled error");
    problem = new AppError("internal", "internal error; quote the requestId when reporting it");
  }
  if (problem.code === "database_unavailable") res.set("Retry-After", String(DATABASE_RETRY_AFTER_SECONDS));
  else if (problem.status >= 500 && isAppError(error)) req.log?.error({ err: error }, problem.message);
  const { errors, ...details } = problem.details ?? {};
  res
    .status(problem.status)
    .type("application/problem+json")
    .json({
      type: `https://twinrail.dev/problems/${problem.code}`,
      title: problem.code.replace(/_/g, " "),
      status: problem.status,
      detail: problem.message,
      code: problem.code,
      requestId: req.id,
      ...(errors ? { errors } : {}),
      ...details,
    });
};

export const notFound: RequestHandler = (req, _res, next) => {
  next(new AppError("not_found", `no route for ${req.method} ${req.path}`));
};
