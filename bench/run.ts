/**
 * `npm run bench`: how the payload performs on a droplet of each size, tuned (what we ship)
 * against stock (Synapse and PostgreSQL as they come), measured on local droplets held to the
 * size's RAM, through Caddy over TLS with matrix-js-sdk. Prints a table and writes JSON.
 *
 * Per size and variant, on a fresh droplet and volume held to the size's RAM and vCPUs (the
 * benchmark's own client runs on the other cores):
 *   1. idle memory (PSS per service) BENCH_IDLE_SECONDS after HTTPS answers (default 300);
 *   2. sequential: one client sends BENCH_MESSAGES (3,287, the Romeo-and-Juliet benchmark's
 *      count) one after another, its rate limit lifted by the admin API;
 *   3. concurrent: BENCH_USERS (50) in BENCH_ROOMS (10) send BENCH_RATE (0.2) msg/s each for
 *      BENCH_LOAD_SECONDS (120) while long-poll syncing: latency send → other members' sync;
 *   peak memory, the container's peak, swap and OOM kills over 2 and 3.
 * The variant "calls" is tuned with calls (MatrixRTC) on, and a 4-person call (everyone speaking,
 * everyone hearing everyone) through the droplet's LiveKit all along the concurrent load.
 *
 * Other settings: BENCH_SIZES (droplet sizes, default s-1vcpu-1gb,s-1vcpu-2gb), BENCH_VARIANTS
 * (tuned,stock; add calls), BENCH_OUT (bench/results.json). Needs root (containers, network, cgroups).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { SIZES } from "../components/settings";
import { STOCK_TUNING } from "../components/tuning";
import { Settings } from "../cloud-init/settings";
import { renderUserData } from "../cloud-init/userData";
import { ensureRootfs } from "../local/rootfs";
import { activeSwapFiles, machineCores } from "../local/localDroplet";
import { run } from "../local/process";
import { PACKAGE_ROOT } from "../cloud-init/assets";
import { scratchDir } from "../local/scratch";
import { newSecrets } from "../local/secrets";
import { fetchVia } from "../local/matrixClient";
import { World, bootInto, startWorld, worldSettings, zoneOf } from "../local/world";
import { GroupCallFigures, placeGroupCall } from "../local/livekit";
import { request } from "../local/https";
import { liveKitTokens } from "../local/rtcTokens";
import { LIVEKIT_SERVICE } from "../cloud-init/livekit";
import { RTC_AUTH_SERVICE } from "../cloud-init/rtcAuth";
import { ConcurrentResult, SequentialResult, sendSequentially, talkConcurrently } from "./load";
import { PeakMemory, ServiceCpu, ServiceMemory, cpuBetween, serviceCpu, serviceMemory, unitsMemory } from "./memory";
import { AdminApi, populate } from "./population";
import { playLines, ratio } from "./stats";

export type Variant = "tuned" | "stock" | "calls";

/** With calls on: LiveKit's and the authorization service's memory, and the call itself. */
export interface CallsResult {
  idle: { livekit: number; auth: number };
  peak: { livekit: number; auth: number };
  /** The highest sum of the three services and the two of calls in one sample. */
  peakTotal: number;
  participants: number;
  /** The fewest packets any party heard from any other over the call. */
  fewestHeard: number;
  seconds: number;
}

export interface RunResult {
  size: string;
  memoryMb: number;
  vcpus: number;
  /** The droplet had as many vCPUs as this machine has cores, so it shared them with the benchmark's client. */
  sharedWithClient: boolean;
  variant: Variant;
  /** When the run that measured this started (a results file may hold runs of several invocations). */
  date: string;
  settings: { tuning: Settings["tuning"]; presence: boolean; swapMb: number };
  boot: { cloudInitSeconds: number };
  idle: ServiceMemory;
  peak: ServiceMemory;
  container: { peakMb: number; maxSwapMb: number; oomKills: number };
  sequential: SequentialResult;
  concurrent: ConcurrentResult;
  /** CPU seconds each service used during each workload. */
  cpu: { sequential: ServiceCpu; concurrent: ServiceCpu };
  calls?: CallsResult;
}

