import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Config } from "../config.js";
import type { Db } from "../db/connect.js";
import { AppError } from "../errors.js";
import { createApiKey } from "../ledger/api-keys.js";
import { SYSTEM } from "../ledger/audit.js";
import { createCoupon } from "../ledger/coupons.js";
import { issueCode } from "../ledger/issue-code.js";
import { registerMember } from "../ledger/register-member.js";
import { upsertProduct, upsertVendor } from "../ledger/upsert-catalog.js";
import { signMemberToken } from "../lib/member-token.js";
import { writeFileAtomic } from "../lib/write-file-atomic.js";

/** Hardhat account #1: the demo referrer's wallet (anyone can check its balance on the embedded chain). */
export const DEMO_REFERRER_WALLET = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
export const DEMO_REFERRER = { memberId: "m_anna", displayName: "Anna", vanity: "ANNA7F3K" } as const;
/** The demo referrer's coupon code (10 % off in the demo storefront). */
export const DEMO_COUPON = "ANNA10";

export interface DemoFile {
  baseUrl: string;
  keys: { admin: string; integration: string; vendor: string };
  vendorId: string;
  webhookSecret: string;
  memberTokenSecret: string;
  cronSecret: string;
  referrer: { memberId: string; code: string; shareUrl: string; token: string; wallet: string };
  chain: { mode: string; chainId: number; rpcUrl: string; rewardToken: string; referralRewards: string };
  urls: Record<string, string>;
}

/**
 * Seeds the demo world (two vendors, products with and without a rate override, a referrer with a
 * code, one API key per role) and writes everything a script needs to `DEMO_FILE`. Idempotent.
 */
export async function seedDemo(
  db: Db,
  config: Readonly<Config>,
  chain: { mode: string; chainId: number; addresses: { rewardToken: string; referralRewards: string } },
): Promise<DemoFile> {
  await upsertVendor(db, SYSTEM, {
    vendorId: "v_books",
    name: "Bookshelf",
    referralCommissionBps: null,
    platformFeeBps: 1000,
    holdDays: 0,
  });
  await upsertVendor(db, SYSTEM, {
    vendorId: "v_games",
    name: "Game Den",
    referralCommissionBps: 800,
    platformFeeBps: 1200,
    holdDays: 7,
  });
  await upsertProduct(db, SYSTEM, { productId: "p_novel", vendorId: "v_books", referralCommissionBps: 1000 });
  await upsertProduct(db, SYSTEM, { productId: "p_atlas", vendorId: "v_books", referralCommissionBps: null });
  await upsertProduct(db, SYSTEM, { productId: "p_chess", vendorId: "v_games", referralCommissionBps: null });
  await registerMember(db, SYSTEM, {
    memberId: DEMO_REFERRER.memberId,
    displayName: DEMO_REFERRER.displayName,
    walletAddress: DEMO_REFERRER_WALLET,
  });
  const { code } = await issueCode(db, SYSTEM, DEMO_REFERRER.memberId, { vanity: DEMO_REFERRER.vanity });
  // The referrer's demo coupon (issue 14): the storefront takes 10 % off when a shopper enters it.
  await createCoupon(db, SYSTEM, DEMO_REFERRER.memberId, { code: DEMO_COUPON, discountBps: 1000 }).catch(
    (error: unknown) => {
      if (!(error instanceof AppError && error.code === "code_taken")) throw error;
    },
  );

  const admin = await createApiKey(db, SYSTEM, { role: "admin", label: "demo admin" });
  const integration = await createApiKey(db, SYSTEM, { role: "integration", label: "demo storefront" });
  const vendor = await createApiKey(db, SYSTEM, {
    role: "vendor",
    vendorId: "v_books",
    label: "demo vendor",
  });
  const base = config.publicBaseUrl;
  const demo: DemoFile = {
    baseUrl: base,
    keys: { admin: admin.key, integration: integration.key, vendor: vendor.key },
    vendorId: "v_books",
    webhookSecret: config.secrets.webhook,
    memberTokenSecret: config.secrets.memberToken,
    cronSecret: config.secrets.cron,
    referrer: {
      memberId: DEMO_REFERRER.memberId,
      code,
      shareUrl: `${base}/r/${code}`,
      token: signMemberToken(config.secrets.memberToken, DEMO_REFERRER.memberId, 30 * 86_400),
      wallet: DEMO_REFERRER_WALLET,
    },
    chain: {
      mode: chain.mode,
      chainId: chain.chainId,
      rpcUrl: config.RPC_URL ?? `${base}/v1/chain/rpc`,
      ...chain.addresses,
    },
    urls: {
      referralLink: `${base}/r/${code}`,
      health: `${base}/healthz`,
      ready: `${base}/readyz`,
      metrics: `${base}/metrics`,
      apiDocs: `${base}/docs`,
      openapi: `${base}/openapi.json`,
      rewardsQueue: `${base}/v1/admin/rewards`,
      me: `${base}/v1/me`,
    },
  };
  mkdirSync(path.dirname(path.resolve(config.DEMO_FILE)), { recursive: true });
  // Owner-only: the file holds credentials.
  writeFileAtomic(config.DEMO_FILE, `${JSON.stringify(demo, null, 2)}\n`, { mode: 0o600 });
  return demo;
}
