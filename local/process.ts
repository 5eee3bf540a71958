/**
 * Running programs: one-shot commands, long-running services, and waiting for a condition.
 * Shared by `npm run local` and the test suite.
 */
import * as childProcess from "child_process";
import * as net from "net";
import * as fs from "fs";
import * as path from "path";

/** Run a command; resolves with its exit code and output (never rejects on a non-zero exit). */
export function run(cmd: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}) {
  const result = childProcess.spawnSync(cmd, args, {
    input: options.input, env: options.env ?? process.env, cwd: options.cwd, encoding: "utf8",
    ...(options.timeoutMs ? { timeout: options.timeoutMs, killSignal: "SIGKILL" as const } : {}),
  });
  if (result.error) throw result.error;
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

export async function waitUntil(what: string, seconds: number, check: () => Promise<boolean> | boolean, intervalMs = 250): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${seconds}s waiting for ${what}`);
}

export interface Service {
  process: childProcess.ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/** Start a long-running process, keeping its output for failure messages. */
export function startProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Service {
  const child = childProcess.spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  // Dies with this process; the hook goes with the child (a run restarts dnsmasq at each DNS change).
  const killAtExit = () => child.kill("SIGKILL");
  process.on("exit", killAtExit);
  child.once("exit", () => process.off("exit", killAtExit));
  return {
    process: child,
    output: () => output,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** A TCP port free on loopback right now. */
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

/** Names a command resolves to these addresses (the test domain's), and where their hosts file goes. */
export interface Hosts {
  dir: string;
  names: Record<string, string>;
}

/**
 * `command args`, with its own /etc/hosts when `hosts` is given, in a private mount namespace:
 * names of the test domain resolve to the droplets' addresses for it alone, whatever resolver
 * it uses (a WebRTC stack resolving TURN servers included).
 */
export function withHosts(hosts: Hosts | undefined, command: string, args: string[]): [string, string[]] {
  if (!hosts) return [command, args];
  const file = path.join(hosts.dir, `hosts-${process.pid}-${Object.keys(hosts.names).join("-")}`);
  fs.writeFileSync(file, ["127.0.0.1 localhost", "::1 localhost", ...Object.entries(hosts.names).map(([name, ip]) => `${ip} ${name}`), ""].join("\n"));
  return ["unshare", ["--mount", "--propagation", "private", "--", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', file, command, ...args]];
}

/**
 * Run a command without blocking this process (whose other children, the services it talks
 * to, must keep running); `onStderr` sees its standard error so far as it comes.
 */
export async function runAsync(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; onStderr?: (soFar: string) => void } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = childProcess.spawn(command, args, { env: options.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-20000);
    options.onStderr?.(stderr);
  });
  child.stdin.end(options.input ?? "");
  const code = await new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (status) => resolve(status ?? -1));
  });
  return { code, stdout, stderr };
}
