#!/usr/bin/env node
/**
 * Every package the code, the tests, the scripts and the pages import is declared in package.json, and
 * what the compiled service (src/ minus src/web) loads at run time is a production dependency, so that
 * `npm ci && npm run build && npm prune --omit=dev` leaves everything `npm run start:prod` needs.
 * Type-only imports count as dev. Exits 1 and names each offender. Plain Node, no install needed:
 *   node scripts/check-deps.mjs
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
const prod = new Set(Object.keys(pkg.dependencies ?? {}));
const dev = new Set(Object.keys(pkg.devDependencies ?? {}));
const builtins = new Set(builtinModules);

const SOURCE = /\.(ts|tsx|mts|cts|mjs|cjs|js)$/;
function files(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!["node_modules", "dist", "artifacts", "cache", "typechain-types"].includes(entry.name))
        out.push(...files(full));
    } else if (SOURCE.test(entry.name) && !entry.name.endsWith(".d.ts")) out.push(full);
  }
  return out;
}

/** Package name of a bare specifier (`@scope/name/sub` → `@scope/name`), undefined for relative/builtin. */
function packageOf(specifier) {
  if (specifier.startsWith(".") || specifier.startsWith("/") || specifier.startsWith("node:")) return;
  const parts = specifier.split("/");
  const name = specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
  if (builtins.has(name) || name.startsWith("virtual:")) return;
  return name;
}

// `import … from "x"`, `export … from "x"`, `import "x"`, `import("x")`, `require("x")`, `require.resolve("x")`.
const PATTERNS = [
  /^\s*(import|export)\s+(type\s+)?[^'"]*?\sfrom\s+["']([^"']+)["']/gm,
  /^\s*import\s+["']([^"']+)["']/gm,
  /\bimport\(\s*["']([^"']+)["']\s*\)/g,
  /\brequire(?:\.resolve)?\(\s*["']([^"']+)["']\s*\)/g,
];

function imports(file) {
  const text = readFileSync(file, "utf8");
  const found = [];
  for (const [i, pattern] of PATTERNS.entries()) {
    for (const match of text.matchAll(pattern)) {
      const typeOnly = i === 0 && Boolean(match[2]);
      found.push({ specifier: i === 0 ? match[3] : match[1], typeOnly });
    }
  }
  return found;
}

/** Not imports: Lua inside the wrk script a benchmark writes. */
const NOT_IMPORTS = new Set(["scripts/bench/redirect.ts ffi"]);

const problems = [];
const roots = ["src", "test", "scripts", "bin"].map((d) => path.join(root, d));
const loose = ["hardhat.config.ts", "vitest.config.mts"].map((f) => path.join(root, f));
const all = [...roots.flatMap((d) => (statSync(d, { throwIfNoEntry: false }) ? files(d) : [])), ...loose];
all.push(...readdirSync(path.join(root, "bin")).map((f) => path.join(root, "bin", f)));
let checked = 0;
for (const file of new Set(all)) {
  const rel = path.relative(root, file);
  if (rel === path.join("scripts", "check-deps.mjs")) continue;
  const runtime = rel.startsWith(`src${path.sep}`) && !rel.startsWith(`src${path.sep}web${path.sep}`);
  for (const { specifier, typeOnly } of imports(file)) {
    const name = packageOf(specifier);
    if (!name || NOT_IMPORTS.has(`${rel} ${name}`)) continue;
    checked++;
    if (!prod.has(name) && !dev.has(name))
      problems.push(`${rel}: imports ${name}, which package.json does not declare`);
    else if (runtime && !typeOnly && !prod.has(name))
      problems.push(`${rel}: loads ${name} at run time, but it is only a devDependency`);
  }
}
if (problems.length > 0) {
  console.error(`check-deps: ${problems.length} undeclared or misplaced imports\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(
  `check-deps: ${checked} imports of ${all.length} files, all declared (run-time ones as dependencies)`,
);
