/**
 * Synapse with workers, exactly as the plan of its processes (cloud-init/topology.ts) and its
 * renderers (cloud-init/synapseWorkers.ts, caddy.ts) make it, on the real services of this
 * machine: the pinned Synapse (its lock with the redis extra) as main and seven workers, Redis
 * on a Unix socket (Valkey speaks its protocol), PostgreSQL, and Caddy routing with the rendered
 * Caddyfile. Requests go through Caddy as clients send them; each process's own request log says
 * which one served them.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { renderCaddyfile } from "../cloud-init/caddy";
import { renderPostgresSetupSql, renderPostgresTuning } from "../cloud-init/postgres";
import { SYNAPSE_MODULES_SOURCE_DIR, SynapseSite, renderYaml } from "../cloud-init/synapse";
import { WorkerSite, workerConfig } from "../cloud-init/synapseWorkers";
import { PROCESS_KINDS, Topology, planTopology } from "../cloud-init/topology";
import { request } from "../local/https";
import { scratchDir, settingsFor, testSecrets } from "./fixtures";
import { Postgres, SYNAPSE_VENV, Service, adminToken, startCaddy, startPostgres, startProcess, startSynapse, synapseSiteIn, waitUntil } from "./local-services";
import { socketFetch } from "../local/socketFetch";

const settings = settingsFor({ acmeServer: "internal", matrixRtc: false });
const secrets = testSecrets();
const MATRIX = `https://${settings.matrixHost}`;
/**
 * Four vCPUs: two sync and two client workers, a federation sender, the media repository,
 * background tasks; 30 database connections for Synapse in all, PostgreSQL allowing 5 more
 * (backups, matrixctl, psql): how the droplet will set it for this plan.
 */
const SYNAPSE_CONNECTIONS = 30;
const TOPOLOGY: Topology = planTopology({ vcpus: 4, memoryMb: 8192, workers: "auto", workerDroplets: { count: 0, vcpus: 0, memoryMb: 0 }, databaseConnections: SYNAPSE_CONNECTIONS });

