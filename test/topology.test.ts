/**
 * The plan of Synapse's processes (cloud-init/topology.ts), for every droplet size the settings
 * accept and every number of worker droplets: the invariants everything that will read it relies
 * on. Every Matrix path goes to exactly one pool, of processes that serve HTTP; every process
 * called over replication is in instance_map; the pools fit the database's connections; nothing
 * listens on a droplet's private address that its firewall would not open to the stack; Redis
 * whenever workers run.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ROUTE_PATHS, PROCESS_KINDS, Topology, TopologyError, TopologyInput, planTopology, routeFor } from "../cloud-init/topology";
import { SIZES } from "../components/settings";
import { mainReplicationListener, mainWorkerConfig, workerRoutes } from "../cloud-init/synapseWorkers";

/** vCPUs of a size slug (s-2vcpu-4gb, c-4, g-2vcpu-8gb). */
const vcpusOf = (slug: string) => Number(/^(?:[a-z]-(\d+)vcpu|c-(\d+))/.exec(slug)!.slice(1).find(Boolean));

/** Requests as clients and servers send them, and which kind of worker serves each (or main only). */
const REQUESTS: [string, "sync" | "client" | "media" | "main"][] = [
  ["/_matrix/client/v3/sync", "sync"],
  ["/_matrix/client/r0/sync", "sync"],
  ["/_matrix/client/unstable/org.matrix.simplified_msc3575/sync", "sync"],
  ["/_matrix/client/v3/rooms/!abc:example.org/initialSync", "sync"],
  ["/_matrix/client/v3/rooms/!abc:example.org/messages", "client"],
  ["/_matrix/client/v3/rooms/!abc:example.org/send/m.room.message/txn1", "client"],
  ["/_matrix/client/v3/rooms/!abc:example.org/state/m.room.name/", "client"],
  ["/_matrix/client/v3/rooms/!abc:example.org/members", "client"],
  ["/_matrix/client/v3/rooms/!abc:example.org/join", "client"],
  ["/_matrix/client/v3/login", "client"],
  ["/_matrix/client/v3/keys/query", "client"],
  ["/_matrix/client/v3/createRoom", "client"],
  ["/_matrix/client/v3/profile/@alice:example.org/displayname", "client"],
  ["/_matrix/client/v1/media/download/example.org/abc", "media"],
  ["/_matrix/media/v3/upload", "media"],
  ["/_matrix/federation/v1/send/123", "client"],
  ["/_matrix/federation/v1/event/$e", "client"],
  ["/_matrix/federation/v2/send_join/!r/$e", "client"],
  ["/_matrix/key/v2/query", "client"],
  ["/_matrix/federation/v1/media/download/abc", "media"],
  // Stream writers' endpoints and what only main serves: no route, main.
  ["/_matrix/client/v3/keys/upload", "main"],
  ["/_matrix/client/v3/rooms/!abc:example.org/typing/@alice:example.org", "main"],
  ["/_matrix/client/v3/sendToDevice/m.room.encrypted/txn1", "main"],
  ["/_matrix/client/v3/user/@alice:example.org/account_data/m.direct", "main"],
  ["/_matrix/client/v3/rooms/!abc:example.org/receipt/m.read/$e", "main"],
  ["/_matrix/client/v3/pushrules/", "main"],
  ["/_matrix/client/v3/presence/@alice:example.org/status", "main"],
  ["/_matrix/client/versions", "main"],
  ["/_matrix/client/unstable/org.matrix.simplified_msc3575/sync/extra", "main"],
  ["/_synapse/client/password_reset/email/submit_token", "main"],
];

const SHAPES: { name: string; input: TopologyInput }[] = [];
for (const [slug, memoryMb] of Object.entries(SIZES)) {
  for (const count of [0, 1, 3]) {
    for (const workers of count > 0 ? ["auto"] as const : ["auto", "none"] as const) {
      SHAPES.push({
        name: `${slug}, workers ${workers}, ${count} worker droplets`,
        input: { vcpus: vcpusOf(slug), memoryMb, workers, workerDroplets: { count, vcpus: 2, memoryMb: 2048 }, databaseConnections: 97 },
      });
    }
  }
}

