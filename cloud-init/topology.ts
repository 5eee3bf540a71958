/**
 * The plan of Synapse's processes: which run, on which droplet, what each serves, where it
 * listens, and how Caddy routes to them — one pure function of the resolved sizes and tiers, so
 * that Synapse's worker files and `instance_map`, Caddy's routes, the systemd units, the
 * database's connection budget and the firewall all read one answer instead of each working it
 * out (issue 25). Written from Synapse's docs/workers.md: the worker kinds, the
 * paths each may serve and how requests to them are balanced.
 *
 * synapseWorkers.ts and caddy.ts render it (test/workers.test.ts runs that with the real
 * Synapse and Caddy); the droplet's payload does not yet: it runs the main process alone, which
 * is what this plan gives for one vCPU (the default size) and for `workers: none`.
 */

/**
 * Where a process listens: a Unix socket (its file name, in Synapse's socket directory on its
 * droplet), or a TCP port on a droplet's private address.
 */
export type Endpoint = { unix: string } | { tcp: { host: string; port: number } };

/** How a pool of processes shares requests (Caddy's lb_policy). */
export type Balance =
  /** The same access token to the same process (Synapse: sync is cheaper where the user's caches are). */
  | "token"
  /** The same room to the same process (Synapse requires it of /messages). */
  | "room"
  /** The same remote server to the same process (Synapse: inbound transactions in order). */
  | "source"
  | "round_robin";

/** A kind of Synapse process: what Synapse's workers.md says it is for. */
export type ProcessKind = "main" | "sync" | "client" | "federation_sender" | "media" | "background";

interface KindSpec {
  app: string;
  /** Serves HTTP that Caddy routes to it. */
  http: boolean;
  /** At most one such process (Synapse runs its duty in one place). */
  single: boolean;
  /** Memory it is held to, MiB (systemd MemoryMax): a worker's caches follow Synapse's cache factor. */
  memoryMaxMb: number;
}

/** The kinds, once: everything else about a process follows from its kind. */
export const PROCESS_KINDS: Record<ProcessKind, KindSpec> = {
  main: { app: "synapse.app.homeserver", http: true, single: true, memoryMaxMb: 0 },
  sync: { app: "synapse.app.generic_worker", http: true, single: false, memoryMaxMb: 512 },
  client: { app: "synapse.app.generic_worker", http: true, single: false, memoryMaxMb: 384 },
  federation_sender: { app: "synapse.app.generic_worker", http: false, single: false, memoryMaxMb: 256 },
  media: { app: "synapse.app.media_repository", http: true, single: true, memoryMaxMb: 384 },
  background: { app: "synapse.app.generic_worker", http: false, single: true, memoryMaxMb: 256 },
};

/** Synapse's path patterns (workers.md), by what serves them; anchored regular expressions. */
const CLIENT = "^/_matrix/client/(api/v1|r0|v3|unstable)";
export const ROUTE_PATHS = {
  sync: [
    "^/_matrix/client/(r0|v3)/sync$",
    // Simplified sliding sync (MSC4186), Element X's: served by workers too (Synapse registers it with /sync).
    "^/_matrix/client/unstable/org\\.matrix\\.simplified_msc3575/sync$",
    "^/_matrix/client/(api/v1|r0|v3)/events$",
    "^/_matrix/client/(api/v1|r0|v3)/initialSync$",
    "^/_matrix/client/(api/v1|r0|v3)/rooms/[^/]+/initialSync$",
  ],
  /** Pagination: every request for a room to the same process (the room ID is the second group). */
  roomMessages: [`${CLIENT}/rooms/([^/]+)/messages$`],
  /** Inbound federation transactions: by remote server. */
  federationSend: ["^/_matrix/federation/v1/send/"],
  /** What any generic worker may serve (reads, and writes it forwards to main over replication). */
  client: [
    "^/_matrix/federation/v1/(version|event|state|state_ids|backfill|get_missing_events|publicRooms|query|make_join|make_leave|make_knock|send_knock|event_auth|timestamp_to_event|exchange_third_party_invite|user/devices|hierarchy)(/|$)",
    "^/_matrix/federation/(v1|v2)/(send_join|send_leave|invite)/",
    "^/_matrix/key/v2/query",
    `${CLIENT}/(createRoom|publicRooms|joined_rooms|search)$`,
    `${CLIENT}/rooms/[^/]+/(joined_members|members|state|aliases)$`,
    `${CLIENT}/rooms/[^/]+/context/`,
    "^/_matrix/client/v1/rooms/[^/]+/(hierarchy|threads|timestamp_to_event)$",
    "^/_matrix/client/(v1|unstable)/rooms/[^/]+/relations/",
    "^/_matrix/client/(r0|v3|unstable)/account/(3pid|whoami)$",
    "^/_matrix/client/(r0|v3|unstable)/(capabilities|notifications)$",
    `${CLIENT}/voip/turnServer$`,
    `${CLIENT}/rooms/[^/]+/event/`,
    "^/_matrix/client/(r0|v3|unstable)/keys/(query|changes|claim)$",
    "^/_matrix/client/(r0|v3|unstable)/room_keys/",
    `${CLIENT}/login$`,
    "^/_matrix/client/(r0|v3|unstable)/register(/available)?$",
    "^/_matrix/client/v1/register/m.login.registration_token/validity$",
    "^/_matrix/client/(r0|v3|unstable)/password_policy$",
    `${CLIENT}/rooms/[^/]+/(redact|send|state)/`,
    `${CLIENT}/rooms/[^/]+/(join|invite|leave|ban|unban|kick)$`,
    `${CLIENT}/(join|knock|profile)/`,
    "^/_matrix/client/(r0|v3|unstable)/user_directory/search$",
  ],
  media: ["^/_matrix/media/", "^/_matrix/client/v1/media/", "^/_matrix/federation/v1/media/"],
} as const;

