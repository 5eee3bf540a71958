/**
 * A swap file for droplets with little RAM (Settings.droplet.swapMb, chosen in
 * components/tuning.ts). A service turns it on at every boot rather than an fstab line:
 * systemd ignores fstab swap inside containers, and the local droplet is one.
 */
import { RenderedFile, renderUnit } from "./formats";
import { PATHS, unitFile } from "./paths";
import { POSTGRES_SERVICE } from "./postgres";
import { sandbox } from "./sandbox";
import { SYNAPSE_SERVICE } from "./synapse";

export const SWAP_SERVICE = "matrix-swap";

export function swapFiles(): RenderedFile[] {
  return [
    {
      path: unitFile(`${SWAP_SERVICE}.service`),
      content: renderUnit({
        Unit: {
          Description: "Swap file sized to the droplet (matrix-do)",
          After: "local-fs.target",
          // Before the memory-hungry services start, so a boot under load has it.
          Before: [`${POSTGRES_SERVICE}.service`, `${SYNAPSE_SERVICE}.service`],
        },
        Service: {
          Type: "oneshot",
          RemainAfterExit: "yes",
          ExecStart: `${PATHS.scriptsDir}/setup-swap.sh`,
          // Off at shutdown: swap turned on by hand is not a swap unit systemd would stop.
          ExecStop: `-/usr/sbin/swapoff ${PATHS.swapFile}`,
          // swapon and swapoff need CAP_SYS_ADMIN; the file is made beside itself in / and moved into place.
          ...sandbox({ asRoot: true, capabilities: ["CAP_SYS_ADMIN"], systemCalls: ["@swap"], writesRootDirectory: true, offline: true }),
        },
        Install: { WantedBy: "multi-user.target" },
      }),
      permissions: "0644",
    },
  ];
}
