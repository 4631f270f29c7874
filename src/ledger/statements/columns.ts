import { type RawBuilder, sql } from "kysely";

/** By the (constant) names array, then by alias: no key to build per call. */
const lists = new WeakMap<readonly string[], Map<string, RawBuilder<unknown>>>();

/**
 * A constant column list (`"a", "b"`, or `"x"."a", "x"."b"` with an alias) as one raw fragment, built
 * once per list. The hot statements name 6 to 18 columns several times each; as `sql.ref`s they were
 * compiled node by node on every event (about 0.1 ms per statement in kysely). Names are this
 * module's callers' constants, never input.
 */
export function columnList(names: readonly string[], alias?: string): RawBuilder<unknown> {
  let byAlias = lists.get(names);
  if (!byAlias) {
    byAlias = new Map();
    lists.set(names, byAlias);
  }
  const key = alias ?? "";
  let list = byAlias.get(key);
  if (!list) {
    for (const name of [...names, ...(alias ? [alias] : [])]) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain column name: ${name}`);
    }
    list = sql.raw(names.map((name) => (alias ? `"${alias}"."${name}"` : `"${name}"`)).join(", "));
    byAlias.set(key, list);
  }
  return list;
}
