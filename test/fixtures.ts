/** Shared test inputs: valid args, and random secrets for rendering without Pulumi. */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { PlainArgs, resolveArgs } from "../components/settings";
import { Settings } from "../cloud-init/settings";
import { PATHS } from "../cloud-init/paths";
import { decodeEntry } from "../cloud-init/userData";
import { onTeardown } from "../local/teardown";
import { newSecrets } from "../local/secrets";

export const VALID_ARGS: PlainArgs = {
  domain: "example.test",
  adminEmail: "admin@example.test",
  sshKeys: ["3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa"],
};

export function settingsFor(overrides: Partial<PlainArgs> = {}): Settings {
  return resolveArgs({ ...VALID_ARGS, ...overrides }).settings;
}

/** Fresh random secrets, shaped like the ones Pulumi generates. */
export const testSecrets = newSecrets;

/** The content of one file the payload writes, looked up by path (in write_files, or in the bundle). */
export function fileIn(userData: string, path: string): string {
  const doc = YAML.parse(userData) as { write_files: { path: string; content: string; encoding?: string }[] };
  const file = doc.write_files.find((f) => f.path === path);
  if (file) return decodeEntry(file);
  const bundle = doc.write_files.find((f) => f.path === PATHS.filesBundle);
  const member = bundle && (JSON.parse(decodeEntry(bundle)) as { path: string; content: string }[]).find((f) => f.path === path);
  if (!member) throw new Error(`the payload writes no ${path}`);
  return member.content;
}

/** A scratch directory removed when the process exits. */
export function scratchDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o711); // service accounts (postgres) may pass through, not list it
  // Removed last, after the droplets whose roots it holds (teardown.ts runs newest first).
  onTeardown({ what: `scratch ${dir}`, now: () => fs.rmSync(dir, { recursive: true, force: true }) });
  return dir;
}

export { run } from "../local/process";
