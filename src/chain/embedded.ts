import { createRequire } from "node:module";
import path from "node:path";
import type { HardhatConfig, HardhatUserConfig } from "hardhat/types";
import { type Address, custom, type Hex, isHex, RawContractError, type Transport } from "viem";
import { packageRoot } from "../lib/package-root.js";

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

/**
 * Hardhat's 20 default accounts (`test test … junk`, m/44'/60'/0'/0/i, 10,000 ETH each): the same keys every
 * Hardhat network has. Written out because deriving them (BIP-39 + BIP-32, as Hardhat would from the mnemonic)
 * cost ~0.7 s of each start; test/unit/embedded-accounts.test.ts derives them again and compares.
 */
export const HARDHAT_DEFAULT_ACCOUNTS: readonly EmbeddedAccount[] = (
  [
    [
      "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
      "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    ],
    [
      "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
      "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    ],
    [
      "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
      "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    ],
    [
      "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
      "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    ],
    [
      "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
      "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    ],
    [
      "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
      "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    ],
    [
      "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
      "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    ],
    [
      "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
      "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    ],
    [
      "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
      "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    ],
    [
      "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
      "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
    ],
    [
      "0xBcd4042DE499D14e55001CcbB24a551F3b954096",
      "0xf214f2b2cd398c806f84e317254e0f0b801d0643303237d97a22a48e01628897",
    ],
    [
      "0x71bE63f3384f5fb98995898A86B02Fb2426c5788",
      "0x701b615bbdfb9de65240bc28bd21bbc0d996645a3dd57e7b12bc2bdf6f192c82",
    ],
    [
      "0xFABB0ac9d68B0B445fB7357272Ff202C5651694a",
      "0xa267530f49f8280200edf313ee7af6b827f2a8bce2897751d06a843f644967b1",
    ],
    [
      "0x1CBd3b2770909D4e10f157cABC84C7264073C9Ec",
      "0x47c99abed3324a2707c28affff1267e45918ec8c3f20b8aa892e8b065d2942dd",
    ],
    [
      "0xdF3e18d64BC6A983f673Ab319CCaE4f1a57C7097",
      "0xc526ee95bf44d8fc405a158bb884d9d1238d99f0612e9f33d006bb0789009aaa",
    ],
    [
      "0xcd3B766CCDd6AE721141F452C550Ca635964ce71",
      "0x8166f546bab6da521a8369cab06c5d2b9e46670292d85c875ee9ec20e84ffb61",
    ],
    [
      "0x2546BcD3c84621e976D8185a91A922aE77ECEc30",
      "0xea6c44ac03bff858b476bba40716402b03e41b8e97e276d1baec7c37d42484a0",
    ],
    [
      "0xbDA5747bFD65F08deb54cb465eB87D40e51B197E",
      "0x689af8efa8c651a91ad287602527f3af2fe9f6501a7ac4b061667b5a93e037fd",
    ],
    [
      "0xdD2FD4581271e230360230F9337D5c0430Bf44C0",
      "0xde9be858da4a475276426320d5e9262ecfc3ba460bfac56360bfa6c4c28b4ee0",
    ],
    [
      "0x8626f6940E2eb28930eFb4CeF49B2d1F2C9C1199",
      "0xdf57089febbacf7ba0bc227dafbffa9fc08a93fdc68e1e42411a14efcf23656e",
    ],
  ] as const
).map(([address, privateKey]) => ({ address, privateKey }) as EmbeddedAccount);

const HARDHAT_DEFAULT_BALANCE = "10000000000000000000000"; // 10,000 ETH in wei, Hardhat's default

/**
 * Starts an in-process Hardhat network (EDR) and wraps it as a viem transport. Nothing persists: the chain
 * lives in memory until `close()`. Each call gets a network of its own, so tests may run several side by side.
 *
 * Only Hardhat's network is loaded, not the Hardhat runtime: no `hardhat.config.ts`, no toolbox plugins
 * (ethers, typechain, chai matchers…) and no TypeScript require hook, which took 3–4 s of `npm start`. The
 * network is configured as the contracts' `hardhat.config.ts` configures `hardhat` (chain id 31337, Hardhat's
 * defaults otherwise); `npx hardhat test` still runs on that file.
 */
export async function startEmbeddedChain(): Promise<EmbeddedChain> {
  const started = performance.now();
  const provider = await createHardhatNetwork();
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
    accounts: HARDHAT_DEFAULT_ACCOUNTS,
    startupMs,
    async close() {
      if (closed) return;
      closed = true;
      // Drops the chain's state (and its memory) now rather than when the provider is collected.
      await provider.request({ method: "hardhat_reset", params: [] });
    },
  };
}

interface Eip1193 {
  request(args: { method: string; params?: unknown }): Promise<unknown>;
}

/**
 * A Hardhat network built the way Hardhat builds `hre.network.provider` (its config resolution and provider
 * construction, loaded from the `hardhat` package alone).
 */
async function createHardhatNetwork(): Promise<Eip1193> {
  // Only here is Hardhat loaded: a production install (\`npm prune --omit=dev\`, compiled to dist/) has none
  // and never reaches this without RPC_URL.
  const root = packageRoot();
  const requireFromRoot = createRequire(path.join(root, "package.json"));
  try {
    requireFromRoot.resolve("hardhat");
  } catch {
    throw new Error(
      "The embedded chain is for development and the demo and needs the dev dependencies (hardhat): " +
        "set RPC_URL and OPERATOR_PRIVATE_KEY to run against a node",
    );
  }
  const { resolveConfig } = requireFromRoot("hardhat/internal/core/config/config-resolution") as {
    resolveConfig: (configPath: string, userConfig: HardhatUserConfig) => HardhatConfig;
  };
  const { createProvider } = requireFromRoot("hardhat/internal/core/providers/construction") as {
    createProvider: (config: HardhatConfig, networkName: string) => Promise<Eip1193>;
  };
  const config = resolveConfig(path.join(root, "hardhat.config.ts"), {
    networks: {
      hardhat: {
        chainId: HARDHAT_CHAIN_ID,
        accounts: HARDHAT_DEFAULT_ACCOUNTS.map(({ privateKey }) => ({
          privateKey,
          balance: HARDHAT_DEFAULT_BALANCE,
        })),
        // Behave like a real node: a transaction that reverts is mined with status 0 and its hash returned,
        // instead of Hardhat's default of throwing from eth_sendRawTransaction.
        throwOnTransactionFailures: false,
      },
    },
  });
  return createProvider(config, "hardhat");
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
