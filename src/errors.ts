/**
 * The closed set of error codes Twinrail speaks. Domain and ledger code throw `AppError`; one HTTP
 * middleware turns it into RFC 9457 problem+json with the status below.
 */
export const ERROR_STATUS = {
  bad_request: 400,
  validation_failed: 400,
  unauthorized: 401,
  invalid_signature: 401,
  forbidden: 403,
  not_found: 404,
  unknown_code: 404,
  conflict: 409,
  invalid_transition: 409,
  order_conflict: 409,
  webhook_conflict: 409,
  code_taken: 409,
  idempotency_conflict: 422,
  refund_exceeds_paid: 422,
  unprocessable: 422,
  self_referral: 422,
  rate_limited: 429,
  chain_unavailable: 503,
  database_unavailable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AppError";
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.details = options?.details;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}
