/**
 * Every MatrixServer setting, once: its kind, default, description and who uses it.
 *
 * From this table come the argument kinds and defaults the settings check and apply
 * (components/settings.ts), the stack's config reading (components/stackConfig.ts), and, written
 * by `npm run settings`, components/args.ts (the arguments and their docs, from which the schema
 * for other languages is derived), Pulumi.yaml's `config:` block and README's configuration
 * table; test/settingsTable.test.ts fails when one of those differs from what the table gives.
 *
 * Adding a setting: a row here, `npm run settings`, its check and its place in the resolved
 * settings (components/settings.ts, and cloud-init/settings.ts when a renderer reads it), the
 * renderer, and a test.
 */
import {
  DEFAULT_ELEMENT_VERSION, DEFAULT_SYNAPSE_VERSION, DROPLET_IMAGE, ELEMENT_DOWNLOAD_BASE, ELEMENT_RELEASE_KEY,
  LIVEKIT_RELEASE, LIVEKIT_VERSION, RTC_AUTH_RELEASE, RTC_AUTH_VERSION,
} from "../cloud-init/versions";
import { LIVEKIT_TCP_PORT, LIVEKIT_UDP_PORT, TURN_PORT, TURN_RELAY_PORTS, TURN_TLS_PORT } from "../cloud-init/ports";

/**
 * Each argument's kind: the type it must have (checked before its value) and how a stack's config
 * reads it. A secret is a string whose value is never shown and that no file stores in plain
 * text; presence is a boolean a stack's config may also leave at `auto`. A boolean decides which
 * resources exist, so it is a plain value (never an Output); the other kinds accept Outputs.
 */
export type ArgKind = "string" | "integer" | "boolean" | "list" | "secret" | "presence";

export interface SettingSpec {
  kind: ArgKind;
  /** Every stack must set it (Pulumi.yaml declares it without a default). */
  required?: true;
  /** `pulumi new` asks for it (the required settings are asked for too). */
  prompt?: true;
  /** What applies when it is not set; none: the setting's part is off, or derived (readmeDefault). */
  default?: string | number | boolean | readonly string[];
  /** One sentence: the argument's doc comment and Pulumi.yaml's description. */
  description: string;
  /** README's "Default" cell, when the default is not simply the value (e.g. "the droplet's"). */
  readmeDefault?: string;
  /** README's "Meaning" cell, when more is worth saying there than the description. */
  readme?: string;
  /** The modules that read it (renderers in cloud-init/, or the component's). */
  usedBy: readonly string[];
}

