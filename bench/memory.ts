/**
 * Memory and CPU of the droplet's services. Memory is read from the host, so that sampling it
 * every 2 s costs the droplet's one vCPU nothing (an earlier sampler forked ~30 processes inside
 * the droplet each time): the proportional set size (PSS) summed over each service's processes,
 * so pages shared between processes (PostgreSQL's shared buffers) count once, not once per process.
 */
import { promises as fsp } from "node:fs";
import type { Exec } from "../local/localDroplet";

export const MEASURED_SERVICES = { synapse: "matrix-synapse.service", postgres: "postgresql@17-main.service", caddy: "caddy.service" } as const;
export type ServiceName = keyof typeof MEASURED_SERVICES;
export type ServiceMemory = Record<ServiceName, number> & { total: number };
const NAMES = Object.keys(MEASURED_SERVICES) as ServiceName[];

/** The service a process belongs to, from its cgroup (v2) path inside the droplet, if one we measure. */
export function serviceOfCgroup(procCgroup: string): ServiceName | undefined {
  const unit = unitOfCgroup(procCgroup, Object.values(MEASURED_SERVICES));
  return NAMES.find((name) => MEASURED_SERVICES[name] === unit);
}

/** Which of `units` a process's cgroup (v2) path is in, if any. */
function unitOfCgroup(procCgroup: string, units: string[]): string | undefined {
  const line = procCgroup.split("\n").find((l) => l.startsWith("0::"));
  if (!line) return undefined;
  const parts = line.slice(3).split("/");
  return units.find((unit) => parts.includes(unit));
}

/** PSS plus swapped-out pages (SwapPss, so swapping does not look like saving), in kB, from smaps_rollup. */
export function pssKb(smapsRollup: string): number {
  let kb = 0;
  for (const m of smapsRollup.matchAll(/^(?:Pss|SwapPss):\s+(\d+) kB$/gm)) kb += Number(m[1]);
  return kb;
}

async function readOrUndefined(file: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(file, "utf8");
  } catch {
    return undefined; // the process ended meanwhile
  }
}

/** PSS (+ swapped) of Synapse, PostgreSQL and Caddy in MiB: every process in the droplet's PID namespace (`leader` is its PID 1 as the host sees it). */
export async function serviceMemory(leader: number): Promise<ServiceMemory> {
  const byUnit = await unitsMemory(leader, Object.values(MEASURED_SERVICES));
  const figures = Object.fromEntries(NAMES.map((name) => [name, byUnit[MEASURED_SERVICES[name]]])) as Record<ServiceName, number>;
  return { ...figures, total: figures.synapse + figures.postgres + figures.caddy };
}

/** PSS (+ swapped) in MiB of each of these systemd units' processes in the droplet (`leader`: its PID 1 as the host sees it). */
export async function unitsMemory(leader: number, units: string[]): Promise<Record<string, number>> {
  const namespace = await fsp.readlink(`/proc/${leader}/ns/pid`);
  const kb: Record<string, number> = Object.fromEntries(units.map((unit) => [unit, 0]));
  const pids = (await fsp.readdir("/proc")).filter((entry) => /^\d+$/.test(entry));
  await Promise.all(pids.map(async (pid) => {
    const ns = await fsp.readlink(`/proc/${pid}/ns/pid`).catch(() => undefined);
    if (ns !== namespace) return;
    const unit = unitOfCgroup((await readOrUndefined(`/proc/${pid}/cgroup`)) ?? "", units);
    if (!unit) return;
    const pss = pssKb((await readOrUndefined(`/proc/${pid}/smaps_rollup`)) ?? "");
    kb[unit] += pss; // not `+= await …`: that reads the sum before the await and loses the others' additions
  }));
  return Object.fromEntries(units.map((unit) => [unit, Math.round(kb[unit] / 1024)]));
}

/** Keeps the highest value of each figure over many samples. */
export class PeakMemory {
  peak: ServiceMemory = { synapse: 0, postgres: 0, caddy: 0, total: 0 };
  samples = 0;

  add(sample: ServiceMemory): void {
    this.samples += 1;
    for (const key of Object.keys(this.peak) as (keyof ServiceMemory)[]) this.peak[key] = Math.max(this.peak[key], sample[key]);
  }
}

/** CPU seconds per service, and of the whole droplet (journald, cron and the rest too). */
export type ServiceCpu = Record<ServiceName | "droplet", number>;

/**
 * CPU time each service has used since it started, in seconds: its cgroup's cpu.stat inside the
 * droplet, which counts processes that have ended too. Read once at each end of a phase. The
 * droplet's figure is its root cgroup, which local droplets share with each other: meaningful
 * while one runs at a time, as in the benchmark.
 */
export async function serviceCpu(exec: (command: string[]) => Exec | Promise<Exec>): Promise<ServiceCpu> {
  const usage = (label: string, cgroup: string) => `echo ${label} $(awk '$1 == "usage_usec" {print $2}' /sys/fs/cgroup${cgroup}/cpu.stat)`;
  const script = NAMES.map((name) => usage(name, `$(systemctl show -p ControlGroup --value ${MEASURED_SERVICES[name]})`))
    .concat(usage("droplet", ""))
    .join("; ");
  const out = await exec(["sh", "-c", script]);
  if (out.code !== 0) throw new Error(`CPU reading failed: ${out.stderr}`);
  const usec = new Map(out.stdout.trim().split("\n").map((line) => line.split(" ") as [string, string]));
  const seconds = (name: keyof ServiceCpu) => {
    const value = Number(usec.get(name));
    if (!Number.isFinite(value) || usec.get(name) === "") throw new Error(`CPU reading failed for ${name}: ${out.stdout}`);
    return value / 1e6;
  };
  return { synapse: seconds("synapse"), postgres: seconds("postgres"), caddy: seconds("caddy"), droplet: seconds("droplet") };
}

/** CPU seconds each service used between two readings. */
export function cpuBetween(before: ServiceCpu, after: ServiceCpu): ServiceCpu {
  const d = (name: keyof ServiceCpu) => Math.round((after[name] - before[name]) * 10) / 10;
  return { synapse: d("synapse"), postgres: d("postgres"), caddy: d("caddy"), droplet: d("droplet") };
}
