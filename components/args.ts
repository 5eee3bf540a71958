// Written by `npm run settings` from components/settingsTable.ts: change the table, not this file.
import * as pulumi from "@pulumi/pulumi";

/**
 * Inputs of the MatrixServer component; every default is applied in components/settings.ts.
 *
 * Kept to what Pulumi's component schema can describe (Input types, no unions or functions),
 * so the component can be used from any Pulumi language.
 */
export interface MatrixServerArgs {
  /** Matrix server name and DNS zone, e.g. example.org (users are @alice:example.org). Its nameservers must be ns1/ns2/ns3.digitalocean.com. Required. */
  domain: pulumi.Input<string>;
  /** Contact address for Let's Encrypt and the admin account. Required. */
  adminEmail: pulumi.Input<string>;
  /** The deploy key's public half (one line: ssh-ed25519 AAAA…): the stack adds it to your DigitalOcean account and lets it log in as root. Needed unless sshKeys names a key. */
  sshPublicKey?: pulumi.Input<string>;
  /** SSH keys already in your DigitalOcean account (fingerprints aa:bb:… or IDs) that may log in as root, besides sshPublicKey. Default: none. */
  sshKeys?: pulumi.Input<pulumi.Input<string>[]>;
  /** DigitalOcean region slug. Default: `nyc3`. */
  region?: pulumi.Input<string>;
  /** Droplet size slug with at least 1 GB RAM. Default: `s-1vcpu-1gb`. */
  size?: pulumi.Input<string>;
  /** Droplet image; must be debian-13-x64. Default: `debian-13-x64`. */
  image?: pulumi.Input<string>;
  /** Give the droplet IPv6 and publish AAAA records. Default: `true`. */
  ipv6?: boolean;
  /** Tags for the droplet and volume. */
  tags?: pulumi.Input<pulumi.Input<string>[]>;
  /** The domain already exists in this DigitalOcean account; add records to it instead of creating it. Default: `false`. */
  existingDomain?: boolean;
  /** Subdomain of the homeserver. Default: `matrix`. */
  matrixSubdomain?: pulumi.Input<string>;
  /** Subdomain serving Element Web. Default: `element`. */
  elementSubdomain?: pulumi.Input<string>;
  /** CIDRs allowed to reach SSH on port 22. Default: everywhere. */
  sshAllowCidrs?: pulumi.Input<pulumi.Input<string>[]>;
  /** The deploy key's private half, without a passphrase (sshPublicKey's, or that of one of sshKeys): `pulumi up` then applies changes to the running droplet over SSH. Secret. */
  sshPrivateKey?: pulumi.Input<string>;
  /** Where your deploy key (sshPrivateKey) is on your machine: the sshCommand output and the messages name it. Default: `~/.ssh/matrix-deploy`. */
  sshKeyFile?: pulumi.Input<string>;
  /** Size of the data volume in GiB; it can grow, never shrink. Default: `20`. */
  volumeSizeGb?: pulumi.Input<number>;
  /** Protect the data volume, and the secrets its data needs (passwords, signing key, host key), from deletion, `pulumi destroy` included. Default: `true`. */
  protectVolume?: boolean;
  /** Localpart of the admin account. Default: `admin`. */
  adminUser?: pulumi.Input<string>;
  /** Synapse release, one this project ships a lock for. Default: newest shipped. */
  synapseVersion?: pulumi.Input<string>;
  /** Element Web release, e.g. 1.12.30. Default: see `cloud-init/versions.ts`. */
  elementVersion?: pulumi.Input<string>;
  /** Share online/offline presence: auto, true or false. Default: `auto`: on from 4 GB RAM. */
  presence?: pulumi.Input<boolean>;
  /** Largest upload in MB, enforced by Synapse and Caddy. Default: `50`. */
  maxUploadMb?: pulumi.Input<number>;
  /** Who may create accounts: disabled (admins add users with matrixctl) or token (anyone holding a registration token from `matrixctl token add`). Default: `disabled`. */
  registration?: pulumi.Input<string>;
  /** SMTP relay for Synapse's mail (password resets, notifications). Email is off when unset. */
  smtpHost?: pulumi.Input<string>;
  /** Port of the relay, 587 (STARTTLS) or 465 (TLS); DigitalOcean blocks 25. Default: `587`. */
  smtpPort?: pulumi.Input<number>;
  /** SMTP user name. */
  smtpUser?: pulumi.Input<string>;
  /** SMTP password. Secret. */
  smtpPassword?: pulumi.Input<string>;
  /** Sender of Synapse's mail. Default: `Matrix <noreply@<domain>>`. */
  emailFrom?: pulumi.Input<string>;
  /** Delete media uploaded here after this many days. Default: `0`: keep. */
  localMediaRetentionDays?: pulumi.Input<number>;
  /** Delete cached media from other servers unused for this many days. Default: `0`: keep. */
  remoteMediaRetentionDays?: pulumi.Input<number>;
  /** Purge rooms that everyone here has forgotten after this many days. Default: `0`: keep. */
  forgottenRoomRetentionDays?: pulumi.Input<number>;
  /** A TURN server (coturn) for voice and video calls: turn.<domain>, UDP/TCP 3478, TLS 5349, relay ports 49152-50175. Default: `false`. */
  turn?: boolean;
  /** Calls in Element X and Element Call (MatrixRTC): LiveKit and Element's authorization service at rtc.<domain>, media on TCP 7881 and UDP 7882. Default: `true`. */
  matrixRtc?: boolean;
  /** SHA-256 (hex) of the authorization service's binary (lk-jwt-service 0.5.0, linux amd64), if you verified one yourself; unset, the stack takes it on its first deploy and keeps it. Default: taken on the first deploy. */
  rtcAuthServiceSha256?: pulumi.Input<string>;
  /** URL of the authorization service's binary, for a mirror. Default: Element's GitHub release 0.5.0. */
  rtcAuthServiceUrl?: pulumi.Input<string>;
  /** URL of LiveKit's release tarball (livekit-server inside), for a mirror. Default: LiveKit's GitHub release 1.13.5. */
  livekitUrl?: pulumi.Input<string>;
  /** SHA-256 (hex) the LiveKit tarball must have. Default: LiveKit's (pinned). */
  livekitSha256?: pulumi.Input<string>;
  /** Time of day (UTC, HH:MM) of the nightly backup (database, media, signing key) onto the volume. Default: `03:30`. */
  backupTime?: pulumi.Input<string>;
  /** Daily backups kept. Default: `7`. */
  backupKeepDaily?: pulumi.Input<number>;
  /** Weekly backups kept after the daily ones. Default: `4`. */
  backupKeepWeekly?: pulumi.Input<number>;
  /** DigitalOcean Spaces bucket every backup is also copied to (off-site, encrypted). Off when unset. */
  spacesBucket?: pulumi.Input<string>;
  /** Region of the Spaces bucket. Default: the droplet's. */
  spacesRegion?: pulumi.Input<string>;
  /** Access key ID of a Spaces key with read/write access to the bucket. */
  spacesAccessKeyId?: pulumi.Input<string>;
  /** Secret key of spacesAccessKeyId. Secret. */
  spacesSecretKey?: pulumi.Input<string>;
  /** S3 endpoint of another S3-compatible store instead of Spaces. Default: `https://<spacesRegion>.digitaloceanspaces.com`. */
  spacesEndpoint?: pulumi.Input<string>;
  /** DigitalOcean's droplet backups (root disk only; the data volume is covered by the backups above): off, daily or weekly. Default: `off`. */
  dropletBackups?: pulumi.Input<string>;
  /** Email alerts from DigitalOcean (CPU, memory, disk, homeserver down, certificate expiring). Default: `true`. */
  alerts?: boolean;
  /** Where alerts go. Default: `adminEmail`. */
  alertEmails?: pulumi.Input<pulumi.Input<string>[]>;
  /** letsencrypt, letsencrypt-staging, internal (Caddy's local CA, for trials without a public address), or the https URL of an ACME directory. Default: `letsencrypt`. */
  acmeServer?: pulumi.Input<string>;
  /** CA allowed to issue certificates for the domain, published as a CAA record. Default: `letsencrypt.org`. */
  caaIssuer?: pulumi.Input<string>;
  /** Extra CA certificates (PEM) for the droplet, and for the readiness check of `pulumi up`, to trust, e.g. a private ACME server's root. */
  extraCaCertificates?: pulumi.Input<pulumi.Input<string>[]>;
  /** Private networks (CIDRs) Synapse may federate with; Synapse refuses private addresses otherwise. */
  privateFederationCidrs?: pulumi.Input<pulumi.Input<string>[]>;
  /** Base URL of Element Web releases, for a mirror. Default: GitHub releases. */
  elementDownloadBase?: pulumi.Input<string>;
  /** URL of the OpenPGP key that signs Element releases. Default: `https://packages.element.io/element-release-key.asc`. */
  elementKeyUrl?: pulumi.Input<string>;
  /** Fingerprint the Element release key must have. Default: Element's (pinned). */
  elementKeyFingerprint?: pulumi.Input<string>;
  /** Put the resources in a new DigitalOcean project of this name. */
  projectName?: pulumi.Input<string>;
  /** Make `pulumi up` wait until the homeserver answers over valid HTTPS. Default: `true`. */
  waitForReady?: boolean;
  /** How long to wait for that, in minutes. Default: `20`. */
  readyTimeoutMinutes?: pulumi.Input<number>;
}
