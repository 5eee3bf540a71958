/**
 * MatrixServerArgs (plain values) → validated Settings, with every default in one place.
 * Bad input raises one SettingsError listing each bad key and what it expects.
 */
import * as net from "net";
import * as pulumi from "@pulumi/pulumi";
import { MatrixServerArgs } from "./args";
import { BackupSettings, Settings, TurnSettings } from "../cloud-init/settings";
import { PRESENCE_MIN_MEMORY_MB, swapFor, tuningFor } from "./tuning";
import {
  DEFAULT_ELEMENT_VERSION,
  DEFAULT_SYNAPSE_VERSION,
  DROPLET_IMAGE,
  ELEMENT_DOWNLOAD_BASE,
  ELEMENT_RELEASE_KEY,
  SYNAPSE_VERSIONS,
} from "../cloud-init/versions";

export type PlainArgs = pulumi.Unwrap<MatrixServerArgs>;

export const DEFAULTS = {
  region: "nyc3",
  size: "s-1vcpu-1gb",
  image: DROPLET_IMAGE,
  ipv6: true,
  existingDomain: false,
  matrixSubdomain: "matrix",
  elementSubdomain: "element",
  sshAllowCidrs: ["0.0.0.0/0", "::/0"],
  volumeSizeGb: 20,
  protectVolume: true,
  adminUser: "admin",
  synapseVersion: DEFAULT_SYNAPSE_VERSION,
  elementVersion: DEFAULT_ELEMENT_VERSION,
  maxUploadMb: 50,
  acmeServer: "letsencrypt",
  caaIssuer: "letsencrypt.org",
  registration: "disabled",
  smtpPort: 587,
  backupTime: "03:30",
  backupKeepDaily: 7,
  backupKeepWeekly: 4,
  dropletBackups: "off",
  alerts: true,
  turn: false,
  waitForReady: true,
  readyTimeoutMinutes: 20,
  elementDownloadBase: ELEMENT_DOWNLOAD_BASE,
  elementKeyUrl: ELEMENT_RELEASE_KEY.url,
  elementKeyFingerprint: ELEMENT_RELEASE_KEY.fingerprint,
};

/** Regions with droplets and volumes. */
export const REGIONS = [
  "nyc1", "nyc2", "nyc3", "sfo2", "sfo3", "ams3", "sgp1", "lon1", "fra1", "tor1", "blr1", "syd1", "atl1", "ric1",
];

/** Regions with Spaces (the off-site backup target). */
export const SPACES_REGIONS = ["nyc3", "sfo2", "sfo3", "ams3", "sgp1", "fra1", "syd1", "blr1", "lon1", "tor1", "atl1"];

/**
 * coturn's relay ports: one per allocation (a call participant behind NAT takes one), so 1,024
 * is far beyond what a small server's calls need, and keeps the firewall rule narrow.
 */
export const TURN_RELAY_PORTS = { min: 49152, max: 50175 };
/** The TURN server's name under the domain. */
export const TURN_SUBDOMAIN = "turn";

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

const ACME_DIRECTORIES: Record<string, string> = {
  letsencrypt: "https://acme-v02.api.letsencrypt.org/directory",
  "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
  // Caddy's own CA: for a server nobody outside reaches (local trials, tests).
  internal: "internal",
};