function checkInvariants(t: Topology, input: TopologyInput): void {
  const byName = new Map(t.processes.map((p) => [p.name, p]));
  assert.equal(byName.size, t.processes.length, "process names are unique");
  // Every Matrix path: exactly one pool (no two routes claim it), of processes that serve HTTP.
  for (const [path, servedBy] of REQUESTS) {
    const claiming = t.routes.filter((r) => r.paths.some((pattern) => new RegExp(pattern).test(path)));
    assert.ok(claiming.length <= 1, `${path}: claimed by ${claiming.length} routes`);
    const route = routeFor(t, path);
    if (servedBy === "main") assert.equal(route, undefined, `${path}: main only`);
    else {
      assert.ok(route && route.pool.length > 0, `${path}: a pool serves it`);
      // Its kind of worker where the plan has one, else main.
      const kinds = new Set(route.pool.map((name) => byName.get(name)!.kind));
      const has = t.processes.some((p) => p.kind === servedBy);
      assert.deepEqual([...kinds], [has ? servedBy : "main"], `${path}: ${[...kinds]}`);
    }
  }
  for (const route of t.routes) {
    for (const name of route.pool) assert.ok(byName.get(name)?.http, `${name} serves HTTP for ${route.paths[0]}`);
  }
  // Everything called over replication is in instance_map, main first of all, whenever workers run.
  const workers = t.processes.length > 1;
  assert.equal(t.redis, workers, "Redis exactly when workers run");
  if (workers) {
    assert.ok(t.shared.instanceMap.main, "main is in instance_map");
    for (const p of t.processes) if (p.replication) assert.deepEqual(t.shared.instanceMap[p.name], p.replication);
    for (const name of Object.keys(t.shared.instanceMap)) assert.ok(byName.get(name)?.replication, `${name} listens for replication`);
  } else {
    assert.deepEqual(t.shared.instanceMap, {});
  }
  // Duties Synapse runs in one place.
  for (const [kind, spec] of Object.entries(PROCESS_KINDS)) {
    if (spec.single) assert.ok(t.processes.filter((p) => p.kind === kind).length <= 1, `one ${kind} at most`);
  }
  // The pools fit the database.
  const used = t.processes.reduce((sum, p) => sum + p.poolMax, 0);
  assert.equal(t.connections.used, used);
  assert.ok(used <= input.databaseConnections, `${used} connections of ${input.databaseConnections}`);
  // Nothing listens on a private address but what the stack's firewall opens, and no socket is
  // used from another droplet.
  const listening: Record<string, number[]> = Object.fromEntries(t.hosts.map((h) => [h, []]));
  for (const p of t.processes) {
    for (const endpoint of [p.http, p.replication]) {
      if (!endpoint) continue;
      if ("tcp" in endpoint) listening[endpoint.tcp.host].push(endpoint.tcp.port);
    }
  }
  for (const host of t.hosts) assert.deepEqual([...listening[host]].sort(), [...t.privateIngress[host]].sort(), `${host}: listening = opened`);
  const elsewhere = t.processes.some((p) => p.host !== "main");
  const mainReplication = byName.get("main")!.replication!;
  if (elsewhere) assert.ok("tcp" in mainReplication, "workers on other droplets reach main's replication over the VPC");
  for (const p of t.processes.filter((q) => q.host !== "main")) assert.ok(p.http && "tcp" in p.http, `${p.name}: Caddy reaches it over the VPC`);
}

