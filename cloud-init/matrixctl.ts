/**
 * The admin command `matrixctl` (scripts/matrixctl, Python) and its settings file. It acts
 * through Synapse's admin API, on the admin socket, as the @matrixctl account: a server admin
 * with no password, whose tokens come from that socket alone (synapse-modules/matrixctl_token.py).
 */
import { BACKUP_SERVICE } from "./backups";
import { CADDY_SERVICE } from "./caddy";
import { LIVEKIT_SERVICE } from "./livekit";
import { RTC_AUTH_SERVICE } from "./rtcAuth";
import { OPTIONAL_SERVICE } from "./optional";
import { RenderedFile } from "./formats";
import { PATHS } from "./paths";
import { HTTPS_PORT, TURN_TLS_PORT } from "./ports";
import { POSTGRES_CLUSTER_SERVICE } from "./postgres";
import { Settings } from "./settings";
import { MATRIXCTL_TOKEN_PATH, OPS_USER, SYNAPSE_SERVICE } from "./synapse";
import { TURN_SERVICE } from "./turn";

/** Where matrixctl keeps its access token (tmpfs: a new one after every boot). */
export const MATRIXCTL_TOKEN_FILE = "/run/matrixctl/token";

/** What scripts/matrixctl reads (CONF[...]); test/deployEnv.test.ts holds the two to each other. */
export function matrixctlConfig(settings: Settings): Record<string, unknown> {
  const postgres = POSTGRES_CLUSTER_SERVICE;
  return {
    serverName: settings.serverName,
    synapseSocket: PATHS.synapseAdminSocket,
    tokenPath: MATRIXCTL_TOKEN_PATH,
    opsUser: OPS_USER,
    tokenFile: MATRIXCTL_TOKEN_FILE,
    registrationByToken: settings.synapse.registration === "token",
    scriptsDir: PATHS.scriptsDir,
    volume: PATHS.volume,
    elementRoot: PATHS.elementRoot,
    lastBackupFile: PATHS.lastBackupFile,
    optionalPending: PATHS.optionalPending,
    units: [
      SYNAPSE_SERVICE, postgres, CADDY_SERVICE, `${BACKUP_SERVICE}.timer`, ...(settings.turn ? [TURN_SERVICE] : []),
      ...(settings.matrixRtc ? [LIVEKIT_SERVICE, RTC_AUTH_SERVICE] : []),
    ],
    // Caddy's port, which it serves on every address (matrixctl asks it on loopback).
    httpsPort: HTTPS_PORT,
    // The root of Caddy's own CA, which issues the certificates with `acmeServer: internal`.
    localCaRoot: settings.acme.directoryUrl === "internal" ? PATHS.caddyLocalCaRoot : "",
    // [host, port]: what clients see on each TLS port (coturn serves a copy of Caddy's certificate).
    certificates: [
      [settings.matrixHost, HTTPS_PORT], [settings.elementHost, HTTPS_PORT],
      ...(settings.turn ? [[settings.turn.host, TURN_TLS_PORT]] : []),
      ...(settings.matrixRtc ? [[settings.matrixRtc.host, HTTPS_PORT]] : []),
    ],
    logUnits: {
      synapse: SYNAPSE_SERVICE, postgresql: postgres, caddy: CADDY_SERVICE, backup: BACKUP_SERVICE, "cloud-init": "cloud-final", optional: OPTIONAL_SERVICE,
      ...(settings.turn ? { turn: TURN_SERVICE } : {}),
      ...(settings.matrixRtc ? { livekit: LIVEKIT_SERVICE, "rtc-auth": RTC_AUTH_SERVICE } : {}),
    },
  };
}

export function matrixctlFiles(settings: Settings, script: string): RenderedFile[] {
  return [
    { path: PATHS.matrixctlConfig, content: `${JSON.stringify(matrixctlConfig(settings), null, 2)}\n`, permissions: "0644" },
    { path: PATHS.matrixctl, content: script, permissions: "0755" },
  ];
}
