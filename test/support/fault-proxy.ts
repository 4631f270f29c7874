import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { keccak256 } from "viem";
import { mulberry32 } from "../../src/lib/prng.js";

/**
 * A JSON-RPC proxy on 127.0.0.1 that injects the faults a real provider shows, each with a probability:
 * - `http5xx`: answer 503 without forwarding;
 * - `lostResponse`: forward (the node acts on it) but drop the connection before answering — the
 *   "timeout after the node accepted the transaction" case;
 * - `delay`: forward and answer late (`delayMs`);
 * - `dropSend`: `eth_sendRawTransaction` answered with the tx hash but never forwarded;
 * - `nonceTooLow`: `eth_sendRawTransaction` answered "nonce too low" without forwarding.
 * A seeded generator makes a failing run reproducible.
 */
export interface FaultRates {
  http5xx?: number;
  lostResponse?: number;
  delay?: number;
  dropSend?: number;
  nonceTooLow?: number;
}

export interface FaultProxy {
  url: string;
  /** How many of each fault were injected, and how many requests were forwarded untouched. */
  counts: Record<keyof FaultRates | "forwarded" | "requests", number>;
  setRates(rates: FaultRates): void;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function startFaultProxy(
  target: string,
  options: {
    rates?: FaultRates;
    seed?: number;
    delayMs?: number;
    /** Faults forced on the first eth_sendRawTransaction calls, in order (then the rates apply). */
    firstSends?: ("dropSend" | "nonceTooLow")[];
  } = {},
): Promise<FaultProxy> {
  let rates: FaultRates = { ...options.rates };
  const random = mulberry32(options.seed ?? 1);
  const delayMs = options.delayMs ?? 1500;
  const counts: FaultProxy["counts"] = {
    requests: 0,
    forwarded: 0,
    http5xx: 0,
    lostResponse: 0,
    delay: 0,
    dropSend: 0,
    nonceTooLow: 0,
  };
  const scripted = [...(options.firstSends ?? [])];
  const roll = (key: keyof FaultRates) => {
    const hit = random() < (rates[key] ?? 0);
    if (hit) counts[key]++;
    return hit;
  };

  const forward = async (body: string) => {
    const response = await fetch(target, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    return { status: response.status, text: await response.text() };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    counts.requests++;
    let message: { id?: unknown; method?: string; params?: unknown[] } = {};
    try {
      const parsed = JSON.parse(body) as unknown;
      if (!Array.isArray(parsed)) message = parsed as typeof message;
    } catch {
      // not JSON: forwarded as is
    }
    const reply = (status: number, payload: string) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(payload);
    };
    if (roll("http5xx")) return reply(503, "service unavailable (injected)");
    if (message.method === "eth_sendRawTransaction") {
      const raw = message.params?.[0];
      const forced = scripted.shift();
      if (forced) counts[forced]++;
      if (typeof raw === "string" && (forced === "dropSend" || (!forced && roll("dropSend")))) {
        return reply(
          200,
          JSON.stringify({ jsonrpc: "2.0", id: message.id, result: keccak256(raw as `0x${string}`) }),
        );
      }
      if (forced === "nonceTooLow" || (!forced && roll("nonceTooLow"))) {
        return reply(
          200,
          JSON.stringify({
            jsonrpc: "2.0",
            id: message.id,
            error: { code: -32000, message: "nonce too low" },
          }),
        );
      }
    }
    const lost = roll("lostResponse");
    const late = !lost && roll("delay");
    const answer = await forward(body);
    if (lost) {
      res.socket?.destroy();
      return;
    }
    if (late) await new Promise((resolve) => setTimeout(resolve, delayMs));
    counts.forwarded++;
    reply(answer.status, answer.text);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(502).end("proxy error");
      else res.socket?.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    setRates(next) {
      rates = { ...next };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
