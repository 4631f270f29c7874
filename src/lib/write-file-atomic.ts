import { renameSync, writeFileSync } from "node:fs";

/**
 * Writes `data` to a temporary name beside `file`, then renames it over `file`. A reader polling the
 * file (`npm run demo`, the e2e tests, a script waiting for the demo file's history) sees the old
 * content or the new, never an empty or half-written file, and a crash leaves no half file.
 * `mode` applies to the new file (the demo file holds credentials: 0o600).
 */
export function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: { mode?: number } = {},
): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, data, options);
  renameSync(temporary, file);
}
