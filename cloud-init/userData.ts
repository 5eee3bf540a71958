/**
 * The cloud-init payload: settings + secrets → one `#cloud-config` document.
 *
 * cloud-init installs the packages and writes every rendered file; then runs
 * scripts/bootstrap.sh, which mounts the volume and brings the services up in order.
 */
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import * as YAML from "yaml";
import { asset } from "./assets";
import { backupEnv, backupFiles } from "./backups";
import { CADDY_FIRST_START_RUNTIME_DROP_IN, CADDY_SERVICE, caddyFirstStartFiles, caddyRunCommand, renderCaddyfile } from "./caddy";
import { OPTIONAL_SERVICE, optionalFiles } from "./optional";
import { renderElementConfig } from "./element";
import { GENERATED, RenderedFile, renderEnvFile, renderUnit } from "./formats";
import { matrixctlFiles } from "./matrixctl";
import { sandbox } from "./sandbox";
import { PATHS, dropInFile, unitFile } from "./paths";
import { TURN_PORT, TURN_TLS_PORT } from "./ports";
import {
  POSTGRES_CLUSTER, POSTGRES_CLUSTER_CONFIG, POSTGRES_CLUSTER_DATA, POSTGRES_CLUSTER_SERVICE, POSTGRES_SERVICE, SYNAPSE_DB,
  renderPostgresSetupSql, renderPostgresTuning,
} from "./postgres";
import { renderRootReadme } from "./readme";
import { Secrets, Settings } from "./settings";
import { SWAP_SERVICE, swapFiles } from "./swap";
import { OPS_USER, SYNAPSE_SERVICE, synapseFiles } from "./synapse";
import { TURN_CERTIFICATE_SERVICE, TURN_SERVICE, turnFiles } from "./turn";
import { matrixRtcFiles } from "./matrixRtc";
import { LIVEKIT_SERVICE } from "./livekit";
import { RTC_AUTH_SERVICE } from "./rtcAuth";
import { debianPackages, POSTGRESQL_MAJOR } from "./versions";

/** DigitalOcean rejects user_data larger than this. */
export const USER_DATA_LIMIT_BYTES = 64 * 1024;

export const SCRIPTS_SOURCE_DIR = asset("cloud-init", "scripts");
export const SCRIPT_FILES = [
  "lib.sh",
  "bootstrap.sh",
  "metadata-guard.sh",
  "metadata-guard.nft",
  "mount-volume.sh",
  "setup-swap.sh",
  "setup-postgres.sh",
  "install-synapse.sh",
  "install-element.sh",
  "start-caddy.sh",
  "create-admin.sh",
  "start-turn.sh",
  "turn-certificate.sh",
  "install-rtc.sh",
  "retry-optional.sh",
  "backup-lib.sh",
  "backup.sh",
  "restore.sh",
  "list-backups.sh",
  "apply-config.py",
];
/** Sourced by other scripts, not run. */
const SOURCED_SCRIPTS = ["lib.sh", "backup-lib.sh"];

/** Applies a payload: unpacks the bundle at first boot, and applies a new payload in place. */
const APPLY_SCRIPT = `${PATHS.scriptsDir}/apply-config.py`;
/** What `pulumi up` runs over SSH, with the new payload on stdin, to apply it in place. */
export const APPLY_COMMAND = `python3 ${APPLY_SCRIPT}`;
/** Writes the bundle's files (those that changed), at first boot and on every change in place. */
const UNPACK_COMMAND = ["python3", APPLY_SCRIPT, "--unpack", PATHS.filesBundle];

/** Keeps every account but root away from the droplet metadata service (scripts/metadata-guard.nft). */
export const METADATA_GUARD_SERVICE = "matrix-metadata-guard";
/**
 * The accounts besides root that may reach the metadata service, where they exist. do-agent:
 * DigitalOcean's monitoring agent (the droplet is created with monitoring on) reads its
 * droplet's id, region and auth token there and sends its metrics there, as its own account
 * (digitalocean/do-agent: packaging/etc/systemd/system/do-agent.service, pkg/clients/tsclient).
 */
export const METADATA_READERS = ["do-agent"];