export interface SynapseProcess {
  /** worker_name (main: "main"), and the systemd instance it runs as. */
  name: string;
  kind: ProcessKind;
  /** The droplet it runs on: "main", or "worker-1"… */
  host: string;
  /** Its client/federation listener, when it serves HTTP. */
  http?: Endpoint;
  /** Its replication listener, when other processes call it (main, stream writers). */
  replication?: Endpoint;
  /** The most database connections its pool opens (database.args.cp_max). */
  poolMax: number;
}

export interface Route {
  /** Path patterns (ROUTE_PATHS): the request's path matches one of them. */
  paths: readonly string[];
  /** The processes that serve it (names), balanced by `balance`. */
  pool: string[];
  balance: Balance;
}

export interface TopologyInput {
  /** The main droplet's vCPUs and memory. */
  vcpus: number;
  memoryMb: number;
  /** `auto`: none on one vCPU, from two a set sized to the droplet; `none`: the main process alone. */
  workers: "auto" | "none";
  /** More droplets running sync and client workers, over the stack's VPC. */
  workerDroplets: { count: number; vcpus: number; memoryMb: number };
  /** The connections Synapse's processes may open in all (the database's limit less what else uses it). */
  databaseConnections: number;
}

export interface Topology {
  hosts: string[];
  processes: SynapseProcess[];
  /** In order of precedence; requests no route matches go to main. */
  routes: Route[];
  /** Synapse's shared worker settings: instance_map, stream writers and the duties' owners. */
  shared: {
    instanceMap: Record<string, Endpoint>;
    federationSenderInstances: string[];
    mediaInstance?: string;
    runBackgroundTasksOn?: string;
  };
  /** Workers need Redis (Valkey) for their pub/sub; the main process alone does not. */
  redis: boolean;
  connections: { limit: number; used: number };
  /** TCP ports each droplet must accept from the stack's own droplets (its tag) over the VPC. */
  privateIngress: Record<string, number[]>;
}

/** A worker droplet's listeners on its private address: HTTP from 8100, replication from 9100. */
const WORKER_HTTP_PORT = 8100;
const REPLICATION_PORT = 9100;
/** Connections a process's pool opens at most, and the fewest it works with. */
const POOL_MAX = 5;
const POOL_MIN = 2;
/** What the main process and PostgreSQL leave of a droplet's memory for workers, MiB. */
const MAIN_RESERVE_MB = 768;

export class TopologyError extends Error {}

/** How many of each kind of worker the main droplet runs. */
function mainDropletWorkers(input: TopologyInput): Partial<Record<ProcessKind, number>> {
  if (input.workers === "none" || input.vcpus < 2) return {};
  const half = Math.max(1, Math.floor(input.vcpus / 2));
  const wanted: Partial<Record<ProcessKind, number>> = {
    sync: Math.min(half, 4),
    client: Math.min(half, 4),
    federation_sender: input.vcpus >= 8 ? 2 : 1,
    media: 1,
    ...(input.vcpus >= 4 ? { background: 1 } : {}),
  };
  // Fewer where memory is short: drop the least needed first, keeping one sync and one client worker.
  const cost = (counts: Partial<Record<ProcessKind, number>>) =>
    Object.entries(counts).reduce((sum, [kind, n]) => sum + PROCESS_KINDS[kind as ProcessKind].memoryMaxMb * (n ?? 0), 0);
  const budget = input.memoryMb - MAIN_RESERVE_MB;
  for (const kind of ["background", "client", "sync", "media", "federation_sender"] as ProcessKind[]) {
    while (cost(wanted) > budget && (wanted[kind] ?? 0) > (kind === "sync" || kind === "client" ? 1 : 0)) wanted[kind]! -= 1;
  }
  if (cost(wanted) > budget) return {};
  return wanted;
}

