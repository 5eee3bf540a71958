/**
 * MatrixServerArgs (plain values) → validated Settings, with every default in one place.
 * Each argument's type is checked first (ARG_KINDS), then its value, then the rules between
 * arguments (a key that needs another). Bad input raises one SettingsError listing each bad key,
 * what it expects and how to fix it.
 */
import * as net from "net";
import * as pulumi from "@pulumi/pulumi";
import { PublicKey, parsePublicKey, privateKeyCipher, publicKeyLine, publicKeyOfPrivate } from "./sshKeys";
import { MatrixServerArgs } from "./args";
import { ARG_KINDS, ArgKind, DEFAULTS, SettingKey } from "./settingsTable";
import { BackupSettings, MatrixRtcSettings, Settings } from "../cloud-init/settings";
import { PRESENCE_MIN_MEMORY_MB, swapFor, tuningFor } from "./tuning";
import { cidrHint, didYouMean, domainHint, localpartHint } from "./hints";
import { DROPLET_IMAGE, RTC_AUTH_RELEASE, RTC_AUTH_VERSION, SYNAPSE_VERSIONS } from "../cloud-init/versions";
import { LIVEKIT_TCP_PORT, LIVEKIT_UDP_PORT, TURN_PORT, TURN_RELAY_PORTS, TURN_TLS_PORT } from "../cloud-init/ports";

export type PlainArgs = pulumi.Unwrap<MatrixServerArgs>;


/** Regions with droplets and volumes. */
export const REGIONS = [
  "nyc1", "nyc2", "nyc3", "sfo2", "sfo3", "ams3", "sgp1", "lon1", "fra1", "tor1", "blr1", "syd1", "atl1", "ric1",
];

/** Regions with Spaces (the off-site backup target). */
export const SPACES_REGIONS = ["nyc3", "sfo2", "sfo3", "ams3", "sgp1", "fra1", "syd1", "blr1", "lon1", "tor1", "atl1"];

/** The TURN server's name under the domain. */
export const TURN_SUBDOMAIN = "turn";
/** MatrixRTC's name under the domain: the authorization service and LiveKit's signalling. */
export const RTC_SUBDOMAIN = "rtc";

export const REGISTRATION_MODES = ["disabled", "token"] as const;
export const DROPLET_BACKUP_PLANS = ["off", "daily", "weekly"] as const;

/** Droplet sizes this stack accepts, with their memory in MB (1 GB is Synapse's floor). */
export const SIZES: Record<string, number> = {
  "s-1vcpu-1gb": 1024, "s-1vcpu-1gb-amd": 1024, "s-1vcpu-1gb-intel": 1024,
  "s-1vcpu-2gb": 2048, "s-1vcpu-2gb-amd": 2048, "s-1vcpu-2gb-intel": 2048,
  "s-2vcpu-2gb": 2048, "s-2vcpu-2gb-amd": 2048, "s-2vcpu-2gb-intel": 2048,
  "s-2vcpu-4gb": 4096, "s-2vcpu-4gb-amd": 4096, "s-2vcpu-4gb-intel": 4096,
  "s-4vcpu-8gb": 8192, "s-4vcpu-8gb-amd": 8192, "s-4vcpu-8gb-intel": 8192,
  "s-8vcpu-16gb": 16384, "s-8vcpu-16gb-amd": 16384, "s-8vcpu-16gb-intel": 16384,
  "c-2": 4096, "c-4": 8192, "g-2vcpu-8gb": 8192, "m-2vcpu-16gb": 16384,
};

export const ACME_DIRECTORIES: Record<string, string> = {
  letsencrypt: "https://acme-v02.api.letsencrypt.org/directory",
  "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
  // Caddy's own CA: for a server nobody outside reaches (local trials, tests).
  internal: "internal",
};

export { ARG_KINDS, DEFAULTS } from "./settingsTable";
export type { ArgKind } from "./settingsTable";

type Key = keyof MatrixServerArgs;
/** Compiles only when A and B are the same set of keys. */
type SameKeys<A extends PropertyKey, B extends PropertyKey> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
// The table and the arguments name the same keys (args.ts is written from the table).
const tableMatchesArgs: SameKeys<Key, SettingKey> = true;
void tableMatchesArgs;

export class SettingsError extends Error {
  /** What marks Pulumi's RunError: the CLI prints the message alone, without a stack trace. */
  readonly __pulumiRunError = true;

