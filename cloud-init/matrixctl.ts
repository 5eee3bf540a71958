/**
 * The admin command `matrixctl` (scripts/matrixctl, Python) and its settings file. It acts
 * through Synapse's admin API as the @matrixctl account, which scripts/create-admin.sh creates
 * with a password Pulumi generates.
 */
import { BACKUP_SERVICE } from "./backups";
import { RenderedFile } from "./formats";
import { PATHS, SYNAPSE_PORT } from "./paths";
import { POSTGRESQL_MAJOR } from "./versions";
import { Secrets, Settings } from "./settings";
import { SYNAPSE_SERVICE } from "./synapse";

export const OPS_USER = "matrixctl";

export function matrixctlConfig(settings: Settings): Record<string, unknown> {
  const postgres = `postgresql@${POSTGRESQL_MAJOR}-main`;
  return {
    serverName: settings.serverName,
    matrixHost: settings.matrixHost,
    elementHost: settings.elementHost,
    synapseUrl: `http://127.0.0.1:${SYNAPSE_PORT}`,
    opsUser: OPS_USER,
    opsPasswordFile: PATHS.opsPassword,
    // On tmpfs: a fresh login after every boot.
    tokenFile: "/run/matrixctl/token",
    registrationByToken: settings.synapse.registration === "token",
    scriptsDir: PATHS.scriptsDir,
    volume: PATHS.volume,
    elementRoot: PATHS.elementRoot,
    lastBackupFile: `${PATHS.stateDir}/backup.done`,
    units: [SYNAPSE_SERVICE, postgres, "caddy", `${BACKUP_SERVICE}.timer`],
    logUnits: { synapse: SYNAPSE_SERVICE, postgresql: postgres, caddy: "caddy", backup: BACKUP_SERVICE, "cloud-init": "cloud-final" },
  };
}

export function matrixctlFiles(settings: Settings, secrets: Secrets, script: string): RenderedFile[] {
  return [
    { path: PATHS.matrixctlConfig, content: `${JSON.stringify(matrixctlConfig(settings), null, 2)}\n`, permissions: "0644" },
    { path: PATHS.opsPassword, content: secrets.opsPassword, permissions: "0600" },
    { path: PATHS.matrixctl, content: script, permissions: "0755" },
  ];
}
