import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts"], environment: "node" } },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        // Fault tests: a hardhat node over HTTP, the minter in child processes, kill -9 and RPC faults.
        // Postgres only (TEST_DATABASE_URL); not part of the default runs (npm run test:faults).
        test: {
          name: "faults",
          include: ["test/faults/**/*.test.ts"],
          environment: "node",
          testTimeout: 900_000,
          hookTimeout: 180_000,
        },
      },
      {
        // PostgreSQL restarted under load (a throwaway cluster from scripts/pg-scratch-cluster.sh, never
        // the main one); the service in a child process. Alone and serial: it owns that cluster.
        test: {
          name: "resilience",
          include: ["test/resilience/**/*.test.ts"],
          environment: "node",
          testTimeout: 150_000,
          hookTimeout: 150_000,
          fileParallelism: false,
        },
      },
      {
        // A primary + streaming replica pair from scripts/pg-replica-pair.sh (5441, 5442): READ_DATABASE_URL.
        // Alone and serial: it pauses replay on and stops that replica.
        test: {
          name: "replica",
          include: ["test/replica/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
