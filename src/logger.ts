import pino, { type DestinationStream, type Logger } from "pino";

/**
 * URLs inside logged text: scheme, optional user:pass@, host[:port], then path/query/fragment. A
 * provider key often rides in the path (`https://eth.example/v2/KEY`) or the query (`?apikey=`), and
 * viem puts the full RPC URL into its error messages, details and stacks.
 */
const URL_IN_TEXT = /\b((?:https?|wss?):\/\/)(?:[^\s/?#@"'<>`]*@)?([^\s/?#@"'<>`]+)([/?#][^\s"'<>`]*)?/gi;
const REDACTED_PATH = "/…redacted";

/** `https://user:pass@host/v2/KEY?x=1` → `https://host/…redacted`: scheme and host kept, the rest gone. */
export function redactUrls(text: string): string {
  if (!text.includes("://")) return text;
  return text.replace(URL_IN_TEXT, (_match, scheme: string, host: string, rest: string | undefined) =>
    rest && rest !== "/" ? `${scheme}${host}${REDACTED_PATH}` : `${scheme}${host}${rest ?? ""}`,
  );
}

/** A copy of `value` with every string in it passed through `redactUrls` (plain data only). */
function redactDeep(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === "string") return redactUrls(value);
  if (value === null || typeof value !== "object" || depth > 8) return value;
  if (seen.has(value)) return "[Circular]";
  seen.add(value);
  if (value instanceof Error) return redactDeep(pino.stdSerializers.err(value), depth + 1, seen);
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, depth + 1, seen));
  const prototype = Object.getPrototypeOf(value);
  // Anything that is not plain data (Buffer, Date, URL, a class instance) is left to pino as it is.
  if (prototype !== Object.prototype && prototype !== null && !isPinoError(value)) return value;
  const copy: Record<string, unknown> = {};
  for (const key in value) copy[key] = redactDeep((value as Record<string, unknown>)[key], depth + 1, seen);
  return copy;
}

const PINO_ERROR_PROTO = Object.getPrototypeOf(pino.stdSerializers.err(new Error("probe")));
function isPinoError(value: object): boolean {
  return Object.getPrototypeOf(value) === PINO_ERROR_PROTO;
}

/**
 * The `err` serializer of every Twinrail logger: pino's standard one (type, message and stack with
 * causes, own properties such as viem's `details`, `shortMessage`, `metaMessages`, `url`), then every
 * URL in it cut down to scheme and host.
 */
export function errSerializer(error: unknown): unknown {
  if (error instanceof Error) return redactDeep(pino.stdSerializers.err(error));
  return redactDeep(error);
}

/** The process logger. Secrets never reach it: credentials and signatures are redacted by path. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: "twinrail" },
    redact: {
      paths: [
        "req.headers.authorization",
        "req.headers.cookie",
        "req.headers['webhook-signature']",
        "res.headers['set-cookie']",
        "*.secret",
        "*.privateKey",
        "*.key",
      ],
      censor: "[redacted]",
    },
    // `err` is pino's error key; `error` is where the jobs put described errors (strings).
    serializers: { err: errSerializer, error: errSerializer },
    hooks: {
      // Messages of warnings and errors often quote an error's message: their URLs are redacted too,
      // as is the message pino takes from an Error logged without one.
      logMethod(args, method, level) {
        if (level < 40) return method.apply(this, args);
        const [first, ...rest] = args as unknown[];
        const errorFirst =
          first instanceof Error
            ? first
            : first && typeof first === "object" && (first as { err?: unknown }).err instanceof Error
              ? ((first as { err: Error }).err as Error)
              : undefined;
        if (errorFirst && typeof rest[0] !== "string") {
          return method.call(this, first as object, redactUrls(errorFirst.message));
        }
        const redacted = args.map((arg) => (typeof arg === "string" ? redactUrls(arg) : arg));
        return method.apply(this, redacted as Parameters<typeof method>);
      },
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
