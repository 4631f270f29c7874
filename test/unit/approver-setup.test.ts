import { recoverTypedDataAddress } from "viem";
import { describe, expect, it } from "vitest";
import { approvalTypedData, DEMO_APPROVER } from "../../src/chain/approvals.js";
import { chainApprovals, localApprovals, resolveApprover } from "../../src/chain/approver-setup.js";
import { HARDHAT_ACCOUNT_0 } from "../../src/chain/embedded.js";

const CONTRACT = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0" as const;
const OPERATOR = HARDHAT_ACCOUNT_0.address;
const OTHER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d" as const; // Hardhat #1

describe("where approvals come from (APPROVER_KEYS_MODE)", () => {
  it("service mode on 31337 defaults to the demo approver and signs the batch's typed data", async () => {
    const approver = resolveApprover(undefined, 31337, CONTRACT, OPERATOR, 2);
    expect(approver?.address).toBe(DEMO_APPROVER.address);
    const payouts = [{ orderRef: `0x${"11".repeat(32)}` as const, to: OPERATOR, amount: 5n }];
    const approval = await approver!.approve({ payouts, batchId: 7n, deadline: 99n });
    const signer = await recoverTypedDataAddress({
      ...approvalTypedData({ chainId: 31337, contract: CONTRACT, payouts, batchId: 7n, deadline: 99n }),
      signature: approval.signature,
    });
    expect(signer).toBe(DEMO_APPROVER.address);
  });

  it("defaults to wallet mode (no key) outside 31337, and needs a key for service mode there", () => {
    expect(resolveApprover(undefined, 8453, CONTRACT, OPERATOR, 2)).toBeUndefined();
    expect(() => resolveApprover({ keysMode: "service" }, 8453, CONTRACT, OPERATOR, 2)).toThrow(
      /needs APPROVER_PRIVATE_KEY/,
    );
    expect(resolveApprover({ approverPrivateKey: OTHER_KEY }, 8453, CONTRACT, OPERATOR, 2)?.address).toBe(
      "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    );
  });

  it("refuses an approver key that is the operator's, and a key in wallet mode", () => {
    expect(() =>
      resolveApprover({ approverPrivateKey: HARDHAT_ACCOUNT_0.privateKey }, 31337, CONTRACT, OPERATOR, 2),
    ).toThrow(/must not be the operator/);
    expect(() =>
      resolveApprover({ keysMode: "wallet", approverPrivateKey: OTHER_KEY }, 31337, CONTRACT, OPERATOR, 2),
    ).toThrow(/APPROVER_KEYS_MODE=wallet/);
  });

  it("production: wallet by default, service mode or a key refused", () => {
    const production = chainApprovals({ NODE_ENV: "production" });
    expect(production).toMatchObject({ keysMode: "wallet", production: true });
    expect(resolveApprover(production, 31337, CONTRACT, OPERATOR, 2)).toBeUndefined();
    expect(() => resolveApprover({ production: true }, 31337, CONTRACT, OPERATOR, 2)).toThrow(
      /Refusing to start/,
    );
    expect(() =>
      resolveApprover({ production: true, approverPrivateKey: OTHER_KEY }, 8453, CONTRACT, OPERATOR, 2),
    ).toThrow(/Refusing to start/);
  });

  it("a v1 contract gets no approver (the minter sends payReferralBatch)", () => {
    expect(resolveApprover(undefined, 31337, CONTRACT, OPERATOR, 1)).toBeUndefined();
  });

  it("local dev deployments: the demo approver (plus a configured one), approvals on unless asked off", () => {
    expect(localApprovals(undefined)).toEqual({
      approvers: [DEMO_APPROVER.address],
      approvalsRequired: true,
    });
    expect(localApprovals({ approverPrivateKey: OTHER_KEY, required: false })).toEqual({
      approvers: [DEMO_APPROVER.address, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"],
      approvalsRequired: false,
    });
  });
});