const env = (name: string, fallback: string) => process.env[name] ?? fallback;
const num = (name: string, fallback: number) => {
  const value = Number(env(name, String(fallback)));
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}: expected a positive number, got ${process.env[name]}`);
  return value;
};

export const OPTIONS = {
  idleSeconds: num("BENCH_IDLE_SECONDS", 300),
  messages: num("BENCH_MESSAGES", 3287),
  users: num("BENCH_USERS", 50),
  rooms: num("BENCH_ROOMS", 10),
  rate: num("BENCH_RATE", 0.2),
  loadSeconds: num("BENCH_LOAD_SECONDS", 120),
  sizes: env("BENCH_SIZES", "s-1vcpu-1gb,s-1vcpu-2gb").split(","),
  variants: env("BENCH_VARIANTS", "tuned,stock").split(",") as Variant[],
  out: env("BENCH_OUT", path.join(PACKAGE_ROOT, "bench", "results.json")),
};

/** The vCPUs in a droplet size's name (s-1vcpu-2gb → 1). */
export function vcpusOf(size: string): number {
  const vcpus = Number(/^s-(\d+)vcpu-/.exec(size)?.[1]);
  if (!vcpus) throw new Error(`BENCH_SIZES: cannot read the vCPUs of ${size}`);
  return vcpus;
}

const log = (line: string) => console.log(`bench: ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The settings a variant runs with: ours for the size, stock (presence on, as Synapse ships), or ours with calls on. */
export function variantSettings(world: World, size: string, variant: Variant): Settings {
  if (variant === "calls") return worldSettings(world, { size, matrixRtc: true });
  // The chat alone: the calls variant adds them.
  const settings = worldSettings(world, { size, matrixRtc: false });
  return variant === "tuned" ? settings : { ...settings, tuning: STOCK_TUNING, synapse: { ...settings.synapse, presence: true } };
}

const RTC_UNITS = { livekit: `${LIVEKIT_SERVICE}.service`, auth: `${RTC_AUTH_SERVICE}.service` } as const;

async function rtcMemory(leader: number): Promise<{ livekit: number; auth: number }> {
  const byUnit = await unitsMemory(leader, Object.values(RTC_UNITS));
  return { livekit: byUnit[RTC_UNITS.livekit], auth: byUnit[RTC_UNITS.auth] };
}

/** Four users' LiveKit tokens for one call, from the droplet's authorization service over HTTPS. */
async function callTokens(world: World, settings: Settings, api: AdminApi): Promise<string[]> {
  const callers = [];
  for (let i = 0; i < 4; i++) {
    const { userId, token } = await api.user(`caller${i}`, settings.serverName);
    callers.push({ userId, bearer: token });
  }
  const https = (url: string, options = {}) => request(url, world.trust, { address: world.address.ip, ...options });
  return liveKitTokens(https, { matrixHost: settings.matrixHost, rtcHost: settings.matrixRtc!.host }, `!meeting:${settings.serverName}`, callers);
}

interface Report {
  /** This invocation's options and length. */
  options: Record<string, unknown>;
  minutes: number;
  results: RunResult[];
  /** Files written before results had their own date. */
  date?: string;
}

/**
 * This invocation's results, and those of earlier ones for the sizes it did not run (each dated),
 * so one size can be measured again without the others. Sizes are run tuned and stock together;
 * the calls variant stands alone (it adds to a size's tuned and stock results, or replaces its own).
 */
export function mergeResults(previous: Report | undefined, fresh: RunResult[]): RunResult[] {
  const group = (r: RunResult) => `${r.size} ${r.variant === "calls" ? "calls" : "tuned and stock"}`;
  const ran = new Set(fresh.map(group));
  const kept = (previous?.results ?? []).filter((r) => !ran.has(group(r))).map((r) => ({ ...r, date: r.date ?? previous!.date! }));
  return [...kept, ...fresh].sort((a, b) => a.vcpus - b.vcpus || a.memoryMb - b.memoryMb);
}

