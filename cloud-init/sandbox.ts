/**
 * systemd sandboxing for the services the payload runs or configures: each gets the same strict
 * base and names only what it needs (paths it writes, capabilities, address families, whom it
 * talks to). test/droplet.test.ts measures every unit with `systemd-analyze security`.
 */

export interface SandboxNeeds {
  /** Paths it writes; the rest of the file system is read-only (ProtectSystem=strict). */
  writable?: string[];
  /** Capabilities it keeps; none when unset. */
  capabilities?: string[];
  /** Socket families beyond AF_UNIX, AF_INET and AF_INET6 (AF_NETLINK to read its addresses). */
  extraAddressFamilies?: string[];
  /** Only loopback, no other address, in or out (PostgreSQL). */
  loopbackOnly?: boolean;
  /** It writes code to memory and runs it (a JIT, or cffi's callbacks in Synapse): MemoryDenyWriteExecute stays off. */
  writesExecutableMemory?: boolean;
  /** It runs as root and acts on other accounts' files and processes (backups): keep what that needs. */
  asRoot?: boolean;
  /** It writes files other accounts read (Element's, read by Caddy): 0022 instead of 0027. */
  filesForOthers?: boolean;
  /** It makes files in / itself (the swap file): only /usr, /boot and /etc stay read-only. */
  writesRootDirectory?: boolean;
  /** It talks to nobody: no network at all, unix sockets only (journald). */
  offline?: boolean;
  /** System call groups it needs beyond @system-service, e.g. @swap. */
  systemCalls?: string[];
}

/** Groups no service of ours calls, unless it says so (SandboxNeeds.systemCalls). */
const DENIED_SYSTEM_CALLS = ["@mount", "@swap", "@reboot", "@raw-io", "@module", "@debug", "@cpu-emulation", "@obsolete"];

/**
 * The [Service] settings. Settings that are lists start with an empty assignment, which drops
 * whatever the packaged unit had: the same output serves a unit of ours and a drop-in on a
 * package's unit (Caddy, PostgreSQL, coturn).
 */
export function sandbox(needs: SandboxNeeds = {}): Record<string, string | string[]> {
  const capabilities = needs.capabilities ?? [];
  const systemCalls = needs.systemCalls ?? [];
  const list = (...values: string[]) => ["", ...values.filter(Boolean)];
  return {
    NoNewPrivileges: "yes",
    ProtectSystem: needs.writesRootDirectory ? "full" : "strict",
    ReadWritePaths: list((needs.writable ?? []).join(" ")),
    ProtectHome: "yes",
    PrivateTmp: "yes",
    PrivateDevices: "yes",
    DevicePolicy: "closed",
    ProtectKernelTunables: "yes",
    ProtectKernelModules: "yes",
    ProtectKernelLogs: "yes",
    ProtectControlGroups: "yes",
    ProtectClock: "yes",
    ProtectHostname: "yes",
    // Other accounts' processes are invisible (root's backups need to see PostgreSQL's).
    ...(needs.asRoot ? {} : { ProtectProc: "invisible", ProcSubset: "pid" }),
    RestrictNamespaces: "yes",
    RestrictRealtime: "yes",
    RestrictSUIDSGID: "yes",
    LockPersonality: "yes",
    ...(needs.writesExecutableMemory ? {} : { MemoryDenyWriteExecute: "yes" }),
    KeyringMode: "private",
    UMask: needs.filesForOthers ? "0022" : "0027",
    RestrictAddressFamilies: list((needs.offline ? ["AF_UNIX"] : ["AF_UNIX", "AF_INET", "AF_INET6", ...(needs.extraAddressFamilies ?? [])]).join(" ")),
    ...(needs.loopbackOnly ? { IPAddressAllow: list("localhost"), IPAddressDeny: list("any") } : {}),
    ...(needs.offline ? { PrivateNetwork: "yes", IPAddressDeny: list("any") } : {}),
    SystemCallArchitectures: "native",
    // Root's services switch accounts (runuser, through PAM, which sets limits): they keep
    // @privileged and @resources.
    SystemCallFilter: list(["@system-service", ...systemCalls].join(" "),
      `~${[...DENIED_SYSTEM_CALLS.filter((group) => !systemCalls.includes(group)), ...(needs.asRoot ? [] : ["@privileged", "@resources"])].join(" ")}`),
    SystemCallErrorNumber: "EPERM",
    // Empty: no capabilities at all.
    CapabilityBoundingSet: list(capabilities.join(" ")),
    AmbientCapabilities: list(capabilities.join(" ")),
  };
}
