import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/**
 * `npm start` runs a bundle of src/ (scripts/dev-cli.mjs): it must never run stale code. Checked on a
 * throwaway package (its own src/cli.ts, this repository's node_modules for esbuild), not on this checkout.
 */
describe("npm start's bundle of src/ (scripts/dev-cli.mjs)", () => {
  const root = mkdtempSync(path.join(tmpdir(), "twinrail-dev-cli-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(path.join(root, "scripts"));
  mkdirSync(path.join(root, "src"));
  copyFileSync(path.resolve("scripts/dev-cli.mjs"), path.join(root, "scripts/dev-cli.mjs"));
  symlinkSync(path.resolve("node_modules"), path.join(root, "node_modules"));
  for (const file of ["package.json", "package-lock.json", "tsconfig.json"])
    writeFileSync(path.join(root, file), "{}\n");
  writeFileSync(
    path.join(root, "src/cli.ts"),
    'import { word } from "./word.js";\nconsole.log([word, ...process.argv.slice(2)].join(" "));\n',
  );
  const word = path.join(root, "src/word.ts");
  const run = (...args: string[]) => {
    const result = spawnSync(process.execPath, [path.join(root, "scripts/dev-cli.mjs"), ...args], {
      cwd: root,
      encoding: "utf8",
    });
    expect(result.status, result.stderr).toBe(0);
    return { out: result.stdout.trim(), rebuilt: result.stderr.includes("bundled into dist/dev/cli.cjs") };
  };

  it("builds when missing, reuses an up-to-date bundle, and rebuilds when a source's content changes", () => {
    writeFileSync(word, 'export const word: string = "one";\n');
    expect(run("start", "--x")).toEqual({ out: "one start --x", rebuilt: true });
    expect(run("start")).toEqual({ out: "one start", rebuilt: false });

    // Same size, same modification time as before: only the content tells.
    const { atime, mtime } = statSync(word);
    writeFileSync(word, 'export const word: string = "two";\n');
    utimesSync(word, atime, mtime);
    expect(run("start")).toEqual({ out: "two start", rebuilt: true });
  });

  it("rebuilds when the bundle's record is damaged, and --build-only runs nothing", () => {
    writeFileSync(path.join(root, "dist/dev/cli.inputs.json"), "not json");
    expect(run("--build-only")).toEqual({ out: "", rebuilt: true });
    expect(run("--build-only")).toEqual({ out: "", rebuilt: false });
  });

  it("a file the bundle comes to import is part of it from then on", () => {
    writeFileSync(path.join(root, "src/extra.ts"), 'export const extra = "three";\n');
    writeFileSync(word, 'import { extra } from "./extra.js";\nexport const word: string = extra;\n');
    expect(run("go").out).toBe("three go");
    writeFileSync(path.join(root, "src/extra.ts"), 'export const extra = "four";\n');
    expect(run("go")).toEqual({ out: "four go", rebuilt: true });
  });
});
