import { mnemonicToAccount, privateKeyToAddress } from "viem/accounts";
import { describe, expect, it } from "vitest";
import { HARDHAT_ACCOUNT_0, HARDHAT_DEFAULT_ACCOUNTS } from "../../src/chain/embedded.js";

/** The embedded chain's accounts are written out (deriving them cost each start ~0.7 s): they must be Hardhat's. */
describe("embedded chain accounts", () => {
  it("are Hardhat's 20 default accounts, derived from its default mnemonic", () => {
    expect(HARDHAT_DEFAULT_ACCOUNTS).toHaveLength(20);
    HARDHAT_DEFAULT_ACCOUNTS.forEach((account, i) => {
      const derived = mnemonicToAccount("test test test test test test test test test test test junk", {
        addressIndex: i,
      });
      expect(account.address).toBe(derived.address);
      expect(account.privateKey).toBe(`0x${Buffer.from(derived.getHdKey().privateKey!).toString("hex")}`);
      expect(privateKeyToAddress(account.privateKey)).toBe(account.address);
    });
    expect(HARDHAT_DEFAULT_ACCOUNTS[0]).toEqual(HARDHAT_ACCOUNT_0);
  });
});
