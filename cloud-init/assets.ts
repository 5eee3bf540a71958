/**
 * Files shipped beside the code (shell scripts, Synapse locks, the readiness check), found
 * from the package root so they resolve the same from the TypeScript sources and from the
 * compiled dist/ that other stacks import.
 */
import * as fs from "fs";
import * as path from "path";

function packageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "Pulumi.yaml")) && fs.existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`matrix-do: package root not found above ${from}`);
  }
}

export const PACKAGE_ROOT = packageRoot(__dirname);

/** Absolute path of a file shipped with the package, e.g. asset("cloud-init", "scripts"). */
export function asset(...parts: string[]): string {
  return path.join(PACKAGE_ROOT, ...parts);
}
