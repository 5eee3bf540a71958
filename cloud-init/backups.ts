/**
 * Backups: the nightly timer and service that run scripts/backup.sh, and the root-only file
 * with the repository password and off-site keys. What a backup holds and how it is restored
 * is in scripts/backup.sh and scripts/restore.sh.
 */
import { RenderedFile, renderEnvFile, renderUnit } from "./formats";
import { sandbox } from "./sandbox";
import { PATHS, unitFile } from "./paths";
import { POSTGRES_SERVICE } from "./postgres";
import { Secrets, Settings } from "./settings";

export const BACKUP_SERVICE = "matrix-backup";

/** Values the backup scripts read from deploy.env (no secrets: those are in PATHS.backupEnv). */
export function backupEnv(settings: Settings): Record<string, string | number> {
  const b = settings.backups;
  return {
    BACKUP_SERVICE,
    BACKUP_ENV_FILE: PATHS.backupEnv,
    LAST_BACKUP_FILE: PATHS.lastBackupFile,
    BACKUP_REPOSITORY: PATHS.backupRepository,
    BACKUP_STAGING: PATHS.backupStaging,
    BACKUP_KEEP_DAILY: b.keepDaily,
    BACKUP_KEEP_WEEKLY: b.keepWeekly,
    OFFSITE_REPOSITORY: b.offsite?.repository ?? "",
  };
}

export function backupFiles(settings: Settings, secrets: Secrets): RenderedFile[] {
  const offsite = settings.backups.offsite;
  if (offsite && !secrets.offsiteSecretKey) throw new Error("off-site backups need the Spaces secret key");
  const credentials: Record<string, string> = { RESTIC_PASSWORD_FILE: PATHS.backupPassword };
  if (offsite) {
    credentials.OFFSITE_ACCESS_KEY_ID = offsite.accessKeyId;
    credentials.OFFSITE_SECRET_KEY = secrets.offsiteSecretKey!;
  }
  return [
    { path: PATHS.backupPassword, content: secrets.backupPassword, permissions: "0600" },
    { path: PATHS.backupEnv, content: renderEnvFile(credentials), permissions: "0600" },
    {
      path: unitFile(`${BACKUP_SERVICE}.service`),
      content: renderUnit({
        Unit: {
          Description: "Back up the Matrix homeserver (database, media, signing key)",
          After: [`${POSTGRES_SERVICE}.service`, "network-online.target"],
          Wants: "network-online.target",
          RequiresMountsFor: PATHS.backupRepository,
        },
        Service: {
          Type: "oneshot",
          ExecStart: `${PATHS.scriptsDir}/backup.sh`,
          // A backup must not starve the homeserver of CPU or disk.
          Nice: "10",
          IOSchedulingClass: "idle",
          // Root, to read every service's data and dump the database as postgres, and no more.
          ...sandbox({
            asRoot: true,
            writable: [PATHS.stateBinds.backups, PATHS.stateDir],
            capabilities: ["CAP_DAC_READ_SEARCH", "CAP_SETUID", "CAP_SETGID"],
          }),
        },
      }),
      permissions: "0644",
    },
    {
      path: unitFile(`${BACKUP_SERVICE}.timer`),
      content: renderUnit({
        Unit: { Description: "Nightly backup of the Matrix homeserver" },
        Timer: {
          OnCalendar: `*-*-* ${settings.backups.time}:00 UTC`,
          // Catch up after the droplet was off at backup time.
          Persistent: "true",
          RandomizedDelaySec: "5min",
        },
        Install: { WantedBy: "timers.target" },
      }),
      permissions: "0644",
    },
  ];
}