export const SETTINGS = {
  domain: {
    kind: "string",
    required: true,
    description: "Matrix server name and DNS zone, e.g. example.org (users are @alice:example.org). Its nameservers must be ns1/ns2/ns3.digitalocean.com.",
    readme: "Matrix server name and DNS zone, e.g. `example.org`. Must be delegated to DigitalOcean's nameservers.",
    usedBy: ["cloud-init/synapse.ts", "cloud-init/caddy.ts", "cloud-init/element.ts", "components/dns.ts"],
  },
  adminEmail: {
    kind: "string",
    required: true,
    description: "Contact address for Let's Encrypt and the admin account.",
    usedBy: ["cloud-init/caddy.ts", "components/monitoring.ts"],
  },
  sshPublicKey: {
    kind: "string",
    prompt: true,
    description: "The deploy key's public half (one line: ssh-ed25519 AAAA…): the stack adds it to your DigitalOcean account and lets it log in as root. Needed unless sshKeys names a key.",
    readme: "The deploy key's public half (`\"$(cat ~/.ssh/matrix-deploy.pub)\"`); the stack adds it to your DigitalOcean account. A key the account has already goes in `sshKeys` instead.",
    usedBy: ["components/matrixServer.ts"],
  },
  sshKeys: {
    kind: "list",
    description: "SSH keys already in your DigitalOcean account (fingerprints aa:bb:… or IDs) that may log in as root, besides sshPublicKey.",
    readme: "Keys already in your DigitalOcean account (fingerprints `aa:bb:…`, or IDs with `--type string`) that may log in as root, besides `sshPublicKey`.",
    readmeDefault: "none",
    usedBy: ["components/matrixServer.ts"],
  },
  region: {
    kind: "string",
    default: "nyc3",
    description: "DigitalOcean region slug.",
    usedBy: ["components/matrixServer.ts"],
  },
  size: {
    kind: "string",
    default: "s-1vcpu-1gb",
    description: "Droplet size slug with at least 1 GB RAM.",
    readme: "Droplet size (≥ 1 GB RAM); see [Sizing](#sizing). Changing it resizes the droplet, with the memory settings that go with the size.",
    usedBy: ["components/matrixServer.ts", "components/tuning.ts"],
  },
  image: {
    kind: "string",
    default: DROPLET_IMAGE,
    description: "Droplet image; must be debian-13-x64.",
    readmeDefault: "`debian-13-x64`",
    usedBy: ["components/matrixServer.ts"],
  },
  ipv6: {
    kind: "boolean",
    default: true,
    description: "Give the droplet IPv6 and publish AAAA records.",
    usedBy: ["components/matrixServer.ts", "components/dns.ts"],
  },
  tags: {
    kind: "list",
    description: "Tags for the droplet and volume.",
    usedBy: ["components/matrixServer.ts"],
  },
  existingDomain: {
    kind: "boolean",
    default: false,
    description: "The domain already exists in this DigitalOcean account; add records to it instead of creating it.",
    usedBy: ["components/dns.ts"],
  },
  matrixSubdomain: {
    kind: "string",
    default: "matrix",
    description: "Subdomain of the homeserver.",
    usedBy: ["components/dns.ts", "cloud-init/caddy.ts"],
  },
  elementSubdomain: {
    kind: "string",
    default: "element",
    description: "Subdomain serving Element Web.",
    usedBy: ["components/dns.ts", "cloud-init/caddy.ts"],
  },
  sshAllowCidrs: {
    kind: "list",
    default: ["0.0.0.0/0", "::/0"],
    description: "CIDRs allowed to reach SSH on port 22.",
    readmeDefault: "everywhere",
    usedBy: ["components/firewall.ts"],
  },
  sshPrivateKey: {
    kind: "secret",
    description: "The deploy key's private half, without a passphrase (sshPublicKey's, or that of one of sshKeys): `pulumi up` then applies changes to the running droplet over SSH.",
    readme: "The deploy key, without a passphrase (`< ~/.ssh/matrix-deploy`): `pulumi up` then applies changes to the running droplet instead of replacing it, and shows the first boot's errors.",
    usedBy: ["components/matrixServer.ts"],
  },
  sshKeyFile: {
    kind: "string",
    default: "~/.ssh/matrix-deploy",
    description: "Where your deploy key (sshPrivateKey) is on your machine: the sshCommand output and the messages name it.",
    readme: "Where your deploy key (`sshPrivateKey`) is on your machine; `sshCommand` and the messages of `pulumi up` use it (`ssh -i <file> root@…`).",
    usedBy: ["components/matrixServer.ts"],
  },
  volumeSizeGb: {
    kind: "integer",
    default: 20,
    description: "Size of the data volume in GiB; it can grow, never shrink.",
    usedBy: ["components/matrixServer.ts"],
  },
  protectVolume: {
    kind: "boolean",
    default: true,
    description: "Protect the data volume, and the secrets its data needs (passwords, signing key, host key), from deletion, `pulumi destroy` included.",
    usedBy: ["components/matrixServer.ts"],
  },
  adminUser: {
    kind: "string",
    default: "admin",
    description: "Localpart of the admin account.",
    usedBy: ["cloud-init/userData.ts"],
  },
  synapseVersion: {
    kind: "string",
    default: DEFAULT_SYNAPSE_VERSION,
    description: "Synapse release, one this project ships a lock for.",
    readmeDefault: "newest shipped",
    readme: "Synapse release; one of those in `cloud-init/versions.ts`.",
    usedBy: ["cloud-init/userData.ts"],
  },
  elementVersion: {
    kind: "string",
    default: DEFAULT_ELEMENT_VERSION,
    description: "Element Web release, e.g. 1.12.30.",
    readmeDefault: "see `cloud-init/versions.ts`",
    usedBy: ["cloud-init/userData.ts"],
  },
  presence: {
    kind: "presence",
    description: "Share online/offline presence: auto, true or false.",
    readmeDefault: "`auto`: on from 4 GB RAM",
    readme: "Share online/offline status (costly on small droplets): `auto`, `true` or `false`.",
    usedBy: ["cloud-init/synapse.ts"],
  },
  maxUploadMb: {
    kind: "integer",
    default: 50,
    description: "Largest upload in MB, enforced by Synapse and Caddy.",
    usedBy: ["cloud-init/synapse.ts", "cloud-init/caddy.ts"],
  },
  registration: {
    kind: "string",
    default: "disabled",
    description: "Who may create accounts: disabled (admins add users with matrixctl) or token (anyone holding a registration token from `matrixctl token add`).",
    readme: "`disabled`: only the admin adds accounts (`matrixctl user add`). `token`: anyone holding a registration token (`matrixctl token add`) may sign up, in Element too.",
    usedBy: ["cloud-init/synapse.ts"],
  },
  smtpHost: {
    kind: "string",
    description: "SMTP relay for Synapse's mail (password resets, notifications). Email is off when unset.",
    usedBy: ["cloud-init/synapse.ts"],
  },
  smtpPort: {
    kind: "integer",
    default: 587,
    description: "Port of the relay, 587 (STARTTLS) or 465 (TLS); DigitalOcean blocks 25.",
    readme: "587 (STARTTLS) or 465 (TLS); TLS is required. DigitalOcean blocks port 25.",
    usedBy: ["cloud-init/synapse.ts"],
  },
  smtpUser: {
    kind: "string",
    description: "SMTP user name.",
    usedBy: ["cloud-init/synapse.ts"],
  },
  smtpPassword: {
    kind: "secret",
    description: "SMTP password.",
    usedBy: ["cloud-init/synapse.ts"],
  },
  emailFrom: {
    kind: "string",
    description: "Sender of Synapse's mail.",
    readmeDefault: "`Matrix <noreply@<domain>>`",
    usedBy: ["cloud-init/synapse.ts"],
  },
  localMediaRetentionDays: {
    kind: "integer",
    description: "Delete media uploaded here after this many days.",
    readmeDefault: "`0`: keep",
    usedBy: ["cloud-init/synapse.ts"],
  },
  remoteMediaRetentionDays: {
    kind: "integer",
    description: "Delete cached media from other servers unused for this many days.",
    readmeDefault: "`0`: keep",
    usedBy: ["cloud-init/synapse.ts"],
  },
  forgottenRoomRetentionDays: {
    kind: "integer",
    description: "Purge rooms that everyone here has forgotten after this many days.",
    readmeDefault: "`0`: keep",
    usedBy: ["cloud-init/synapse.ts"],
  },
  turn: {
    kind: "boolean",
    default: false,
    description: `A TURN server (coturn) for voice and video calls: turn.<domain>, UDP/TCP ${TURN_PORT}, TLS ${TURN_TLS_PORT}, relay ports ${TURN_RELAY_PORTS.min}-${TURN_RELAY_PORTS.max}.`,
    readme: `A TURN server (coturn) so voice and video calls work between people behind NAT: \`turn.<domain>\` (an A record to the droplet's own IPv4), UDP/TCP ${TURN_PORT}, TLS on ${TURN_TLS_PORT} with Caddy's certificate, relay ports ${TURN_RELAY_PORTS.min}–${TURN_RELAY_PORTS.max} (opened only when on). Synapse hands clients 1-hour credentials; private and special addresses are refused as peers.`,
    usedBy: ["cloud-init/turn.ts", "cloud-init/synapse.ts", "components/dns.ts", "components/firewall.ts"],
  },
  matrixRtc: {
    kind: "boolean",
    default: true,
    description: `Calls in Element X and Element Call (MatrixRTC): LiveKit and Element's authorization service at rtc.<domain>, media on TCP ${LIVEKIT_TCP_PORT} and UDP ${LIVEKIT_UDP_PORT}.`,
    readme: `Calls in Element X and Element Call (MatrixRTC): the LiveKit SFU and Element's authorization service at \`rtc.<domain>\`, media on TCP ${LIVEKIT_TCP_PORT} and UDP ${LIVEKIT_UDP_PORT} (opened only when on). \`false\` turns calls off; see [Calls](docs/calls.md#calls-for-your-users).`,
    usedBy: ["cloud-init/matrixRtc.ts", "cloud-init/livekit.ts", "cloud-init/rtcAuth.ts", "components/dns.ts", "components/firewall.ts"],
  },
  rtcAuthServiceSha256: {
    kind: "string",
    description: `SHA-256 (hex) of the authorization service's binary (lk-jwt-service ${RTC_AUTH_VERSION}, linux amd64), if you verified one yourself; unset, the stack takes it on its first deploy and keeps it.`,
    readme: `SHA-256 of \`lk-jwt-service_linux_amd64\` ${RTC_AUTH_VERSION}, which the droplet checks before running it. Unset: the stack takes it on its first deploy and keeps it; see [Calls](docs/calls.md#calls-for-your-users).`,
    readmeDefault: "taken on the first deploy",
    usedBy: ["cloud-init/userData.ts"],
  },
  rtcAuthServiceUrl: {
    kind: "string",
    default: RTC_AUTH_RELEASE.url,
    description: "URL of the authorization service's binary, for a mirror.",
    readmeDefault: `Element's GitHub release ${RTC_AUTH_VERSION}`,
    usedBy: ["cloud-init/userData.ts"],
  },
  livekitUrl: {
    kind: "string",
    default: LIVEKIT_RELEASE.url,
    description: "URL of LiveKit's release tarball (livekit-server inside), for a mirror.",
    readmeDefault: `LiveKit's GitHub release ${LIVEKIT_VERSION}`,
    usedBy: ["cloud-init/userData.ts"],
  },
  livekitSha256: {
    kind: "string",
    default: LIVEKIT_RELEASE.sha256,
    description: "SHA-256 (hex) the LiveKit tarball must have.",
    readmeDefault: "LiveKit's (pinned)",
    usedBy: ["cloud-init/userData.ts"],
  },
  backupTime: {
    kind: "string",
    default: "03:30",
    description: "Time of day (UTC, HH:MM) of the nightly backup (database, media, signing key) onto the volume.",
    usedBy: ["cloud-init/backups.ts"],
  },
  backupKeepDaily: {
    kind: "integer",
    default: 7,
    description: "Daily backups kept.",
    usedBy: ["cloud-init/backups.ts"],
  },
  backupKeepWeekly: {
    kind: "integer",
    default: 4,
    description: "Weekly backups kept after the daily ones.",
    usedBy: ["cloud-init/backups.ts"],
  },
  spacesBucket: {
    kind: "string",
    description: "DigitalOcean Spaces bucket every backup is also copied to (off-site, encrypted). Off when unset.",
    readme: "A Spaces bucket: every backup is also copied there (encrypted). Strongly recommended: the other backups live on the volume.",
    usedBy: ["cloud-init/backups.ts"],
  },
  spacesRegion: {
    kind: "string",
    description: "Region of the Spaces bucket.",
    readmeDefault: "the droplet's",
    usedBy: ["cloud-init/backups.ts"],
  },
  spacesAccessKeyId: {
    kind: "string",
    description: "Access key ID of a Spaces key with read/write access to the bucket.",
    usedBy: ["cloud-init/backups.ts"],
  },
  spacesSecretKey: {
    kind: "secret",
    description: "Secret key of spacesAccessKeyId.",
    readme: "Its secret: `pulumi config set --secret spacesSecretKey …`.",
    usedBy: ["cloud-init/backups.ts"],
  },
  spacesEndpoint: {
    kind: "string",
    description: "S3 endpoint of another S3-compatible store instead of Spaces.",
    readmeDefault: "`https://<spacesRegion>.digitaloceanspaces.com`",
    usedBy: ["cloud-init/backups.ts"],
  },
  dropletBackups: {
    kind: "string",
    default: "off",
    description: "DigitalOcean's droplet backups (root disk only; the data volume is covered by the backups above): off, daily or weekly.",
    readme: "DigitalOcean's own droplet backups, `daily` or `weekly` (extra cost; the root disk only, not the volume).",
    usedBy: ["components/matrixServer.ts"],
  },
  alerts: {
    kind: "boolean",
    default: true,
    description: "Email alerts from DigitalOcean (CPU, memory, disk, homeserver down, certificate expiring).",
    readme: "DigitalOcean alerts by email: CPU or memory above 90 % for 10 min, disk above 85 %, homeserver down for 2 min (uptime check from two regions), certificate expiring within 14 days.",
    usedBy: ["components/monitoring.ts"],
  },
  alertEmails: {
    kind: "list",
    description: "Where alerts go.",
    readmeDefault: "`adminEmail`",
    usedBy: ["components/monitoring.ts"],
  },
  acmeServer: {
    kind: "string",
    default: "letsencrypt",
    description: "letsencrypt, letsencrypt-staging, internal (Caddy's local CA, for trials without a public address), or the https URL of an ACME directory.",
    readme: "`letsencrypt`, `letsencrypt-staging`, `internal` (Caddy's local CA, for trials) or an ACME directory URL.",
    usedBy: ["cloud-init/caddy.ts"],
  },
  caaIssuer: {
    kind: "string",
    default: "letsencrypt.org",
    description: "CA allowed to issue certificates for the domain, published as a CAA record.",
    readme: "CA named in the CAA record (change it with a non-Let's Encrypt `acmeServer`).",
    usedBy: ["components/dns.ts"],
  },
  extraCaCertificates: {
    kind: "list",
    description: "Extra CA certificates (PEM) for the droplet, and for the readiness check of `pulumi up`, to trust, e.g. a private ACME server's root.",
    usedBy: ["cloud-init/userData.ts"],
  },
  privateFederationCidrs: {
    kind: "list",
    description: "Private networks (CIDRs) Synapse may federate with; Synapse refuses private addresses otherwise.",
    readme: "Private networks (CIDRs) Synapse may federate with, e.g. servers on your VPC; Synapse refuses private addresses otherwise.",
    usedBy: ["cloud-init/synapse.ts"],
  },
  elementDownloadBase: {
    kind: "string",
    default: ELEMENT_DOWNLOAD_BASE,
    description: "Base URL of Element Web releases, for a mirror.",
    readmeDefault: "GitHub releases",
    readme: "Mirror of Element releases (`<base>/v<ver>/element-v<ver>.tar.gz`).",
    usedBy: ["cloud-init/userData.ts"],
  },
  elementKeyUrl: {
    kind: "string",
    default: ELEMENT_RELEASE_KEY.url,
    description: "URL of the OpenPGP key that signs Element releases.",
    readmeDefault: "`https://packages.element.io/element-release-key.asc`",
    usedBy: ["cloud-init/userData.ts"],
  },
  elementKeyFingerprint: {
    kind: "string",
    default: ELEMENT_RELEASE_KEY.fingerprint,
    description: "Fingerprint the Element release key must have.",
    readmeDefault: "Element's (pinned)",
    usedBy: ["cloud-init/userData.ts"],
  },
  projectName: {
    kind: "string",
    description: "Put the resources in a new DigitalOcean project of this name.",
    usedBy: ["components/matrixServer.ts"],
  },
  waitForReady: {
    kind: "boolean",
    default: true,
    description: "Make `pulumi up` wait until the homeserver answers over valid HTTPS.",
    usedBy: ["components/matrixServer.ts"],
  },
  readyTimeoutMinutes: {
    kind: "integer",
    default: 20,
    description: "How long to wait for that, in minutes.",
    usedBy: ["components/matrixServer.ts"],
  },
} as const satisfies Record<string, SettingSpec>;

