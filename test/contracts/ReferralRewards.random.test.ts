// Mocha globals (describe, it): tsconfig loads only the "node" types.
/// <reference types="mocha" />
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import type { Contract, EventLog } from "ethers";
import { ethers } from "hardhat";
import { mulberry32 } from "../../src/lib/prng";
import {
  deployRewardsFixture,
  MAX_PAYOUT,
  nextPeriodStart,
  type Payout,
  PERIOD_LENGTH,
  payout,
} from "./fixtures";

/** mulberry32: small, fast, deterministic. The seed is printed so a failure can be replayed. */
const prng = mulberry32;

const SEED = Number(process.env.REWARDS_FUZZ_SEED ?? 20_240_611);
const STEPS = Number(process.env.REWARDS_FUZZ_STEPS ?? 200);
// Small enough that the cap is hit several times per period.
const CAP = ethers.parseEther("400");

type Outcome = { ok: true; paid: Payout[] } | { ok: false; error: string; args: unknown[] };

describe("ReferralRewards randomized model check", () => {
  it(`pays each orderRef at most once and never past the cap, while paused or for a non-operator (seed ${SEED})`, async () => {
    const { rewards, token, admin, operator, pauser, stranger, holders } =
      await loadFixture(deployRewardsFixture);
    await rewards.connect(admin).getFunction("setMintCap")(CAP, PERIOD_LENGTH);
    const random = prng(SEED);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const recipients = holders.slice(0, 5).map((holder) => holder.address);

    // The model: what the contract should know.
    const paid = new Map<string, bigint>();
    let paused = false;
    let periodIndex = -1n;
    let mintedInPeriod = 0n;
    let timestamp = BigInt(await time.latest());
    const counts = { paidTxs: 0, capReverts: 0, itemReverts: 0, pausedReverts: 0, roleReverts: 0, skips: 0 };

    const predict = (items: Payout[], now: bigint): Outcome => {
      const seen = new Set(paid.keys());
      const paying: Payout[] = [];
      for (const item of items) {
        if (seen.has(item.orderRef)) continue;
        if (item.amount === 0n) return { ok: false, error: "InvalidPayout", args: [item.orderRef] };
        if (item.amount > MAX_PAYOUT) {
          return { ok: false, error: "PayoutTooLarge", args: [item.orderRef, item.amount, MAX_PAYOUT] };
        }
        seen.add(item.orderRef);
        paying.push(item);
      }
      const total = paying.reduce((sum, item) => sum + item.amount, 0n);
      const minted = now / PERIOD_LENGTH === periodIndex ? mintedInPeriod : 0n;
      if (total > 0n && minted + total > CAP) {
        return { ok: false, error: "PeriodCapExceeded", args: [total, CAP > minted ? CAP - minted : 0n] };
      }
      return { ok: true, paid: paying };
    };

    for (let step = 0; step < STEPS; step++) {
      // Time moves 0–3 hours per step, sometimes jumping straight into the next period.
      timestamp =
        random() < 0.08 ? nextPeriodStart(timestamp) : timestamp + 1n + BigInt(Math.floor(random() * 10_800));
      await time.setNextBlockTimestamp(timestamp);

      // Pauses are rare and short, as in operations.
      if (random() < (paused ? 0.35 : 0.05)) {
        paused = !paused;
        await rewards.connect(pauser).getFunction(paused ? "pause" : "unpause")();
        continue;
      }

      const size = 1 + Math.floor(random() * 12);
      const items: Payout[] = [];
      for (let i = 0; i < size; i++) {
        // A pool of 150 references over ~1000 items gives plenty of duplicates, within and across batches.
        const reference = Math.floor(random() * 150);
        const r = random();
        const amount =
          r < 0.02
            ? 0n
            : r < 0.04
              ? MAX_PAYOUT + 1n
              : ethers.parseEther(String(1 + Math.floor(random() * 60)));
        items.push(payout(reference, pick(recipients), amount));
      }
      // Sorted by recipient most of the time, as the minter does.
      if (random() < 0.7) items.sort((a, b) => a.to.localeCompare(b.to));
      const caller = random() < 0.1 ? pick([stranger, admin, pauser]) : operator;
      const single = random() < 0.15;
      const batch = single ? items.slice(0, 1) : items;
      const batchId = BigInt(step + 1);
      const send = () =>
        single
          ? rewards.connect(caller).getFunction("payReferral")(
              batch[0]!.orderRef,
              batch[0]!.to,
              batch[0]!.amount,
            )
          : rewards.connect(caller).getFunction("payReferralBatch")(batch, batchId);

      if (caller !== operator) {
        counts.roleReverts++;
        await expect(send()).to.be.revertedWithCustomError(rewards, "AccessControlUnauthorizedAccount");
        continue;
      }
      if (paused) {
        counts.pausedReverts++;
        await expect(send()).to.be.revertedWithCustomError(rewards, "EnforcedPause");
        continue;
      }
      if (single && paid.has(batch[0]!.orderRef)) {
        await expect(send())
          .to.be.revertedWithCustomError(rewards, "AlreadyPaid")
          .withArgs(batch[0]!.orderRef);
        continue;
      }
      const outcome = predict(batch, timestamp);
      if (!outcome.ok) {
        if (outcome.error === "PeriodCapExceeded") counts.capReverts++;
        else counts.itemReverts++;
        await expect(send())
          .to.be.revertedWithCustomError(rewards, outcome.error)
          .withArgs(...outcome.args);
        continue;
      }
      await send();
      counts.paidTxs++;
      counts.skips += batch.length - outcome.paid.length;
      const total = outcome.paid.reduce((sum, item) => sum + item.amount, 0n);
      if (total > 0n) {
        if (timestamp / PERIOD_LENGTH !== periodIndex) mintedInPeriod = 0n;
        periodIndex = timestamp / PERIOD_LENGTH;
        mintedInPeriod += total;
      }
      for (const item of outcome.paid) paid.set(item.orderRef, item.amount);
    }

    // The scenario exercised what it claims to.
    expect(counts.paidTxs, JSON.stringify(counts)).to.be.greaterThan(40);
    expect(counts.capReverts, JSON.stringify(counts)).to.be.greaterThan(3);
    expect(counts.itemReverts, JSON.stringify(counts)).to.be.greaterThan(3);
    expect(counts.pausedReverts, JSON.stringify(counts)).to.be.greaterThan(3);
    expect(counts.roleReverts, JSON.stringify(counts)).to.be.greaterThan(3);
    expect(counts.skips, JSON.stringify(counts)).to.be.greaterThan(20);

    // Invariants, from the chain's own records.
    const paidLogs = (await rewards.queryFilter(rewards.filters.ReferralPaid!(), 0)) as EventLog[];
    const perOrder = new Map<string, number>();
    for (const log of paidLogs)
      perOrder.set(log.args[0] as string, (perOrder.get(log.args[0] as string) ?? 0) + 1);
    expect(
      [...perOrder.values()].every((count) => count === 1),
      "one ReferralPaid per orderRef",
    ).to.equal(true);
    expect(perOrder.size).to.equal(paid.size);

    const paidTotal = paidLogs.reduce((sum, log) => sum + (log.args[2] as bigint), 0n);
    expect(await token.getFunction("totalSupply")()).to.equal(paidTotal);
    expect(paidTotal).to.equal([...paid.values()].reduce((sum, amount) => sum + amount, 0n));
    for (const [orderRef, amount] of paid) {
      const log = paidLogs.find((entry) => entry.args[0] === orderRef);
      expect(log?.args[2]).to.equal(amount);
      expect(await rewards.getFunction("paidOrders")(orderRef)).to.not.equal(0n);
    }

    const perPeriod = new Map<bigint, bigint>();
    const pauseWindows = await pausedBlockRanges(rewards);
    for (const log of paidLogs) {
      const block = await ethers.provider.getBlock(log.blockNumber);
      const period = BigInt(block!.timestamp) / PERIOD_LENGTH;
      perPeriod.set(period, (perPeriod.get(period) ?? 0n) + (log.args[2] as bigint));
      expect(
        pauseWindows.some(([from, to]) => log.blockNumber > from && log.blockNumber < to),
        "nothing mints while paused",
      ).to.equal(false);
      const tx = await ethers.provider.getTransaction(log.transactionHash);
      expect(tx!.from, "only the operator pays").to.equal(operator.address);
    }
    for (const minted of perPeriod.values()) expect(minted <= CAP, "period cap respected").to.equal(true);
  });
});

/** [pausedAtBlock, unpausedAtBlock) ranges, from Paused/Unpaused logs (open end = infinity). */
async function pausedBlockRanges(rewards: Contract): Promise<[number, number][]> {
  const logs = [
    ...(await rewards.queryFilter(rewards.filters.Paused!(), 0)),
    ...(await rewards.queryFilter(rewards.filters.Unpaused!(), 0)),
  ].sort((a, b) => a.blockNumber - b.blockNumber);
  const ranges: [number, number][] = [];
  for (const log of logs) {
    if ((log as EventLog).eventName === "Paused") ranges.push([log.blockNumber, Number.POSITIVE_INFINITY]);
    else if (ranges.length > 0) ranges[ranges.length - 1]![1] = log.blockNumber;
  }
  return ranges;
}
