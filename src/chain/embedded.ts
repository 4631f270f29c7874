import { pbkdf2Sync } from "node:crypto";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { EthereumProvider, HardhatRuntimeEnvironment } from "hardhat/types";
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
  /** Resets the network: all its state is lost. */
  close(): Promise<void>;
}

/** Whether `hre.network.provider` (one per process) is lent out to a running embedded chain. */
let sharedProviderInUse = false;

/**
 * Starts an in-process Hardhat network and wraps it as a viem transport. Nothing persists: the chain lives
 * in memory until `close()`. The first chain uses Hardhat's own `hre.network.provider`; a second one started
 * while the first runs gets an independent network of its own, so tests may run several side by side.
 */
export async function startEmbeddedChain(): Promise<EmbeddedChain> {
  const started = performance.now();
  const hre = loadHardhat();
  if (hre.network.name !== "hardhat") {
    throw new Error(
      `The embedded chain needs Hardhat's in-process network, but HARDHAT_NETWORK selects "${hre.network.name}"`,
    );
  }
  // Behave like a real node: a transaction that reverts is mined with status 0 and its hash returned,
  // instead of Hardhat's default of throwing from eth_sendRawTransaction. Read when a provider is created
  // (the shared one on its first request).
  hre.config.networks.hardhat.throwOnTransactionFailures = false;

  const shared = !sharedProviderInUse;
  if (shared) sharedProviderInUse = true;
  try {
    const provider = shared ? hre.network.provider : await createIndependentProvider(hre);
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
        // Drops the chain's state (and its memory); the shared provider is then fresh for the next start.
        await provider.request({ method: "hardhat_reset", params: [] });
        if (shared) sharedProviderInUse = false;
      },
    };
  } catch (error) {
    if (shared) sharedProviderInUse = false;
    throw error;
  }
}

/** A Hardhat network independent of `hre.network.provider`, built the way Hardhat builds that one. */
async function createIndependentProvider(hre: HardhatRuntimeEnvironment): Promise<EthereumProvider> {
  const requireFromRoot = createRequire(hre.config.paths.configFile);
  const { createProvider } = requireFromRoot("hardhat/internal/core/providers/construction") as {
    createProvider: (
      config: HardhatRuntimeEnvironment["config"],
      networkName: string,
      artifacts?: HardhatRuntimeEnvironment["artifacts"],
    ) => Promise<EthereumProvider>;
  };
  return createProvider(hre.config, "hardhat", hre.artifacts);
}

/**
 * Loads Hardhat as a library. Hardhat reads `hardhat.config.ts`, found from `HARDHAT_CONFIG` or by walking up
 * from this file (or the working directory), and needs a `.ts` require hook: tsx installs one, plain Node
 * (vitest workers) does not, so ts-node is registered then, as Hardhat's own CLI would.
 */
function loadHardhat(): HardhatRuntimeEnvironment {
  // Only here is Hardhat loaded (the \`hardhat/types\` import above is erased): a production install
  // (\`npm prune --omit=dev\`, compiled to dist/) has none and never reaches this without RPC_URL.
  const configFile = process.env.HARDHAT_CONFIG ?? findHardhatConfig();
  const requireFromRoot = createRequire(configFile);
  try {
    requireFromRoot.resolve("hardhat");
  } catch {
    throw new Error(
      "The embedded chain is for development and the demo and needs the dev dependencies (hardhat): " +
        "set RPC_URL and OPERATOR_PRIVATE_KEY to run against a node",
    );
  }
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
