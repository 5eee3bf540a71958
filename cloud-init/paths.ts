/**
 * Where things live on the droplet. State lives on the volume (mounted at `volume`) and is
 * bind-mounted to the paths Debian's packages expect, so the packages work unmodified and a
 * new droplet picks the data up again. Everything under /etc, /opt and /usr is re-rendered
 * from Pulumi on every droplet.
 */
/** Synapse's virtualenvs, one a release; on the volume, so a new droplet of the same release installs nothing. */
const SYNAPSE_VENV_ROOT = "/opt/synapse";
/** Element Web's releases, one a directory, and the link to the one served. */
const ELEMENT_RELEASES = "/var/www";
/** Caddy's runtime directory, which holds its admin socket. */
const CADDY_RUNTIME_DIR = "/run/caddy";
/** Where the volume is mounted. */
const VOLUME = "/mnt/matrix";
/** Where Debian's packages keep their state (bind-mounted from the volume), and our backups. */
const POSTGRES_DATA = "/var/lib/postgresql";
const POSTGRES_CONFIG = "/etc/postgresql";
const CADDY_DATA = "/var/lib/caddy";
const SYNAPSE_DATA = "/var/lib/synapse";
const BACKUPS = "/var/backups/matrix";
/** Where Synapse's sockets live (tmpfs: made anew at every boot). */
const SYNAPSE_SOCKET_DIR = "/run/synapse";
/** The scripts' bookkeeping; on the root disk. */
const STATE_DIR = "/var/lib/matrix-do";

