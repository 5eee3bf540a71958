/**
 * Parts the homeserver does not need to answer (Element's download, TURN): the bootstrap runs
 * them after PostgreSQL, Synapse, Caddy and the admin account, and one that fails does not stop
 * it. It stays pending (a file in PATHS.optionalPending, named after its script) and a timer,
 * started only while something is pending, runs it again until it succeeds.
 */
import { RenderedFile, renderUnit } from "./formats";
import { PATHS, unitFile } from "./paths";
import { sandbox } from "./sandbox";

export const OPTIONAL_SERVICE = "matrix-optional";
/** How often a pending part is tried again. */
export const OPTIONAL_RETRY = "1min";

export function optionalFiles(): RenderedFile[] {
  return [
    {
      path: unitFile(`${OPTIONAL_SERVICE}.service`),
      content: renderUnit({
        Unit: {
          Description: "Retry the optional parts of the Matrix homeserver that failed (Element, TURN, calls)",
          After: "network-online.target",
          Wants: "network-online.target",
        },
        Service: {
          Type: "oneshot",
          ExecStart: `${PATHS.scriptsDir}/retry-optional.sh`,
          // Root, writing Element's releases, TURN's files and its own bookkeeping; asking systemd
          // to (re)start coturn needs no more than its socket.
          ...sandbox({
            asRoot: true, filesForOthers: true,
            writable: [PATHS.elementReleases, PATHS.deployDir, PATHS.stateDir, PATHS.rtcBinDir],
            capabilities: ["CAP_CHOWN", "CAP_FOWNER"],
            // start-turn.sh asks the kernel for the droplet's address (ip route).
            extraAddressFamilies: ["AF_NETLINK"],
          }),
        },
      }),
      permissions: "0644",
    },
    {
      path: unitFile(`${OPTIONAL_SERVICE}.timer`),
      content: renderUnit({
        Unit: { Description: "Retry the optional parts of the Matrix homeserver while one is pending" },
        // No [Install]: lib.sh's `optional` starts it when a part fails, retry-optional.sh stops it.
        Timer: { OnActiveSec: OPTIONAL_RETRY, OnUnitActiveSec: OPTIONAL_RETRY },
      }),
      permissions: "0644",
    },
  ];
}
