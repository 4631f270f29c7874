import { spawn } from "node:child_process";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, it } from "vitest";
import { writeFileAtomic } from "../../src/lib/write-file-atomic.js";

// A reader in another process polls the file as `npm run demo` and the e2e tests poll the demo file,
// while this one rewrites it: with a plain writeFileSync (truncate, then write) the reader saw an empty
// file ("Unexpected end of JSON input" in demo-screenshots.test.ts, CI of 2026-12-04).
it("a polling reader never sees an empty or partial file", async () => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "atomic-")), "demo.json");
  const content = (i: number) => `${JSON.stringify({ i, pad: "x".repeat(200_000) }, null, 2)}\n`;
  writeFileAtomic(file, content(0), { mode: 0o600 });
  const reader = spawn(
    process.execPath,
    [
      "-e",
      `const fs = require("node:fs"); let bad = 0, reads = 0;
       const end = Date.now() + 1500;
       while (Date.now() < end) { reads++; try { JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch { bad++; } }
       process.stdout.write(JSON.stringify({ reads, bad }));`,
      file,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let out = "";
  reader.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
  });
  const done = new Promise<void>((resolve) => reader.once("exit", () => resolve()));
  for (let i = 1; reader.exitCode === null; i++) {
    writeFileAtomic(file, content(i), { mode: 0o600 });
    await new Promise((resolve) => setImmediate(resolve));
  }
  await done;
  const { reads, bad } = JSON.parse(out) as { reads: number; bad: number };
  expect(reads).toBeGreaterThan(50);
  expect(bad).toBe(0);
  expect(statSync(file).mode & 0o777).toBe(0o600);
});