export const PATHS = {
  volume: VOLUME,
  /** Directories on the volume → where they are bind-mounted. */
  stateBinds: {
    postgresql: POSTGRES_DATA,
    "postgresql-etc": POSTGRES_CONFIG,
    caddy: CADDY_DATA,
    synapse: SYNAPSE_DATA,
    backups: BACKUPS,
    "synapse-venvs": SYNAPSE_VENV_ROOT,
  } as Record<string, string>,
  postgresData: POSTGRES_DATA,
  postgresConfig: POSTGRES_CONFIG,
  caddyData: CADDY_DATA,
  backups: BACKUPS,

  deployDir: "/etc/matrix",
  deployEnv: "/etc/matrix/deploy.env",
  caddyfile: "/etc/matrix/Caddyfile",
  /** Caddy's config for its first start, and the runtime drop-in that starts it with it (start-caddy.sh). */
  caddyfileFirstStart: "/etc/matrix/Caddyfile.first-start",
  caddyFirstStartDropIn: "/etc/matrix/caddy-first-start.conf",
  postgresTuning: "/etc/matrix/postgresql.conf",
  /** On the root disk: swap is the droplet's, not the data's. */
  swapFile: "/swapfile",
  postgresSetupSql: "/etc/matrix/postgres-setup.sql",
  scriptsDir: "/usr/local/lib/matrix",
  /** The files nothing reads before the bootstrap, in one gzipped document (userData.ts), unpacked by apply-config.py. */
  filesBundle: "/usr/local/lib/matrix/files.json",
  extraCaDir: "/usr/local/share/ca-certificates/matrix",

  synapseConfigDir: "/etc/synapse",
  synapseConfD: "/etc/synapse/conf.d",
  synapseLogConfig: "/etc/synapse/log.yaml",
  synapseSigningKey: "/etc/synapse/signing.key",
  synapseRequirements: "/etc/synapse/requirements.txt",
  synapseAdminPassword: "/etc/synapse/admin-password",
  /**
   * Synapse listens on Unix sockets, not on loopback ports any local account could reach. The
   * directory is Caddy's group's (setgid), so the client socket (mode 0660) is Caddy's to open;
   * the admin and metrics sockets (0600) are root's alone. Made at boot (synapseTmpfiles).
   */
  synapseSocketDir: SYNAPSE_SOCKET_DIR,
  /** Clients and federation, through Caddy (which passes the client's address). */
  synapseClientSocket: `${SYNAPSE_SOCKET_DIR}/client.sock`,
  /** The admin API (matrixctl, the scripts) and matrixctl's token (synapse-modules/matrixctl_token.py). */
  synapseAdminSocket: `${SYNAPSE_SOCKET_DIR}/admin.sock`,
  /** Prometheus metrics. */
  synapseMetricsSocket: `${SYNAPSE_SOCKET_DIR}/metrics.sock`,
  synapseTmpfiles: "/etc/tmpfiles.d/matrix-synapse.conf",
  /** Synapse modules of our own (cloud-init/synapse-modules), on Synapse's PYTHONPATH. */
  synapseModules: "/usr/local/lib/matrix/synapse-modules",
  synapseVenvRoot: SYNAPSE_VENV_ROOT,
  /** The link to the release's virtualenv that runs. */
  synapseCurrentVenv: `${SYNAPSE_VENV_ROOT}/current`,
  /** Downloads kept on the volume (Synapse's wheels, hash-checked on use): a new droplet installs without fetching them again. */
  downloadCache: `${VOLUME}/cache`,
  synapseData: SYNAPSE_DATA,
  synapseMedia: `${SYNAPSE_DATA}/media`,

  elementReleases: ELEMENT_RELEASES,
  elementRoot: `${ELEMENT_RELEASES}/element`,
  elementConfig: "/etc/matrix/element-config.json",

  /** Backups: an encrypted restic repository on the volume, and the scratch space a dump is made in. */
  backupRepository: `${BACKUPS}/restic`,
  backupStaging: `${BACKUPS}/staging`,
  /** Secrets for backups (repository password, off-site keys); root only. */
  backupEnv: "/etc/matrix/backup.env",
  backupPassword: "/etc/matrix/backup-password",

  /** The admin command and its settings. */
  matrixctl: "/usr/local/sbin/matrixctl",
  matrixctlConfig: "/etc/matrix/matrixctl.json",

  /** MatrixRTC: the downloaded binaries (one file per checksum, and a link to the one in use), configs and secrets. */
  rtcBinDir: "/usr/local/lib/matrix-rtc",
  livekitConfig: "/etc/matrix/livekit.yaml",
  livekitKeys: "/etc/matrix/rtc/livekit-keys.yaml",
  livekitSecret: "/etc/matrix/rtc/livekit-secret",
  /** The authorization service's /etc/hosts: this server's own names on loopback. */
  rtcAuthHosts: "/etc/matrix/rtc/hosts",
  /** coturn's shared secret, for LiveKit (TURN on): it hands clients credentials for coturn. */
  livekitTurnSecret: "/etc/matrix/rtc/turn-secret",
  /** NODE_IP: the droplet's own IPv4, found at boot, which LiveKit gives clients for media. */
  rtcAddressEnv: "/etc/matrix/rtc-address.env",
  /** TURN (coturn): its config, the droplet address it binds to, and a copy of Caddy's certificate it may read. */
  turnConfig: "/etc/matrix/turnserver.conf",
  turnAddressEnv: "/etc/matrix/turn-address.env",
  turnCertificate: "/etc/matrix/turn/fullchain.pem",
  turnKey: "/etc/matrix/turn/privkey.pem",
  /**
   * Caddy's admin endpoint, which can replace its whole config: a unix socket in a directory
   * only Caddy's account (and root) may enter, instead of TCP 127.0.0.1:2019, open to every
   * local account.
   */
  caddyRuntimeDir: CADDY_RUNTIME_DIR,
  caddyAdminSocket: `${CADDY_RUNTIME_DIR}/admin.sock`,
  /** Where Caddy (HOME=/var/lib/caddy) keeps the certificates it obtains. */
  caddyCertificates: `${CADDY_DATA}/.local/share/caddy/certificates`,
  /** The root of Caddy's own CA (acmeServer: internal). */
  caddyLocalCaRoot: `${CADDY_DATA}/.local/share/caddy/pki/authorities/local/root.crt`,
  /** Where Caddy keeps its ACME accounts (one directory per CA). */
  caddyAcmeAccounts: `${CADDY_DATA}/.local/share/caddy/acme`,

  /** Bookkeeping of the scripts (change hashes, last bootstrap and backup); on the root disk. */
  stateDir: STATE_DIR,
  /** Optional parts that failed and are retried (optional.ts): one file a part, named after its script. */
  optionalPending: `${STATE_DIR}/pending`,
  /** When the bootstrap last finished, and the last backup (UTC, ISO 8601). */
  bootstrapDone: `${STATE_DIR}/bootstrap.done`,
  lastBackupFile: `${STATE_DIR}/backup.done`,

  /** Our units, and our drop-ins on packages' units (unitFile, dropInFile). */
  systemdDir: "/etc/systemd/system",

  readme: "/root/README.txt",

  /**
   * What older versions wrote and nothing uses now; the bootstrap removes them. matrixctl's
   * account had a password, Synapse a module that limited its logins, and create-admin.sh a
   * helper for shared-secret registration.
   */
  retiredFiles: [
    "/etc/matrix/ops-password",
    "/usr/local/lib/matrix/register-account.py",
    "/usr/local/lib/matrix/synapse-modules/loopback_only_logins.py",
  ],
} as const;

/** A unit file of ours. */
export function unitFile(unit: string): string {
  return `${PATHS.systemdDir}/${unit}`;
}

/** Our drop-in for a service, ours or a package's (`postgresql@` for a template's instances). */
export function dropInFile(service: string): string {
  return `${PATHS.systemdDir}/${service}.service.d/50-matrix-do.conf`;
}
