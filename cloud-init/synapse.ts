/**
 * Synapse: its configuration (conf.d fragments, read in name order), logging, signing key,
 * hash-pinned requirements and systemd unit.
 *
 * Secrets live in their own fragment (readable by root and the synapse group only), so the
 * main fragment can be shown and diffed freely.
 */
import * as YAML from "yaml";
import * as fs from "fs";
import * as path from "path";
import { asset } from "./assets";
import { synapseMatrixRtcConfig } from "./matrixRtc";
import { GENERATED, RenderedFile, renderTmpfiles, renderUnit } from "./formats";
import { sandbox } from "./sandbox";
import { PATHS, unitFile } from "./paths";
import { TURN_CREDENTIAL_SECONDS, TURN_PORT, TURN_TLS_PORT } from "./ports";
import { CADDY_GROUP } from "./caddy";
import { POSTGRES_SERVICE, SYNAPSE_DB } from "./postgres";
import { Secrets, Settings } from "./settings";
import { readSynapseLock } from "./versions";
import { WorkerSite, mainReplicationListener, mainWorkerConfig, workerPool } from "./synapseWorkers";
import { Topology } from "./topology";

/**
 * Where Synapse finds its files, sockets and database. The droplet uses DROPLET_SYNAPSE_SITE;
 * the test suite runs the same config on a test machine with its own paths.
 */
export interface SynapseSite {
  media: string;
  signingKey: string;
  logConfig: string;
  /** Caddy's: clients and federation. */
  clientSocket: string;
  /** Root's: the admin API and matrixctl's token. */
  adminSocket: string;
  metricsSocket: string;
  dbHost: string;
  dbPort: number;
}

export const DROPLET_SYNAPSE_SITE: SynapseSite = {
  media: PATHS.synapseMedia,
  signingKey: PATHS.synapseSigningKey,
  logConfig: PATHS.synapseLogConfig,
  clientSocket: PATHS.synapseClientSocket,
  adminSocket: PATHS.synapseAdminSocket,
  metricsSocket: PATHS.synapseMetricsSocket,
  dbHost: SYNAPSE_DB.host,
  dbPort: SYNAPSE_DB.port,
};

/** The admin account matrixctl acts as: no password; its tokens come from the admin socket alone. */
export const OPS_USER = "matrixctl";
/** Where the admin socket hands out matrixctl's tokens (synapse-modules/matrixctl_token.py). */
export const MATRIXCTL_TOKEN_PATH = "/_matrixctl/token";

/** Our own Synapse modules: shipped in cloud-init/synapse-modules, installed in PATHS.synapseModules. */
export const SYNAPSE_MODULES_SOURCE_DIR = asset("cloud-init", "synapse-modules");
const SYNAPSE_MODULE_FILES = ["matrixctl_token.py"];

/** Socket modes: Caddy's group may open the client socket; the others are root's (Synapse's own account aside). */
const GROUP_SOCKET = 0o660;
const OWNER_SOCKET = 0o600;

/**
 * Unix sockets only: a loopback port is open to every local account. Caddy sets
 * X-Forwarded-For (and does not trust one a client sends), so Synapse sees clients' addresses;
 * on the admin and metrics sockets nothing is forwarded.
 */
function listeners(settings: Settings, site: SynapseSite): Record<string, unknown>[] {
  return [
    {
      path: site.clientSocket, mode: GROUP_SOCKET, type: "http", x_forwarded: true,
      resources: [{ names: ["client", "federation"], compress: false }],
    },
    {
      path: site.adminSocket, mode: OWNER_SOCKET, type: "http", x_forwarded: false,
      resources: [{ names: ["client"], compress: false }],
      // Served on this listener only.
      additional_resources: {
        [MATRIXCTL_TOKEN_PATH]: { module: "matrixctl_token.MatrixctlToken", config: { user: `@${OPS_USER}:${settings.serverName}` } },
      },
    },
    { path: site.metricsSocket, mode: OWNER_SOCKET, type: "http", x_forwarded: false, resources: [{ names: ["metrics"], compress: false }] },
  ];
}

/** Synapse's workers, when it has them: the plan of its processes and where their sockets and Redis are. */
export interface SynapseWorkers {
  topology: Topology;
  site: WorkerSite;
}

