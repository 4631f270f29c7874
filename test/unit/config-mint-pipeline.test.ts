import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { minterConfig } from "../../src/jobs/minter.js";

describe("MINT_PIPELINE_DEPTH (batches in flight at once)", () => {
  it("defaults to 3 and reaches the minter's settings", () => {
    const config = loadConfig({});
    expect(config.MINT_PIPELINE_DEPTH).toBe(3);
    expect(minterConfig(loadConfig({ MINT_PIPELINE_DEPTH: "1" }), 1).pipelineDepth).toBe(1);
  });

  it("refuses anything but a whole number from 1 to 8, naming the variable", () => {
    for (const value of ["0", "9", "2.5", "two"]) {
      expect(() => loadConfig({ MINT_PIPELINE_DEPTH: value })).toThrow(ConfigError);
      expect(() => loadConfig({ MINT_PIPELINE_DEPTH: value })).toThrow(/MINT_PIPELINE_DEPTH/);
    }
  });
});
