// Mocha globals (describe, it): tsconfig loads only the "node" types.
/// <reference types="mocha" />
import { expect } from "chai";
import { staleExports } from "../../scripts/gen-abi";
import * as generated from "../../src/chain/abi.generated";

describe("src/chain/abi.generated.ts", () => {
  it("matches the compiled artifacts (else run `npx tsx scripts/gen-abi.ts`)", () => {
    // `hardhat test` compiles first, so the artifacts here are the current contracts.
    expect(staleExports(generated as unknown as Record<string, unknown>)).to.deep.equal([]);
  });
});
