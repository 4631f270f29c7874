import type { ErrorRequestHandler, RequestHandler } from "express";
import { AppError, isAppError } from "../../errors.js";

/** RFC 9457 problem+json for every error, with a stable `code` and the request id. */
export const problemHandler: ErrorRequestHandler = (error, req, res, _next) => {
  let problem: AppError;
  if (isAppError(error)) problem = error;
  else if (error?.type === "entity.parse.failed")
    problem = new AppError("bad_request", "the body is not valid JSON");
  else if (error?.type === "entity.too.large") problem = new AppError("bad_request", "the body is too large");
  else if (error?.status === 400 || error?.statusCode === 400)
    problem = new AppError("bad_request", "bad request");
  else {
    req.log?.error({ err: error }, "unhandled error");
    problem = new AppError("internal", "internal error; quote the requestId when reporting it");
  }
  if (problem.status >= 500 && isAppError(error)) req.log?.error({ err: error }, problem.message);
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