export function synapseConfig(settings: Settings, site: SynapseSite = DROPLET_SYNAPSE_SITE, workers?: SynapseWorkers): Record<string, unknown> {
  return {
    server_name: settings.serverName,
    public_baseurl: `https://${settings.matrixHost}/`,
    web_client_location: `https://${settings.elementHost}/`,
    admin_contact: `mailto:${settings.adminEmail}`,
    report_stats: false,
    listeners: [...listeners(settings, site), ...(workers ? mainReplicationListener(workers.topology, workers.site) : [])],
    enable_metrics: true,
    log_config: site.logConfig,
    media_store_path: site.media,
    signing_key_path: site.signingKey,
    max_upload_size: `${settings.synapse.maxUploadMb}M`,
    // Accounts come from the admin (matrixctl), or from sign-ups holding a registration token.
    enable_registration: settings.synapse.registration === "token",
    ...(settings.synapse.registration === "token" ? { registration_requires_token: true } : {}),
    allow_guest_access: false,
    url_preview_enabled: false,
    presence: { enabled: settings.synapse.presence },
    ...tuningConfig(settings),
    ...RATE_LIMITS,
    // A user's name and avatar only to signed-in users: nobody probes accounts from outside.
    require_auth_for_profile_requests: true,
    // Caddy serves /.well-known/matrix/*; Synapse need not.
    serve_server_wellknown: false,
    trusted_key_servers: [{ server_name: "matrix.org" }],
    ...(settings.synapse.email ? { email: emailBlock(settings) } : {}),
    ...retentionConfig(settings),
    ...turnConfig(settings),
    ...synapseMatrixRtcConfig(settings),
    // Synapse refuses private addresses for outgoing requests (SSRF); these are let through.
    ...(settings.synapse.privateFederationCidrs.length > 0 ? { ip_range_whitelist: settings.synapse.privateFederationCidrs } : {}),
    suppress_key_server_warning: true,
    ...(workers ? mainWorkerConfig(workers.topology, workers.site) : {}),
  };
}

/**
 * Rate limits for a small community, where many people often share one address (an office, a
 * school, a family behind NAT): Synapse's per-address defaults (5 logins, then one every 5
 * minutes) lock everyone there out after one person's typos. Per address they are loose; per
 * account, and above all per failed password, strict, which is what stops guessing.
 */
export const RATE_LIMITS = {
  rc_login: {
    address: { per_second: 1, burst_count: 100 },
    account: { per_second: 0.05, burst_count: 10 },
    // Five wrong passwords, then one try every 5 minutes, whatever the address.
    failed_attempts: { per_second: 0.003, burst_count: 5 },
  },
  // Per user: a burst of 30 (pasting, forwarding), then one a second; Synapse's 10 and 0.2/s
  // refuse ordinary chatting.
  rc_message: { per_second: 1, burst_count: 30 },
  // Sign-ups with a token, often a whole group at once from one address.
  rc_registration: { per_second: 0.5, burst_count: 50 },
  rc_registration_token_validity: { per_second: 0.5, burst_count: 50 },
};

/** Memory settings for the droplet's size (components/tuning.ts); none at all is Synapse's stock behaviour. */
function tuningConfig(settings: Settings): Record<string, unknown> {
  const { synapseCaches: caches, remoteRoomComplexity } = settings.tuning;
  return {
    ...(caches ? {
      caches: {
        global_factor: caches.globalFactor,
        ...(caches.autotuning ? {
          cache_autotuning: {
            max_cache_memory_usage: `${caches.autotuning.maxMemoryMb}M`,
            target_cache_memory_usage: `${caches.autotuning.targetMemoryMb}M`,
            min_cache_ttl: caches.autotuning.minTtl,
          },
        } : {}),
      },
    } : {}),
    ...(remoteRoomComplexity !== undefined ? { limit_remote_rooms: { enabled: true, complexity: remoteRoomComplexity } } : {}),
  };
}

