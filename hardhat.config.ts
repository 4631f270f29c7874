import "@nomicfoundation/hardhat-toolbox";
import { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } from "hardhat/builtin-tasks/task-names";
import { type HardhatUserConfig, subtask } from "hardhat/config";

// Hardhat 2 downloads solc from the internet; our machines reach only the npm registry. The `solc`
// npm package ships the same compiler as soljson.js, so we point Hardhat at it (pinned to the
// exact version below in package.json).
const SOLC_VERSION = "0.8.28";

subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args: { solcVersion: string }, _hre, runSuper) => {
  if (args.solcVersion !== SOLC_VERSION) return runSuper();
  const compilerPath = require.resolve("solc/soljson.js");
  return {
    compilerPath,
    isSolcJs: true,
    version: args.solcVersion,
    longVersion: `${args.solcVersion}+solcjs`,
  };
});

const config: HardhatUserConfig = {
  solidity: {
    version: SOLC_VERSION,
    settings: {
      optimizer: { enabled: true, runs: 10_000 },
      evmVersion: "cancun",
      // Storage layouts in the build info: test/contracts/ReferralRewardsV2.layout.test.ts validates upgrades
      // with @openzeppelin/upgrades-core. Bytecode is unchanged by it.
      outputSelection: { "*": { "*": ["storageLayout"] } },
    },
  },
  networks: {
    hardhat: { chainId: 31337 },
    localhost: { url: process.env.RPC_URL ?? "http://127.0.0.1:8545", chainId: 31337 },
  },
  gasReporter: { enabled: process.env.REPORT_GAS === "1", currency: "USD", offline: true },
  mocha: { timeout: 120_000 },
  paths: { tests: "./test/contracts" },
};

export default config;
