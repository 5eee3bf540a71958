/**
 * Memory of the droplet's services, read inside the droplet: the proportional set size (PSS)
 * summed over each service's cgroup, so pages shared between processes (PostgreSQL's shared
 * buffers) count once rather than once per process.
 */
import type { Exec } from "../local/localDroplet";

export const MEASURED_SERVICES = { synapse: "matrix-synapse", postgres: "postgresql@17-main", caddy: "caddy" } as const;
export type ServiceName = keyof typeof MEASURED_SERVICES;
export type ServiceMemory = Record<ServiceName, number> & { total: number };

/** Prints "<unit> <kB>" for each unit: PSS plus swapped-out pages (SwapPss), so swapping does not look like saving. */
function pssScript(units: string[]): string {
  return units.map((unit) =>
    `cg=$(systemctl show -p ControlGroup --value ${unit}); ` +
    `kb=$(for p in $(cat /sys/fs/cgroup$cg/cgroup.procs 2>/dev/null); do awk '/^(Pss|SwapPss):/ {s+=$2} END {print s+0}' /proc/$p/smaps_rollup 2>/dev/null; done | awk '{s+=$1} END {print s+0}'); ` +
    `echo "${unit} $kb"`).join("; ");
}

/** PSS (+ swapped) of Synapse, PostgreSQL and Caddy, in MiB. */
export async function serviceMemory(exec: (command: string[]) => Exec | Promise<Exec>): Promise<ServiceMemory> {
  const units = Object.values(MEASURED_SERVICES);
  const out = await exec(["sh", "-c", pssScript(units)]);
  if (out.code !== 0) throw new Error(`memory sample failed: ${out.stderr}`);
  const kb = new Map(out.stdout.trim().split("\n").map((line) => line.split(" ") as [string, string]));
  const mib = (unit: string) => Math.round(Number(kb.get(unit) ?? NaN) / 1024);
  const figures = {
    synapse: mib(MEASURED_SERVICES.synapse),
    postgres: mib(MEASURED_SERVICES.postgres),
    caddy: mib(MEASURED_SERVICES.caddy),
  };
  return { ...figures, total: figures.synapse + figures.postgres + figures.caddy };
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
