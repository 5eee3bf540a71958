/** Scratch directories for a run of the local harness (the tests, the benchmark). */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { onTeardown } from "./teardown";

/** A scratch directory removed when the process exits. */
export function scratchDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o711); // service accounts (postgres) may pass through, not list it
  // Removed last, after the droplets whose roots it holds (teardown.ts runs newest first).
  onTeardown({ what: `scratch ${dir}`, now: () => fs.rmSync(dir, { recursive: true, force: true }) });
  return dir;
}