/**
 * Values the shell scripts read from /etc/matrix/deploy.env: every fact a script needs that
 * TypeScript has (names of units, paths, ports, the database), so it is written once.
 * test/deployEnv.test.ts holds the scripts to it: they read nothing it lacks, name none of
 * these facts as a literal, and it holds nothing they do not read. Every configuration has the
 * same variables (an unused one is empty), so no script reads one that is sometimes missing.
 */
export function deployEnv(settings: Settings): Record<string, string | number> {
  return {
    SERVER_NAME: settings.serverName,
    MATRIX_HOST: settings.matrixHost,
    ELEMENT_HOST: settings.elementHost,
    ADMIN_USER: settings.adminUser,
    ADMIN_PASSWORD_FILE: PATHS.synapseAdminPassword,
    VOLUME_DEVICE: settings.volume.device,
    VOLUME_MOUNT: PATHS.volume,
    // The volume is attached after the droplet is created; give the API time.
    VOLUME_WAIT_SECONDS: 600,
    STATE_BINDS: Object.entries(PATHS.stateBinds).map(([name, target]) => `${name}:${target}`).join(" "),
    PG_DATA_ROOT: PATHS.postgresData,
    PG_CONFIG_ROOT: PATHS.postgresConfig,
    CADDY_DATA: PATHS.caddyData,
    BACKUP_ROOT: PATHS.backups,
    MATRIX_STATE_DIR: PATHS.stateDir,
    BOOTSTRAP_DONE_FILE: PATHS.bootstrapDone,
    OPTIONAL_PENDING: PATHS.optionalPending,
    OPTIONAL_SERVICE,
    METADATA_GUARD_SERVICE,
    METADATA_READERS: METADATA_READERS.join(" "),
    SWAP_SERVICE,
    SWAP_FILE: PATHS.swapFile,
    SWAP_MB: settings.droplet.swapMb,
    POSTGRES_SERVICE,
    POSTGRES_CLUSTER_SERVICE,
    PG_MAJOR: POSTGRESQL_MAJOR,
    PG_CLUSTER: POSTGRES_CLUSTER,
    PG_CLUSTER_DATA: POSTGRES_CLUSTER_DATA,
    PG_CLUSTER_CONFIG: POSTGRES_CLUSTER_CONFIG,
    PG_TUNING_FILE: PATHS.postgresTuning,
    PG_SETUP_SQL: PATHS.postgresSetupSql,
    SYNAPSE_DATABASE: SYNAPSE_DB.name,
    SYNAPSE_SERVICE,
    SYNAPSE_VERSION: settings.synapse.version,
    SYNAPSE_VENV_ROOT: PATHS.synapseVenvRoot,
    SYNAPSE_CURRENT_VENV: PATHS.synapseCurrentVenv,
    DOWNLOAD_CACHE: PATHS.downloadCache,
    SYNAPSE_REQUIREMENTS: PATHS.synapseRequirements,
    SYNAPSE_CONF_D: PATHS.synapseConfD,
    SYNAPSE_SIGNING_KEY: PATHS.synapseSigningKey,
    SYNAPSE_LOG_CONFIG: PATHS.synapseLogConfig,
    SYNAPSE_DATA: PATHS.synapseData,
    SYNAPSE_MEDIA: PATHS.synapseMedia,
    SYNAPSE_ADMIN_SOCKET: PATHS.synapseAdminSocket,
    SYNAPSE_TMPFILES: PATHS.synapseTmpfiles,
    SYNAPSE_MODULES: PATHS.synapseModules,
    OPS_USER,
    MATRIXCTL: PATHS.matrixctl,
    RETIRED_FILES: PATHS.retiredFiles.join(" "),
    ELEMENT_VERSION: settings.element.version,
    ELEMENT_TARBALL_URL: settings.element.tarballUrl,
    ELEMENT_SIGNATURE_URL: settings.element.signatureUrl,
    ELEMENT_KEY_URL: settings.element.keyUrl,
    ELEMENT_KEY_FINGERPRINT: settings.element.keyFingerprint,
    ELEMENT_RELEASES: PATHS.elementReleases,
    ELEMENT_ROOT: PATHS.elementRoot,
    ELEMENT_CONFIG: PATHS.elementConfig,
    CADDY_SERVICE,
    CADDYFILE: PATHS.caddyfile,
    CADDY_CERTIFICATES: PATHS.caddyCertificates,
    CADDY_ACME_ACCOUNTS: PATHS.caddyAcmeAccounts,
    CADDYFILE_FIRST_START: PATHS.caddyfileFirstStart,
    CADDY_FIRST_START_DROP_IN: PATHS.caddyFirstStartDropIn,
    CADDY_FIRST_START_RUNTIME_DROP_IN,
    // Whose accounts Caddy's storage must hold one of before it obtains every certificate at once.
    ACME_ORIGIN: settings.acme.directoryUrl === "internal" ? "" : new URL(settings.acme.directoryUrl).origin,
    TURN_ENABLED: settings.turn ? 1 : 0,
    TURN_SERVICE,
    TURN_DROP_IN: dropInFile(TURN_SERVICE),
    TURN_CERTIFICATE_SERVICE,
    TURN_HOST: settings.turn?.host ?? "",
    TURN_PORT,
    TURN_TLS_PORT,
    TURN_CONFIG: PATHS.turnConfig,
    TURN_ADDRESS_ENV: PATHS.turnAddressEnv,
    TURN_CERTIFICATE: PATHS.turnCertificate,
    TURN_KEY: PATHS.turnKey,
    RTC_ENABLED: settings.matrixRtc ? 1 : 0,
    RTC_HOST: settings.matrixRtc?.host ?? "",
    RTC_BIN_DIR: PATHS.rtcBinDir,
    RTC_ADDRESS_ENV: PATHS.rtcAddressEnv,
    LIVEKIT_SERVICE,
    LIVEKIT_UNIT: unitFile(`${LIVEKIT_SERVICE}.service`),
    LIVEKIT_CONFIG: PATHS.livekitConfig,
    LIVEKIT_KEYS: PATHS.livekitKeys,
    LIVEKIT_SECRET_FILE: PATHS.livekitSecret,
    RTC_AUTH_UNIT: unitFile(`${RTC_AUTH_SERVICE}.service`),
    LIVEKIT_DOWNLOAD_URL: settings.matrixRtc?.livekit.url ?? "",
    LIVEKIT_SHA256: settings.matrixRtc?.livekit.sha256 ?? "",
    RTC_AUTH_SERVICE,
    RTC_AUTH_DOWNLOAD_URL: settings.matrixRtc?.authService.url ?? "",
    RTC_AUTH_SHA256: settings.matrixRtc?.authService.sha256 ?? "",
    ...backupEnv(settings),
  };
}


