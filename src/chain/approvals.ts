import {
  type Address,
  type Hex,
  hashTypedData,
  type LocalAccount,
  recoverTypedDataAddress,
  type TypedDataDomain,
} from "viem";

/**
 * EIP-712 approvals of `ReferralRewardsV2` (docs/contracts.md "Approvals"): an approver signs exactly the
 * batch the operator may submit — the payouts in order, the batch id and a deadline. The same typed data
 * is what a wallet shows and signs with `eth_signTypedData_v4`.
 */
export interface ApprovalPayout {
  orderRef: Hex;
  to: Address;
  amount: bigint;
}

export interface BatchApproval {
  approver: Address;
  deadline: bigint;
  signature: Hex;
}

export const APPROVAL_TYPES = {
  PayoutBatch: [
    { name: "payouts", type: "Payout[]" },
    { name: "batchId", type: "uint64" },
    { name: "deadline", type: "uint64" },
  ],
  Payout: [
    { name: "orderRef", type: "bytes32" },
    { name: "to", type: "address" },
    { name: "amount", type: "uint256" },
  ],
} as const;

export function approvalDomain(chainId: number, contract: Address): TypedDataDomain {
  return { name: "Twinrail ReferralRewards", version: "2", chainId, verifyingContract: contract };
}

export interface ApprovalMessage {
  chainId: number;
  contract: Address;
  payouts: readonly ApprovalPayout[];
  batchId: bigint;
  deadline: bigint;
}

/** The typed data to sign (`eth_signTypedData_v4` takes it as JSON, bigints as decimal strings). */
export function approvalTypedData(message: ApprovalMessage) {
  return {
    domain: approvalDomain(message.chainId, message.contract),
    types: APPROVAL_TYPES,
    primaryType: "PayoutBatch" as const,
    message: { payouts: [...message.payouts], batchId: message.batchId, deadline: message.deadline },
  };
}

/** The digest the contract verifies (`approvalDigest` on-chain). */
export function approvalDigest(message: ApprovalMessage): Hex {
  return hashTypedData(approvalTypedData(message));
}

/** Signs an approval with a local key (service mode: the demo's approver account). */
export async function signApproval(account: LocalAccount, message: ApprovalMessage): Promise<BatchApproval> {
  const signature = await account.signTypedData(approvalTypedData(message));
  return { approver: account.address, deadline: message.deadline, signature };
}

/** The address that produced `signature` over `message` (ECDSA only; contract wallets verify on-chain). */
export function recoverApprover(message: ApprovalMessage, signature: Hex): Promise<Address> {
  return recoverTypedDataAddress({ ...approvalTypedData(message), signature });
}

/**
 * Hardhat's well-known default account #19: the DEMO approver of local dev chains (31337 only). Its key
 * is public knowledge; in the demo the service holds it, which is for the demo only — in production
 * approvals come from the admin's wallet (APPROVER_KEYS_MODE=wallet) and the service holds no approver key.
 */
export const DEMO_APPROVER = {
  address: "0x8626f6940E2eb28930eFb4CeF49B2d1F2C9C1199",
  privateKey: "0xdf57089febbacf7ba0bc227dafbffa9fc08a93fdc68e1e42411a14efcf23656e",
} as const satisfies { address: Address; privateKey: Hex };

/** Where approvals come from: a key the service holds (demo), or the admin's wallet (production). */
export type ApproverKeysMode = "service" | "wallet";

/** A signer of batch approvals held by the service (service mode). */
export interface BatchApprover {
  address: Address;
  approve(message: Omit<ApprovalMessage, "chainId" | "contract">): Promise<BatchApproval>;
}

export function serviceApprover(account: LocalAccount, chainId: number, contract: Address): BatchApprover {
  return {
    address: account.address,
    approve: (message) => signApproval(account, { ...message, chainId, contract }),
  };
}
