import type { Address, Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { type ApproverKeysMode, type BatchApprover, DEMO_APPROVER, serviceApprover } from "./approvals.js";
import { HARDHAT_CHAIN_ID } from "./embedded.js";

/** Approvals (ReferralRewardsV2); docs/contracts.md "Approvals". */
export interface ChainApprovalOptions {
  /** Default: `service` on a local dev chain (31337) or when a key is given, else `wallet`. */
  keysMode?: ApproverKeysMode;
  /** Service mode: the approver's key. Default on 31337 only: the public demo account (DEMO_APPROVER). */
  approverPrivateKey?: Hex;
  /** Local dev deployments: switch approvals on at deploy time (default true). */
  required?: boolean;
  /** NODE_ENV=production: service mode (an approver key in this process) is refused. */
  production?: boolean;
}

/** The approval options of the configuration (APPROVER_KEYS_MODE, APPROVER_PRIVATE_KEY, NODE_ENV). */
export function chainApprovals(config: {
  NODE_ENV: string;
  APPROVER_KEYS_MODE?: ApproverKeysMode | undefined;
  APPROVER_PRIVATE_KEY?: string | undefined;
}): ChainApprovalOptions {
  const production = config.NODE_ENV === "production";
  return {
    keysMode: config.APPROVER_KEYS_MODE ?? (production ? "wallet" : undefined),
    approverPrivateKey: config.APPROVER_PRIVATE_KEY as Hex | undefined,
    production,
  };
}

/** A local dev deployment is v2 with the demo approver (and any configured one), approvals on by default. */
export function localApprovals(options: ChainApprovalOptions | undefined) {
  const configured = options?.approverPrivateKey;
  const approvers: Address[] = [DEMO_APPROVER.address];
  if (configured) approvers.push(privateKeyToAccount(configured).address);
  return { approvers, approvalsRequired: options?.required ?? true };
}

/**
 * The service's approver (service mode), or undefined (wallet mode, or a v1 contract). Service mode
 * needs a key: the configured one, else on 31337 only the public demo account. The approver is never
 * the operator: a key that can both submit and approve would defeat the approvals.
 */
export function resolveApprover(
  options: ChainApprovalOptions | undefined,
  chainId: number,
  contract: Address,
  operator: Address,
  contractVersion: 1 | 2,
): BatchApprover | undefined {
  const configured = options?.approverPrivateKey;
  const localDev = chainId === HARDHAT_CHAIN_ID;
  const mode = options?.keysMode ?? (localDev || configured ? "service" : "wallet");
  if (options?.production && (mode === "service" || configured)) {
    throw new Error(
      "Refusing to start: NODE_ENV=production never holds an approver key (APPROVER_KEYS_MODE=wallet)",
    );
  }
  if (mode === "wallet") {
    if (configured)
      throw new Error("APPROVER_PRIVATE_KEY is set but APPROVER_KEYS_MODE=wallet: remove the key");
    return undefined;
  }
  const key = configured ?? (localDev ? DEMO_APPROVER.privateKey : undefined);
  if (!key) throw new Error(`APPROVER_KEYS_MODE=service needs APPROVER_PRIVATE_KEY on chain ${chainId}`);
  const account = privateKeyToAccount(key);
  if (account.address.toLowerCase() === operator.toLowerCase()) {
    throw new Error("The approver key must not be the operator key");
  }
  return contractVersion === 2 ? serviceApprover(account, chainId, contract) : undefined;
}