/** Files that configure Debian itself and the packaged services. */
export function systemFiles(settings: Settings): RenderedFile[] {
  return [
    { path: PATHS.deployEnv, content: `# ${GENERATED}\n${renderEnvFile(deployEnv(settings))}`, permissions: "0644" },
    {
      // Our cluster lives on the volume; stop the package from creating one on the root disk.
      path: "/etc/postgresql-common/createcluster.d/50-matrix-do.conf",
      content: `# ${GENERATED}\ncreate_main_cluster = false\n`,
      permissions: "0644",
    },
    {
      path: "/etc/ssh/sshd_config.d/50-matrix-do.conf",
      content: `# ${GENERATED}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n`,
      permissions: "0644",
    },
    {
      // Our own file, not the package's 20auto-upgrades, so dpkg never asks about it.
      path: "/etc/apt/apt.conf.d/52matrix-do-auto-upgrades",
      content: `// ${GENERATED}\nAPT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\n`,
      permissions: "0644",
    },
    {
      // Debian's /etc/caddy/Caddyfile stays untouched (no conffile prompts on upgrade);
      // the service reads ours instead.
      path: dropInFile(CADDY_SERVICE),
      content: renderUnit({
        Unit: {
          RequiresMountsFor: PATHS.caddyData,
          // Not before the bootstrap has bound its storage from the volume (installing the
          // package starts it): Caddy would obtain certificates onto the root disk.
          ConditionPathIsMountPoint: PATHS.caddyData,
        },
        Service: {
          ExecStart: ["", caddyRunCommand(PATHS.caddyfile)],
          // The admin socket's directory: Caddy's account alone (and root) may enter it.
          RuntimeDirectory: path.basename(PATHS.caddyRuntimeDir),
          RuntimeDirectoryMode: "0700",
          // Ports 80 and 443, without root.
          ...sandbox({ writable: [PATHS.stateBinds.caddy], capabilities: ["CAP_NET_BIND_SERVICE"] }),
          ExecReload: ["", `/usr/bin/caddy reload --adapter caddyfile --config ${PATHS.caddyfile} --force`],
        },
      }),
      permissions: "0644",
    },
    {
      // Every cluster's unit (postgresql@<major>-<cluster>), from Debian's template.
      path: dropInFile(`${POSTGRES_SERVICE}@`),
      content: renderUnit({
        Unit: { RequiresMountsFor: `${PATHS.postgresData} ${PATHS.postgresConfig}` },
        Service: {
          // Debian's unit starts pg_ctlcluster as root, which then becomes postgres: start it as postgres.
          User: "postgres",
          Group: "postgres",
          ...sandbox({ writable: [PATHS.stateBinds.postgresql, "/run/postgresql", "/var/log/postgresql"], loopbackOnly: true }),
        },
      }),
      permissions: "0644",
    },
    {
      path: unitFile(`${METADATA_GUARD_SERVICE}.service`),
      content: renderUnit({
        Unit: {
          Description: "Keep every account but root away from the droplet metadata service",
          // A firewall: up before the network, and so before any service (Debian's nftables.service).
          DefaultDependencies: "no",
          Wants: "network-pre.target",
          Before: ["network-pre.target", "shutdown.target"],
          Conflicts: "shutdown.target",
        },
        Service: {
          Type: "oneshot",
          RemainAfterExit: "yes",
          ExecStart: `${PATHS.scriptsDir}/metadata-guard.sh`,
          // Root, but only to load firewall rules.
          ...sandbox({ asRoot: true, capabilities: ["CAP_NET_ADMIN"], extraAddressFamilies: ["AF_NETLINK"] }),
        },
        Install: { WantedBy: "multi-user.target" },
      }),
      permissions: "0644",
    },
    ...settings.extraCaCertificates.map((pem, i) => ({
      path: `${PATHS.extraCaDir}/extra-${i + 1}.crt`,
      content: pem.endsWith("\n") ? pem : `${pem}\n`,
      permissions: "0644",
    })),
  ];
}