describe("Synapse with workers, as the plan renders them, on real Synapse, Redis, PostgreSQL and Caddy", { timeout: 600_000 }, () => {
  const dir = scratchDir("matrix-workers-");
  let postgres: Postgres;
  let site: SynapseSite;
  let workerSite: WorkerSite;
  const processes = new Map<string, Service>();
  let redis: Service;
  let caddy: Service;
  let ca: string;

  /** Every process's whole output (Service keeps only its tail). */
  const logs = new Map<string, string>();
  const keepLog = (name: string, service: Service) => {
    logs.set(name, "");
    for (const stream of [service.process.stdout!, service.process.stderr!]) stream.on("data", (chunk: Buffer) => logs.set(name, logs.get(name) + chunk.toString()));
  };
  /** Which processes logged a request for `pathPart` since `marks` (their logs' lengths then). */
  const loggedBy = (pathPart: string, marks: Map<string, number>) =>
    [...logs].filter(([name, log]) => log.slice(marks.get(name) ?? 0).split("\n").some((line) => line.includes("Processed request") && line.includes(pathPart))).map(([name]) => name);
  /** loggedBy, once some process has logged it (Synapse logs a request just after answering it). */
  const servedBy = async (pathPart: string, marks: Map<string, number>) => {
    await waitUntil(`a log line for ${pathPart}`, 10, () => loggedBy(pathPart, marks).length > 0).catch(() => {});
    await new Promise((r) => setTimeout(r, 200));
    return loggedBy(pathPart, marks);
  };
  const mark = () => new Map([...logs].map(([name, log]) => [name, log.length]));
  const call = async (method: string, url: string, token?: string, body?: unknown) => {
    const r = await request(`${MATRIX}${url}`, ca, {
      method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body) } : {}),
    });
    return { status: r.status, body: r.body, json: () => JSON.parse(r.body) };
  };

  before(async () => {
    // PostgreSQL as the droplet has it, its connections as the plan counts them.
    postgres = await startPostgres(path.join(dir, "postgres"), `${renderPostgresTuning(settings)}\nmax_connections = ${SYNAPSE_CONNECTIONS + 5}\n`);
    assert.equal(postgres.psql(["-q", "-f", "-"], renderPostgresSetupSql(secrets)).code, 0);
    site = synapseSiteIn(dir, postgres.port);
    const socketDir = path.dirname(site.clientSocket);
    workerSite = { socketDir, redisSocket: path.join(dir, "redis.sock"), logConfig: site.logConfig };
    redis = startProcess("redis-server", ["--port", "0", "--unixsocket", workerSite.redisSocket, "--unixsocketperm", "700", "--save", "", "--appendonly", "no"]);
    await waitUntil("Redis's socket", 30, () => fs.existsSync(workerSite.redisSocket));
    // Main first (it migrates the database), then every worker, each with the shared config and its own file.
    processes.set("main", await startSynapse(dir, settings, secrets, site, {}, { topology: TOPOLOGY, site: workerSite }));
    keepLog("main", processes.get("main")!);
    const confD = path.join(dir, "synapse", "conf.d");
    for (const p of TOPOLOGY.processes.filter((q) => q.kind !== "main")) {
      const file = path.join(dir, "synapse", `${p.name}.yaml`);
      fs.writeFileSync(file, renderYaml(workerConfig(p, workerSite)));
      processes.set(p.name, startProcess(path.join(SYNAPSE_VENV, "bin", "python"), ["-m", PROCESS_KINDS[p.kind].app, `--config-path=${confD}`, `--config-path=${file}`],
        { ...process.env, PYTHONPATH: SYNAPSE_MODULES_SOURCE_DIR }));
      keepLog(p.name, processes.get(p.name)!);
    }
    for (const p of TOPOLOGY.processes.filter((q) => q.kind !== "main")) {
      const service = processes.get(p.name)!;
      await waitUntil(`worker ${p.name}`, 240, async () => {
        if (service.process.exitCode !== null) throw new Error(`${p.name} exited:\n${service.output()}`);
        if (p.http && "unix" in p.http) return (await socketFetch(path.join(socketDir, p.http.unix))("/health")).ok;
        // Without HTTP: connected to main's replication stream.
        return /Connected to redis|Finished setting up|Synapse now listening/i.test(service.output());
      }).catch((error) => {
        throw new Error(`${error.message}\n${service.output().slice(-3000)}`);
      });
    }
    const caddyDir = path.join(dir, "caddy");
    ({ caddy, ca } = await startCaddy(caddyDir, renderCaddyfile(settings,
      { synapseUpstream: `unix/${site.clientSocket}`, elementRoot: caddyDir, adminSocket: path.join(caddyDir, "admin.sock") },
      { topology: TOPOLOGY, socketDir }), [`${MATRIX}/_matrix/client/versions`]));
  });

  after(async () => {
    if (process.env.WORKER_LOGS) fs.writeFileSync(process.env.WORKER_LOGS, JSON.stringify(Object.fromEntries(logs)));
    await caddy?.stop();
    for (const p of [...processes.values()].reverse()) await p.stop();
    await redis?.stop();
    postgres?.stop();
  });

  async function newUser(localpart: string): Promise<string> {
    // Through the admin API with matrixctl's token (the admin socket's module), as matrixctl adds users.
    const token = await adminToken(site);
    const userId = `@${localpart}:${settings.serverName}`;
    const put = await socketFetch(site.adminSocket)(`/_synapse/admin/v2/users/${encodeURIComponent(userId)}`, {
      method: "PUT", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ password: `${localpart}-password-1` }),
    });
    assert.equal(put.status, 201, await put.text());
    const marks = mark();
    const login = await call("POST", "/_matrix/client/v3/login", undefined, { type: "m.login.password", identifier: { type: "m.id.user", user: localpart }, password: `${localpart}-password-1` });
    assert.equal(login.status, 200, login.body);
    const loggedIn = await servedBy("/_matrix/client/v3/login", marks);
    assert.equal(loggedIn.length, 1, `one process logged the user in: ${loggedIn}`);
    assert.match(loggedIn[0], /^client\d$/, "a client worker");
    return login.json().access_token as string;
  }

  it("every process runs: main, two sync and two client workers, a federation sender, the media repository and background tasks", () => {
    assert.deepEqual([...processes.keys()], ["main", "sync1", "sync2", "client1", "client2", "federation_sender1", "media1", "background1"]);
    for (const [name, p] of processes) assert.equal(p.process.exitCode, null, `${name} runs`);
  });

  it("a message sent through a client worker reaches another user's sync on a sync worker (replication and Redis)", async () => {
    const alice = await newUser("alice");
    const bob = await newUser("bob");
    let marks = mark();
    const room = await call("POST", "/_matrix/client/v3/createRoom", alice, { preset: "private_chat", invite: [`@bob:${settings.serverName}`] });
    assert.equal(room.status, 200, room.body);
    const roomId = room.json().room_id as string;
    const created = await servedBy("/createRoom", marks);
    assert.ok(created.length === 1 && created[0].startsWith("client"), `createRoom: ${created}`);
    const join = await call("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, bob, {});
    assert.equal(join.status, 200, join.body);
    // Bob's sync, first a full one, then one that waits for what comes next.
    const first = await call("GET", "/_matrix/client/v3/sync?timeout=0", bob);
    assert.equal(first.status, 200, first.body);
    const since = first.json().next_batch as string;
    marks = mark();
    const waiting = call("GET", `/_matrix/client/v3/sync?timeout=30000&since=${encodeURIComponent(since)}`, bob);
    await new Promise((r) => setTimeout(r, 1000));
    const sent = await call("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t1`, alice, { msgtype: "m.text", body: "through the workers" });
    assert.equal(sent.status, 200, sent.body);
    const next = await waiting;
    assert.equal(next.status, 200, next.body);
    const events = next.json().rooms?.join?.[roomId]?.timeline?.events ?? [];
    assert.ok(events.some((e: { content?: { body?: string } }) => e.content?.body === "through the workers"), `bob's sync: ${next.body.slice(0, 500)}`);
    const syncs = await servedBy("/sync?", marks);
    assert.equal(syncs.length, 1, `one process served the sync: ${syncs}`);
    assert.match(syncs[0], /^sync\d$/);
    const sentBy = await servedBy("/send/m.room.message", marks);
    assert.ok(sentBy.length === 1 && sentBy[0].startsWith("client"), `a client worker took the message: ${sentBy}`);
    // Pagination of the room: a client worker, the same one every time (balanced by room).
    marks = mark();
    for (let i = 0; i < 4; i += 1) assert.equal((await call("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=${i + 1}`, alice)).status, 200);
    const paginatedBy = await servedBy("/messages", marks);
    assert.ok(paginatedBy.length === 1 && paginatedBy[0].startsWith("client"), `one client worker for the room: ${paginatedBy}`);
  });

  it("each device's syncs stay on one sync worker (balanced by its token), and the devices use both; a stream writer's path stays on main", async () => {
    const tokens: string[] = [];
    for (const who of ["carol", "erin", "frank"]) {
      tokens.push(await newUser(who));
      for (let i = 0; i < 3; i += 1) {
        const login = await call("POST", "/_matrix/client/v3/login", undefined, { type: "m.login.password", identifier: { type: "m.id.user", user: who }, password: `${who}-password-1` });
        assert.equal(login.status, 200, login.body);
        tokens.push(login.json().access_token as string);
      }
    }
    const workersUsed = new Set<string>();
    for (const token of tokens) {
      const marks = mark();
      for (let i = 0; i < 2; i += 1) assert.equal((await call("GET", "/_matrix/client/v3/sync?timeout=0", token)).status, 200);
      const syncedBy = await servedBy("/sync", marks);
      assert.ok(syncedBy.length === 1 && syncedBy[0].startsWith("sync"), `one sync worker for a device: ${syncedBy}`);
      workersUsed.add(syncedBy[0]);
    }
    // Twelve devices hashed onto two workers: all on one would mean the key is not the token (1 in 2048 by chance).
    assert.deepEqual([...workersUsed].sort(), ["sync1", "sync2"]);
    const marks = mark();
    const keys = await call("POST", "/_matrix/client/v3/keys/upload", tokens[0], { one_time_keys: {} });
    assert.equal(keys.status, 200, keys.body);
    assert.deepEqual(await servedBy("/keys/upload", marks), ["main"]);
  });

  it("each room's pagination stays on one client worker (balanced by room), and the rooms use both", async () => {
    const workersUsed = new Set<string>();
    for (const who of ["grace", "heidi"]) {
      const token = await newUser(who);
      for (let r = 0; r < 8; r += 1) {
        const room = await call("POST", "/_matrix/client/v3/createRoom", token, { preset: "private_chat" });
        assert.equal(room.status, 200, room.body);
        const roomId = encodeURIComponent(room.json().room_id as string);
        const marks = mark();
        for (const query of ["dir=b&limit=1", "dir=b&limit=5", "dir=f&limit=2"]) assert.equal((await call("GET", `/_matrix/client/v3/rooms/${roomId}/messages?${query}`, token)).status, 200);
        const paginatedBy = await servedBy("/messages", marks);
        assert.ok(paginatedBy.length === 1 && paginatedBy[0].startsWith("client"), `one client worker for a room: ${paginatedBy}`);
        workersUsed.add(paginatedBy[0]);
      }
    }
    // Sixteen rooms hashed onto two workers: all on one would mean the key is not the room (1 in 32768 by chance).
    assert.deepEqual([...workersUsed].sort(), ["client1", "client2"]);
  });

  it("the federation sender sends (main does not), and the pools never open more connections than the plan gave them", () => {
    assert.match(logs.get("federation_sender1")!, /synapse\.federation\.sender/);
    assert.doesNotMatch(logs.get("main")!, /process_event_queue_for_federation/);
    const open = Number(postgres.psql(["-At", "-c", "SELECT count(*) FROM pg_stat_activity WHERE usename = 'synapse'"]).stdout.trim());
    assert.ok(open > 0 && open <= TOPOLOGY.connections.used, `${open} connections open, ${TOPOLOGY.connections.used} planned (${SYNAPSE_CONNECTIONS} given)`);
  });

  it("media goes to the media repository worker, and comes back byte for byte", async () => {
    const dave = await newUser("dave");
    const marks = mark();
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251));
    const upload = await request(`${MATRIX}/_matrix/media/v3/upload?filename=b.bin`, ca, {
      method: "POST", headers: { authorization: `Bearer ${dave}`, "content-type": "application/octet-stream" }, body: bytes,
    });
    assert.equal(upload.status, 200, upload.body);
    const uri = JSON.parse(upload.body).content_uri as string;
    const download = await request(`${MATRIX}/_matrix/client/v1/media/download/${uri.slice("mxc://".length)}`, ca, { headers: { authorization: `Bearer ${dave}` } });
    assert.equal(download.status, 200);
    assert.equal(download.raw.equals(bytes), true, "the same bytes");
    assert.deepEqual([...new Set([...(await servedBy("/upload", marks)), ...(await servedBy("/media/download", marks))])], ["media1"]);
  });
});
