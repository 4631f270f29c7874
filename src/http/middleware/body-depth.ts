import type { RequestHandler } from "express";
import { AppError } from "../../errors.js";

/** No request body of the API nests deeper than this; recursive code (hashing, JSON) stays bounded. */
export const MAX_BODY_DEPTH = 32;

/** The nesting depth of a parsed JSON value, measured without recursion (so it cannot overflow). */
export function jsonDepth(value: unknown, limit = Number.POSITIVE_INFINITY): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (item === null || typeof item !== "object") continue;
    if (depth > deepest) deepest = depth;
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(item) ? item : Object.values(item)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/** 400 for a JSON body nested deeper than `MAX_BODY_DEPTH`, before any route sees it. */
export const refuseDeepBodies: RequestHandler = (req, _res, next) => {
  if (req.body && typeof req.body === "object" && jsonDepth(req.body, MAX_BODY_DEPTH) > MAX_BODY_DEPTH) {
    next(new AppError("bad_request", `the body is nested deeper than ${MAX_BODY_DEPTH} levels`));
    return;
  }
  next();
};
