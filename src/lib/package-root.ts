import { existsSync } from "node:fs";
import path from "node:path";

/**
 * The folder of Twinrail's package.json, found by walking up from this file: the same from the sources
 * (src/lib, run through tsx) and from the compiled build (dist/server/lib), so files that ship beside
 * the code (migrations/, dist/web/) resolve alike in both.
 */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}
