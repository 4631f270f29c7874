import pino, { type Logger } from "pino";

/** The process logger. Secrets never reach it: credentials and signatures are redacted by path. */
export function createLogger(level: string): Logger {
  return pino({
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
  });
}
