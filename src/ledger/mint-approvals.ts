import { sql } from "kysely";
import { type Address, getAddress, type Hex, isHex, recoverTypedDataAddress } from "viem";
import { referralRewardsV2Abi } from "../chain/abi.generated.js";
import { type ApprovalMessage, approvalTypedData } from "../chain/approvals.js";
import type { Chain } from "../chain/index.js";
import type { Db } from "../db/connect.js";
import type { MintBatch } from "../db/schema.js";
import { AppError } from "../errors.js";
import { moveBatch } from "../jobs/minter/transitions.js";
import { type Actor, audit } from "./audit.js";
import { readMintBatch } from "./queries/mint-approvals.js";

/**
 * Wallet mode (docs/contracts.md "Wallet mode"): the typed data of a batch awaiting approval, and the
 * store of a wallet's signature over it — verified off-chain first (ECDSA, or ERC-1271 through the
 * approver contract's `isValidSignature`), its signer holding `APPROVER_ROLE` on chain, then
 * `awaiting_approval → approval_signed` through the batch state machine. The minter sends it next pass.
 */

/** The approval message of a stored batch (its payouts in order, id, deadline) on this chain. */
export function batchApprovalMessage(chain: Chain, batch: MintBatch): ApprovalMessage {
  return {
    chainId: chain.chainId,
    contract: chain.addresses.referralRewards,
    payouts: (batch.approval_payouts ?? []).map((payout) => ({
      orderRef: payout.orderRef as Hex,
      to: payout.to as Address,
      amount: BigInt(payout.amount),
    })),
    batchId: batch.id,
    deadline: batch.approval_deadline ?? 0n,
  };
}

/** The typed data as JSON for `eth_signTypedData_v4` (uint values as decimal strings, EIP712Domain listed). */
export function typedDataJson(message: ApprovalMessage) {
  const typed = approvalTypedData(message);
  return {
    domain: { ...typed.domain, chainId: message.chainId },
    types: {
      EIP712Domain: [
        { name: "name", type: "string" },
        { name: "version", type: "string" },
        { name: "chainId", type: "uint256" },
        { name: "verifyingContract", type: "address" },
      ],
      PayoutBatch: [...typed.types.PayoutBatch],
      Payout: [...typed.types.Payout],
    },
    primaryType: typed.primaryType,
    message: {
      payouts: message.payouts.map((payout) => ({ ...payout, amount: payout.amount.toString() })),
      batchId: message.batchId.toString(),
      deadline: message.deadline.toString(),
    },
  };
}

/** The address that signed (ECDSA), or that `claimed` verifies as (EOA or ERC-1271); else throws 422. */
async function signerOf(chain: Chain, message: ApprovalMessage, signature: Hex, claimed?: Address) {
  const typed = approvalTypedData(message);
  if (claimed) {
    const valid = await chain.publicClient
      .verifyTypedData({ ...typed, address: claimed, signature })
      .catch(() => false);
    if (!valid) {
      throw new AppError("unprocessable", "the signature is not the approver's over this batch", {
        details: { approver: claimed },
      });
    }
    return getAddress(claimed);
  }
  return recoverTypedDataAddress({ ...typed, signature }).catch(() => {
    throw new AppError("unprocessable", "the signature does not recover to an address");
  });
}

async function isApprover(chain: Chain, address: Address): Promise<boolean> {
  const role = await chain.publicClient.readContract({
    address: chain.addresses.referralRewards,
    abi: referralRewardsV2Abi,
    functionName: "APPROVER_ROLE",
  });
  return chain.publicClient.readContract({
    address: chain.addresses.referralRewards,
    abi: referralRewardsV2Abi,
    functionName: "hasRole",
    args: [role, address],
  });
}

export interface StoredApproval {
  batch: MintBatch;
  /** The same signature was stored before: nothing changed. */
  unchanged: boolean;
}

/**
 * Stores a wallet's approval of batch `id`. Refused, with nothing changed: an unknown batch (404), a
 * batch not awaiting approval with another signature (409), a past deadline (409), a malformed or
 * foreign signature (422), a signer without APPROVER_ROLE (403). The same signature again: unchanged.
 */
export async function storeBatchApproval(
  db: Db,
  chain: Chain,
  actor: Actor,
  input: { id: bigint; signature: string; approver?: string },
): Promise<StoredApproval> {
  const signature = input.signature.toLowerCase() as Hex;
  if (!isHex(signature) || signature.length < 4) throw new AppError("validation_failed", "signature: hex");
  const batch = await readMintBatch(db, input.id);
  if (!batch) throw new AppError("not_found", `no mint batch ${input.id}`);
  if (batch.approval_signature === signature) return { batch, unchanged: true };
  if (batch.status !== "awaiting_approval") {
    throw new AppError(
      "invalid_transition",
      `mint batch ${input.id} is ${batch.status}, not awaiting approval`,
      {
        details: { status: batch.status },
      },
    );
  }
  const message = batchApprovalMessage(chain, batch);
  if (message.deadline <= BigInt(Math.floor(Date.now() / 1000))) {
    throw new AppError(
      "invalid_transition",
      "the batch's approval deadline has passed; the minter re-sizes it",
      {
        details: { deadline: message.deadline.toString() },
      },
    );
  }
  const signer = await signerOf(chain, message, signature, input.approver as Address | undefined);
  if (!(await isApprover(chain, signer))) {
    throw new AppError("forbidden", `${signer} does not hold APPROVER_ROLE`, { details: { signer } });
  }
  const stored = await db.transaction().execute(async (trx) => {
    const row = await moveBatch(trx, batch.id, "approval_signed")
      .set({
        approval_signature: signature,
        approval_approver: signer,
        approval_signed_at: sql<Date>`now()`,
        updated_at: sql<Date>`now()`,
      })
      .where("approval_signature", "is", null)
      .returningAll()
      .executeTakeFirst();
    if (row) {
      await audit(
        trx,
        actor,
        "mint_batch.approval_signed",
        { type: "mint_batch", id: batch.id },
        { status: batch.status },
        { status: row.status, approver: signer },
      );
    }
    return row;
  });
  if (stored) return { batch: stored, unchanged: false };
  // Another request stored a signature meanwhile: the same one is a no-op, any other a conflict.
  const now = await readMintBatch(db, input.id);
  if (now?.approval_signature === signature) return { batch: now, unchanged: true };
  throw new AppError("invalid_transition", `mint batch ${input.id} was approved or released meanwhile`);
}
