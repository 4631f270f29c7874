import type { AddressInfo } from "node:net";
import express from "express";
import { describe, expect, it } from "vitest";
import { describeDbError, isDatabaseUnavailable } from "../../src/db/connect.js";
import { AppError } from "../../src/errors.js";
import { problemHandler } from "../../src/http/middleware/problem.js";

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe("isDatabaseUnavailable", () => {
  it.each([
    ["admin shutdown", withCode("terminating connection due to administrator command", "57P01")],
    [
      "crash shutdown",
      withCode("terminating connection because of crash of another server process", "57P02"),
    ],
    ["starting up", withCode("the database system is starting up", "57P03")],
    ["connection failure", withCode("connection failure", "08006")],
    ["too many connections", withCode("sorry, too many clients already", "53300")],
    ["refused", withCode("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED")],
    ["reset", withCode("read ECONNRESET", "ECONNRESET")],
    ["terminated", new Error("Connection terminated unexpectedly")],
    ["connect timeout", new Error("Connection terminated due to connection timeout")],
    ["pool wait timeout", new Error("timeout exceeded when trying to connect")],
    ["dead client", new Error("Client has encountered a connection error and is not queryable")],
    [
      "wrapped",
      new Error("boot failed", { cause: withCode("connect ECONNREFUSED ::1:5432", "ECONNREFUSED") }),
    ],
    [
      "aggregate (dual stack)",
      Object.assign(new AggregateError([withCode("connect ECONNREFUSED ::1:5432", "ECONNREFUSED")], ""), {
        code: "ECONNREFUSED",
      }),
    ],
  ])("recognises %s", (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it.each([
    ["unique violation", withCode("duplicate key value violates unique constraint", "23505")],
    ["deadlock", withCode("deadlock detected", "40P01")],
    ["syntax", withCode("syntax error at or near", "42601")],
    ["plain", new Error("boom")],
    ["app error", new AppError("conflict", "taken")],
    ["nothing", undefined],
  ])("leaves %s alone", (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });

  it("describes an error in one line with its code and without a stack", () => {
    expect(describeDbError(withCode("the database system is starting up\nmore", "57P03"))).toBe(
      "57P03: the database system is starting up",
    );
  });
});

describe("problemHandler for an unreachable database", () => {
  it("answers 503 problem+json with Retry-After, and logs once per window without the error object", async () => {
    const logged: unknown[][] = [];
    const app = express();
    app.use((req, _res, next) => {
      (req as unknown as { log: unknown }).log = {
        warn: (...args: unknown[]) => logged.push(["warn", ...args]),
        error: (...args: unknown[]) => logged.push(["error", ...args]),
      };
      next();
    });
    app.get("/fail", () => {
      throw Object.assign(new Error("Connection terminated unexpectedly"), { parameters: ["secret-value"] });
    });
    app.get("/other", () => {
      throw new Error("boom");
    });
    app.use(problemHandler);
    const server = app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const first = await fetch(`${base}/fail`);
      expect(first.status).toBe(503);
      expect(first.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(Number(first.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(await first.json()).toMatchObject({
        status: 503,
        code: "database_unavailable",
        type: "https://twinrail.dev/problems/database_unavailable",
      });
      for (let i = 0; i < 5; i++) expect((await fetch(`${base}/fail`)).status).toBe(503);
      const dbLines = logged.filter((line) => JSON.stringify(line).includes("Connection terminated"));
      expect(dbLines).toHaveLength(1);
      expect(dbLines[0]![0]).toBe("warn");
      expect(JSON.stringify(logged)).not.toContain("secret-value");
      // Anything else stays a 500 without Retry-After.
      const other = await fetch(`${base}/other`);
      expect(other.status).toBe(500);
      expect(other.headers.get("retry-after")).toBeNull();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
