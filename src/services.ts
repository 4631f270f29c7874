import type { Logger } from "pino";
import type { Chain } from "./chain/index.js";
import type { Config } from "./config.js";
import type { Db } from "./db/connect.js";
import type { ReadReplica } from "./db/read-replica.js";
import type { Minter } from "./jobs/minter.js";

/** What the HTTP surface and jobs are given; built once at boot by `src/server.ts`. */
export interface Services {
  config: Readonly<Config>;
  db: Db;
  dbKind: "postgres" | "pglite";
  chain: Chain;
  minter: Minter;
  logger: Logger;
  /** Dashboard and export reads (`READ_DATABASE_URL`); absent: they use `db`. See src/http/read-source.ts. */
  reads?: ReadReplica;
}