export function scriptFiles(): RenderedFile[] {
  return SCRIPT_FILES.map((name) => ({
    path: `${PATHS.scriptsDir}/${name}`,
    content: fs.readFileSync(path.join(SCRIPTS_SOURCE_DIR, name), "utf8"),
    permissions: SOURCED_SCRIPTS.includes(name) ? "0644" : "0755",
  }));
}

/** Every file the droplet gets, in the order cloud-init writes them. */
export function renderFiles(settings: Settings, secrets: Secrets): RenderedFile[] {
  return [
    ...systemFiles(settings),
    ...swapFiles(),
    ...optionalFiles(),
    { path: PATHS.postgresTuning, content: renderPostgresTuning(settings), permissions: "0644" },
    { path: PATHS.postgresSetupSql, content: renderPostgresSetupSql(secrets), permissions: "0600" },
    ...synapseFiles(settings, secrets),
    { path: PATHS.caddyfile, content: renderCaddyfile(settings), permissions: "0644" },
    ...caddyFirstStartFiles(settings),
    { path: PATHS.elementConfig, content: renderElementConfig(settings), permissions: "0644" },
    { path: PATHS.readme, content: renderRootReadme(settings), permissions: "0600" },
    ...backupFiles(settings, secrets),
    ...turnFiles(settings, secrets),
    ...matrixRtcFiles(settings, secrets),
    ...matrixctlFiles(settings, fs.readFileSync(path.join(SCRIPTS_SOURCE_DIR, "matrixctl"), "utf8")),
    ...scriptFiles(),
  ];
}

/**
 * Files nothing reads before the bootstrap runs (our scripts and units, the admin command,
 * Synapse's module and lock, root's README) travel in one gzipped document, which compresses them together
 * far better than one by one: a payload with everything turned on stays well under DigitalOcean's
 * 64 KiB. Units, drop-ins and configs stay write_files entries of their own: cloud-init writes
 * them before it installs the packages whose services read them.
 */
