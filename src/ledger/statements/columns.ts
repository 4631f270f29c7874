import { type RawBuilder, sql } from "kysely";

const lists = new Map<string, RawBuilder<unknown>>();

/**
 * A constant column list (`"a", "b"`, or `"x"."a", "x"."b"` with an alias) as one raw fragment, built
 * once per list. The hot statements name 6 to 18 columns several times each; as `sql.ref`s they were
 * compiled node by node on every event (about 0.1 ms per statement in kysely). Names are this
 * module's callers' constants, never input.
 */
export function columnList(names: readonly string[], alias?: string): RawBuilder<unknown> {
  const key = `${alias ?? ""}|${names.join(",")}`;
  let list = lists.get(key);
  if (!list) {
    for (const name of [...names, ...(alias ? [alias] : [])]) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain column name: ${name}`);
    }
    list = sql.raw(names.map((name) => (alias ? `"${alias}"."${name}"` : `"${name}"`)).join(", "));
    lists.set(key, list);
  }
  return list;
}