export class SettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`MatrixServer: invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "SettingsError";
  }
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

/** What the component needs besides the renderers' Settings. */
export interface CloudOptions {
  sshKeys: string[];
  sshAllowCidrs: string[];
  existingDomain: boolean;
  protectVolume: boolean;
  projectName?: string;
  waitForReady: boolean;
  readyTimeoutMinutes: number;
  caaIssuer: string;
  dropletBackups: (typeof DROPLET_BACKUP_PLANS)[number];
  alerts: boolean;
  alertEmails: string[];
  /** The Spaces secret key is passed on as a secret when off-site backups are on. */
  offsiteBackups: boolean;
}

export interface Resolved {
  settings: Settings;
  cloud: CloudOptions;
}

/** Validate plain args and fill in defaults. Throws one SettingsError naming every bad key. */
export function resolveArgs(args: PlainArgs): Resolved {
  const problems: string[] = [];
  const bad = (key: string, expected: string, got: unknown) =>
    problems.push(`'${key}': expected ${expected}, got ${JSON.stringify(got)}`);

  const domain = args.domain;
  if (typeof domain !== "string" || !DOMAIN_RE.test(domain)) {
    bad("domain", "a lowercase domain name such as example.org", domain);
  }
  const adminEmail = args.adminEmail;
  if (typeof adminEmail !== "string" || !EMAIL_RE.test(adminEmail)) {
    bad("adminEmail", "an email address such as admin@example.org", adminEmail);
  }
  const sshKeys = args.sshKeys;
  if (!Array.isArray(sshKeys) || sshKeys.length === 0) {
    bad("sshKeys", "at least one DigitalOcean SSH key (fingerprint aa:bb:… or numeric ID)", sshKeys);
  } else {
    for (const key of sshKeys) {
      if (typeof key !== "string" || !SSH_KEY_RE.test(key)) {
        bad("sshKeys", "an SSH key fingerprint (16 hex pairs joined by ':') or a numeric key ID", key);
      }
    }
  }

  const region = args.region ?? DEFAULTS.region;
  if (!REGIONS.includes(region)) bad("region", `one of ${REGIONS.join(", ")}`, region);
  const size = args.size ?? DEFAULTS.size;
  const memoryMb = SIZES[size];
  if (memoryMb === undefined) bad("size", `a droplet size with ≥ 1 GB RAM: ${Object.keys(SIZES).join(", ")}`, size);
  const image = args.image ?? DEFAULTS.image;
  if (image !== DROPLET_IMAGE) bad("image", `${DROPLET_IMAGE} (the payload is written for Debian 13)`, image);

  const matrixSubdomain = args.matrixSubdomain ?? DEFAULTS.matrixSubdomain;
  if (!LABEL_RE.test(matrixSubdomain)) bad("matrixSubdomain", "one DNS label such as matrix", matrixSubdomain);
  const elementSubdomain = args.elementSubdomain ?? DEFAULTS.elementSubdomain;
  if (!LABEL_RE.test(elementSubdomain)) bad("elementSubdomain", "one DNS label such as element", elementSubdomain);
  for (const [key, value] of [["matrixSubdomain", matrixSubdomain], ["elementSubdomain", elementSubdomain]] as const) {
    if (args.turn === true && value === TURN_SUBDOMAIN) bad(key, `another subdomain than ${TURN_SUBDOMAIN} (the TURN server's name)`, value);
  }
  if (matrixSubdomain === elementSubdomain) {
    bad("elementSubdomain", "a different subdomain than matrixSubdomain (Element must not share Synapse's origin)", elementSubdomain);
  }

  const sshAllowCidrs = args.sshAllowCidrs ?? DEFAULTS.sshAllowCidrs;
  if (!Array.isArray(sshAllowCidrs)) bad("sshAllowCidrs", "a list of CIDRs", sshAllowCidrs);
  else for (const cidr of sshAllowCidrs) if (!isCidr(cidr)) bad("sshAllowCidrs", "CIDRs such as 203.0.113.0/24 or 2001:db8::/32", cidr);

  const volumeSizeGb = args.volumeSizeGb ?? DEFAULTS.volumeSizeGb;
  if (!Number.isInteger(volumeSizeGb) || volumeSizeGb < 1 || volumeSizeGb > 16384) {
    bad("volumeSizeGb", "a whole number of GiB from 1 to 16384", volumeSizeGb);
  }

  const adminUser = args.adminUser ?? DEFAULTS.adminUser;
  if (!LOCALPART_RE.test(adminUser)) bad("adminUser", "a Matrix localpart: lowercase a-z, 0-9, . _ = - /", adminUser);

  const synapseVersion = args.synapseVersion ?? DEFAULTS.synapseVersion;
  if (!VERSION_RE.test(synapseVersion)) bad("synapseVersion", "a version like 1.163.2", synapseVersion);
  else if (!(SYNAPSE_VERSIONS as readonly string[]).includes(synapseVersion)) {
    bad("synapseVersion", `a release we ship a lock for: ${SYNAPSE_VERSIONS.join(", ")}`, synapseVersion);
  }
  const elementVersion = args.elementVersion ?? DEFAULTS.elementVersion;
  if (!VERSION_RE.test(elementVersion)) bad("elementVersion", "a version like 1.12.30", elementVersion);

  const maxUploadMb = args.maxUploadMb ?? DEFAULTS.maxUploadMb;
  if (!Number.isInteger(maxUploadMb) || maxUploadMb < 1 || maxUploadMb > 2048) {
    bad("maxUploadMb", "a whole number of MB from 1 to 2048", maxUploadMb);
  }
  if (args.presence !== undefined && typeof args.presence !== "boolean") bad("presence", "true or false", args.presence);

  const acmeServer = args.acmeServer ?? DEFAULTS.acmeServer;
  const acmeDirectory = ACME_DIRECTORIES[acmeServer] ?? (isHttpsUrl(acmeServer) ? acmeServer : undefined);
  if (!acmeDirectory) bad("acmeServer", "letsencrypt, letsencrypt-staging, internal or an https:// ACME directory URL", acmeServer);

  const caaIssuer = args.caaIssuer ?? DEFAULTS.caaIssuer;
  if (!DOMAIN_RE.test(caaIssuer)) bad("caaIssuer", "the CA's domain such as letsencrypt.org", caaIssuer);

  const privateFederationCidrs = args.privateFederationCidrs ?? [];
  for (const cidr of privateFederationCidrs) if (!isCidr(cidr)) bad("privateFederationCidrs", "CIDRs such as 10.10.0.0/16", cidr);

  const extraCaCertificates = args.extraCaCertificates ?? [];
  for (const pem of extraCaCertificates) {
    if (!PEM_RE.test(pem)) bad("extraCaCertificates", "PEM certificates (-----BEGIN CERTIFICATE----- …)", pem.slice(0, 40));
  }
  const elementDownloadBase = (args.elementDownloadBase ?? DEFAULTS.elementDownloadBase).replace(/\/+$/, "");
  if (!isHttpsUrl(elementDownloadBase)) bad("elementDownloadBase", "an https:// URL", elementDownloadBase);
  const elementKeyUrl = args.elementKeyUrl ?? DEFAULTS.elementKeyUrl;
  if (!isHttpsUrl(elementKeyUrl)) bad("elementKeyUrl", "an https:// URL", elementKeyUrl);
  const elementKeyFingerprint = (args.elementKeyFingerprint ?? DEFAULTS.elementKeyFingerprint).replace(/\s+/g, "").toUpperCase();
  if (!FINGERPRINT_RE.test(elementKeyFingerprint)) bad("elementKeyFingerprint", "a 40-hex-digit OpenPGP fingerprint", elementKeyFingerprint);

  if (args.projectName !== undefined && !PROJECT_RE.test(args.projectName)) {
    bad("projectName", "a project name of 1 to 175 characters", args.projectName);
  }
  const readyTimeoutMinutes = args.readyTimeoutMinutes ?? DEFAULTS.readyTimeoutMinutes;
  if (!Number.isInteger(readyTimeoutMinutes) || readyTimeoutMinutes < 1 || readyTimeoutMinutes > 120) {
    bad("readyTimeoutMinutes", "a whole number of minutes from 1 to 120", readyTimeoutMinutes);
  }
  const tags = args.tags ?? [];
  for (const tag of tags) if (!/^[a-zA-Z0-9_\-:]{1,255}$/.test(tag)) bad("tags", "tags of letters, digits, _ - :", tag);

  const registration = args.registration ?? DEFAULTS.registration;
  if (!(REGISTRATION_MODES as readonly string[]).includes(registration)) {
    bad("registration", REGISTRATION_MODES.join(" or "), registration);
  }
  const backups = resolveBackups(args, region, bad);
  const email = resolveEmail(args, bad);
  const retention: Settings["synapse"]["retention"] = {};
  for (const [key, field] of [["localMediaRetentionDays", "localMediaDays"], ["remoteMediaRetentionDays", "remoteMediaDays"],
    ["forgottenRoomRetentionDays", "forgottenRoomDays"]] as const) {
    const days = args[key];
    if (days === undefined) continue;
    if (!Number.isInteger(days) || days < 1 || days > 36500) bad(key, "a whole number of days from 1 to 36500 (leave unset to keep for ever)", days);
    else retention[field] = days;
  }
  const turn = resolveTurn(args, bad);
  const dropletBackups = args.dropletBackups ?? DEFAULTS.dropletBackups;
  if (!(DROPLET_BACKUP_PLANS as readonly string[]).includes(dropletBackups)) {
    bad("dropletBackups", DROPLET_BACKUP_PLANS.join(", "), dropletBackups);
  }
  const alertEmails = args.alertEmails ?? [adminEmail];
  if (args.alertEmails !== undefined) {
    if (!Array.isArray(alertEmails) || alertEmails.length === 0) bad("alertEmails", "at least one email address", alertEmails);
    else for (const email of alertEmails) if (!EMAIL_RE.test(email)) bad("alertEmails", "email addresses", email);
  }

  if (problems.length > 0) throw new SettingsError(problems);

  const base = resourceBaseName(domain);
  const cloud: CloudOptions = {
    sshKeys: [...sshKeys],
    sshAllowCidrs: [...sshAllowCidrs],
    existingDomain: args.existingDomain ?? DEFAULTS.existingDomain,
    protectVolume: args.protectVolume ?? DEFAULTS.protectVolume,
    projectName: args.projectName,
    waitForReady: args.waitForReady ?? DEFAULTS.waitForReady,
    readyTimeoutMinutes,
    caaIssuer,
    dropletBackups: dropletBackups as CloudOptions["dropletBackups"],
    alerts: args.alerts ?? DEFAULTS.alerts,
    alertEmails: [...alertEmails],
    offsiteBackups: backups.offsite !== undefined,
  };
  const settings: Settings = {
    serverName: domain,
    matrixHost: `${matrixSubdomain}.${domain}`,
    elementHost: `${elementSubdomain}.${domain}`,
    adminUser,
    adminEmail,
    droplet: { name: base, region, size, image, memoryMb, swapMb: swapFor(memoryMb), ipv6: args.ipv6 ?? DEFAULTS.ipv6, tags: [...tags] },
    volume: { name: base, sizeGb: volumeSizeGb, device: `/dev/disk/by-id/scsi-0DO_Volume_${base}` },
    synapse: {
      version: synapseVersion,
      presence: args.presence ?? memoryMb >= PRESENCE_MIN_MEMORY_MB,
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
    ...(turn ? { turn: { ...turn, host: `${TURN_SUBDOMAIN}.${domain}` } } : {}),
  };
  return { settings, cloud };
}

