import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll } from "vitest";
import type { Chain } from "../../src/chain/index.js";
import {
  deployAndGrant,
  type HardhatNode,
  openSchema,
  type Schema,
  startHardhatNode,
} from "../faults/support.js";

/** What a fault-test file runs against: one hardhat node, the contracts on it, and its schemas. */
export interface FaultNetwork {
  node: HardhatNode;
  chain: Chain;
  /** Where the contract addresses are written, for the minter processes (DEPLOYMENTS_FILE). */
  deploymentsFile: string;
  /** A fresh Postgres schema, dropped after the file's tests. */
  openSchema(prefix: string): Promise<Schema>;
}

/**
 * The setup every fault-test file shares: for the enclosing `describe`, a hardhat node with both
 * contracts deployed and OPERATOR_ROLE granted to `operators` (hardhat account indexes), torn down
 * with its schemas and work folder after the tests. The fields are set once the beforeAll has run.
 * A file's own afterAll runs before this one (vitest runs after-hooks in reverse order).
 */
export function useFaultNetwork(tag: string, operators: number[]): FaultNetwork {
  const schemas: Schema[] = [];
  let workDir: string | undefined;
  const network = {
    async openSchema(prefix: string) {
      const schema = await openSchema(prefix);
      schemas.push(schema);
      return schema;
    },
  } as FaultNetwork;

  beforeAll(async () => {
    network.node = await startHardhatNode();
    workDir = mkdtempSync(path.join(tmpdir(), `twinrail-faults-${tag}-`));
    network.deploymentsFile = path.join(workDir, "31337.json");
    network.chain = await deployAndGrant(network.node.rpcUrl, network.deploymentsFile, operators);
  }, 180_000);

  afterAll(async () => {
    await network.chain?.close();
    await network.node?.stop();
    for (const schema of schemas) await schema.drop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  return network;
}