/** Mail through the relay, TLS required (STARTTLS on 587, implicit TLS on 465). The password is in the secrets fragment. */
function emailBlock(settings: Settings): Record<string, unknown> {
  const email = settings.synapse.email!;
  return {
    smtp_host: email.host,
    smtp_port: email.port,
    ...(email.user ? { smtp_user: email.user } : {}),
    force_tls: email.port === 465,
    require_transport_security: true,
    notif_from: email.from,
    app_name: "Matrix",
    enable_notifs: true,
    client_base_url: `https://${settings.elementHost}`,
  };
}

/** Clients get TURN credentials from Synapse (the shared secret is in the secrets fragment). */
function turnConfig(settings: Settings): Record<string, unknown> {
  const turn = settings.turn;
  if (!turn) return {};
  return {
    turn_uris: [
      `turn:${turn.host}:${TURN_PORT}?transport=udp`,
      `turn:${turn.host}:${TURN_PORT}?transport=tcp`,
      `turns:${turn.host}:${TURN_TLS_PORT}?transport=tcp`,
    ],
    turn_user_lifetime: `${TURN_CREDENTIAL_SECONDS}s`,
    turn_allow_guests: false,
  };
}

function retentionConfig(settings: Settings): Record<string, unknown> {
  const r = settings.synapse.retention;
  const media = {
    ...(r.localMediaDays ? { local_media_lifetime: `${r.localMediaDays}d` } : {}),
    ...(r.remoteMediaDays ? { remote_media_lifetime: `${r.remoteMediaDays}d` } : {}),
  };
  return {
    ...(Object.keys(media).length > 0 ? { media_retention: media } : {}),
    ...(r.forgottenRoomDays ? { forgotten_room_retention_period: `${r.forgottenRoomDays}d` } : {}),
  };
}

export function synapseSecretsConfig(settings: Settings, secrets: Secrets, site: SynapseSite = DROPLET_SYNAPSE_SITE, workers?: SynapseWorkers): Record<string, unknown> {
  return {
    // Synapse merges its config files key by key at the top level: this email block, with the
    // password, replaces the main fragment's.
    ...(settings.synapse.email?.user ? { email: { ...emailBlock(settings), smtp_pass: secrets.smtpPassword } } : {}),
    ...(settings.turn ? { turn_shared_secret: secrets.turnSharedSecret } : {}),
    macaroon_secret_key: secrets.macaroonSecretKey,
    form_secret: secrets.formSecret,
    database: {
      name: "psycopg2",
      args: {
        user: SYNAPSE_DB.user,
        password: secrets.postgresPassword,
        dbname: SYNAPSE_DB.name,
        host: site.dbHost,
        port: site.dbPort,
        // Loopback only: TLS would cost CPU and memory and protect nothing.
        sslmode: "disable",
        ...(settings.tuning.databasePool ? { cp_min: settings.tuning.databasePool.min, cp_max: settings.tuning.databasePool.max } : {}),
        // With workers, every process's pool is its share of the database's connections.
        ...(workers && workers.topology.processes.length > 1 ? workerPool(workers.topology) : {}),
        keepalives_idle: 10,
        keepalives_interval: 10,
        keepalives_count: 3,
      },
    },
  };
}

/** Python logging config: to stdout, so journald keeps it (`journalctl -u matrix-synapse`). */
export function synapseLogConfig(): Record<string, unknown> {
  return {
    version: 1,
    formatters: { journal: { format: "%(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s" } },
    filters: { context: { "()": "synapse.logging.context.LoggingContextFilter", request: "" } },
    handlers: {
      console: { class: "logging.StreamHandler", formatter: "journal", filters: ["context"], stream: "ext://sys.stdout" },
    },
    loggers: { "synapse.storage.SQL": { level: "WARNING" } },
    root: { level: "INFO", handlers: ["console"] },
    disable_existing_loggers: false,
  };
}

export function renderYaml(value: unknown, header?: string): string {
  const body = YAML.stringify(value, { lineWidth: 0 });
  return header ? `# ${header}\n${body}` : body;
}

/**
 * The signing key file line Synapse reads: `ed25519 a_<id> <unpadded base64 of a 32-byte seed>`.
 * The seed comes from Pulumi's RandomBytes (a CSPRNG), so the server keeps its identity across
 * droplet rebuilds.
 */
