/**
 * How Synapse and PostgreSQL use the droplet's memory, by size, measured with `npm run bench`
 * (bench/run.ts) on local droplets held to each size's RAM and vCPU; README "Sizing" has the
 * table, bench/results.json the run. What the runs showed (2026-11-28 and 2026-11-29): with 50
 * active users the stack peaks at ~345 MiB (PSS), ~675 MiB with page cache, on 1 GB and on 2 GB
 * alike, tuned or stock (ratios 0.96–1.04), so memory does not set the size; the one vCPU sets
 * throughput and latency, and this machine's speed drifted more between runs (the same
 * configuration: 20 and 26 ms of CPU per message an hour apart) than tuned and stock differ.
 */
import { Tuning } from "../cloud-init/settings";

/** Synapse and PostgreSQL exactly as they ship: what the benchmark measures the tuning against. */
export const STOCK_TUNING: Tuning = { jemalloc: false };

/** Presence is Synapse's main CPU/memory cost on small hosts: on by default from this much RAM. */
export const PRESENCE_MIN_MEMORY_MB = 4096;

/**
 * Droplets below this much RAM get a swap file: a safety net for bursts (upgrades, a huge
 * room), not working memory. The benchmark's 1 GB droplet touched 1–2 MiB of it at peak.
 */
export const SWAP_BELOW_MEMORY_MB = 2048;
export const SWAP_FILE_MB = 1024;

export function swapFor(memoryMb: number): number {
  return memoryMb < SWAP_BELOW_MEMORY_MB ? SWAP_FILE_MB : 0;
}

export function tuningFor(memoryMb: number): Tuning {
  const small = memoryMb < 2048;
  return {
    // jemalloc keeps Synapse from growing through fragmentation over days (Synapse's docs; the
    // 40-minute benchmark is too short to show it: Synapse's peak was 193 MiB with, 191 without)
    // and lets the caches below be capped by memory. Freed pages go back after 1 s, not 10 s.
    jemalloc: true,
    jemallocConf: "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0",
    synapseCaches: {
      globalFactor: 0.5,
      // Caches evicted down to the target when they pass the cap: a ceiling for long-lived
      // servers; the benchmark's Synapse peaked at 193 MiB, under both caps, so they did not bite.
      autotuning: { maxMemoryMb: Math.floor(memoryMb / 4), targetMemoryMb: Math.floor(memoryMb / 8), minTtl: "5m" },
    },
    // Joining a huge remote room (thousands of members) costs more memory than a small droplet
    // has; Synapse's own complexity limit. Not measured: the benchmark does not federate.
    ...(small ? { remoteRoomComplexity: 1.0 } : {}),
    // Every connection is a PostgreSQL backend of its own. One idle and five at most (Twisted's
    // default is 3 and 5; our earlier 5 and 10 peaked PostgreSQL at 105 MiB against 81 in a
    // short run) sent as fast as stock on 1 GB: 47.7 against 41.8 msg/s, and 36.6 against 36.0
    // in a second run (2026-11-29; the machine was slower then).
    databasePool: { min: 1, max: 5 },
    postgres: {
      // PostgreSQL's default (128 MB) at 2 GB, half of it at 1 GB; from 4 GB (not measured
      // here) an eighth of RAM, well under the quarter PostgreSQL's docs give as the ceiling.
      sharedBuffersMb: memoryMb >= 4096 ? Math.floor(memoryMb / 8) : small ? 64 : 128,
      effectiveCacheSizeMb: Math.floor(memoryMb / 2),
      workMemMb: memoryMb >= 4096 ? 8 : 4,
      maintenanceWorkMemMb: small ? 32 : memoryMb >= 4096 ? 128 : 64,
      // Synapse's pool, backups, matrixctl and psql, with room to spare.
      maxConnections: 20,
    },
  };
}
