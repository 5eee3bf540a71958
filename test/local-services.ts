/**
 * Real services for the integration tests, run as plain processes on this machine in a
 * scratch directory: a throwaway PostgreSQL cluster, the pinned Synapse, and Caddy.
 */
import * as fs from "fs";
import * as https from "https";
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

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  raw: Buffer;
  json<T = Record<string, unknown>>(): T;
}

/**
 * An HTTPS request to a test host name, sent to `address` (default 127.0.0.1; from `from`) with the host name as SNI and
 * Host header, and the certificate checked against `ca`, as a client that resolves the
 * name to this machine would.
 */
export function request(
  url: string,
  ca: string,
  options: { method?: string; body?: string | Buffer; headers?: Record<string, string>; address?: string; from?: string; signal?: AbortSignal } = {},
): Promise<Reply> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: options.address ?? "127.0.0.1",
        localAddress: options.from,
        port: Number(u.port || 443),
        servername: net.isIP(u.hostname) ? undefined : u.hostname,
        path: u.pathname + u.search,
        method: options.method ?? "GET",
        headers: {
          host: u.host,
          ...(options.body !== undefined ? { "content-length": String(Buffer.byteLength(options.body)) } : {}),
          ...(options.headers ?? {}),
        },
        ca,
        signal: options.signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const raw = Buffer.concat(chunks);
          const body = raw.toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, raw, json: () => JSON.parse(body) });
        });
      },
    );
    req.on("error", reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

export { Service, startProcess, waitUntil } from "../local/process";
