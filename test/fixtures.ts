/** Shared test inputs: valid args, and random secrets for rendering without Pulumi. */
import * as YAML from "yaml";
import { PlainArgs, resolveArgs } from "../components/settings";
import { MatrixRtcSettings, Settings } from "../cloud-init/settings";
import { PATHS } from "../cloud-init/paths";
import { decodeEntry } from "../cloud-init/userData";
import { newSecrets } from "../local/secrets";
import { VALID_ARGS } from "../local/exampleArgs";

export { VALID_ARGS };

/** The SHA-256 the tests' first deploys take for the authorization service (settingsFor). */
export const FIRST_DEPLOY_SHA256 = "f".repeat(64);

/** Settings for `overrides`; with calls on and no SHA-256 given, the one a first deploy takes (FIRST_DEPLOY_SHA256). */
export function settingsFor(overrides: Partial<PlainArgs> = {}): Settings {
  const { settings, cloud } = resolveArgs({ ...VALID_ARGS, ...overrides });
  if (!cloud.rtcAuthPin) return settings;
  const rtc = settings.matrixRtc!;
  return { ...settings, matrixRtc: { ...rtc, authService: { ...rtc.authService, sha256: FIRST_DEPLOY_SHA256 } } };
}

/** MatrixRTC's settings for example.test, downloads from `base`. */
export function matrixRtcFor(base = "https://downloads.example.test"): MatrixRtcSettings {
  return {
    host: "rtc.example.test",
    livekit: { url: `${base}/livekit.tar.gz`, sha256: "1".repeat(64) },
    authService: { url: `${base}/lk-jwt-service`, sha256: "2".repeat(64) },
  };
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

export { scratchDir } from "../local/scratch";
export { run } from "../local/process";
