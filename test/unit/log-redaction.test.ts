import { createServer } from "node:net";
import { Writable } from "node:stream";
import { createPublicClient, http } from "viem";
import { describe, expect, it } from "vitest";
import { createLogger, redactUrls } from "../../src/logger.js";

const KEY = "sEcReTpRoViDeRkEy0123456789";

/** A local port nothing listens on (connections to it are refused). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A real viem error: an http transport to a port nothing listens on, the provider key in the path. */
async function viemRpcError(url: string): Promise<Error> {
  const client = createPublicClient({ transport: http(url, { retryCount: 0, timeout: 5_000 }) });
  try {
    await client.getBlockNumber();
  } catch (error) {
    return error as Error;
  }
  throw new Error("the RPC call to an unreachable URL succeeded");
}

function capturedLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      callback();
    },
  });
  return { logger: createLogger("info", stream), lines };
}

describe("logged errors never carry a URL's path, query or credentials", () => {
  it("redacts the RPC URL in a real viem error logged as err, as the error itself, and in messages", async () => {
    const port = await closedPort();
    const error = await viemRpcError(`http://127.0.0.1:${port}/v2/${KEY}?apikey=${KEY}`);
    // The premise: viem does put the key into its error text.
    expect(`${error.message}${error.stack}${JSON.stringify(error)}`).toContain(KEY);

    const { logger, lines } = capturedLogger();
    logger.error({ err: error }, "RPC call failed");
    logger.error(error);
    logger.child({ job: "minter" }).warn({ error: error.message }, `broadcast failed: ${error.message}`);
    logger.error({ err: new Error("wrapped", { cause: error }) }, "mint run failed");

    expect(lines).toHaveLength(4);
    const text = lines.join("\n");
    expect(text).not.toContain(KEY);
    expect(text).not.toContain("apikey");
    expect(text).toContain(`http://127.0.0.1:${port}/…redacted`);
    const first = JSON.parse(lines[0]!);
    expect(first.err.type).toBe(error.constructor.name);
    expect(first.err.message).toContain(`http://127.0.0.1:${port}/…redacted`);
    expect(first.err.stack).toContain(`http://127.0.0.1:${port}/…redacted`);
    expect(first.err.details ?? first.err.shortMessage).toBeDefined();
    expect(JSON.parse(lines[1]!).msg).toContain(`http://127.0.0.1:${port}/…redacted`);
  });

  it("drops user:pass@ and keeps scheme and host", async () => {
    const port = await closedPort();
    const error = await viemRpcError(`http://alice:hunter2@127.0.0.1:${port}/rpc/${KEY}`);
    const { logger, lines } = capturedLogger();
    logger.error({ err: error }, "RPC call failed");
    const text = lines.join("\n");
    expect(text).not.toContain(KEY);
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("alice");
    expect(text).toContain(`http://127.0.0.1:${port}/…redacted`);
  });

  it("rewrites URLs in free text the same way", () => {
    expect(redactUrls(`URL: https://eth-mainnet.example.com/v2/${KEY}\nVersion: viem`)).toBe(
      "URL: https://eth-mainnet.example.com/…redacted\nVersion: viem",
    );
    expect(redactUrls(`"url":"wss://u:p@node.example:8546/ws?key=${KEY}"`)).toBe(
      '"url":"wss://node.example:8546/…redacted"',
    );
    expect(redactUrls("see https://host.example/ and http://localhost:3000")).toBe(
      "see https://host.example/ and http://localhost:3000",
    );
    expect(redactUrls("https://host.example/…redacted")).toBe("https://host.example/…redacted");
    expect(redactUrls("no url here")).toBe("no url here");
  });
});
