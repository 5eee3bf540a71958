/**
 * Synapse's workers, rendered from the plan of its processes (topology.ts): what the main
 * process's configuration gains once workers run (a replication listener, `instance_map`, Redis,
 * which process does which duty), each worker's own file, and Caddy's routes to them. Pure, like
 * every renderer: no Pulumi types.
 *
 * Not yet in the droplet's payload: the units, Valkey and the setting that turns workers on come
 * next (issue 25); test/workers.test.ts runs what this renders with the real Synapse and Caddy.
 */
import { Directive, d } from "./caddyfile";
import { Balance, Endpoint, PROCESS_KINDS, SynapseProcess, Topology } from "./topology";

/** Socket mode for listeners Caddy's group opens (as main's client socket). */
const GROUP_SOCKET = 0o660;
/** Replication: Synapse's own account only. */
const OWNER_SOCKET = 0o600;

/** An endpoint as Synapse names one in `instance_map` and `redis`: a socket path, or host and port. */
function synapseAddress(endpoint: Endpoint, socketDir: string): Record<string, unknown> {
  return "unix" in endpoint ? { path: `${socketDir}/${endpoint.unix}` } : { host: endpoint.tcp.host, port: endpoint.tcp.port };
}

/** An endpoint as Caddy names an upstream. */
export function caddyUpstream(endpoint: Endpoint, socketDir: string): string {
  return "unix" in endpoint ? `unix/${socketDir}/${endpoint.unix}` : `${endpoint.tcp.host}:${endpoint.tcp.port}`;
}

export interface WorkerSite {
  /** Synapse's socket directory on the droplet. */
  socketDir: string;
  /** Redis (Valkey): its Unix socket. */
  redisSocket: string;
  logConfig: string;
}

/**
 * What main's configuration gains when workers run: merged into its conf.d; nothing without
 * workers. With a media worker, main no longer serves the media admin API either (Synapse
 * registers it with the media repository): matrixctl's media calls go to that worker's socket.
 */
export function mainWorkerConfig(t: Topology, site: WorkerSite): Record<string, unknown> {
  if (t.processes.length === 1) return {};
  return {
    instance_map: Object.fromEntries(Object.entries(t.shared.instanceMap).map(([name, e]) => [name, synapseAddress(e, site.socketDir)])),
    redis: { enabled: true, path: site.redisSocket },
    ...(t.shared.federationSenderInstances.length > 0 ? { federation_sender_instances: t.shared.federationSenderInstances } : {}),
    ...(t.shared.mediaInstance ? { enable_media_repo: false, media_instance_running_background_jobs: t.shared.mediaInstance } : {}),
    ...(t.shared.runBackgroundTasksOn ? { run_background_tasks_on: t.shared.runBackgroundTasksOn } : {}),
  };
}

/**
 * The database pool every process opens (the shared config's, so main's and each worker's): its
 * share of the connections the plan was given.
 */
export function workerPool(t: Topology): { cp_min: number; cp_max: number } {
  const max = Math.min(...t.processes.map((p) => p.poolMax));
  return { cp_min: 1, cp_max: max };
}

/** Main's replication listener (beside its client, admin and metrics listeners), when workers run. */
export function mainReplicationListener(t: Topology, site: WorkerSite): Record<string, unknown>[] {
  const main = t.processes.find((p) => p.kind === "main")!;
  if (t.processes.length === 1 || !main.replication) return [];
  return [{ ...listenerAt(main.replication, site.socketDir, OWNER_SOCKET), type: "http", resources: [{ names: ["replication"] }] }];
}

/**
 * A listener on a Unix socket. Listeners on a droplet's private address (workers on other
 * droplets) are not rendered yet: they need the private address to bind and the replication
 * secret (Synapse's replication is unauthenticated without it), which come with worker droplets.
 */
function listenerAt(endpoint: Endpoint, socketDir: string, mode: number): Record<string, unknown> {
  if (!("unix" in endpoint)) throw new Error("synapseWorkers: listeners on a private address (worker droplets) are not rendered yet");
  return { path: `${socketDir}/${endpoint.unix}`, mode };
}

/** A worker's own file: its app, name, listeners, log config and caches (the rest is the shared config). */
export function workerConfig(p: SynapseProcess, site: WorkerSite): Record<string, unknown> {
  const listeners: Record<string, unknown>[] = [];
  if (p.http) {
    // The media resource serves the client and federation APIs' media paths too (Synapse 1.163's generic_worker).
    const names = p.kind === "media" ? ["media"] : ["client", "federation"];
    listeners.push({ ...listenerAt(p.http, site.socketDir, GROUP_SOCKET), type: "http", x_forwarded: true, resources: [{ names, compress: false }] });
  }
  if (p.replication) listeners.push({ ...listenerAt(p.replication, site.socketDir, OWNER_SOCKET), type: "http", resources: [{ names: ["replication"] }] });
  // Its caches trimmed well inside the memory it is held to (the shared config's are main's, by the droplet's size).
  const memory = PROCESS_KINDS[p.kind].memoryMaxMb;
  return {
    worker_app: PROCESS_KINDS[p.kind].app, worker_name: p.name, worker_listeners: listeners, worker_log_config: site.logConfig,
    caches: { global_factor: 0.5, cache_autotuning: { max_cache_memory_usage: `${Math.floor(memory / 2)}M`, target_cache_memory_usage: `${Math.floor(memory / 4)}M`, min_cache_ttl: "5m" } },
  };
}

/** Caddy's balancing for a route's pool. */
function lbPolicy(balance: Balance, matcher: string): { before: Directive[]; policy: Directive } {
  switch (balance) {
    // The whole Authorization header: the same token (one device) to the same process.
    case "token": return { before: [], policy: d("lb_policy", ["header", "Authorization"]) };
    // The room ID, taken from the path (the matcher's second group), as a request header to hash.
    case "room": return { before: [d("request_header", ["X-Matrix-Room", `{re.${matcher}.2}`])], policy: d("lb_policy", ["header", "X-Matrix-Room"]) };
    case "source": return { before: [], policy: d("lb_policy", ["ip_hash"]) };
    case "round_robin": return { before: [], policy: d("lb_policy", ["round_robin"]) };
  }
}

/**
 * Caddy's routes to the workers, before the handler that sends everything else to main: one
 * matcher and handler per route whose pool is not main alone.
 */
export function workerRoutes(t: Topology, socketDir: string, proxyOptions: Directive[]): Directive[] {
  const byName = new Map(t.processes.map((p) => [p.name, p]));
  return t.routes.flatMap((route, i) => {
    if (route.pool.length === 1 && route.pool[0] === "main") return [];
    const matcher = `workers${i}`;
    const { before, policy } = lbPolicy(route.balance, matcher);
    const upstreams = route.pool.map((name) => caddyUpstream(byName.get(name)!.http!, socketDir));
    return [
      d(`@${matcher}`, ["path_regexp", matcher, route.paths.map((p) => `(?:${p})`).join("|")]),
      // A worker that fails is left out for 10 s: a hashed pool's retries then go to another one.
      d("handle", [`@${matcher}`], [...before, d("reverse_proxy", upstreams, [policy, d("fail_duration", ["10s"]), ...proxyOptions])]),
    ];
  });
}