describe("the plan of Synapse's processes", () => {
  it("one vCPU (the default size), or workers none: the main process alone, as the payload runs it today", () => {
    for (const input of SHAPES.map((s) => s.input).filter((i) => i.workerDroplets.count === 0 && (i.vcpus === 1 || i.workers === "none"))) {
      const t = planTopology(input);
      assert.deepEqual(t.processes.map((p) => p.name), ["main"]);
      assert.equal(t.redis, false);
      assert.ok(t.routes.every((r) => r.pool.join() === "main"));
      // Nothing of the workers' rendering: the payload is today's.
      const site = { socketDir: "/run/synapse", redisSocket: "/run/valkey/valkey.sock", logConfig: "/etc/synapse/log.yaml" };
      assert.deepEqual([mainWorkerConfig(t, site), mainReplicationListener(t, site), workerRoutes(t, "/run/synapse", [])], [{}, [], []]);
    }
  });

  it("from two vCPUs: sync, client, federation sender and media workers on the droplet, sized to it", () => {
    const two = planTopology({ vcpus: 2, memoryMb: 4096, workers: "auto", workerDroplets: { count: 0, vcpus: 0, memoryMb: 0 }, databaseConnections: 97 });
    assert.deepEqual(two.processes.map((p) => p.name), ["main", "sync1", "client1", "federation_sender1", "media1"]);
    assert.deepEqual(routeFor(two, "/_matrix/client/v3/sync")?.pool, ["sync1"]);
    assert.equal(routeFor(two, "/_matrix/client/v3/sync")?.balance, "token");
    assert.equal(routeFor(two, "/_matrix/client/v3/rooms/!r:x/messages")?.balance, "room");
    assert.equal(routeFor(two, "/_matrix/federation/v1/send/1")?.balance, "source");
    assert.equal(two.shared.mediaInstance, "media1");
    const eight = planTopology({ vcpus: 8, memoryMb: 16384, workers: "auto", workerDroplets: { count: 0, vcpus: 0, memoryMb: 0 }, databaseConnections: 97 });
    assert.equal(eight.processes.filter((p) => p.kind === "sync").length, 4);
    assert.equal(eight.shared.runBackgroundTasksOn, "background1");
    assert.deepEqual(eight.shared.federationSenderInstances, ["federation_sender1", "federation_sender2"]);
    // Less memory, fewer workers: what 2 GB holds beside main and PostgreSQL.
    const small = planTopology({ vcpus: 2, memoryMb: 2048, workers: "auto", workerDroplets: { count: 0, vcpus: 0, memoryMb: 0 }, databaseConnections: 97 });
    const memory = small.processes.reduce((sum, p) => sum + PROCESS_KINDS[p.kind].memoryMaxMb, 0);
    assert.ok(memory <= 2048 - 768, `${memory} MiB of workers on 2 GB`);
  });

  for (const { name, input } of SHAPES) {
    it(`holds its invariants: ${name}`, () => checkInvariants(planTopology(input), input));
  }

  it("refuses pools the database cannot hold, saying how many it needs (DigitalOcean's 1 GB plan: 22)", () => {
    const input: TopologyInput = { vcpus: 8, memoryMb: 16384, workers: "auto", workerDroplets: { count: 3, vcpus: 8, memoryMb: 16384 }, databaseConnections: 22 };
    assert.throws(() => planTopology(input), (e: Error) => e instanceof TopologyError && /^\d+ Synapse processes need at least 2 database connections each \(\d+\); the database allows 22$/.test(e.message));
    // The same on a bigger plan fits.
    checkInvariants(planTopology({ ...input, databaseConnections: 97 }), { ...input, databaseConnections: 97 });
  });

  it("worker droplets need workers on: refused with workers none", () => {
    assert.throws(() => planTopology({ vcpus: 2, memoryMb: 4096, workers: "none", workerDroplets: { count: 1, vcpus: 2, memoryMb: 2048 }, databaseConnections: 97 }),
      (e: Error) => e instanceof TopologyError && /worker droplets run workers/.test(e.message));
  });

  it("the route patterns are valid, anchored regular expressions", () => {
    for (const pattern of Object.values(ROUTE_PATHS).flat()) {
      assert.ok(pattern.startsWith("^/_matrix/"), pattern);
      assert.doesNotThrow(() => new RegExp(pattern));
    }
  });
});
