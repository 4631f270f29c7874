import { pbkdf2Sync } from "node:crypto";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { HardhatRuntimeEnvironment } from "hardhat/types";
import { type Address, custom, type Hex, isHex, RawContractError, type Transport, toHex } from "viem";
import { HDKey, privateKeyToAddress } from "viem/accounts";

/** Hardhat's well-known default account #0. Public knowledge: only for local dev chains (chain id 31337). */
export const HARDHAT_ACCOUNT_0 = {
  address: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
  privateKey: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
} as const satisfies EmbeddedAccount;

export const HARDHAT_CHAIN_ID = 31337;

export interface EmbeddedAccount {
  address: Address;
  privateKey: Hex;
}

export interface EmbeddedChain {
  /** EIP-1193 transport over the in-process Hardhat network (automine: one block per transaction). */
  transport: Transport;
  /** Funded accounts of the Hardhat network, in order (#0 first). */
  accounts: readonly EmbeddedAccount[];
  /** Milliseconds from the call until the network answered its first request. */
  startupMs: number;
  /** Resets the network (all state is lost) and frees it for the next `startEmbeddedChain`. */
  close(): Promise<void>;
}

let running = false;

/**
 * Starts the in-process Hardhat network (Hardhat's own `hre.network.provider`) and wraps it as a viem
 * transport. Nothing persists: the chain lives in memory until `close()`. One per process, because Hardhat's
 * runtime environment is a process-wide singleton.
 */
export async function startEmbeddedChain(): Promise<EmbeddedChain> {
  if (running) throw new Error("An embedded chain is already running in this process; close() it first");
  running = true;
  try {
    const started = performance.now();
    const hre = loadHardhat();
    if (hre.network.name !== "hardhat") {
      throw new Error(
        `The embedded chain needs Hardhat's in-process network, but HARDHAT_NETWORK selects "${hre.network.name}"`,
      );
    }
    // Behave like a real node: a transaction that reverts is mined with status 0 and its hash returned,
    // instead of Hardhat's default of throwing from eth_sendRawTransaction. Read when the provider is
    // created, on its first request below.
    hre.config.networks.hardhat.throwOnTransactionFailures = false;
    const provider = hre.network.provider;
    await provider.request({ method: "eth_chainId" });
    const startupMs = Math.round(performance.now() - started);

    let closed = false;
    return {
      transport: custom({
        async request({ method, params }) {
          try {
            return await provider.request({ method, params });
          } catch (error) {
            throw asViemError(error);
          }
        },
      }),
      accounts: hardhatAccounts(hre),
      startupMs,
      async close() {
        if (closed) return;
        closed = true;
        await provider.request({ method: "hardhat_reset", params: [] });
        running = false;
      },
    };
  } catch (error) {
    running = false;
    throw error;
  }
}

/**
 * Loads Hardhat as a library. Hardhat reads `hardhat.config.ts`, found from `HARDHAT_CONFIG` or by walking up
 * from this file (or the working directory), and needs a `.ts` require hook: tsx installs one, plain Node
 * (vitest workers) does not, so ts-node is registered then, as Hardhat's own CLI would.
 */
function loadHardhat(): HardhatRuntimeEnvironment {
  const configFile = process.env.HARDHAT_CONFIG ?? findHardhatConfig();
  const requireFromRoot = createRequire(configFile);
  if (!requireFromRoot.extensions[".ts"]) requireFromRoot("ts-node/register/transpile-only");
  // Hardhat takes its --config parameter from this variable when loaded as a library.
  process.env.HARDHAT_CONFIG = configFile;
  return requireFromRoot("hardhat") as HardhatRuntimeEnvironment;
}

function findHardhatConfig(): string {
  const start = typeof __dirname === "string" ? __dirname : process.cwd();
  for (let dir = start; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "hardhat.config.ts");
    if (existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) break;
  }
  throw new Error(`No hardhat.config.ts found above ${start}; set HARDHAT_CONFIG to its path`);
}

function hardhatAccounts(hre: HardhatRuntimeEnvironment): EmbeddedAccount[] {
  const config = hre.config.networks.hardhat.accounts;
  if (Array.isArray(config)) {
    return config.map(({ privateKey }) => {
      const key = privateKey as Hex;
      return { address: privateKeyToAddress(key), privateKey: key };
    });
  }
  // BIP-39 seed computed once (PBKDF2 is the slow part), then one BIP-32 derivation per account.
  const seed = pbkdf2Sync(
    config.mnemonic.normalize("NFKD"),
    `mnemonic${config.passphrase}`.normalize("NFKD"),
    2048,
    64,
    "sha512",
  );
  const master = HDKey.fromMasterSeed(seed);
  const accounts: EmbeddedAccount[] = [];
  for (let i = 0; i < config.count; i++) {
    const key = master.derive(`${config.path}/${config.initialIndex + i}`).privateKey;
    if (!key) throw new Error(`Cannot derive Hardhat account #${i}`);
    const privateKey = toHex(key);
    accounts.push({ address: privateKeyToAddress(privateKey), privateKey });
  }
  return accounts;
}

/**
 * The in-process network throws reverts as plain errors carrying the revert data but no JSON-RPC code, so
 * viem could not decode them; as `RawContractError` they decode into the contract's custom errors
 * (`ContractFunctionRevertedError`), exactly as over JSON-RPC.
 */
function asViemError(error: unknown): unknown {
  if (typeof error !== "object" || error === null) return error;
  const { code, data, message } = error as { code?: unknown; data?: unknown; message?: unknown };
  if (code === undefined && typeof data === "string" && isHex(data)) {
    return new RawContractError({ data, message: typeof message === "string" ? message : undefined });
  }
  return error;
}
