/**
 * How a stack's config (Pulumi.yaml's `config:` block plus Pulumi.<stack>.yaml) becomes
 * MatrixServerArgs. Every component argument has one entry here, so index.ts reads them all.
 *
 * The Pulumi CLI treats every key declared without a `default` as required, so the optional
 * keys in Pulumi.yaml carry an "unset" default ("" for text, [] for lists, 0 for counts,
 * `auto` for presence) which this reader turns back into "not set". Secret keys cannot be
 * declared there at all (a secret key with no value in the stack fails the CLI's validation),
 * so they are read here only, with `getSecret`.
 */
import * as pulumi from "@pulumi/pulumi";
import { MatrixServerArgs } from "./args";
import { DEFAULTS } from "./settings";

export type ConfigKind = "string" | "integer" | "boolean" | "list" | "secret" | "presence";

/** Each argument's kind in the stack's config. */
export const STACK_CONFIG: Record<keyof MatrixServerArgs, ConfigKind> = {
  domain: "string",
  adminEmail: "string",
  sshKeys: "list",
  region: "string",
  size: "string",
  image: "string",
  ipv6: "boolean",
  tags: "list",
  existingDomain: "boolean",
  matrixSubdomain: "string",
  elementSubdomain: "string",
  sshAllowCidrs: "list",
  sshPrivateKey: "secret",
  volumeSizeGb: "integer",
  protectVolume: "boolean",
  adminUser: "string",
  synapseVersion: "string",
  elementVersion: "string",
  presence: "presence",
  maxUploadMb: "integer",
  registration: "string",
  smtpHost: "string",
  smtpPort: "integer",
  smtpUser: "string",
  smtpPassword: "secret",
  emailFrom: "string",
  localMediaRetentionDays: "integer",
  remoteMediaRetentionDays: "integer",
  forgottenRoomRetentionDays: "integer",
  turn: "boolean",
  backupTime: "string",
  backupKeepDaily: "integer",
  backupKeepWeekly: "integer",
  spacesBucket: "string",
  spacesRegion: "string",
  spacesAccessKeyId: "string",
  spacesSecretKey: "secret",
  spacesEndpoint: "string",
  dropletBackups: "string",
  alerts: "boolean",
  alertEmails: "list",
  acmeServer: "string",
  caaIssuer: "string",
  extraCaCertificates: "list",
  privateFederationCidrs: "list",
  elementDownloadBase: "string",
  elementKeyUrl: "string",
  elementKeyFingerprint: "string",
  projectName: "string",
  waitForReady: "boolean",
  readyTimeoutMinutes: "integer",
};

/** The keys a user must set: declared in Pulumi.yaml without a default. */
export const REQUIRED_CONFIG: readonly (keyof MatrixServerArgs)[] = ["domain", "adminEmail", "sshKeys"];

/** What Pulumi.yaml declares as the default of an optional key that has no default of its own. */
export const UNSET: Record<Exclude<ConfigKind, "secret" | "boolean">, unknown> = {
  string: "",
  integer: 0,
  list: [],
  presence: "auto",
};

/** Optional keys with no default of their own: Pulumi.yaml gives them the "unset" value of their kind. */
export const UNSET_KEYS = (Object.keys(STACK_CONFIG) as (keyof MatrixServerArgs)[]).filter(
  (key) => !REQUIRED_CONFIG.includes(key) && STACK_CONFIG[key] !== "secret" && !(key in DEFAULTS),
);

/**
 * The component's args from the stack's config. Values are passed on as typed (a wrong type is
 * reported by the settings' validation, naming the key); a key still at its "unset" default is
 * left out.
 */
export function readStackConfig(config: pulumi.Config): MatrixServerArgs {
  const args: Record<string, unknown> = {};
  for (const [key, kind] of Object.entries(STACK_CONFIG) as [keyof MatrixServerArgs, ConfigKind][]) {
    const value = readOne(config, key, kind);
    if (value === undefined) continue;
    if (kind !== "secret" && kind !== "boolean" && UNSET_KEYS.includes(key) && JSON.stringify(value) === JSON.stringify(UNSET[kind])) continue;
    args[key] = value;
  }
  return args as unknown as MatrixServerArgs;
}

function readOne(config: pulumi.Config, key: string, kind: ConfigKind): unknown {
  if (kind === "secret") return config.getSecret(key);
  if (kind === "list") return config.getObject<unknown>(key);
  const text = config.get(key);
  if (text === undefined) return undefined;
  switch (kind) {
    case "string":
      return text;
    case "presence":
      return text === "true" ? true : text === "false" ? false : text;
    case "integer":
      // A non-number is passed on as it is, for the settings to reject by name.
      return /^-?\d+$/.test(text) ? Number(text) : text;
    case "boolean":
      return text === "true" ? true : text === "false" ? false : text;
  }
}
