import { describe, expect, it } from "vitest";
import { MAX_PER_CONNECTION, prepared, preparedName, usePreparedStatements } from "../../src/db/prepared.js";

/** The marker turns into a named prepared statement only for marked texts, one name per distinct text. */
describe("prepared statements", () => {
  const marked = (name: string, body: string) => `/* prepared:${name} */ ${body}`;

  it("names only marked texts, and two texts never share a name", () => {
    expect(preparedName("SELECT 1")).toBeUndefined();
    expect(preparedName("  /* prepared:x */ SELECT 1")).toBeUndefined();
    const a = preparedName(marked("insert-order", "SELECT $1"));
    const b = preparedName(marked("insert-order", "SELECT $1, $2"));
    expect(a).toMatch(/^tw_insert_order_[0-9a-f]{16}$/);
    expect(b).toMatch(/^tw_insert_order_[0-9a-f]{16}$/);
    expect(a).not.toBe(b);
    expect(preparedName(marked("insert-order", "SELECT $1"))).toBe(a);
    expect(() => prepared("Bad Name")).toThrow(/must match/);
  });

  it("sends marked statements with their name, the rest as they were, and caps names per connection", () => {
    const sent: unknown[][] = [];
    const client = Object.create({ query: (...args: unknown[]) => sent.push(args) });
    usePreparedStatements(client as never);
    usePreparedStatements(client as never); // idempotent: a client is wrapped once
    client.query(marked("a", "SELECT $1"), [1]);
    client.query("SELECT $1", [1]);
    client.query("BEGIN");
    expect(sent[0]![0]).toEqual({
      name: preparedName(marked("a", "SELECT $1")),
      text: marked("a", "SELECT $1"),
      values: [1],
    });
    expect(sent[1]).toEqual(["SELECT $1", [1], undefined]);
    expect(sent[2]).toEqual(["BEGIN", undefined, undefined]);
    sent.length = 0;
    for (let i = 0; i < MAX_PER_CONNECTION + 5; i++) client.query(marked("a", `SELECT ${i}, $1`), [i]);
    const named = sent.filter((args) => typeof args[0] === "object").length;
    expect(named).toBe(MAX_PER_CONNECTION - 1); // one slot was taken by the first text
  });
});
