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

export const PATHS = {
  volume: "/mnt/matrix",
  /** Directories on the volume → where they are bind-mounted. */
  stateBinds: {
    postgresql: "/var/lib/postgresql",
    "postgresql-etc": "/etc/postgresql",
    caddy: "/var/lib/caddy",
    synapse: "/var/lib/synapse",
    backups: "/var/backups/matrix",
    "synapse-venvs": SYNAPSE_VENV_ROOT,
  } as Record<string, string>,

  deployDir: "/etc/matrix",
  deployEnv: "/etc/matrix/deploy.env",
  caddyfile: "/etc/matrix/Caddyfile",
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
  /** Synapse modules of our own (cloud-init/synapse-modules), on Synapse's PYTHONPATH. */
  synapseModules: "/usr/local/lib/matrix/synapse-modules",
  synapseVenvRoot: SYNAPSE_VENV_ROOT,
  /** Downloads kept on the volume (Synapse's wheels, hash-checked on use): a new droplet installs without fetching them again. */
  downloadCache: "/mnt/matrix/cache",
  synapseData: "/var/lib/synapse",
  synapseMedia: "/var/lib/synapse/media",

  elementReleases: ELEMENT_RELEASES,
  elementRoot: `${ELEMENT_RELEASES}/element`,
  elementConfig: "/etc/matrix/element-config.json",

  /** Backups: an encrypted restic repository on the volume, and the scratch space a dump is made in. */
  backupRepository: "/var/backups/matrix/restic",
  backupStaging: "/var/backups/matrix/staging",
  /** Secrets for backups (repository password, off-site keys); root only. */
  backupEnv: "/etc/matrix/backup.env",
  backupPassword: "/etc/matrix/backup-password",

  /** The admin command, its settings, and the password of the account it acts as. */
  matrixctl: "/usr/local/sbin/matrixctl",
  matrixctlConfig: "/etc/matrix/matrixctl.json",
  opsPassword: "/etc/matrix/ops-password",

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
  caddyCertificates: "/var/lib/caddy/.local/share/caddy/certificates",

  /** Bookkeeping of the scripts (change hashes, last bootstrap and backup); on the root disk. */
  stateDir: "/var/lib/matrix-do",
  /** Optional parts that failed and are retried (optional.ts): one file a part, named after its script. */
  optionalPending: "/var/lib/matrix-do/pending",

  readme: "/root/README.txt",
} as const;

/** Loopback port Synapse's client/federation listener binds to. */
export const SYNAPSE_PORT = 8008;
/** Loopback port for Synapse's Prometheus metrics. */
export const SYNAPSE_METRICS_PORT = 9000;
