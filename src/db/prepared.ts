import { createHash } from "node:crypto";
import { type RawBuilder, sql } from "kysely";
import type pg from "pg";

/**
 * Named server-side prepared statements for the hot statements (order.paid's, see
 * `src/ledger/statements/`). A statement marked with `prepared("name")` at its start runs on Postgres
 * as a named prepared statement, parsed, analysed and planned once per connection instead of once per
 * execution: for order.paid that was about 1.4 ms of the database's 3.8 ms per event (measured with
 * pg_stat_statements, track_planning on; `docs/ledger.md` "Statements per event").
 *
 * The name is the marker plus a hash of the whole text, so a statement whose text varies cannot run
 * under another text's name, and each connection keeps at most `MAX_PER_CONNECTION` of them (further
 * texts run unnamed, as everything else does). The plan choice stays the server's (`plan_cache_mode`
 * auto: custom plans first, the generic one once it is no worse). Marked statements must take their
 * values as parameters (lists as one array or JSON parameter), never spliced into the text.
 *
 * Off behind a transaction pooler (`DATABASE_POOL_MODE=transaction`): a named statement belongs to a
 * server connection, which PgBouncer 1.18 hands to another client between transactions. PGlite sees
 * the marker as a comment.
 */
const MARKER = /^\/\* prepared:([a-z0-9-]+) \*\//;
export const MAX_PER_CONNECTION = 64;

/** The marker to put first in a hot statement's text: sql`${prepared("insert-order")}WITH …`. */
export function prepared(name: string): RawBuilder<unknown> {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`prepared statement name must match [a-z0-9-]+: ${name}`);
  return sql.raw(`/* prepared:${name} */ `);
}

/** The server-side name for a marked text, or undefined when the text is not marked. */
export function preparedName(text: string): string | undefined {
  const marker = MARKER.exec(text);
  if (!marker) return undefined;
  const hash = createHash("sha1").update(text).digest("hex").slice(0, 16);
  return `tw_${marker[1]!.replaceAll("-", "_")}_${hash}`.slice(0, 63);
}

type QueryFn = (...args: unknown[]) => unknown;

/** Makes one pool client run marked statements as named prepared statements (once per client). */
export function usePreparedStatements(client: pg.PoolClient | pg.Client): void {
  const target = client as unknown as { query: QueryFn; __twinrailPrepared?: true };
  if (target.__twinrailPrepared) return;
  target.__twinrailPrepared = true;
  // The method is looked up at each call, so a wrapper installed on the prototype later (the replay
  // benchmark captures statements that way) still sees every statement.
  const original: QueryFn = (...args) =>
    (Object.getPrototypeOf(client) as { query: QueryFn }).query.apply(client, args);
  const names = new Map<string, string>();
  target.query = (config: unknown, values?: unknown, callback?: unknown) => {
    if (typeof config === "string" && Array.isArray(values)) {
      let name = names.get(config);
      if (name === undefined && names.size < MAX_PER_CONNECTION) {
        name = preparedName(config);
        if (name) names.set(config, name);
      }
      if (name) return original({ name, text: config, values }, callback);
    }
    return original(config, values, callback);
  };
}
