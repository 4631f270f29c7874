import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { ApiKeyRole } from "../../db/schema.js";
import { AppError } from "../../errors.js";
import { type ApiKeyPrincipal, noteKeyUsed, verifyApiKey } from "../../ledger/api-keys.js";
import type { Actor } from "../../ledger/audit.js";
import { verifyMemberToken } from "../../lib/member-token.js";
import type { Services } from "../../services.js";

export type Principal = ApiKeyPrincipal | { kind: "member"; memberId: string };

declare global {
  namespace Express {
    interface Request {
      principal?: Principal;
    }
  }
}

function bearer(req: Request): string | undefined {
  const header = req.get("authorization");
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return match?.[1];
}

/** API key with one of `roles`: 401 without valid credentials, 403 for another role. */
export function requireRole(services: Services, ...roles: ApiKeyRole[]): RequestHandler {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const token = bearer(req);
    const principal = token ? await verifyApiKey(services.db, token) : undefined;
    if (!principal)
      return next(new AppError("unauthorized", "a valid API key is required: Authorization: Bearer tw_…"));
    if (!roles.includes(principal.role)) {
      return next(
        new AppError(
          "forbidden",
          `this endpoint needs role ${roles.join(" or ")}; the key has role ${principal.role}`,
        ),
      );
    }
    req.principal = principal;
    // last_used_at: one write per key per minute at most (a no-op within the minute).
    await noteKeyUsed(services.db, principal.keyId);
    next();
  };
}

/** Member token (HS256 JWT from the host). */
export function requireMember(services: Services): RequestHandler {
  return (req, _res, next) => {
    const token = bearer(req);
    const verified = token ? verifyMemberToken(services.config.secrets.memberToken, token) : undefined;
    if (!verified)
      return next(
        new AppError("unauthorized", "a valid member token is required: Authorization: Bearer <jwt>"),
      );
    req.principal = { kind: "member", memberId: verified.memberId };
    next();
  };
}

export function actorOf(req: Request): Actor {
  const principal = req.principal;
  const id = !principal
    ? "anonymous"
    : principal.kind === "member"
      ? `member:${principal.memberId}`
      : `${principal.role}:${principal.keyId}`;
  return { id, requestId: String(req.id) };
}