async function benchOne(world: World, size: string, variant: Variant): Promise<RunResult> {
  const startedAt = new Date().toISOString();
  const memoryMb = SIZES[size];
  if (!memoryMb) throw new Error(`BENCH_SIZES: unknown droplet size ${size}`);
  const swaps = activeSwapFiles();
  if (swaps.length > 0) throw new Error(`this machine has swap on (${swaps.join(", ")}): the droplet would get more than its own`);
  const settings = variantSettings(world, size, variant);
  const secrets = newSecrets();
  // The size's name, not its RAM: two sizes of the same RAM must not share a volume directory.
  const name = `bench-${size}-${variant}`;
  const dir = path.join(world.dir, name);
  const vcpus = vcpusOf(size);
  const { droplet, figures } = await bootInto(world, settings, {
    name, workDir: path.join(dir, "roots"), volumeDir: path.join(dir, "volume"), userData: renderUserData(settings, secrets),
    memoryLimitMb: memoryMb, cpus: vcpus,
  });
  try {
    log(`${name}: up (cloud-init ${figures.cloudInit} s); idle for ${OPTIONS.idleSeconds} s`);
    await sleep(OPTIONS.idleSeconds * 1000);
    const exec = (command: string[]) => droplet.execAsync(command, 30_000);
    const idle = await serviceMemory(droplet.leader);
    const calls = settings.matrixRtc ? { idle: await rtcMemory(droplet.leader), peak: { livekit: 0, auth: 0 }, peakTotal: 0 } : undefined;
    log(`${name}: idle ${JSON.stringify(idle)} MiB${calls ? `, calls ${JSON.stringify(calls.idle)} MiB` : ""}`);

    const client = { baseUrl: `https://${settings.matrixHost}`, fetchFn: fetchVia(world.address.ip, world.trust) };
    const api = await AdminApi.onDroplet(droplet);

    // Memory is sampled every 2 s from here on.
    const peak = new PeakMemory();
    let maxSwapMb = 0;
    droplet.memory!.resetPeak();
    const sample = async () => {
      const services = await serviceMemory(droplet.leader);
      peak.add(services);
      if (calls) {
        const rtc = await rtcMemory(droplet.leader);
        calls.peak = { livekit: Math.max(calls.peak.livekit, rtc.livekit), auth: Math.max(calls.peak.auth, rtc.auth) };
        calls.peakTotal = Math.max(calls.peakTotal, services.total + rtc.livekit + rtc.auth);
      }
      maxSwapMb = Math.max(maxSwapMb, droplet.memory!.swapMb());
    };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await sample().catch(() => undefined);
        await sleep(2000);
      }
    })();

    let sequential: SequentialResult;
    let concurrent: ConcurrentResult;
    let call: GroupCallFigures | undefined;
    const cpu = {} as RunResult["cpu"];
    try {
      const [romeo] = await populate(api, settings.serverName, client, "verona", 2, 1);
      await api.unlimit(romeo.userId);
      let before = await serviceCpu(exec);
      sequential = await sendSequentially(romeo.client, romeo.roomId, playLines(OPTIONS.messages));
      cpu.sequential = cpuBetween(before, await serviceCpu(exec));
      log(`${name}: sequential ${JSON.stringify(sequential)}, CPU s ${JSON.stringify(cpu.sequential)}`);
      const talkers = await populate(api, settings.serverName, client, "user", OPTIONS.users, OPTIONS.rooms);
      const talk = async () => {
        before = await serviceCpu(exec);
        concurrent = await talkConcurrently(talkers, { rate: OPTIONS.rate, seconds: OPTIONS.loadSeconds });
        cpu.concurrent = cpuBetween(before, await serviceCpu(exec));
      };
      if (settings.matrixRtc) {
        // The load starts once everyone in the call hears everyone; the call outlasts it.
        const trustFile = path.join(dir, "trust.pem");
        fs.writeFileSync(trustFile, world.trust);
        const seconds = OPTIONS.loadSeconds + 30;
        const placed = await placeGroupCall(
          ["-url", `wss://${settings.matrixRtc.host}`, "-group", (await callTokens(world, settings, api)).join(","), "-seconds", String(seconds), "-want", String(seconds * 40)],
          { ...process.env, SSL_CERT_FILE: trustFile }, talk, { dir, names: zoneOf(settings.serverName, world.address.ip) });
        if (placed.code !== 0) throw new Error(`the 4-person call failed: ${placed.error}\n${placed.stderr.slice(-2000)}`);
        call = placed;
        log(`${name}: 4-person call: each heard each other at least ${placed.fewestHeard} packets over ${seconds} s`);
      } else {
        await talk();
      }
      log(`${name}: concurrent ${JSON.stringify(concurrent!)}, CPU s ${JSON.stringify(cpu.concurrent)}`);
    } finally {
      sampling = false;
      await sampler;
    }
    return {
      size, memoryMb, vcpus, date: startedAt, sharedWithClient: vcpus >= machineCores().length, variant,
      settings: { tuning: settings.tuning, presence: settings.synapse.presence, swapMb: settings.droplet.swapMb },
      boot: { cloudInitSeconds: figures.cloudInit },
      idle, peak: peak.peak,
      container: { peakMb: droplet.memory!.peakMb(), maxSwapMb, oomKills: droplet.memory!.oomKills() },
      sequential: sequential!, concurrent: concurrent!, cpu,
      ...(calls && call ? { calls: { ...calls, participants: call.participants, fewestHeard: call.fewestHeard, seconds: OPTIONS.loadSeconds + 30 } } : {}),
    };
  } finally {
    await droplet.poweroff();
    droplet.destroy();
  }
}

