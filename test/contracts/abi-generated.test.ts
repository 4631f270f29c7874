import { expect } from "chai";
import * as generated from "../../src/chain/abi.generated";
import { staleExports } from "../../scripts/gen-abi";

describe("src/chain/abi.generated.ts", () => {
  it("matches the compiled artifacts (else run `npx tsx scripts/gen-abi.ts`)", () => {
    // `hardhat test` compiles first, so the artifacts here are the current contracts.
    expect(staleExports(generated as unknown as Record<string, unknown>)).to.deep.equal([]);
  });
});