export type SettingKey = keyof typeof SETTINGS;

/**
 * How the settings are grouped (each key in exactly one group): README has the first group's
 * table, docs/configuration.md one section for each of the others, which README links.
 */
export const SETTING_GROUPS: readonly { title: string; keys: readonly SettingKey[] }[] = [
  { title: "Basics", keys: ["domain", "adminEmail", "sshPublicKey", "sshPrivateKey", "sshKeys", "region", "size", "volumeSizeGb", "protectVolume", "registration", "maxUploadMb"] },
  { title: "Domain, DNS and certificates", keys: ["existingDomain", "matrixSubdomain", "elementSubdomain", "ipv6", "acmeServer", "caaIssuer"] },
  { title: "Email", keys: ["smtpHost", "smtpPort", "smtpUser", "smtpPassword", "emailFrom"] },
  { title: "Backups", keys: ["backupTime", "backupKeepDaily", "backupKeepWeekly", "spacesBucket", "spacesRegion", "spacesAccessKeyId", "spacesSecretKey", "spacesEndpoint", "dropletBackups"] },
  { title: "Calls", keys: ["matrixRtc", "turn", "rtcAuthServiceSha256"] },
  { title: "Monitoring", keys: ["alerts", "alertEmails"] },
  {
    title: "Advanced",
    keys: [
      "sshKeyFile", "sshAllowCidrs", "adminUser", "image", "tags", "projectName", "synapseVersion", "elementVersion", "presence", "localMediaRetentionDays", "remoteMediaRetentionDays",
      "forgottenRoomRetentionDays", "rtcAuthServiceUrl", "livekitUrl", "livekitSha256", "extraCaCertificates", "privateFederationCidrs",
      "elementDownloadBase", "elementKeyUrl", "elementKeyFingerprint", "waitForReady", "readyTimeoutMinutes",
    ],
  },
];

/** The keys that have a default, with its type. */
type Defaulted = { [K in SettingKey as (typeof SETTINGS)[K] extends { default: unknown } ? K : never]: Widen<(typeof SETTINGS)[K] extends { default: infer D } ? D : never> };
type Widen<T> = T extends string ? string : T extends number ? number : T extends boolean ? boolean : T extends readonly string[] ? string[] : T;

/** Every default, by key. */
export const DEFAULTS = Object.fromEntries(
  Object.entries(SETTINGS as Record<string, SettingSpec>).filter(([, spec]) => spec.default !== undefined).map(([key, spec]) => [key, spec.default]),
) as Defaulted;

/** Every argument's kind, by key. */
export const ARG_KINDS = Object.fromEntries(Object.entries(SETTINGS).map(([key, spec]) => [key, spec.kind])) as Record<SettingKey, ArgKind>;
