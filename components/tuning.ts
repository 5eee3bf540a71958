/**
 * How Synapse and PostgreSQL use the droplet's memory, by size. Every value here was chosen by
 * `npm run bench` (bench/run.ts) on a memory-limited local droplet; README "Sizing" has the
 * figures, bench/results.json the run they came from.
 */
import { Tuning } from "../cloud-init/settings";

/** Synapse and PostgreSQL exactly as they ship: what the benchmark measures the tuning against. */
export const STOCK_TUNING: Tuning = { jemalloc: false };

/** Presence is Synapse's main CPU/memory cost on small hosts: on by default from this much RAM. */
export const PRESENCE_MIN_MEMORY_MB = 4096;

/** Droplets below this much RAM get a swap file. */
export const SWAP_BELOW_MEMORY_MB = 2048;
export const SWAP_FILE_MB = 1024;

export function swapFor(memoryMb: number): number {
  return memoryMb < SWAP_BELOW_MEMORY_MB ? SWAP_FILE_MB : 0;
}

export function tuningFor(memoryMb: number): Tuning {
  return {
    jemalloc: true,
    databasePool: { min: 5, max: 10 },
    postgres: {
      sharedBuffersMb: Math.max(64, Math.floor(memoryMb / 8)),
      effectiveCacheSizeMb: Math.floor(memoryMb / 2),
      workMemMb: memoryMb >= 4096 ? 8 : 4,
      maintenanceWorkMemMb: memoryMb >= 4096 ? 128 : 64,
      maxConnections: 50,
    },
  };
}
