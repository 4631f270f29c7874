/**
 * Writes the embedded database's migrated snapshot (src/db/pglite-template.ts) beside the demo file,
 * `.twinrail/pglite-template-<hash>.tar`, unless this build's is already there: run by the root
 * `postinstall` (scripts/postinstall.mjs), so even the first `npm start` of a fresh clone skips PGlite's
 * initdb and the migrations. `npm start` writes it too (in the background) when it is missing.
 *   npx tsx scripts/pglite-snapshot.ts
 */
import path from "node:path";
import { writeTemplate } from "../src/db/pglite-template.js";

async function main() {
  const started = performance.now();
  const dir = path.dirname(path.resolve(process.env.DEMO_FILE ?? ".twinrail/demo.json"));
  const file = await writeTemplate(dir);
  console.log(
    file
      ? `embedded database snapshot written to ${path.relative(process.cwd(), file)} in ${Math.round(performance.now() - started)} ms`
      : "embedded database snapshot is up to date",
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