export function formatSigningKey(keyId: string, seedBase64: string): string {
  if (!/^[A-Za-z0-9]{4}$/.test(keyId)) throw new Error("signing key id must be 4 letters or digits");
  const seed = Buffer.from(seedBase64, "base64");
  if (seed.length !== 32) throw new Error(`signing key seed must be 32 bytes, got ${seed.length}`);
  return `ed25519 a_${keyId} ${seed.toString("base64").replace(/=+$/, "")}`;
}

export const SYNAPSE_SERVICE = "matrix-synapse";
/** Debian's libjemalloc2. */
export const JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";

export function renderSynapseUnit(settings: Settings): string {
  return renderUnit({
    Unit: {
      Description: "Synapse Matrix homeserver",
      After: ["network-online.target", `${POSTGRES_SERVICE}.service`],
      Wants: ["network-online.target", `${POSTGRES_SERVICE}.service`],
      RequiresMountsFor: PATHS.synapseData,
      // Its sockets' directory (synapseTmpfiles); made at boot, before any service starts.
      ConditionPathIsDirectory: PATHS.synapseSocketDir,
    },
    Service: {
      Type: "notify",
      NotifyAccess: "main",
      User: "synapse",
      Group: "synapse",
      WorkingDirectory: PATHS.synapseData,
      // jemalloc returns freed memory to the OS; glibc malloc makes Synapse grow without bound.
      Environment: [
        ...(settings.tuning.jemalloc ? [`LD_PRELOAD=${JEMALLOC}`] : []),
        ...(settings.tuning.jemalloc && settings.tuning.jemallocConf ? [`MALLOC_CONF=${settings.tuning.jemallocConf}`] : []),
        "PYTHONDONTWRITEBYTECODE=1",
        `PYTHONPATH=${PATHS.synapseModules}`,
      ],
      ExecStart: `${PATHS.synapseCurrentVenv}/bin/python -m synapse.app.homeserver --config-path=${PATHS.synapseConfD}`,
      ExecReload: "/bin/kill -HUP $MAINPID",
      Restart: "always",
      RestartSec: "3",
      TimeoutStartSec: "300",
      SyslogIdentifier: "synapse",
      // pyOpenSSL's callbacks (cffi) are code written to memory at run time.
      ...sandbox({ writable: [PATHS.synapseData, PATHS.synapseSocketDir], writesExecutableMemory: true }),
    },
    Install: { WantedBy: "multi-user.target" },
  });
}

export function synapseFiles(settings: Settings, secrets: Secrets): RenderedFile[] {
  const generated = "Written by matrix-do on every boot; change the Pulumi config, not this file.";
  return [
    { path: `${PATHS.synapseConfD}/00-homeserver.yaml`, content: renderYaml(synapseConfig(settings), generated), permissions: "0644" },
    {
      path: `${PATHS.synapseConfD}/10-secrets.yaml`,
      content: renderYaml(synapseSecretsConfig(settings, secrets), generated),
      permissions: "0640",
      group: "synapse",
    },
    { path: PATHS.synapseLogConfig, content: renderYaml(synapseLogConfig(), generated), permissions: "0644" },
    { path: PATHS.synapseSigningKey, content: `${secrets.signingKey}\n`, permissions: "0640", group: "synapse" },
    { path: PATHS.synapseRequirements, content: readSynapseLock(settings.synapse.version), permissions: "0644" },
    { path: PATHS.synapseAdminPassword, content: secrets.adminPassword, permissions: "0600" },
    { path: unitFile(`${SYNAPSE_SERVICE}.service`), content: renderSynapseUnit(settings), permissions: "0644" },
    {
      // Setgid, Caddy's group: the sockets Synapse makes in it are Caddy's group's (paths.ts).
      path: PATHS.synapseTmpfiles,
      content: `# ${GENERATED}\n${renderTmpfiles([{ type: "d", path: PATHS.synapseSocketDir, mode: "2750", user: "synapse", group: CADDY_GROUP }])}`,
      permissions: "0644",
    },
    ...SYNAPSE_MODULE_FILES.map((name) => ({
      path: `${PATHS.synapseModules}/${name}`,
      content: fs.readFileSync(path.join(SYNAPSE_MODULES_SOURCE_DIR, name), "utf8"),
      permissions: "0644",
    })),
  ];
}
