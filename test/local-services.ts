/**
 * Real services for the integration tests, run as plain processes on this machine in a
 * scratch directory: a throwaway PostgreSQL cluster, the pinned Synapse, and Caddy.
 */
import * as fs from "fs";
import * as path from "path";
import { run } from "./fixtures";
import { SYNAPSE_VERSIONS } from "../cloud-init/versions";
import { Secrets, Settings } from "../cloud-init/settings";
import { MATRIXCTL_TOKEN_PATH, SYNAPSE_MODULES_SOURCE_DIR, SynapseSite, SynapseWorkers, renderYaml, synapseConfig, synapseLogConfig, synapseSecretsConfig } from "../cloud-init/synapse";
import { Service, freePort, startProcess, waitUntil } from "../local/process";
import { socketFetch } from "../local/socketFetch";
import { request } from "../local/https";

export const ROOT = path.resolve(__dirname, "..");
export const SYNAPSE_VENV = path.join(ROOT, ".cache", `synapse-${SYNAPSE_VERSIONS[0]}`);

function postgresBin(tool: string): string {
  const versions = fs.readdirSync("/usr/lib/postgresql").filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error("PostgreSQL server binaries not found (scripts/install-test-deps.sh installs them)");
  return `/usr/lib/postgresql/${versions[0]}/bin/${tool}`;
}

export interface Postgres {
  port: number;
  socketDir: string;
  /** Run psql as the postgres superuser over the Unix socket. */
  psql(args: string[], input?: string): { code: number; stdout: string; stderr: string };
  stop(): void;
}

/** A throwaway cluster owned by the postgres account, configured with `extraConf`. */
export async function startPostgres(dir: string, extraConf: string): Promise<Postgres> {
  const port = await freePort();
  const data = path.join(dir, "data");
  fs.mkdirSync(dir, { recursive: true });
  run("chown", ["postgres:postgres", dir]);
  const asPostgres = (cmd: string, args: string[], input?: string) => run("runuser", ["-u", "postgres", "--", cmd, ...args], { input });
  let r = asPostgres(postgresBin("initdb"), ["-D", data, "-E", "UTF8", "--locale=C.UTF-8", "--auth-local=peer", "--auth-host=scram-sha-256"]);
  if (r.code !== 0) throw new Error(`initdb failed: ${r.stderr}`);
  fs.writeFileSync(path.join(data, "matrix-do.conf"), extraConf);
  fs.appendFileSync(path.join(data, "postgresql.conf"), "\ninclude 'matrix-do.conf'\n");
  r = asPostgres(postgresBin("pg_ctl"), ["-D", data, "-l", path.join(dir, "log"), "-o", `-p ${port} -k ${dir}`, "-w", "start"]);
  if (r.code !== 0) throw new Error(`PostgreSQL did not start: ${r.stderr}\n${fs.readFileSync(path.join(dir, "log"), "utf8")}`);
  return {
    port,
    socketDir: dir,
    psql: (args, input) => asPostgres("psql", ["--no-psqlrc", "-h", dir, "-p", String(port), "-v", "ON_ERROR_STOP=1", ...args], input),
    stop: () => void asPostgres(postgresBin("pg_ctl"), ["-D", data, "-m", "fast", "-w", "stop"]),
  };
}

export { Service, freePort, startProcess, waitUntil };

/** Where the pinned Synapse keeps its files and sockets under `dir`, with its database at `dbPort`. */
export function synapseSiteIn(dir: string, dbPort: number): SynapseSite {
  const sockets = path.join(dir, "synapse-sockets");
  fs.mkdirSync(sockets, { recursive: true });
  return {
    media: path.join(dir, "synapse", "media"),
    signingKey: path.join(dir, "synapse", "signing.key"),
    logConfig: path.join(dir, "synapse", "log.yaml"),
    clientSocket: path.join(sockets, "client.sock"),
    adminSocket: path.join(sockets, "admin.sock"),
    metricsSocket: path.join(sockets, "metrics.sock"),
    dbHost: "127.0.0.1",
    dbPort,
  };
}

