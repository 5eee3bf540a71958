/** The benchmark's arithmetic and report (its workloads run in the droplet suite). */
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as fs from "node:fs";
import { describe, it } from "node:test";
import { percentile, playLines, ratio } from "../bench/stats";
import { PeakMemory, cpuBetween, pssKb, serviceOfCgroup } from "../bench/memory";
import { expandCpuList } from "../local/localDroplet";
import type { RunResult } from "../bench/run";

describe("benchmark figures", () => {
  it("percentiles by nearest rank, whatever the order of the samples", () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1
    assert.equal(percentile(samples, 50), 50);
    assert.equal(percentile(samples, 95), 95);
    assert.equal(percentile(samples, 99), 99);
    assert.equal(percentile(samples, 100), 100);
    assert.equal(percentile([7], 99), 7);
    assert.equal(percentile([], 50), undefined);
    assert.throws(() => percentile(samples, 0), /p must be in/);
  });

  it("ratios tuned/stock to two decimals, and none without both figures", () => {
    assert.equal(ratio(150, 300), 0.5);
    assert.equal(ratio(2, 3), 0.67);
    assert.equal(ratio(undefined, 3), undefined);
    assert.equal(ratio(3, 0), undefined);
  });

  it("sends the same play-like lines every run, of a verse play's lengths", () => {
    const lines = playLines(3287);
    assert.equal(lines.length, 3287);
    assert.deepEqual(playLines(3287), lines);
    assert.equal(new Set(lines).size > 3000, true, "mostly different lines");
    const mean = lines.reduce((n, l) => n + l.length, 0) / lines.length;
    assert.ok(mean > 30 && mean < 50, `mean length ${mean}`);
    assert.ok(Math.min(...lines.map((l) => l.length)) >= 8);
  });

  it("keeps the peak of each figure separately", () => {
    const peak = new PeakMemory();
    peak.add({ synapse: 100, postgres: 50, caddy: 30, total: 180 });
    peak.add({ synapse: 90, postgres: 70, caddy: 30, total: 190 });
    assert.deepEqual(peak.peak, { synapse: 100, postgres: 70, caddy: 30, total: 190 });
    assert.equal(peak.samples, 2);
  });

  it("counts a process to the service whose cgroup it is in, and its PSS with what it has swapped out", () => {
    const v1AndV2 = "4:memory:/matrix-do-droplet1-7793\n1:cpu:/\n0::/payload/system.slice/matrix-synapse.service\n";
    assert.equal(serviceOfCgroup(v1AndV2), "synapse");
    assert.equal(serviceOfCgroup("0::/system.slice/system-postgresql.slice/postgresql@17-main.service\n"), "postgres");
    assert.equal(serviceOfCgroup("0::/system.slice/caddy.service\n"), "caddy");
    assert.equal(serviceOfCgroup("0::/system.slice/caddy-reload.service\n"), undefined, "a name that only starts like one");
    assert.equal(serviceOfCgroup("0::/system.slice/postgresql@16-main.service\n"), undefined);
    assert.equal(serviceOfCgroup("4:memory:/system.slice/matrix-synapse.service\n"), undefined, "the v2 line decides");
    const rollup = "55d0c0000000-7ffd5a7fe000 ---p 00000000 00:00 0 [rollup]\nRss: 180000 kB\nPss: 150000 kB\nPss_Anon: 120000 kB\nSwap: 3000 kB\nSwapPss: 2048 kB\n";
    assert.equal(pssKb(rollup), 152048, "Pss + SwapPss, not Rss or Pss_Anon");
    assert.equal(pssKb(""), 0);
    assert.deepEqual(
      cpuBetween({ synapse: 10, postgres: 2, caddy: 1, droplet: 20 }, { synapse: 41.26, postgres: 9.5, caddy: 1.04, droplet: 61 }),
      { synapse: 31.3, postgres: 7.5, caddy: 0, droplet: 41 },
    );
  });

  it("holds a droplet to its size's vCPUs, read from the size and from the machine's core list", async () => {
    const { vcpusOf } = await import("../bench/run");
    assert.equal(vcpusOf("s-1vcpu-1gb"), 1);
    assert.equal(vcpusOf("s-2vcpu-4gb-amd"), 2);
    assert.throws(() => vcpusOf("m-2gb"), /cannot read the vCPUs/);
    assert.deepEqual(expandCpuList("0-1"), [0, 1]);
    assert.deepEqual(expandCpuList("0-2,5,7-8"), [0, 1, 2, 5, 7, 8]);
  });

  it("pins every thread of the process, skipping one that exits under it (taskset -a gave up: CI red once), not a real error", async () => {
    const { pinThreads } = await import("../bench/run");
    const pinned: number[] = [];
    // Thread 12 exits between the listing and its turn; the others are pinned, the main thread first.
    const pin = (tid: number) => (tid === 12 ? "failed to get pid 12's affinity: No such process" : (pinned.push(tid), undefined));
    pinThreads(10, () => [10, 11, 12, 13], pin, (tid) => tid !== 12);
    assert.deepEqual(pinned, [10, 11, 13]);
    // A failure on a thread still there, or on the main thread (a bad core list, no such process), is an error.
    const bad = () => "failed to set pid's affinity: Invalid argument";
    assert.throws(() => pinThreads(10, () => [10, 11], (tid) => (tid === 11 ? bad() : undefined), () => true), /thread 11 of 10: .*Invalid argument/);
    assert.throws(() => pinThreads(10, () => [], bad, () => false), /thread 10 of 10/);
  });

  it("pins a real process whose threads come and go, to the cores it may use", async () => {
    const { pinProcess } = await import("../bench/run");
    const cores = expandCpuList(/^Cpus_allowed_list:\s*(\S+)/m.exec(fs.readFileSync("/proc/self/status", "utf8"))![1]);
    // A worker thread starts every 50 ms and exits at once: the walk (a taskset per thread, ~0.1 s)
    // meets about one thread gone under it each time.
    const churn = `const { Worker } = require("node:worker_threads"); setInterval(() => new Worker("1", { eval: true }), 50);`;
    const child = childProcess.spawn(process.execPath, ["-e", churn], { stdio: "ignore" });
    try {
      await new Promise((r) => setTimeout(r, 500));
      for (let i = 0; i < 5; i++) pinProcess(child.pid!, cores);
      assert.throws(() => pinProcess(child.pid!, [4096]), /taskset failed on thread/, "a core list it cannot have");
    } finally {
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
    }
    assert.throws(() => pinProcess(child.pid!, cores), /taskset failed on thread .*No such process/, "a process that is gone");
  });

  it("a run of some sizes replaces those sizes' results and keeps the others, each dated", async () => {
    const { mergeResults } = await import("../bench/run");
    const result = (size: string, vcpus: number, memoryMb: number, variant: "tuned" | "stock", date?: string) =>
      ({ size, vcpus, memoryMb, variant, ...(date ? { date } : {}) }) as unknown as RunResult;
    const old = { options: {}, minutes: 60, date: "2026-11-29T02:27:00Z", results: [
      result("s-1vcpu-1gb", 1, 1024, "tuned"), result("s-1vcpu-1gb", 1, 1024, "stock"),
      result("s-2vcpu-2gb", 2, 2048, "tuned"), result("s-2vcpu-2gb", 2, 2048, "stock"),
    ] };
    const fresh = [result("s-2vcpu-2gb", 2, 2048, "tuned", "2026-11-29T03:20:00Z"), result("s-1vcpu-2gb", 1, 2048, "stock", "2026-11-29T03:30:00Z")];
    const merged = mergeResults(old, fresh);
    assert.deepEqual(merged.map((r) => `${r.size} ${r.variant} ${r.date}`), [
      "s-1vcpu-1gb tuned 2026-11-29T02:27:00Z", "s-1vcpu-1gb stock 2026-11-29T02:27:00Z",
      "s-1vcpu-2gb stock 2026-11-29T03:30:00Z", "s-2vcpu-2gb tuned 2026-11-29T03:20:00Z",
    ]);
    assert.deepEqual(mergeResults(undefined, fresh).length, 2);
    // A size measured with calls on keeps its tuned and stock results.
    const calls = mergeResults(old, [result("s-1vcpu-1gb", 1, 1024, "calls" as "tuned", "2026-11-30T16:00:00Z")]);
    assert.deepEqual(calls.filter((r) => r.size === "s-1vcpu-1gb").map((r) => r.variant), ["tuned", "stock", "calls"]);
  });

  it("tables tuned against stock per size, with the ratio of every figure", async () => {
    const { renderTable } = await import("../bench/run");
    const run = (variant: "tuned" | "stock", synapse: number, perSecond: number) => ({
      size: "s-1vcpu-1gb", memoryMb: 1024, variant,
      idle: { synapse, postgres: 40, caddy: 20, total: synapse + 60 },
      peak: { synapse, postgres: 40, caddy: 20, total: synapse + 60 },
      container: { peakMb: 500, maxSwapMb: 0, oomKills: 0 },
      sequential: { messages: 3287, seconds: 3287 / perSecond, messagesPerSecond: perSecond },
      concurrent: { users: 50, rooms: 10, sent: 1200, deliveries: { expected: 4800, received: 4800 }, lost: 0, errors: { send: 0, sync: 0 }, latencyMs: { p50: 40, p95: 90, p99: 150 } },
    }) as unknown as RunResult;
    const table = renderTable([run("tuned", 100, 80), run("stock", 200, 40)]);
    assert.match(table, /^\| figure \| s-1vcpu-1gb tuned \| s-1vcpu-1gb stock \| tuned\/stock \|$/m);
    assert.match(table, /^\| idle PSS Synapse \(MiB\) \| 100 \| 200 \| 0\.5 \|$/m);
    assert.match(table, /^\| sequential \(msg\/s\) \| 80 \| 40 \| 2 \|$/m);
    assert.match(table, /^\| OOM kills \| 0 \| 0 \| – \|$/m);
    assert.doesNotMatch(table, /LiveKit|with calls/, "no calls column without a run with calls");
    // With a run with calls on: its column, and the figures of calls.
    const withCalls = renderTable([run("tuned", 100, 80), run("stock", 200, 40),
      { ...run("tuned", 110, 78), variant: "calls", calls: { idle: { livekit: 60, auth: 12 }, peak: { livekit: 70, auth: 13 }, peakTotal: 400, participants: 4, fewestHeard: 7000, seconds: 150 } }]);
    assert.match(withCalls, /^\| figure \| s-1vcpu-1gb tuned \| s-1vcpu-1gb stock \| tuned\/stock \| s-1vcpu-1gb with calls \|$/m);
    assert.match(withCalls, /^\| idle PSS Synapse \(MiB\) \| 100 \| 200 \| 0\.5 \| 110 \|$/m);
    assert.match(withCalls, /^\| peak PSS LiveKit, in the 4-person call \(MiB\) \| – \| – \| – \| 70 \|$/m);
    assert.match(withCalls, /^\| peak PSS total, with calls \(MiB\) \| – \| – \| – \| 400 \|$/m);
  });
});