/** The plan for these sizes and tiers. Throws TopologyError when the database cannot hold its pools. */
export function planTopology(input: TopologyInput): Topology {
  if (input.workers === "none" && input.workerDroplets.count > 0) {
    throw new TopologyError("worker droplets run workers: they need workers on (auto), not none");
  }
  const processes: SynapseProcess[] = [];
  const remote = input.workerDroplets.count > 0;
  // Main's replication listener: a socket while every process shares its droplet, else TCP on its private address.
  const mainReplication: Endpoint = remote ? { tcp: { host: "main", port: REPLICATION_PORT } } : { unix: "replication.sock" };
  processes.push({ name: "main", kind: "main", host: "main", http: { unix: "client.sock" }, replication: mainReplication, poolMax: POOL_MAX });

  const counts = mainDropletWorkers(input);
  for (const kind of Object.keys(PROCESS_KINDS) as ProcessKind[]) {
    for (let i = 1; i <= (counts[kind] ?? 0); i += 1) {
      const name = `${kind}${i}`;
      processes.push({ name, kind, host: "main", ...(PROCESS_KINDS[kind].http ? { http: { unix: `${name}.sock` } } : {}), poolMax: POOL_MAX });
    }
  }
  const hosts = ["main"];
  for (let d = 1; d <= input.workerDroplets.count; d += 1) {
    const host = `worker-${d}`;
    hosts.push(host);
    // As on the main droplet: a sync and a client worker for every two vCPUs, four of each at most,
    // fewer where the droplet's memory (less what its system needs) does not hold them.
    const fits = Math.floor((input.workerDroplets.memoryMb - 256) / (PROCESS_KINDS.sync.memoryMaxMb + PROCESS_KINDS.client.memoryMaxMb));
    const each = Math.max(1, Math.min(4, Math.floor(input.workerDroplets.vcpus / 2), fits));
    let port = WORKER_HTTP_PORT;
    for (const kind of ["sync", "client"] as const) {
      for (let i = 1; i <= each; i += 1) {
        processes.push({ name: `${host.replace("-", "")}_${kind}${i}`, kind, host, http: { tcp: { host, port: port++ } }, poolMax: POOL_MAX });
      }
    }
  }

  // The connection budget is a rule: every pool fits, or the plan is refused.
  const perProcess = Math.min(POOL_MAX, Math.floor(input.databaseConnections / processes.length));
  if (perProcess < POOL_MIN) {
    throw new TopologyError(`${processes.length} Synapse processes need at least ${POOL_MIN} database connections each (${processes.length * POOL_MIN}); the database allows ${input.databaseConnections}`);
  }
  for (const p of processes) p.poolMax = perProcess;

  const named = (kind: ProcessKind) => processes.filter((p) => p.kind === kind).map((p) => p.name);
  const orMain = (names: string[]) => (names.length > 0 ? names : ["main"]);
  const generic = [...named("client")];
  const routes: Route[] = [
    { paths: ROUTE_PATHS.media, pool: orMain(named("media")), balance: "round_robin" },
    { paths: ROUTE_PATHS.sync, pool: orMain(named("sync")), balance: "token" },
    { paths: ROUTE_PATHS.roomMessages, pool: orMain(generic), balance: "room" },
    { paths: ROUTE_PATHS.federationSend, pool: orMain(generic), balance: "source" },
    { paths: ROUTE_PATHS.client, pool: orMain(generic), balance: "round_robin" },
  ];

  const instanceMap: Record<string, Endpoint> = {};
  for (const p of processes) if (p.replication) instanceMap[p.name] = p.replication;
  const workers = processes.length > 1;
  const privateIngress: Record<string, number[]> = Object.fromEntries(hosts.map((h) => [h, [] as number[]]));
  for (const p of processes) {
    for (const endpoint of [p.http, p.replication]) {
      if (endpoint && "tcp" in endpoint) privateIngress[endpoint.tcp.host].push(endpoint.tcp.port);
    }
  }
  return {
    hosts,
    processes,
    routes,
    shared: {
      instanceMap: workers ? instanceMap : {},
      federationSenderInstances: named("federation_sender"),
      ...(named("media").length > 0 ? { mediaInstance: named("media")[0] } : {}),
      ...(named("background").length > 0 ? { runBackgroundTasksOn: named("background")[0] } : {}),
    },
    redis: workers,
    connections: { limit: input.databaseConnections, used: perProcess * processes.length },
    privateIngress,
  };
}

/** The route a request path takes (the first whose pattern matches), or undefined: main serves it. */
export function routeFor(topology: Topology, path: string): Route | undefined {
  return topology.routes.find((route) => route.paths.some((pattern) => new RegExp(pattern).test(path)));
}