/** The figures compared, each read from a run. */
const FIGURES: [string, (r: RunResult) => number | undefined][] = [
  ["idle PSS Synapse (MiB)", (r) => r.idle.synapse],
  ["idle PSS PostgreSQL (MiB)", (r) => r.idle.postgres],
  ["idle PSS Caddy (MiB)", (r) => r.idle.caddy],
  ["idle PSS total (MiB)", (r) => r.idle.total],
  ["peak PSS Synapse (MiB)", (r) => r.peak.synapse],
  ["peak PSS PostgreSQL (MiB)", (r) => r.peak.postgres],
  ["peak PSS total (MiB)", (r) => r.peak.total],
  ["container peak incl. cache (MiB)", (r) => r.container.peakMb],
  ["swap used, max (MiB)", (r) => r.container.maxSwapMb],
  ["OOM kills", (r) => r.container.oomKills],
  ["sequential (msg/s)", (r) => r.sequential.messagesPerSecond],
  ["sequential CPU per message, Synapse (ms)", (r) => perMessage(r, "synapse")],
  ["sequential CPU per message, PostgreSQL (ms)", (r) => perMessage(r, "postgres")],
  ["sequential CPU per message, Caddy (ms)", (r) => perMessage(r, "caddy")],
  ["sequential CPU per message, whole droplet (ms)", (r) => perMessage(r, "droplet")],
  ["concurrent p50 (ms)", (r) => r.concurrent.latencyMs.p50],
  ["concurrent p95 (ms)", (r) => r.concurrent.latencyMs.p95],
  ["concurrent p99 (ms)", (r) => r.concurrent.latencyMs.p99],
  ["concurrent CPU busy, the three services (% of a vCPU)", (r) => busyPercent(r, false)],
  ["concurrent CPU busy, whole droplet (% of a vCPU)", (r) => busyPercent(r, true)],
  ["concurrent errors", (r) => r.concurrent.errors.send + r.concurrent.errors.sync],
  ["concurrent lost", (r) => r.concurrent.lost],
];

/** With calls on (the "calls" variant), these too. */
const CALL_FIGURES: [string, (r: RunResult) => number | undefined][] = [
  ["idle PSS LiveKit (MiB)", (r) => r.calls?.idle.livekit],
  ["idle PSS authorization service (MiB)", (r) => r.calls?.idle.auth],
  ["peak PSS LiveKit, in the 4-person call (MiB)", (r) => r.calls?.peak.livekit],
  ["peak PSS total, with calls (MiB)", (r) => r.calls?.peakTotal],
  ["4-person call: fewest packets one heard from another", (r) => r.calls?.fewestHeard],
];

function perMessage(r: RunResult, service: keyof ServiceCpu): number | undefined {
  const seconds = r.cpu?.sequential[service];
  return seconds === undefined ? undefined : Math.round((seconds * 1000 * 10) / r.sequential.messages) / 10;
}

/** The three services' (or the whole droplet's) CPU over the concurrent phase's wall time, as a share of one vCPU. */
function busyPercent(r: RunResult, whole: boolean): number | undefined {
  if (!r.cpu || !r.concurrent.seconds) return undefined;
  const { synapse, postgres, caddy, droplet } = r.cpu.concurrent;
  return Math.round(((whole ? droplet : synapse + postgres + caddy) / r.concurrent.seconds) * 100);
}

/**
 * A Markdown table: one row per figure, per size the tuned and stock values and their ratio; with
 * runs of the "calls" variant, their column and figures too.
 */
