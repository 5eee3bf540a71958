import * as pulumi from "@pulumi/pulumi";

/**
 * Inputs of the MatrixServer component. Only `domain`, `adminEmail` and `sshKeys` are
 * required; every default is resolved in components/settings.ts.
 *
 * Kept to what Pulumi's component schema can describe (Input types, no unions or functions),
 * so the component can be used from any Pulumi language.
 */
export interface MatrixServerArgs {
  /** The Matrix server name and DNS zone, e.g. `example.org`; users are `@alice:example.org`. */
  domain: pulumi.Input<string>;
  /** Contact for Let's Encrypt and the admin user's notices. */
  adminEmail: pulumi.Input<string>;
  /** DigitalOcean SSH key fingerprints or IDs allowed to log in as root. At least one. */
  sshKeys: pulumi.Input<pulumi.Input<string>[]>;

  /** DigitalOcean region slug. Default `nyc3`. */
  region?: pulumi.Input<string>;
  /** Droplet size slug. Default `s-1vcpu-1gb` (README "Sizing"). */
  size?: pulumi.Input<string>;
  /** Droplet image. Must be Debian 13. Default `debian-13-x64`. */
  image?: pulumi.Input<string>;
  /** Give the droplet an IPv6 address and AAAA records. Default true. */
  ipv6?: boolean;
  /** Tags on the droplet, volume and firewall. */
  tags?: pulumi.Input<pulumi.Input<string>[]>;
  /** Use a domain that already exists in this DigitalOcean account instead of creating it. Default false. */
  existingDomain?: boolean;
  /** Subdomain of the homeserver. Default `matrix`. */
  matrixSubdomain?: pulumi.Input<string>;
  /** Subdomain serving Element Web. Default `element`. */
  elementSubdomain?: pulumi.Input<string>;
  /** CIDRs allowed to reach SSH (port 22). Default: everywhere. */
  sshAllowCidrs?: pulumi.Input<pulumi.Input<string>[]>;
  /** Private key matching one of `sshKeys`; when set, `pulumi up` waits for cloud-init over SSH. Secret. */
  sshPrivateKey?: pulumi.Input<string>;

  /** Data volume size in GiB (it can only grow). Default 20. */
  volumeSizeGb?: pulumi.Input<number>;
  /** Refuse to delete the data volume (`protect`). Default true. */
  protectVolume?: boolean;

  /** Localpart of the admin account. Default `admin`. */
  adminUser?: pulumi.Input<string>;
  /** Synapse release; one we ship a lock for. */
  synapseVersion?: pulumi.Input<string>;
  /** Element Web release, e.g. `1.12.30`. */
  elementVersion?: pulumi.Input<string>;
  /** Share presence (online/offline). Default: on with 4 GB RAM or more, off below. */
  presence?: pulumi.Input<boolean>;
  /** Largest upload in MB, enforced by Synapse and Caddy alike. Default 50. */
  maxUploadMb?: pulumi.Input<number>;
  /** Who may create accounts: `disabled` (default; admins add users) or `token` (anyone with a registration token). */
  registration?: pulumi.Input<string>;

  /** SMTP relay for Synapse's mail (password resets, notifications), e.g. `smtp.sendgrid.net`. Email is off when unset. */
  smtpHost?: pulumi.Input<string>;
  /** Its port: 587 (STARTTLS) or 465 (TLS); DigitalOcean blocks 25. Default 587. */
  smtpPort?: pulumi.Input<number>;
  /** SMTP user name. */
  smtpUser?: pulumi.Input<string>;
  /** SMTP password. Secret. */
  smtpPassword?: pulumi.Input<string>;
  /** Sender of Synapse's mail. Default `Matrix <noreply@<domain>>`. */
  emailFrom?: pulumi.Input<string>;
  /** Delete media uploaded here after this many days. Default: keep for ever. */
  localMediaRetentionDays?: pulumi.Input<number>;
  /** Delete cached media from other servers after this many days unused. Default: keep for ever. */
  remoteMediaRetentionDays?: pulumi.Input<number>;
  /** Purge rooms everyone here has forgotten after this many days. Default: keep for ever. */
  forgottenRoomRetentionDays?: pulumi.Input<number>;

  /** A TURN server (coturn) on the droplet, so voice and video calls work behind NAT. Default false. */
  turn?: boolean;

  /** Time of day (UTC, `HH:MM`) of the nightly backup onto the volume. Default `03:30`. */
  backupTime?: pulumi.Input<string>;
  /** Daily backups kept. Default 7. */
  backupKeepDaily?: pulumi.Input<number>;
  /** Weekly backups kept after the daily ones. Default 4. */
  backupKeepWeekly?: pulumi.Input<number>;
  /** DigitalOcean Spaces bucket that every backup is also copied to (off-site). Off when unset. */
  spacesBucket?: pulumi.Input<string>;
  /** Region of that bucket. Default: the droplet's region. */
  spacesRegion?: pulumi.Input<string>;
  /** Spaces access key ID (with read/write on the bucket). */
  spacesAccessKeyId?: pulumi.Input<string>;
  /** Spaces secret key. Secret. */
  spacesSecretKey?: pulumi.Input<string>;
  /** S3 endpoint of the bucket, for S3-compatible stores other than Spaces. Default `https://<spacesRegion>.digitaloceanspaces.com`. */
  spacesEndpoint?: pulumi.Input<string>;
  /** DigitalOcean's own droplet backups (the root disk only, not the volume): `off` (default), `daily` or `weekly`. */
  dropletBackups?: pulumi.Input<string>;

  /** DigitalOcean alerts (CPU, memory, disk, homeserver down, certificate expiring) by email. Default true. */
  alerts?: boolean;
  /** Where alerts go. Default: `adminEmail`. */
  alertEmails?: pulumi.Input<pulumi.Input<string>[]>;

  /** `letsencrypt` (default), `letsencrypt-staging`, `internal` (Caddy's local CA, for trials), or an https ACME directory URL. */
  acmeServer?: pulumi.Input<string>;
  /** The CA allowed to issue certificates for the domain (the CAA record). Default `letsencrypt.org`. */
  caaIssuer?: pulumi.Input<string>;
  /** Extra CA certificates (PEM) the droplet trusts, e.g. a private ACME CA's root. */
  extraCaCertificates?: pulumi.Input<pulumi.Input<string>[]>;
  /** Private networks (CIDRs) Synapse may reach other servers on; it refuses private addresses otherwise. */
  privateFederationCidrs?: pulumi.Input<pulumi.Input<string>[]>;
  /** Where to fetch Element releases from (a mirror); `<base>/v<version>/element-v<version>.tar.gz`. */
  elementDownloadBase?: pulumi.Input<string>;
  /** URL of the OpenPGP key that signs Element releases. */
  elementKeyUrl?: pulumi.Input<string>;
  /** Fingerprint (40 hex) the Element release key must have. */
  elementKeyFingerprint?: pulumi.Input<string>;

  /** Group the resources in a new DigitalOcean project of this name. */
  projectName?: pulumi.Input<string>;
  /** Wait until the homeserver answers over valid HTTPS before `pulumi up` returns. Default true. */
  waitForReady?: boolean;
  /** How long to wait for that, in minutes. Default 20. */
  readyTimeoutMinutes?: pulumi.Input<number>;
}
