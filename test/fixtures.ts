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

/**
 * A throwaway ed25519 key pair made for these tests (it opens nothing), and another pair's public
 * half: sshPublicKey, sshPrivateKey and a mismatch between them.
 */
export const TEST_DEPLOY_KEY = {
  privateKey: [
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
    "QyNTUxOQAAACCEH8L+Y+g5fMm7dw4WSeSXfUKjursRYMClIG6mFUQ0TwAAAJDh9lLd4fZS",
    "3QAAAAtzc2gtZWQyNTUxOQAAACCEH8L+Y+g5fMm7dw4WSeSXfUKjursRYMClIG6mFUQ0Tw",
    "AAAECpeQ8qO8RLN09lMJCD5SmN7HzHYrRZplC3Uu3Kyfi9g4Qfwv5j6Dl8ybt3DhZJ5Jd9",
    "QqO6uxFgwKUgbqYVRDRPAAAABnRlc3QtYQECAwQFBgc=",
    "-----END OPENSSH PRIVATE KEY-----",
    "",
  ].join("\n"),
  publicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIQfwv5j6Dl8ybt3DhZJ5Jd9QqO6uxFgwKUgbqYVRDRP test-a",
  /** As `ssh-keygen -l -E md5` shows it, and DigitalOcean lists it. */
  md5Fingerprint: "f2:7f:b8:e4:2b:3c:43:44:bd:e7:df:c2:7e:5a:c1:ad",
  otherPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPhCZJV1LZ75qPrD8z7RoLXsa3hhkFZW5FdljXdaWEoo test-b",
  /** An ECDSA pair: its public key's base64 ends in padding, which a copy may have lost. */
  ecdsaPrivateKey: [
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAaAAAABNlY2RzYS",
    "1zaGEyLW5pc3RwMjU2AAAACG5pc3RwMjU2AAAAQQQE8iEhmRA7XJXUBuNUtzLzOXVXieMS",
    "gfBFXEc/k6aLvw/aKupHUOjoVpZRRkTXH0Zr+v1bhXxQyIinBChXBSNnAAAAqAGxzu4Bsc",
    "7uAAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBATyISGZEDtcldQG",
    "41S3MvM5dVeJ4xKB8EVcRz+Tpou/D9oq6kdQ6OhWllFGRNcfRmv6/VuFfFDIiKcEKFcFI2",
    "cAAAAhAK5rAsfR2HtclEFjCXrszD2798TzJ4ANP3i0l4wYlfRxAAAACnRlc3QtZWNkc2EB",
    "AgMEBQ==",
    "-----END OPENSSH PRIVATE KEY-----",
    "",
  ].join("\n"),
  ecdsaPublicKey: "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBATyISGZEDtcldQG41S3MvM5dVeJ4xKB8EVcRz+Tpou/D9oq6kdQ6OhWllFGRNcfRmv6/VuFfFDIiKcEKFcFI2c= test-ecdsa",
  /** An ed25519 private key with a passphrase (secret-pass). */
  passphrasePrivateKey: [
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    "b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABC+ZeVDFs",
    "cv9pk0vrb6MR5RAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIPLQN0wf6lwFMI4I",
    "3N4nXFw3WnbffBFGWMhI1eD+yD8dAAAAkLVIQsBsvc3fa70mbKPEUk2Xn/jaqIY7XoF8O+",
    "F/hq9g5M5COEPzqDPUvYwL8WZZNwSOLfSLk/4DQOR1Hy78c+cgSuhrZz8VwilOm1lu6I87",
    "UdHoWhbIpn4xkX3mWtIyuKQmm23alxBoNAH8H3rTel17PGBVS0nHCfOJMzYLeYfwlTwK/t",
    "VfyWulSlxUkG5crg==",
    "-----END OPENSSH PRIVATE KEY-----",
    "",
  ].join("\n"),
};