export function renderTable(results: RunResult[]): string {
  const sizes = [...new Set(results.map((r) => r.size))];
  const withCalls = results.some((r) => r.variant === "calls");
  const find = (size: string, variant: Variant) => results.find((r) => r.size === size && r.variant === variant);
  const show = (v: number | undefined) => (v === undefined ? "–" : String(v));
  const header = ["figure", ...sizes.flatMap((s) => [`${s} tuned`, `${s} stock`, "tuned/stock", ...(withCalls ? [`${s} with calls`] : [])])];
  const rows = [...FIGURES, ...(withCalls ? CALL_FIGURES : [])].map(([label, get]) => [label, ...sizes.flatMap((s) => {
    const [t, k, c] = [find(s, "tuned"), find(s, "stock"), find(s, "calls")].map((r) => (r ? get(r) : undefined));
    return [show(t), show(k), show(ratio(t, k)), ...(withCalls ? [show(c)] : [])];
  })]);
  return [header, header.map(() => "---"), ...rows].map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

/**
 * Give every thread of process `pid` an affinity, as `taskset -a` would, but tolerating threads
 * that come and go meanwhile (node's are not fixed: the loader's hooks thread, worker threads):
 * `taskset -a` gives up on a thread that exits while it walks them ("failed to get pid N's
 * affinity: No such process"). Here a thread whose `pin` fails is skipped only if `alive` says
 * it is gone; a failure on one still there (a bad core list, a process we may not touch) throws.
 * The main thread goes first and never vanishes, so a real error always shows; and the threads it
 * starts from then on (node's all but workers' own) inherit its affinity, listed or not.
 */
export function pinThreads(pid: number, threads: () => number[], pin: (tid: number) => string | undefined, alive: (tid: number) => boolean): void {
  const pinOne = (tid: number) => {
    const error = pin(tid);
    if (error !== undefined && (tid === pid || alive(tid))) throw new Error(`taskset failed on thread ${tid} of ${pid}: ${error}`);
  };
  pinOne(pid);
  threads().filter((tid) => tid !== pid).forEach(pinOne);
}

/** Pin all of process `pid`'s threads (/proc/<pid>/task) to `cores`. */
export function pinProcess(pid: number, cores: number[]): void {
  const tasks = `/proc/${pid}/task`;
  pinThreads(
    pid,
    () => fs.readdirSync(tasks).map(Number),
    (tid) => {
      const done = run("taskset", ["-p", "-c", cores.join(","), String(tid)]);
      return done.code === 0 ? undefined : done.stderr.trim();
    },
    (tid) => fs.existsSync(path.join(tasks, String(tid))),
  );
}

/**
 * Keep this process (the clients, the world's DNS and ACME server: everything it starts) off the
 * cores the droplets are pinned to (the last ones), so they do not take the droplet's vCPU.
 */
function keepOffDropletCores(): void {
  const cores = machineCores();
  const tooBig = OPTIONS.sizes.filter((size) => vcpusOf(size) > cores.length);
  if (tooBig.length > 0) throw new Error(`BENCH_SIZES: this machine has ${cores.length} cores, fewer than ${tooBig.join(", ")} has vCPUs`);
  // A size with as many vCPUs as the machine has cores shares them with the client (and says so).
  const pinned = OPTIONS.sizes.map(vcpusOf).filter((v) => v < cores.length);
  if (pinned.length === 0) return;
  const droplet = Math.max(...pinned);
  const ours = cores.slice(0, cores.length - droplet);
  pinProcess(process.pid, ours);
  log(`the benchmark runs on core(s) ${ours.join(",")}, the droplet on ${cores.slice(-droplet).join(",")}`);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("run it as root (it boots containers, sets up their network and memory cgroups)");
  keepOffDropletCores();
  ensureRootfs(log);
  const dir = scratchDir("matrix-bench-");
  const world = await startWorld(dir);
  const results: RunResult[] = [];
  const started = Date.now();
  const previous = fs.existsSync(OPTIONS.out) ? (JSON.parse(fs.readFileSync(OPTIONS.out, "utf8")) as Report) : undefined;
  // Written after every run, so a failure later keeps what was measured before it.
  const write = (): Report => {
    const report: Report = { options: { ...OPTIONS, out: undefined }, minutes: Math.round((Date.now() - started) / 60_000), results: mergeResults(previous, results) };
    fs.mkdirSync(path.dirname(OPTIONS.out), { recursive: true });
    fs.writeFileSync(OPTIONS.out, `${JSON.stringify(report, null, 2)}\n`);
    return report;
  };
  let report: Report;
  try {
    for (const size of OPTIONS.sizes) {
      for (const variant of OPTIONS.variants) {
        results.push(await benchOne(world, size, variant));
        report = write();
      }
    }
  } finally {
    await world.close();
  }
  console.log(`\n${renderTable(report!.results)}\n`);
  log(`results in ${OPTIONS.out} (${report!.minutes} min)`);
}

if (require.main === module) {
  main().then(() => process.exit(0), (error) => {
    console.error(error);
    process.exit(1);
  });
}
