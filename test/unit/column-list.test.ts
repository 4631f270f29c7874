import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  sql,
} from "kysely";
import { describe, expect, it } from "vitest";
import { columnList } from "../../src/ledger/statements/columns.js";

const db = new Kysely<Record<string, never>>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (k) => new PostgresIntrospector(k),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

describe("columnList (the hot statements' constant column lists)", () => {
  it("compiles to the text sql.ref would give, with and without an alias", () => {
    const names = ["order_reference", "vendor_id"];
    const refs = (alias?: string) =>
      sql.join(names.map((name) => (alias ? sql.ref(`${alias}.${name}`) : sql.ref(name))));
    expect(sql`${columnList(names)}`.compile(db).sql).toBe(sql`${refs()}`.compile(db).sql);
    expect(sql`${columnList(names, "x")}`.compile(db).sql).toBe(sql`${refs("x")}`.compile(db).sql);
    expect(sql`${columnList(names, "x")}`.compile(db).sql).toBe('"x"."order_reference", "x"."vendor_id"');
  });

  it("is built once per list and alias", () => {
    const names = ["a", "b"];
    expect(columnList(names, "t")).toBe(columnList(names, "t"));
    expect(columnList(names)).not.toBe(columnList(names, "t"));
  });

  it("refuses anything but a plain lower-case name", () => {
    expect(() => columnList(['a"; DROP TABLE orders; --'])).toThrow(/plain column name/);
    expect(() => columnList(["a"], "x y")).toThrow(/plain column name/);
  });
});
