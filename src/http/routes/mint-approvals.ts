import type { Router } from "express";
import { z } from "zod";
import { batchApprovalMessage, storeBatchApproval, typedDataJson } from "../../ledger/mint-approvals.js";
import { listAwaitingApproval } from "../../ledger/queries/mint-approvals.js";
import type { Services } from "../../services.js";
import { actorOf } from "../middleware/auth.js";
import { named, route } from "../route.js";
import { isoTime, mintBatchStatus } from "../schemas.js";
import { rowId } from "../validate.js";

/**
 * Wallet mode (APPROVER_KEYS_MODE=wallet, docs/contracts.md "Wallet mode"): the batches the minter sized
 * and left awaiting an approver's signature, as the EIP-712 typed data `eth_signTypedData_v4` takes, and
 * the route that stores a wallet's signature once verified. Inside the admin router (admin key, idempotency).
 */

const field = z.object({ name: z.string(), type: z.string() });
const typedData = named(
  "ApprovalTypedData",
  z.object({
    domain: z.object({
      name: z.string(),
      version: z.string(),
      chainId: z.int(),
      verifyingContract: z.string(),
    }),
    types: z.object({
      EIP712Domain: z.array(field),
      PayoutBatch: z.array(field),
      Payout: z.array(field),
    }),
    primaryType: z.literal("PayoutBatch"),
    message: z.object({
      payouts: z.array(z.object({ orderRef: z.string(), to: z.string(), amount: z.string() })),
      batchId: z.string(),
      deadline: z.string(),
    }),
  }),
  "EIP-712 typed data for eth_signTypedData_v4 (uint values as decimal strings)",
);

const awaitingView = named(
  "MintBatchAwaitingApproval",
  z.object({
    id: z.string(),
    status: z.enum(["awaiting_approval", "approval_signed"]),
    rewardCount: z.int(),
    totalWei: z.string(),
    deadline: isoTime,
    approver: z.string().nullable(),
    signedAt: isoTime.nullable(),
    typedData,
  }),
  "A batch the minter sized, waiting for (or holding) a wallet's approval",
);

export const approvalBody = z
  .object({
    signature: z.string().regex(/^0x[0-9a-fA-F]{2,}$/, "a 0x-prefixed hex signature"),
    // An ERC-1271 approver (a Safe): the contract that verifies the signature; an EOA's is recovered.
    approver: z
      .string()
      .regex(/^0x[0-9a-fA-F]{40}$/, "an address")
      .optional(),
  })
  .strict();

export function registerMintApprovalRoutes(router: Router, services: Services): void {
  const { db, chain } = services;
  const admin = { tag: "admin", auth: "admin" } as const;
  const view = (batch: Awaited<ReturnType<typeof listAwaitingApproval>>[number]) => ({
    id: batch.id.toString(),
    status: batch.status as "awaiting_approval" | "approval_signed",
    rewardCount: batch.reward_count,
    totalWei: batch.total_wei,
    deadline: new Date(Number(batch.approval_deadline ?? 0n) * 1000).toISOString(),
    approver: batch.approval_approver,
    signedAt: batch.approval_signed_at?.toISOString() ?? null,
    typedData: typedDataJson(batchApprovalMessage(chain, batch)),
  });

  route(
    router,
    {
      ...admin,
      method: "get",
      path: "/v1/admin/mint-batches/awaiting-approval",
      summary: "Mint batches awaiting a wallet's approval, with the typed data to sign",
      responses: [
        { status: 200, description: "oldest first", schema: z.object({ items: z.array(awaitingView) }) },
      ],
    },
    async (_req, res) => {
      res.json({ items: (await listAwaitingApproval(db, 50)).map(view) });
    },
  );

  route(
    router,
    {
      ...admin,
      method: "post",
      path: "/v1/admin/mint-batches/:id/approval",
      summary: "Store a wallet's EIP-712 approval of a batch (verified; the minter then sends it)",
      params: z.object({ id: rowId }),
      body: approvalBody,
      responses: [
        {
          status: 200,
          description: "the batch now; unchanged when this signature was stored before",
          schema: z.object({
            id: z.string(),
            status: mintBatchStatus,
            approver: z.string().nullable(),
            unchanged: z.boolean(),
          }),
        },
      ],
      errors: ["idempotency_conflict", "not_found", "invalid_transition", "unprocessable", "forbidden"],
    },
    async (req, res, { params, body }) => {
      const stored = await storeBatchApproval(db, chain, actorOf(req), {
        id: BigInt(params.id),
        signature: body.signature,
        approver: body.approver,
      });
      res.json({
        id: stored.batch.id.toString(),
        status: stored.batch.status,
        approver: stored.batch.approval_approver,
        unchanged: stored.unchanged,
      });
    },
  );
}
