/** Fetch wrapper for the Twinrail API: bearer from the session, problem+json into `ApiError`. */

import { noteReadSource } from "./read-source";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId?: string,
    readonly errors?: Array<{ path?: string; message?: string }>,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** The endpoint itself does not exist on this server yet (route-level 404, not a missing row). */
  get notAvailable(): boolean {
    return this.status === 404 && /^no route for /.test(this.message);
  }

  get unauthorized(): boolean {
    return this.status === 401;
  }
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  query?: Record<string, string | number | undefined | null>;
  accept?: string;
  idempotencyKey?: string;
  /** Aborts the request (a component unmounted, or its inputs changed). */
  signal?: AbortSignal;
}

let currentToken: string | null = null;
const unauthorizedListeners = new Set<() => void>();

export function setToken(token: string | null) {
  currentToken = token;
}

export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

export function buildPath(path: string, query?: RequestOptions["query"]): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

async function raw(path: string, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: options.accept ?? "application/json" };
  if (currentToken) headers.authorization = `Bearer ${currentToken}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  if (options.idempotencyKey) headers["idempotency-key"] = options.idempotencyKey;
  let res: Response;
  try {
    res = await fetch(buildPath(path, options.query), {
      method: options.method ?? "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: "same-origin",
      signal: options.signal,
    });
  } catch (error) {
    throw new ApiError(0, "network", `the server could not be reached (${String(error)})`);
  }
  if (!res.ok) {
    let problem: { code?: string; detail?: string; title?: string; requestId?: string; errors?: [] } = {};
    try {
      problem = await res.json();
    } catch {
      /* not JSON */
    }
    const error = new ApiError(
      res.status,
      problem.code ?? `http_${res.status}`,
      problem.detail ?? problem.title ?? res.statusText,
      problem.requestId,
      problem.errors,
    );
    if (error.unauthorized) for (const listener of unauthorizedListeners) listener();
    throw error;
  }
  noteReadSource(res.headers);
  return res;
}

export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const res = await raw(path, options);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** Downloads a response as a file (CSV export): fetched with the bearer header, saved through a blob URL. */
export async function download(path: string, options: RequestOptions, filename: string): Promise<string> {
  const res = await raw(path, options);
  const text = await res.text();
  const url = URL.createObjectURL(new Blob([text], { type: res.headers.get("content-type") ?? "text/csv" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return text;
}

export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}
