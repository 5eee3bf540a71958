/**
 * Element X's side of a login, for the tests: test/element-x-client, a small client on
 * matrix-rust-sdk (the SDK Element X is built on), built here with cargo and run against a
 * homeserver. The build goes to a cache outside the repository (~/.cache/matrix-do/), so a
 * clean clone reuses it; cargo rebuilds when the sources or Cargo.lock change.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PACKAGE_ROOT as ROOT } from "../cloud-init/assets";
import { Hosts, run, runAsync, withHosts } from "./process";

const SOURCE = path.join(ROOT, "test", "element-x-client");
const TARGET = path.join(os.homedir(), ".cache", "matrix-do", "element-x-client");

/** cargo: $CARGO, on PATH, or rustup's default place. */
export function cargo(): string {
  const rustup = path.join(os.homedir(), ".cargo", "bin", "cargo");
  return [process.env.CARGO, rustup].find((c) => c && fs.existsSync(c)) ?? "cargo";
}

let built: string | undefined;

/** The client's binary, built (once per process; cargo skips an up-to-date build) from the locked dependencies. */
export function ensureElementXClient(): string {
  if (built) return built;
  const r = run(cargo(), ["build", "--release", "--locked", "--quiet"], { cwd: SOURCE, env: { ...process.env, CARGO_TARGET_DIR: TARGET } });
  if (r.code !== 0) throw new Error(`cargo build test/element-x-client: ${r.stderr.slice(-6000)}`);
  built = path.join(TARGET, "release", "element-x-client");
  return built;
}

/** What the client reports (times in ms since its login request started). */
export interface ElementXFigures {
  userId: string;
  deviceId: string | null;
  /** "native": MSC4186, simplified sliding sync, as Synapse serves it. */
  slidingSyncVersion: string;
  loggedInMs: number;
  roomSeenMs: number;
  roomsInList: number;
  messageSeenMs: number;
  /** Whether the message had to be paginated back to (it was not in what sync brought). */
  paginated: boolean;
  /** The room list's preview of the room once the message was seen. */
  latestEventBody: string | null;
  /** The server took the reply (its event id known). */
  replySentMs: number;
  /** The reply came back in a sliding sync response. */
  replyEchoedMs: number;
  replyEventId: string;
}

export interface ElementXRun {
  homeserver: string;
  user: string;
  password: string;
  roomId: string;
  expectBody: string;
  expectSender?: string;
  reply: string;
  caFile?: string;
  /** Names the client resolves to these addresses (the test domain's). */
  hosts?: Hosts;
  /** Keep to `homeserver` whatever base URL the login response names (a server on loopback). */
  stayOnHomeserver?: boolean;
  timeoutSecs?: number;
}

/**
 * Run the client (asynchronously: the services it talks to may be this process's children,
 * whose output must keep flowing). Its figures, or null when it failed; with its exit code and
 * standard error either way.
 */
export async function runElementXClient(o: ElementXRun): Promise<{ figures: ElementXFigures | null; code: number; stderr: string }> {
  const args = ["--homeserver", o.homeserver, "--user", o.user, "--password-stdin", "--room-id", o.roomId,
    "--expect-body", o.expectBody, "--reply", o.reply, "--timeout-secs", String(o.timeoutSecs ?? 120),
    ...(o.expectSender ? ["--expect-sender", o.expectSender] : []),
    ...(o.caFile ? ["--ca-file", o.caFile] : []),
    ...(o.stayOnHomeserver ? ["--stay-on-homeserver"] : [])];
  const { code, stdout, stderr } = await runAsync(...withHosts(o.hosts, ensureElementXClient(), args), { input: `${o.password}\n` });
  const line = stdout.trim().split("\n").at(-1) ?? "";
  let figures: ElementXFigures | null = null;
  if (code === 0) {
    try {
      figures = JSON.parse(line) as ElementXFigures;
    } catch {
      throw new Error(`element-x-client printed no figures:\n${stdout}\n${stderr.slice(-3000)}`);
    }
  }
  return { figures, code, stderr };
}