  constructor(readonly problems: string[]) {
    super(`MatrixServer: invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "SettingsError";
    // Raised once an Output argument resolves, it reaches every resource input built from the
    // settings, and Pulumi prefixes `error serializing property "…": ` to the message at each:
    // the problems stay the whole message.
    const message = this.message;
    Object.defineProperty(this, "message", { get: () => message, set: () => undefined });
  }
}

const KIND_EXPECTED: Record<ArgKind, string> = {
  string: "a string", secret: "a string", integer: "a number", boolean: "true or false", presence: "true or false", list: "a list of strings",
};

function hasKind(kind: ArgKind, value: unknown): boolean {
  if (kind === "integer") return typeof value === "number";
  if (kind === "boolean" || kind === "presence") return typeof value === "boolean";
  if (kind === "list") return Array.isArray(value) && value.every((item) => typeof item === "string");
  return typeof value === "string";
}

/** A value as a message shows it: `the string "50"`, `the list [1]`; only the type of a secret or an object. */
function shown(value: unknown, secret: boolean): string {
  if (value === null) return "null";
  const type = Array.isArray(value) ? "list" : typeof value;
  if (secret || !["string", "number", "boolean", "list"].includes(type)) return `${/^[aeiou]/.test(type) ? "an" : "a"} ${type}`;
  return `the ${type} ${JSON.stringify(value)}`;
}

/** How to write what was evidently meant, when that is plain: `"50"` for a number, `"prod"` for a list. */
function typeFix(kind: ArgKind, value: unknown): string {
  const text = typeof value === "string" ? value.trim() : undefined;
  if (kind === "list" && text !== undefined) return `; write a list: ${JSON.stringify([value])}`;
  if (kind === "list" && Array.isArray(value) && value.every((item) => ["number", "boolean"].includes(typeof item))) {
    return `; quote each item: ${JSON.stringify(value.map(String))}`;
  }
  if (kind === "integer" && text && Number.isFinite(Number(text))) return `; write the number without quotes: ${Number(text)}`;
  if ((kind === "boolean" || kind === "presence") && (text === "true" || text === "false")) return `; write it without quotes: ${text}`;
  if (kind === "string" && ["number", "boolean"].includes(typeof value)) return `; quote it: "${value}"`;
  return "";
}

/** The problem with an argument's type (what it expects, what it got, how to fix it), or undefined. */
export function typeProblem(key: Key, value: unknown): string | undefined {
  const kind = ARG_KINDS[key];
  if (hasKind(kind, value)) return undefined;
  const secret = kind === "secret";
  return `'${key}': expected ${KIND_EXPECTED[kind]}, got ${shown(value, secret)}${secret ? "" : typeFix(kind, value)}`;
}

const DOMAIN_RE = /^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const EMAIL_RE = /^[^\s@"<>()]+@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
const VERSION_RE = /^\d+\.\d+\.\d+$/;
const LOCALPART_RE = /^[a-z0-9._=\-/]{1,64}$/;
const SSH_KEY_RE = /^(\d+|([0-9a-f]{2}:){15}[0-9a-f]{2})$/;
const FINGERPRINT_RE = /^[0-9A-F]{40}$/;
const PEM_RE = /^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n?$/;
const PROJECT_RE = /^[^\s].{0,174}$/;

/** True when `cidr` is an IPv4 or IPv6 network in CIDR notation. */
export function isCidr(cidr: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  if (!m) return false;
  const family = net.isIP(m[1]);
  const bits = Number(m[2]);
  return (family === 4 && bits <= 32) || (family === 6 && bits <= 128);
}

function isHttpsUrl(value: string): boolean {
  try {
    return new URL(value).protocol === "https:";
  } catch {
    return false;
  }
}

/** Volume and droplet names derive from the domain: letters, digits and dashes. */
export function resourceBaseName(domain: string): string {
  return `matrix-${domain.replace(/\./g, "-")}`.slice(0, 60).replace(/-+$/, "");
}

/** What the component needs besides the renderers' Settings: the values its resources take. */
export interface CloudOptions {
  sshKeys: string[];
  /** With Shape.deployKey: the public key the stack adds to the account (and to the droplet's keys). */
  sshPublicKey?: string;
  sshAllowCidrs: string[];
  /** Set when the resources are grouped in a DigitalOcean project (Shape.project). */
  projectName?: string;
  readyTimeoutMinutes: number;
  /** With sshPrivateKey: where that key is on the user's machine (for sshCommand and messages). */
  sshKeyFile?: string;
  caaIssuer: string;
  dropletBackups: (typeof DROPLET_BACKUP_PLANS)[number];
  alertEmails: string[];
  /** The DNS zone and its records' names. */
  dns: {
    zone: string;
    /** The apex and the two subdomains, each with A (and AAAA) records to the reserved IP. */
    hostRecords: { apex: string; matrix: string; element: string };
    /** With TURN on: its record's name (an A record to the droplet's own IPv4). */
    turnRecord?: string;
    /** With MatrixRTC on: its record's name (A and AAAA records to the reserved IP, like the hosts above). */
    rtcRecord?: string;
  };
  /** With TURN on: the ports the firewall opens for it. */
  turnPorts?: { listening: number; tls: number; relay: { min: number; max: number } };
  /** With MatrixRTC on: LiveKit's media ports the firewall opens. */
  rtcPorts?: { tcp: number; udp: number };
  /**
   * With MatrixRTC on and no SHA-256 for the authorization service's download (rtcAuthShaSource):
   * the release whose SHA-256 the stack takes on its first deploy (Shape.rtcAuthPin).
   */
  rtcAuthPin?: { url: string; version: string };
}

/**
 * Which resources exist and how they are declared: decided from plain values alone (never
 * Outputs), so the component knows them up front, before any argument resolves.
 */
export interface Shape {
  ipv6: boolean;
  existingDomain: boolean;
  protectVolume: boolean;
  turn: boolean;
  matrixRtc: boolean;
  alerts: boolean;
  waitForReady: boolean;
  /** sshPrivateKey is set: changes are applied to the running droplet over SSH. */
  applyInPlace: boolean;
  /** sshPublicKey is set: the stack adds it to the account (a digitalocean.SshKey). */
  deployKey: boolean;
  /** projectName is set: the resources are grouped in a DigitalOcean project. */
  project: boolean;
  /** Calls are on and nothing gives the authorization service's SHA-256: the stack takes it (CloudOptions.rtcAuthPin). */
  rtcAuthPin: boolean;
}

export interface Resolved {
  settings: Settings;
  cloud: CloudOptions;
  shape: Shape;
}

/** The arguments' Shape: only plain flags and whether a key is set at all (an Output counts as set). */
export function resolveShape(args: { [K in keyof Shape & keyof MatrixServerArgs]?: MatrixServerArgs[K] } & Pick<MatrixServerArgs, "sshPrivateKey" | "sshPublicKey" | "projectName" | "rtcAuthServiceSha256">): Shape {
  const matrixRtc = args.matrixRtc ?? DEFAULTS.matrixRtc;
  return {
    ipv6: args.ipv6 ?? DEFAULTS.ipv6,
    existingDomain: args.existingDomain ?? DEFAULTS.existingDomain,
    protectVolume: args.protectVolume ?? DEFAULTS.protectVolume,
    turn: args.turn ?? DEFAULTS.turn,
    matrixRtc,
    alerts: args.alerts ?? DEFAULTS.alerts,
    waitForReady: args.waitForReady ?? DEFAULTS.waitForReady,
    applyInPlace: args.sshPrivateKey !== undefined,
    deployKey: args.sshPublicKey !== undefined,
    project: args.projectName !== undefined,
    rtcAuthPin: matrixRtc && rtcAuthShaSource(args.rtcAuthServiceSha256) === "first-deploy",
  };
}

/** Records a problem with `keys[0]` (the other keys are those the check also read), and how to fix it. */
type Bad = (keys: Key | Key[], expected: string, got: unknown, fix?: string) => void;

/** Validate plain args and fill in defaults. Throws one SettingsError naming every bad key. */
export function resolveArgs(args: PlainArgs): Resolved {
  return resolveKnown(args, [])!;
}

/**
 * Validate every argument but those named `unknown` (Pulumi Outputs, checked once they
 * resolve), and every rule between arguments that involves none of those. Throws one
 * SettingsError naming every bad key; returns the settings when no argument is unknown.
 */
export function resolveKnown(args: PlainArgs, unknown: readonly Key[]): Resolved | undefined {
  const problems: string[] = [];
  // Unknown and mistyped arguments take no further part: no rule that reads them is checked.
  // null, like undefined, is "not set".
  const skipped = new Set<string>(unknown);
  const given = Object.entries(args).filter(([, value]) => value !== undefined && value !== null);
  for (const [key, value] of given) {
    if (skipped.has(key)) continue;
    const problem = key in ARG_KINDS ? typeProblem(key as Key, value)
      : `'${key}': expected a MatrixServer setting, got a key it does not have; ${didYouMean(key, Object.keys(ARG_KINDS)) ?? "check its spelling (README, Configuration)"}`;
    if (problem) {
      problems.push(problem);
      skipped.add(key);
    }
  }
  const a = Object.fromEntries(given.filter(([key]) => !skipped.has(key))) as PlainArgs;
  const bad: Bad = (keys, expected, got, fix) => {
    const read = [keys].flat();
    if (read.some((key) => skipped.has(key))) return;
    problems.push(`'${read[0]}': expected ${expected}, got ${got === undefined ? "nothing" : JSON.stringify(got)}${fix ? `; ${fix}` : ""}`);
  };
  const choices = resolveShape(a);

  const domain = a.domain!;
  const isDomain = (value: string) => DOMAIN_RE.test(value);
  if (!isDomain(domain ?? "")) bad("domain", "a lowercase domain name such as example.org", domain, domainHint(domain ?? "", isDomain));
  const adminEmail = a.adminEmail!;
  if (!EMAIL_RE.test(adminEmail ?? "")) bad("adminEmail", "an email address such as admin@example.org", adminEmail);
  const sshKeys = a.sshKeys ?? [];
  for (const key of sshKeys) {
    if (!SSH_KEY_RE.test(key)) bad("sshKeys", "an SSH key fingerprint (16 hex pairs joined by ':') or a numeric key ID", key);
  }
  resolveDeployKey(a, sshKeys, bad);

  const region = a.region ?? DEFAULTS.region;
  if (!REGIONS.includes(region)) bad("region", `one of ${REGIONS.join(", ")}`, region, didYouMean(region, REGIONS));
  const size = a.size ?? DEFAULTS.size;
  const memoryMb = SIZES[size];
  if (memoryMb === undefined) bad("size", `a droplet size with ≥ 1 GB RAM: ${Object.keys(SIZES).join(", ")}`, size, didYouMean(size, Object.keys(SIZES)));
  const image = a.image ?? DEFAULTS.image;
  if (image !== DROPLET_IMAGE) bad("image", `${DROPLET_IMAGE} (the payload is written for Debian 13)`, image);

  const matrixSubdomain = a.matrixSubdomain ?? DEFAULTS.matrixSubdomain;
  if (!LABEL_RE.test(matrixSubdomain)) bad("matrixSubdomain", "one DNS label such as matrix", matrixSubdomain);
  const elementSubdomain = a.elementSubdomain ?? DEFAULTS.elementSubdomain;
  if (!LABEL_RE.test(elementSubdomain)) bad("elementSubdomain", "one DNS label such as element", elementSubdomain);
  for (const [key, value] of [["matrixSubdomain", matrixSubdomain], ["elementSubdomain", elementSubdomain]] as const) {
    if (choices.turn && value === TURN_SUBDOMAIN) bad([key, "turn"], `another subdomain than ${TURN_SUBDOMAIN} (the TURN server's name)`, value);
    if (choices.matrixRtc && value === RTC_SUBDOMAIN) bad([key, "matrixRtc"], `another subdomain than ${RTC_SUBDOMAIN} (MatrixRTC's name)`, value);
  }
  if (matrixSubdomain === elementSubdomain) {
    bad(["elementSubdomain", "matrixSubdomain"], "a different subdomain than matrixSubdomain (Element must not share Synapse's origin)", elementSubdomain);
  }

  const sshAllowCidrs = a.sshAllowCidrs ?? DEFAULTS.sshAllowCidrs;
  for (const cidr of sshAllowCidrs) if (!isCidr(cidr)) bad("sshAllowCidrs", "CIDRs such as 203.0.113.0/24 or 2001:db8::/32", cidr, cidrHint(cidr));

  const volumeSizeGb = a.volumeSizeGb ?? DEFAULTS.volumeSizeGb;
  if (!Number.isInteger(volumeSizeGb) || volumeSizeGb < 1 || volumeSizeGb > 16384) {
    bad("volumeSizeGb", "a whole number of GiB from 1 to 16384", volumeSizeGb);
  }

  const adminUser = a.adminUser ?? DEFAULTS.adminUser;
  const isLocalpart = (value: string) => LOCALPART_RE.test(value);
  if (!isLocalpart(adminUser)) bad("adminUser", "a Matrix localpart: lowercase a-z, 0-9, . _ = - /", adminUser, localpartHint(adminUser, isLocalpart));

  const synapseVersion = a.synapseVersion ?? DEFAULTS.synapseVersion;
  if (!VERSION_RE.test(synapseVersion)) bad("synapseVersion", "a version like 1.163.2", synapseVersion);
  else if (!(SYNAPSE_VERSIONS as readonly string[]).includes(synapseVersion)) {
    bad("synapseVersion", `a release we ship a lock for: ${SYNAPSE_VERSIONS.join(", ")}`, synapseVersion);
  }
  const elementVersion = a.elementVersion ?? DEFAULTS.elementVersion;
  if (!VERSION_RE.test(elementVersion)) bad("elementVersion", "a version like 1.12.30", elementVersion);

  const maxUploadMb = a.maxUploadMb ?? DEFAULTS.maxUploadMb;
  if (!Number.isInteger(maxUploadMb) || maxUploadMb < 1 || maxUploadMb > 2048) {
    bad("maxUploadMb", "a whole number of MB from 1 to 2048", maxUploadMb);
  }

  const acmeServer = a.acmeServer ?? DEFAULTS.acmeServer;
  const acmeDirectory = ACME_DIRECTORIES[acmeServer] ?? (isHttpsUrl(acmeServer) ? acmeServer : undefined);
  if (!acmeDirectory) {
    bad("acmeServer", "letsencrypt, letsencrypt-staging, internal or an https:// ACME directory URL", acmeServer, didYouMean(acmeServer, Object.keys(ACME_DIRECTORIES)));
  }

  const caaIssuer = a.caaIssuer ?? DEFAULTS.caaIssuer;
  if (!isDomain(caaIssuer)) bad("caaIssuer", "the CA's domain such as letsencrypt.org", caaIssuer, domainHint(caaIssuer, isDomain));

  const privateFederationCidrs = a.privateFederationCidrs ?? [];
  for (const cidr of privateFederationCidrs) if (!isCidr(cidr)) bad("privateFederationCidrs", "CIDRs such as 10.10.0.0/16", cidr, cidrHint(cidr));

  const extraCaCertificates = a.extraCaCertificates ?? [];
  for (const pem of extraCaCertificates) {
    if (!PEM_RE.test(pem)) bad("extraCaCertificates", "PEM certificates (-----BEGIN CERTIFICATE----- …)", pem.slice(0, 40));
  }
  const elementDownloadBase = (a.elementDownloadBase ?? DEFAULTS.elementDownloadBase).replace(/\/+$/, "");
  if (!isHttpsUrl(elementDownloadBase)) bad("elementDownloadBase", "an https:// URL", elementDownloadBase);
  const elementKeyUrl = a.elementKeyUrl ?? DEFAULTS.elementKeyUrl;
  if (!isHttpsUrl(elementKeyUrl)) bad("elementKeyUrl", "an https:// URL", elementKeyUrl);
  const elementKeyFingerprint = (a.elementKeyFingerprint ?? DEFAULTS.elementKeyFingerprint).replace(/\s+/g, "").toUpperCase();
  if (!FINGERPRINT_RE.test(elementKeyFingerprint)) bad("elementKeyFingerprint", "a 40-hex-digit OpenPGP fingerprint", elementKeyFingerprint);

  if (a.projectName !== undefined && !PROJECT_RE.test(a.projectName)) {
    bad("projectName", "a project name of 1 to 175 characters", a.projectName);
  }
  requireKey(a, bad, "sshPrivateKey", ["sshKeyFile"], "logging in with the deploy key");
  const sshKeyFile = a.sshKeyFile ?? DEFAULTS.sshKeyFile;
  if (!/^[^\s'"$`\\]+$/.test(sshKeyFile)) bad("sshKeyFile", "a file path without spaces or quotes, e.g. ~/.ssh/matrix-deploy", sshKeyFile);
  const readyTimeoutMinutes = a.readyTimeoutMinutes ?? DEFAULTS.readyTimeoutMinutes;
  if (!Number.isInteger(readyTimeoutMinutes) || readyTimeoutMinutes < 1 || readyTimeoutMinutes > 120) {
    bad("readyTimeoutMinutes", "a whole number of minutes from 1 to 120", readyTimeoutMinutes);
  }
  // The timeout bounds the HTTPS check and, with sshPrivateKey, the wait for cloud-init.
  if (a.readyTimeoutMinutes !== undefined && !choices.waitForReady && a.sshPrivateKey === undefined) {
    bad(["readyTimeoutMinutes", "waitForReady", "sshPrivateKey"], "only while waitForReady is on or sshPrivateKey is set (nothing waits otherwise)",
      a.readyTimeoutMinutes, "remove readyTimeoutMinutes, or turn waitForReady on");
  }
  const tags = a.tags ?? [];
  for (const tag of tags) if (!/^[a-zA-Z0-9_\-:]{1,255}$/.test(tag)) bad("tags", "tags of letters, digits, _ - :", tag);

  const registration = a.registration ?? DEFAULTS.registration;
  if (!(REGISTRATION_MODES as readonly string[]).includes(registration)) {
    bad("registration", REGISTRATION_MODES.join(" or "), registration, didYouMean(registration, REGISTRATION_MODES));
  }
  const matrixRtc = resolveMatrixRtc(a, choices.matrixRtc, bad);
  const backups = resolveBackups(a, region, bad);
  const email = resolveEmail(a, bad);
  const retention: Settings["synapse"]["retention"] = {};
  for (const [key, field] of [["localMediaRetentionDays", "localMediaDays"], ["remoteMediaRetentionDays", "remoteMediaDays"],
    ["forgottenRoomRetentionDays", "forgottenRoomDays"]] as const) {
    const days = a[key];
    if (days === undefined) continue;
    if (!Number.isInteger(days) || days < 1 || days > 36500) bad(key, "a whole number of days from 1 to 36500 (leave unset to keep for ever)", days);
    else retention[field] = days;
  }
  const dropletBackups = a.dropletBackups ?? DEFAULTS.dropletBackups;
  if (!(DROPLET_BACKUP_PLANS as readonly string[]).includes(dropletBackups)) {
    bad("dropletBackups", DROPLET_BACKUP_PLANS.join(", "), dropletBackups, didYouMean(dropletBackups, DROPLET_BACKUP_PLANS));
  }
  const alertEmails = a.alertEmails ?? [adminEmail];
  if (a.alertEmails !== undefined) {
    if (a.alertEmails.length === 0) bad("alertEmails", "at least one email address", a.alertEmails);
    for (const address of a.alertEmails) if (!EMAIL_RE.test(address)) bad("alertEmails", "email addresses", address);
    if (!choices.alerts) bad(["alertEmails", "alerts"], "only while alerts is on (no alert is sent otherwise)", a.alertEmails, "remove alertEmails, or turn alerts on");
  }

  if (problems.length > 0) throw new SettingsError(problems);
  if (skipped.size > 0) return undefined;

  const base = resourceBaseName(domain);
  const cloud: CloudOptions = {
    sshKeys: [...sshKeys],
    ...(a.sshPublicKey !== undefined ? { sshPublicKey: publicKeyLine(parsePublicKey(a.sshPublicKey) as PublicKey) } : {}),
    sshAllowCidrs: [...sshAllowCidrs],
    ...(a.projectName !== undefined ? { projectName: a.projectName } : {}),
    readyTimeoutMinutes,
    ...(a.sshPrivateKey !== undefined ? { sshKeyFile } : {}),
    caaIssuer,
    dropletBackups: dropletBackups as CloudOptions["dropletBackups"],
    alertEmails: [...alertEmails],
    dns: {
      zone: domain,
      hostRecords: { apex: "@", matrix: matrixSubdomain, element: elementSubdomain },
      ...(choices.turn ? { turnRecord: TURN_SUBDOMAIN } : {}),
      ...(choices.matrixRtc ? { rtcRecord: RTC_SUBDOMAIN } : {}),
    },
    ...(choices.turn ? { turnPorts: { listening: TURN_PORT, tls: TURN_TLS_PORT, relay: { ...TURN_RELAY_PORTS } } } : {}),
    ...(choices.matrixRtc ? { rtcPorts: { tcp: LIVEKIT_TCP_PORT, udp: LIVEKIT_UDP_PORT } } : {}),
    ...(matrixRtc?.firstDeployPin ? { rtcAuthPin: { url: matrixRtc.authService.url, version: RTC_AUTH_VERSION } } : {}),
  };
  const settings: Settings = {
    serverName: domain,
    matrixHost: `${matrixSubdomain}.${domain}`,
    elementHost: `${elementSubdomain}.${domain}`,
    adminUser,
    adminEmail,
    droplet: { name: base, region, size, image, memoryMb, swapMb: swapFor(memoryMb), ipv6: choices.ipv6, tags: [...tags] },
    volume: { name: base, sizeGb: volumeSizeGb, device: `/dev/disk/by-id/scsi-0DO_Volume_${base}` },
    synapse: {
      version: synapseVersion,
      presence: a.presence ?? memoryMb >= PRESENCE_MIN_MEMORY_MB,
      maxUploadMb,
      registration: registration as Settings["synapse"]["registration"],
      ...(email ? { email } : {}),
      retention,
      privateFederationCidrs: [...privateFederationCidrs],
    },
    element: {
      version: elementVersion,
      tarballUrl: `${elementDownloadBase}/v${elementVersion}/element-v${elementVersion}.tar.gz`,
      signatureUrl: `${elementDownloadBase}/v${elementVersion}/element-v${elementVersion}.tar.gz.asc`,
      keyUrl: elementKeyUrl,
      keyFingerprint: elementKeyFingerprint,
    },
    acme: { directoryUrl: acmeDirectory!, email: adminEmail },
    extraCaCertificates: [...extraCaCertificates],
    tuning: tuningFor(memoryMb),
    backups,
    ...(choices.turn ? { turn: { relayPorts: { ...TURN_RELAY_PORTS }, host: `${TURN_SUBDOMAIN}.${domain}` } } : {}),
    ...(matrixRtc ? { matrixRtc: { host: `${RTC_SUBDOMAIN}.${domain}`, livekit: matrixRtc.livekit, authService: matrixRtc.authService } } : {}),
  };
  return { settings, cloud, shape: choices };
}

const HOST_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
const FROM_RE = /^([^<>"\n]+ )?<[^\s@<>]+@[^\s@<>]+>$|^[^\s@<>]+@[^\s@<>]+$/;

/** Keys that mean nothing without `main` (the key that turns `what` on) are rejected without it. */
function requireKey(args: PlainArgs, bad: Bad, main: Key, others: Key[], what: string): void {
  if (args[main] !== undefined) return;
  for (const key of others) {
    if (args[key] === undefined) continue;
    const got = ARG_KINDS[key] === "secret" ? "[secret]" : args[key];
    bad([key, main], `only together with ${main} (${what} is off without it)`, got, `set ${main}, or remove ${key}`);
  }
}

const SHA256_RE = /^[0-9a-f]{64}$/;

const DEPLOY_KEY_FIX = 'pulumi config set sshPublicKey "$(cat ~/.ssh/matrix-deploy.pub)"';

/** Who may log in as root: sshPublicKey (added to the account by the stack) and sshKeys (in it already), at least one. */
function resolveDeployKey(args: PlainArgs, sshKeys: readonly string[], bad: Bad): void {
  if (args.sshPublicKey === undefined) {
    if (sshKeys.length === 0) {
      bad(["sshPublicKey", "sshKeys"], "a key that may log in as root: sshPublicKey (the deploy key's public half, which the stack adds to your DigitalOcean account) or sshKeys (keys already there)", undefined, DEPLOY_KEY_FIX);
    }
    return;
  }
  const publicKey = parsePublicKey(args.sshPublicKey);
  if (typeof publicKey === "string") bad("sshPublicKey", `${publicKey}, as in ~/.ssh/matrix-deploy.pub`, args.sshPublicKey.slice(0, 40), DEPLOY_KEY_FIX);
}

/**
 * sshPrivateKey as `pulumi up` will use it: without a passphrase (it runs unattended), and, when
 * sshPublicKey is the only key that may log in, that key's other half (an OpenSSH private key
 * stores its public half), or every SSH step would fail. Checked when the secret resolves,
 * before anything uses it; keys in other formats than OpenSSH's are not read.
 */
export function deployKeyPairProblem(privateKey: string, cloud: Pick<CloudOptions, "sshKeys" | "sshPublicKey">): string | undefined {
  const cipher = privateKeyCipher(privateKey);
  if (cipher !== undefined && cipher !== "none") {
    return "'sshPrivateKey': expected a key without a passphrase (pulumi up uses it unattended), got one with a passphrase; make one without (README's quick start) or remove it: ssh-keygen -p -N '' -f ~/.ssh/matrix-deploy";
  }
  if (cloud.sshPublicKey === undefined || cloud.sshKeys.length > 0) return undefined;
  const publicKey = parsePublicKey(cloud.sshPublicKey);
  const privateHalf = publicKeyOfPrivate(privateKey);
  if (typeof publicKey === "string" || !privateHalf || privateHalf.base64 === publicKey.base64) return undefined;
  return `'sshPrivateKey': expected the private half of sshPublicKey (the deploy key), got that of another key pair; set both from one pair: ${DEPLOY_KEY_FIX} and pulumi config set --secret sshPrivateKey < ~/.ssh/matrix-deploy`;
}

/**
 * Where the authorization service's SHA-256 comes from, the first that has one: a verified pin in
 * versions.ts, the user's rtcAuthServiceSha256 (an Output counts as given), else the one the stack
 * takes on its first deploy (components/downloadPin.ts).
 */
export function rtcAuthShaSource(given: unknown, pinned: string | undefined = RTC_AUTH_RELEASE.sha256): "versions" | "setting" | "first-deploy" {
  if (pinned !== undefined) return "versions";
  return given === undefined || given === null ? "first-deploy" : "setting";
}

/**
 * MatrixRTC's downloads, when it is on: LiveKit's pinned release (or a mirror), and the
 * authorization service's, whose SHA-256 comes from rtcAuthShaSource: until the first deploy
 * has taken it, "" (the component fills it in; `firstDeployPin` says to take it).
 */
function resolveMatrixRtc(args: PlainArgs, on: boolean, bad: Bad): (Omit<MatrixRtcSettings, "host"> & { firstDeployPin: boolean }) | undefined {
  // Off, the pins are kept but do nothing: calls can be turned off and on again without setting them anew.
  if (!on) return undefined;
  const download = (urlKey: "livekitUrl" | "rtcAuthServiceUrl", shaKey: "livekitSha256" | "rtcAuthServiceSha256", url: string, sha256: string | undefined) => {
    if (!isHttpsUrl(url)) bad(urlKey, "an https:// URL", url);
    const sha = sha256?.trim().toLowerCase();
    if (sha !== undefined && !SHA256_RE.test(sha)) bad(shaKey, "a SHA-256 in hex (64 digits 0-9a-f), as sha256sum prints it", sha256);
    return { url, sha256: sha ?? "" };
  };
  const source = rtcAuthShaSource(args.rtcAuthServiceSha256);
  return {
    livekit: download("livekitUrl", "livekitSha256", args.livekitUrl ?? DEFAULTS.livekitUrl, args.livekitSha256 ?? DEFAULTS.livekitSha256),
    authService: download("rtcAuthServiceUrl", "rtcAuthServiceSha256", args.rtcAuthServiceUrl ?? DEFAULTS.rtcAuthServiceUrl,
      source === "versions" ? RTC_AUTH_RELEASE.sha256 : args.rtcAuthServiceSha256),
    firstDeployPin: source === "first-deploy",
  };
}

/** Email through an SMTP relay: on when smtpHost is set; the other smtp keys need it. */
function resolveEmail(args: PlainArgs, bad: Bad): Settings["synapse"]["email"] {
  const host = args.smtpHost;
  if (host !== undefined && !HOST_RE.test(host)) bad("smtpHost", "a host name such as smtp.example.org", host);
  const port = args.smtpPort ?? DEFAULTS.smtpPort;
  if (port === 25) bad("smtpPort", "587 or 465: DigitalOcean blocks port 25", port);
  else if (!Number.isInteger(port) || port < 1 || port > 65535) bad("smtpPort", "a port number such as 587", port);
  if (args.emailFrom !== undefined && !FROM_RE.test(args.emailFrom)) {
    bad("emailFrom", "an address like noreply@example.org or Name <noreply@example.org>", args.emailFrom);
  }
  requireKey(args, bad, "smtpHost", ["smtpPort", "smtpUser", "smtpPassword", "emailFrom"], "email");
  if (host === undefined) return undefined;
  // The password is sent only with a user name, and a user name only with a password.
  if (args.smtpUser !== undefined && args.smtpPassword === undefined) {
    bad(["smtpPassword", "smtpUser"], "the SMTP password of smtpUser", undefined, "pulumi config set --secret smtpPassword …, or remove smtpUser");
  }
  requireKey(args, bad, "smtpUser", ["smtpPassword"], "the SMTP login");
  return { host, port, user: args.smtpUser ?? "", from: args.emailFrom ?? `Matrix <noreply@${args.domain}>` };
}

const TIME_RE = /^([01]\d|2[0-3]):[0-5]\d$/;
const BUCKET_RE = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

/** Backup settings; the off-site copy is on when a bucket is named, and then needs its keys. */
function resolveBackups(args: PlainArgs, region: string, bad: Bad): BackupSettings {
  const time = args.backupTime ?? DEFAULTS.backupTime;
  if (!TIME_RE.test(time)) bad("backupTime", "a UTC time of day as HH:MM, e.g. 03:30", time);
  const keepDaily = args.backupKeepDaily ?? DEFAULTS.backupKeepDaily;
  if (!Number.isInteger(keepDaily) || keepDaily < 1 || keepDaily > 366) bad("backupKeepDaily", "a whole number from 1 to 366", keepDaily);
  const keepWeekly = args.backupKeepWeekly ?? DEFAULTS.backupKeepWeekly;
  if (!Number.isInteger(keepWeekly) || keepWeekly < 0 || keepWeekly > 520) bad("backupKeepWeekly", "a whole number from 0 to 520", keepWeekly);
  const backups: BackupSettings = { time, keepDaily, keepWeekly };

  const { spacesBucket: bucket, spacesRegion, spacesEndpoint: endpoint, spacesAccessKeyId: accessKeyId } = args;
  if (bucket !== undefined && !BUCKET_RE.test(bucket)) bad("spacesBucket", "a bucket name: 3-63 lowercase letters, digits and dashes", bucket);
  if (spacesRegion !== undefined && !SPACES_REGIONS.includes(spacesRegion)) {
    bad("spacesRegion", `a region with Spaces: ${SPACES_REGIONS.join(", ")}`, spacesRegion, didYouMean(spacesRegion, SPACES_REGIONS));
  }
  if (endpoint !== undefined && !isHttpsUrl(endpoint)) bad("spacesEndpoint", "an https:// URL of an S3-compatible service", endpoint);
  if (accessKeyId !== undefined && !/^[A-Za-z0-9+/=_-]{8,128}$/.test(accessKeyId)) bad("spacesAccessKeyId", "the access key ID of a Spaces key", accessKeyId);
  requireKey(args, bad, "spacesBucket", ["spacesRegion", "spacesAccessKeyId", "spacesSecretKey", "spacesEndpoint"], "the off-site backup");
  if (spacesRegion !== undefined && endpoint !== undefined) {
    bad(["spacesRegion", "spacesEndpoint"], "no spacesRegion with spacesEndpoint (the endpoint names the store; the region is unused)", spacesRegion,
      "remove spacesRegion or spacesEndpoint");
  }
  if (bucket === undefined) return backups;
  if (accessKeyId === undefined) {
    bad(["spacesAccessKeyId", "spacesBucket"], "the access key ID of a Spaces key that can write spacesBucket", undefined, "set spacesAccessKeyId, or remove spacesBucket");
  }
  if (args.spacesSecretKey === undefined) {
    bad(["spacesSecretKey", "spacesBucket"], "the secret of spacesAccessKeyId", undefined, "pulumi config set --secret spacesSecretKey …, or remove spacesBucket");
  }
  if (endpoint === undefined && spacesRegion === undefined && !SPACES_REGIONS.includes(region)) {
    bad(["spacesRegion", "region", "spacesBucket"], `a region with Spaces (it defaults to the droplet's region, which has none): ${SPACES_REGIONS.join(", ")}`, region);
  }
  const url = endpoint ?? `https://${spacesRegion ?? region}.digitaloceanspaces.com`;
  backups.offsite = { repository: `s3:${url.replace(/\/+$/, "")}/${bucket}/${args.domain}`, accessKeyId: accessKeyId! };
  return backups;
}