function bundled(file: RenderedFile): boolean {
  // Not the script that unpacks the bundle.
  const script = file.path.startsWith(`${PATHS.scriptsDir}/`) && file.path !== APPLY_SCRIPT;
  // Our own units (the bootstrap reloads systemd before it starts them); not packages' drop-ins.
  const unit = file.path.startsWith(unitFile("matrix-"));
  return script || unit || [PATHS.matrixctl, PATHS.synapseRequirements, PATHS.readme].includes(file.path as never);
}

/** The bundle: each file's path, mode and content, as apply-config.py --unpack writes them. */
function bundleFile(files: RenderedFile[]): RenderedFile {
  const entries = files.map(({ path: filePath, permissions, content }) => ({ path: filePath, permissions, content }));
  // Root only: root's README is in it.
  return { path: PATHS.filesBundle, content: `${JSON.stringify(entries)}\n`, permissions: "0600" };
}

/** Files above this size are gzipped (cloud-init's gz+b64), to stay under the 64 KiB limit. */
export const COMPRESS_ABOVE_BYTES = 512;

/** One cloud-init write_files entry. Gzip output is deterministic (no name, no mtime). */
export function writeFilesEntry(file: RenderedFile): Record<string, string> {
  const large = Buffer.byteLength(file.content) > COMPRESS_ABOVE_BYTES;
  return {
    path: file.path,
    ...(large
      ? { encoding: "gz+b64", content: zlib.gzipSync(file.content, { level: 9 }).toString("base64") }
      : { content: file.content }),
    permissions: file.permissions,
    owner: "root:root",
  };
}

/** The write_files entries: each file that cloud-init must write itself, and the bundle of the others. */
export function writeFiles(files: RenderedFile[]): Record<string, string>[] {
  return [...files.filter((f) => !bundled(f)), bundleFile(files.filter(bundled))].map(writeFilesEntry);
}

/** The content of a write_files entry as the droplet gets it. */
export function decodeEntry(entry: { content: string; encoding?: string }): string {
  return entry.encoding === "gz+b64" ? zlib.gunzipSync(Buffer.from(entry.content, "base64")).toString("utf8") : entry.content;
}

export function cloudConfig(settings: Settings, secrets: Secrets): Record<string, unknown> {
  return {
    package_update: true,
    package_upgrade: true,
    packages: debianPackages(settings),
    ssh_pwauth: false,
    disable_root: false,
    // The host key comes from Pulumi: every droplet of the stack has the same one, and
    // `pulumi up` pins it when it connects.
    ssh_deletekeys: true,
    ssh_genkeytypes: ["ed25519"], // present already (ssh_keys), so none is generated
    ssh_keys: { ed25519_private: secrets.sshHostKey.privateKey, ed25519_public: secrets.sshHostKey.publicKey },
    write_files: writeFiles(renderFiles(settings, secrets)),
    runcmd: [UNPACK_COMMAND, [`${PATHS.scriptsDir}/bootstrap.sh`]],
  };
}

/** The payload would be larger than DigitalOcean accepts. */
export class UserDataTooLarge extends Error {
  constructor(readonly size: number) {
    super(`user_data is ${size} bytes; DigitalOcean accepts at most ${USER_DATA_LIMIT_BYTES}`);
    this.name = "UserDataTooLarge";
  }
}

/** The user_data document. Throws UserDataTooLarge if it would exceed DigitalOcean's limit. */
export function renderUserData(settings: Settings, secrets: Secrets): string {
  // Every download the droplet makes is checked against a SHA-256; with calls on and none given,
  // the component takes the authorization service's on the first deploy before it renders this.
  for (const download of settings.matrixRtc ? [settings.matrixRtc.livekit, settings.matrixRtc.authService] : []) {
    if (!/^[0-9a-f]{64}$/.test(download.sha256)) throw new Error(`no SHA-256 to check ${download.url} against (got ${JSON.stringify(download.sha256)})`);
  }
  const text = `#cloud-config\n${YAML.stringify(cloudConfig(settings, secrets), { lineWidth: 0 })}`;
  const size = Buffer.byteLength(text, "utf8");
  if (size > USER_DATA_LIMIT_BYTES) throw new UserDataTooLarge(size);
  return text;
}