/** TURN: on with `turn: true`. */
function resolveTurn(args: PlainArgs, bad: (key: string, expected: string, got: unknown) => void): Omit<TurnSettings, "host"> | undefined {
  if (args.turn !== undefined && typeof args.turn !== "boolean") bad("turn", "true or false", args.turn);
  return (args.turn ?? DEFAULTS.turn) === true ? { relayPorts: { ...TURN_RELAY_PORTS } } : undefined;
}

const HOST_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/** Email through an SMTP relay: on when smtpHost is set; the other smtp keys need it. */
function resolveEmail(args: PlainArgs, bad: (key: string, expected: string, got: unknown) => void): Settings["synapse"]["email"] {
  const host = args.smtpHost;
  if (host === undefined) {
    for (const key of ["smtpUser", "smtpPassword", "emailFrom"] as const) {
      if (args[key] !== undefined) bad(key, "to be set only together with smtpHost (email)", key === "smtpPassword" ? "[secret]" : args[key]);
    }
    return undefined;
  }
  if (!HOST_RE.test(host)) bad("smtpHost", "a host name such as smtp.example.org", host);
  const port = args.smtpPort ?? DEFAULTS.smtpPort;
  if (port === 25) bad("smtpPort", "587 or 465: DigitalOcean blocks port 25", port);
  else if (!Number.isInteger(port) || port < 1 || port > 65535) bad("smtpPort", "a port number such as 587", port);
  const user = args.smtpUser ?? "";
  if (user !== "" && args.smtpPassword === undefined) bad("smtpPassword", "the SMTP password, as a secret: pulumi config set --secret smtpPassword …", undefined);
  const from = args.emailFrom ?? `Matrix <noreply@${args.domain}>`;
  if (!/^([^<>"\n]+ )?<[^\s@<>]+@[^\s@<>]+>$|^[^\s@<>]+@[^\s@<>]+$/.test(from)) bad("emailFrom", "an address like noreply@example.org or Name <noreply@example.org>", from);
  return { host, port, user, from };
}

const TIME_RE = /^([01]\d|2[0-3]):[0-5]\d$/;
const BUCKET_RE = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

/** Backup settings; the off-site copy is on when a bucket is named, and then needs its keys. */
function resolveBackups(args: PlainArgs, region: string, bad: (key: string, expected: string, got: unknown) => void): BackupSettings {
  const time = args.backupTime ?? DEFAULTS.backupTime;
  if (!TIME_RE.test(time)) bad("backupTime", "a UTC time of day as HH:MM, e.g. 03:30", time);
  const keepDaily = args.backupKeepDaily ?? DEFAULTS.backupKeepDaily;
  if (!Number.isInteger(keepDaily) || keepDaily < 1 || keepDaily > 366) bad("backupKeepDaily", "a whole number from 1 to 366", keepDaily);
  const keepWeekly = args.backupKeepWeekly ?? DEFAULTS.backupKeepWeekly;
  if (!Number.isInteger(keepWeekly) || keepWeekly < 0 || keepWeekly > 520) bad("backupKeepWeekly", "a whole number from 0 to 520", keepWeekly);
  const backups: BackupSettings = { time, keepDaily, keepWeekly };

  const bucket = args.spacesBucket;
  const related = { spacesRegion: args.spacesRegion, spacesAccessKeyId: args.spacesAccessKeyId, spacesEndpoint: args.spacesEndpoint, spacesSecretKey: args.spacesSecretKey };
  if (bucket === undefined) {
    for (const [key, value] of Object.entries(related)) {
      if (value !== undefined) bad(key, "to be set only together with spacesBucket (off-site backups)", key === "spacesSecretKey" ? "[secret]" : value);
    }
    return backups;
  }
  if (!BUCKET_RE.test(bucket)) bad("spacesBucket", "a bucket name: 3-63 lowercase letters, digits and dashes", bucket);
  const spacesRegion = args.spacesRegion ?? region;
  let endpoint = args.spacesEndpoint;
  if (endpoint === undefined) {
    if (!SPACES_REGIONS.includes(spacesRegion)) bad("spacesRegion", `a region with Spaces: ${SPACES_REGIONS.join(", ")}`, spacesRegion);
    endpoint = `https://${spacesRegion}.digitaloceanspaces.com`;
  } else if (!isHttpsUrl(endpoint)) {
    bad("spacesEndpoint", "an https:// URL of an S3-compatible service", endpoint);
  }
  const accessKeyId = args.spacesAccessKeyId;
  if (typeof accessKeyId !== "string" || !/^[A-Za-z0-9+/=_-]{8,128}$/.test(accessKeyId)) {
    bad("spacesAccessKeyId", "the access key ID of a Spaces key (set it with spacesBucket)", accessKeyId);
  }
  if (args.spacesSecretKey === undefined) bad("spacesSecretKey", "the Spaces secret key, as a secret: pulumi config set --secret spacesSecretKey …", undefined);
  backups.offsite = { repository: `s3:${endpoint.replace(/\/+$/, "")}/${bucket}/${args.domain}`, accessKeyId: accessKeyId as string };
  return backups;
}