/** The pinned Synapse on the rendered config (main and secrets fragments), answering /health. */
export async function startSynapse(dir: string, settings: Settings, secrets: Secrets, site: SynapseSite, env: NodeJS.ProcessEnv = {}, workers?: SynapseWorkers): Promise<Service> {
  const confD = path.join(dir, "synapse", "conf.d");
  fs.mkdirSync(confD, { recursive: true });
  fs.writeFileSync(path.join(confD, "00-homeserver.yaml"), renderYaml(synapseConfig(settings, site, workers)));
  fs.writeFileSync(path.join(confD, "10-secrets.yaml"), renderYaml(synapseSecretsConfig(settings, secrets, site, workers)));
  fs.writeFileSync(site.logConfig, renderYaml(synapseLogConfig()));
  fs.writeFileSync(site.signingKey, `${secrets.signingKey}\n`);
  const synapse = startProcess(path.join(SYNAPSE_VENV, "bin", "python"), ["-m", "synapse.app.homeserver", `--config-path=${confD}`],
    { ...process.env, ...env, PYTHONPATH: SYNAPSE_MODULES_SOURCE_DIR });
  await waitUntil("Synapse /health", 180, async () => {
    if (synapse.process.exitCode !== null) throw new Error(`Synapse exited:\n${synapse.output()}`);
    return (await socketFetch(site.adminSocket)("/health")).ok;
  }).catch(async (error) => {
    await synapse.stop();
    throw new Error(`${error.message}\n${synapse.output()}`);
  });
  return synapse;
}

/** A token of matrixctl's account (a server admin), from the admin socket as matrixctl takes one. */
export async function adminToken(site: SynapseSite): Promise<string> {
  const reply = await socketFetch(site.adminSocket)(MATRIXCTL_TOKEN_PATH, { method: "POST", body: "{}" });
  const text = await reply.text();
  if (reply.status !== 200) throw new Error(`no admin token: ${reply.status} ${text}`);
  return (JSON.parse(text) as { access_token: string }).access_token;
}

/** A new account made through the admin API, logged in through the client socket: its ID and token. */
export async function registerUser(site: SynapseSite, admin: string, localpart: string, password: string, serverName: string): Promise<{ user_id: string; access_token: string }> {
  const userId = `@${localpart}:${serverName}`;
  const made = await socketFetch(site.adminSocket)(`/_synapse/admin/v2/users/${encodeURIComponent(userId)}`, {
    method: "PUT", headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" }, body: JSON.stringify({ password }),
  });
  if (made.status !== 201) throw new Error(`making ${userId}: ${made.status} ${await made.text()}`);
  // As through Caddy, which always passes the client's address on (Synapse needs one there).
  const login = await socketFetch(site.clientSocket)("/_matrix/client/v3/login", {
    method: "POST", headers: { "content-type": "application/json", "x-forwarded-for": "127.0.0.1" },
    body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: localpart }, password }),
  });
  const text = await login.text();
  if (login.status !== 200) throw new Error(`logging in as ${userId}: ${login.status} ${text}`);
  return JSON.parse(text) as { user_id: string; access_token: string };
}

/**
 * Caddy on a rendered Caddyfile, in `caddyDir` (its data, its local CA), certificates from its
 * own CA (acmeServer internal): resolves with it and its CA's root once every URL answers 200.
 */
export async function startCaddy(caddyDir: string, caddyfileText: string, readyUrls: string[]): Promise<{ caddy: Service; ca: string }> {
  fs.mkdirSync(caddyDir, { recursive: true });
  const caddyfile = path.join(caddyDir, "Caddyfile");
  fs.writeFileSync(caddyfile, caddyfileText);
  const caddy = startProcess("caddy", ["run", "--adapter", "caddyfile", "--config", caddyfile], {
    ...process.env, HOME: caddyDir, XDG_DATA_HOME: path.join(caddyDir, "data"), XDG_CONFIG_HOME: path.join(caddyDir, "config"),
  });
  const root = path.join(caddyDir, "data", "caddy", "pki", "authorities", "local", "root.crt");
  let ca = "";
  await waitUntil("Caddy's certificates", 60, async () => {
    if (caddy.process.exitCode !== null) throw new Error(`Caddy exited:\n${caddy.output()}`);
    if (!fs.existsSync(root)) return false;
    ca = fs.readFileSync(root, "utf8");
    for (const url of readyUrls) if ((await request(url, ca)).status !== 200) return false;
    return true;
  }).catch(async (error) => {
    await caddy.stop();
    throw new Error(`${error.message}\n${caddy.output()}`);
  });
  return { caddy, ca };
}
