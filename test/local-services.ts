/**
 * Real services for the integration tests, run as plain processes on this machine in a
 * scratch directory: a throwaway PostgreSQL cluster, the pinned Synapse, and Caddy.
 */
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { run } from "./fixtures";
import { SYNAPSE_VERSIONS } from "../cloud-init/versions";

export const ROOT = path.resolve(__dirname, "..");
export const SYNAPSE_VENV = path.join(ROOT, ".cache", `synapse-${SYNAPSE_VERSIONS[0]}`);

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}


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

export { Service, startProcess, waitUntil } from "../local/process";
