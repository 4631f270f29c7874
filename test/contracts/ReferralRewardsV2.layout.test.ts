// Mocha globals (describe, it): tsconfig loads only the "node" types.
/// <reference types="mocha" />
import {
  assertStorageUpgradeSafe,
  assertUpgradeSafe,
  getContractVersion,
  getStorageLayout,
  type SolcInput,
  type SolcOutput,
  solcInputOutputDecoder,
  type ValidationOptions,
  validate,
} from "@openzeppelin/upgrades-core";
import { expect } from "chai";
import { artifacts } from "hardhat";

const V1 = "contracts/ReferralRewards.sol:ReferralRewards";
const V2 = "contracts/ReferralRewardsV2.sol:ReferralRewardsV2";
const BAD = "contracts/test/ReferralRewardsBadLayout.sol:ReferralRewardsBadLayout";
const UUPS: ValidationOptions = { kind: "uups" };

/** upgrades-core's validation of `name`, run on the Hardhat build info that compiled it. */
async function validated(name: string) {
  const buildInfo = await artifacts.getBuildInfo(name);
  if (!buildInfo) throw new Error(`no build info for ${name}: run npx hardhat compile`);
  const input = buildInfo.input as unknown as SolcInput;
  const output = buildInfo.output as unknown as SolcOutput;
  const data = validate(output, solcInputOutputDecoder(input, output), buildInfo.solcVersion, input);
  const version = getContractVersion(data, name);
  return { data, version, layout: getStorageLayout(data, version) };
}

const fullOptions = (): Required<ValidationOptions> =>
  ({
    unsafeAllow: [],
    unsafeAllowRenames: false,
    unsafeSkipStorageCheck: false,
    unsafeAllowCustomTypes: false,
    unsafeAllowLinkedLibraries: false,
    kind: "uups",
  }) as unknown as Required<ValidationOptions>;

describe("ReferralRewardsV2 storage layout (@openzeppelin/upgrades-core)", () => {
  it("v1 and v2 are upgrade-safe UUPS implementations", async () => {
    for (const name of [V1, V2]) {
      const { data, version } = await validated(name);
      expect(() => assertUpgradeSafe(data, version, UUPS), name).not.to.throw();
    }
  });

  it("v2's layout extends v1's: the namespace keeps every v1 field in its slot and appends two", async () => {
    const v1 = await validated(V1);
    const v2 = await validated(V2);
    expect(() => assertStorageUpgradeSafe(v1.layout, v2.layout, fullOptions())).not.to.throw();
    const namespace = "erc7201:twinrail.storage.ReferralRewards";
    const labels = (layout: typeof v1.layout) =>
      (layout.namespaces?.[namespace] ?? []).map((item) => item.label);
    expect(labels(v1.layout)).to.deep.equal([
      "paidOrders",
      "token",
      "periodLength",
      "periodIndex",
      "mintedInPeriod",
      "periodCap",
      "maxPayout",
    ]);
    expect(labels(v2.layout)).to.deep.equal([...labels(v1.layout), "approvalsRequired", "usedApprovals"]);
  });

  it("rejects a v2 that inserts a field in the middle of the namespace (the check has teeth)", async () => {
    const v1 = await validated(V1);
    const bad = await validated(BAD);
    expect(() => assertStorageUpgradeSafe(v1.layout, bad.layout, fullOptions())).to.throw(
      /approvalsRequired|Inserted|layout/i,
    );
  });
});
