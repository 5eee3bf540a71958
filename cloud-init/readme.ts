/** /root/README.txt: the operator's map of the droplet, rendered for this server. */
import { BACKUP_SERVICE } from "./backups";
import { CADDY_SERVICE } from "./caddy";
import { PATHS } from "./paths";
import { POSTGRES_CLUSTER, POSTGRES_SERVICE } from "./postgres";
import { Settings } from "./settings";
import { SYNAPSE_SERVICE } from "./synapse";

export function renderRootReadme(settings: Settings): string {
  const venv = PATHS.synapseCurrentVenv;
  return `Matrix homeserver ${settings.serverName}, deployed by matrix-do (Pulumi)
=====================================================================

This droplet is managed by Pulumi: change the stack's config and run \`pulumi up\`.
Edits made here by hand are overwritten when the droplet is replaced.

Addresses
  Element Web     https://${settings.elementHost}
  Homeserver      https://${settings.matrixHost}
  Admin account   @${settings.adminUser}:${settings.serverName} (password: \`pulumi stack output adminPassword --show-secrets\`)

Where things live
  All state is on the volume ${settings.volume.name}, mounted at ${PATHS.volume}:
    ${PATHS.volume}/postgresql       -> ${PATHS.postgresData}   (database)
    ${PATHS.volume}/postgresql-etc   -> ${PATHS.postgresConfig}       (cluster config)
    ${PATHS.volume}/synapse          -> ${PATHS.synapseData}       (media store)
    ${PATHS.volume}/caddy            -> ${PATHS.caddyData}        (TLS certificates, ACME account)
    ${PATHS.volume}/backups          -> ${PATHS.backups}   (backups)
  Synapse config   ${PATHS.synapseConfD}/*.yaml (10-secrets.yaml holds the secrets)
  Synapse venv     ${venv} (Synapse ${settings.synapse.version})
  Element Web      ${PATHS.elementRoot} (Element ${settings.element.version})
  Caddyfile        ${PATHS.caddyfile}
  Setup scripts    ${PATHS.scriptsDir}/ (bootstrap.sh re-applies everything; safe to re-run)

Services
  systemctl status ${SYNAPSE_SERVICE} ${CADDY_SERVICE} ${POSTGRES_SERVICE}@*-${POSTGRES_CLUSTER}
  journalctl -u ${SYNAPSE_SERVICE} -f          Synapse's log
  journalctl -u ${CADDY_SERVICE} -f                   Caddy's log (certificates, requests)
  cat /var/log/cloud-init-output.log       what the first boot did

Administer (users, registration tokens, backups, status, logs): matrixctl --help
  matrixctl user add alice             prints a new password
  matrixctl status                     services, versions, certificates, disk, last backup

Backups
  Nightly (${BACKUP_SERVICE}.timer): database, media and signing key, encrypted with restic, in
  ${PATHS.backupRepository}${settings.backups.offsite ? ` and off-site in ${settings.backups.offsite.repository}` : " (set spacesBucket for an off-site copy)"}.
  matrixctl backup | matrixctl backups | matrixctl restore --yes

Upgrade
  Debian security updates install themselves (unattended-upgrades).
  Synapse and Element: set synapseVersion / elementVersion in the Pulumi config and run \`pulumi up\`.
  With sshPrivateKey set, \`pulumi up\` applies changes here in place (apply-config.py).
`;
}
