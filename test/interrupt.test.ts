/**
 * The local harness cleans up after itself when things go wrong: a droplet whose first boot
 * fails is powered off, and a run interrupted as Ctrl-C or a CI time limit would (SIGINT to its
 * process group, SIGTERM to the process) powers its droplets off cleanly before removing the
 * network they stand on, and leaves nothing behind. Each run is the command a user types.
 */
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { ensureRootfs } from "../local/rootfs";
import { run, scratchDir } from "./fixtures";
import { sweepAbandonedSlots } from "../local/network";
import { ROOT, waitUntil } from "./local-services";
import { assertNothingLeft, assertPoweredOffFirst, leftoversBefore } from "./droplet/leftovers";
import { bootInto, startWorld, worldSettings } from "../local/world";

const log = (line: string) => console.log(`  [interrupt] ${line}`);

/** A command run as a user runs it, in its own process group (as a terminal's foreground job). */
function start(command: string[], env: NodeJS.ProcessEnv) {
  const child = childProcess.spawn(command[0], command.slice(1), { cwd: ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (c) => (output += c));
  child.stderr!.on("data", (c) => (output += c));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? -1 : null))));
  return { child, output: () => output, exited };
}

/**
 * Interrupt `command` with `signal` (to its process group, or to the process `target` picks)
 * once `ready` shows in its output; then check what it did and what it left.
 */
async function interrupt(command: string[], options: {
  ready: RegExp; signal: NodeJS.Signals; target?: (pid: number) => number; env?: NodeJS.ProcessEnv; dir: string;
  /** Seconds the interrupted run may take to power off and clean up (180 unless set). */
  endsWithin?: number;
}): Promise<{ steps: string[]; output: string }> {
  const teardownLog = path.join(options.dir, `teardown-${Date.now()}.log`);
  const before = leftoversBefore();
  // A user's shell: not inside node's test runner (whose variable makes a nested runner skip its files).
  const { NODE_TEST_CONTEXT: _inRunner, ...shell } = process.env;
  const job = start(command, { ...shell, ...options.env, MATRIX_DO_TEARDOWN_LOG: teardownLog });
  try {
    await waitUntil(`${options.ready} in the output of ${command.join(" ")}`, 15 * 60, () => job.child.exitCode !== null || options.ready.test(job.output()), 1000)
      .catch((error) => {
        throw new Error(`${error.message}\n${job.output().slice(-4000)}`);
      });
    assert.equal(job.child.exitCode, null, `${command.join(" ")} ended before it was interrupted:\n${job.output().slice(-4000)}`);
    const group = job.child.pid!;
    const started = Date.now();
    process.kill(options.target ? options.target(group) : -group, options.signal);
    // The run has ended when its whole process group has: npm may exit at once on Ctrl-C,
    // while the test process it started still powers its droplets off.
    await waitUntil("the interrupted run's processes to end", options.endsWithin ?? 180, () => !groupAlive(group), 250).catch((error) => {
      throw new Error([
        error.message, "still running:", processesOf(group), "teardown so far:", readSteps(teardownLog).join("\n"), "output:", job.output().slice(-4000),
      ].join("\n"));
    });
    log(`${command.join(" ")}: ${options.signal} → every process ended in ${Math.round((Date.now() - started) / 100) / 10} s (exit ${await job.exited})`);
    assertNothingLeft(before, `left behind after ${options.signal}`);
    const steps = readSteps(teardownLog);
    log(`teardown: ${steps.join(" | ")}`);
    return { steps, output: job.output() };
  } finally {
    if (groupAlive(job.child.pid!)) {
      process.kill(-job.child.pid!, "SIGKILL");
      // Its droplets run in sessions of their own: gone with the slots of the run, once it is.
      await waitUntil("the killed run to be gone", 10, () => !groupAlive(job.child.pid!)).catch(() => {});
      sweepAbandonedSlots();
    }
  }
}

function readSteps(teardownLog: string): string[] {
  return fs.existsSync(teardownLog) ? fs.readFileSync(teardownLog, "utf8").trim().split("\n") : [];
}

/** The processes of a process group, with their state and what they wait in: what hangs. */
function processesOf(group: number): string {
  const lines = run("ps", ["-eo", "pgid=,pid=,ppid=,stat=,etimes=,wchan:24=,args="]).stdout.split("\n");
  // And the containers, which run in sessions of their own.
  return lines.filter((l) => l.trim().split(/\s+/)[0] === String(group) || l.includes("systemd-nspawn")).join("\n");
}

function groupAlive(group: number): boolean {
  try {
    process.kill(-group, 0);
    return true;
  } catch {
    return false;
  }
}

describe("the local harness when a run fails or is interrupted", { timeout: 40 * 60_000 }, () => {
  const dir = scratchDir("matrix-interrupt-");

  it("a droplet whose first boot fails is powered off, and leaves nothing running or mounted", async () => {
    ensureRootfs(log);
    const before = leftoversBefore();
    const world = await startWorld(path.join(dir, "world"));
    try {
      const settings = worldSettings(world);
      const roots = path.join(dir, "roots");
      // A payload that fails: cloud-init reports an error, as a broken bootstrap would.
      const failing = "#cloud-config\nruncmd:\n  - [sh, -c, 'echo the bootstrap failed >&2; exit 1']\n";
      await assert.rejects(bootInto(world, settings, { name: "failing", workDir: roots, volumeDir: path.join(dir, "volume"), userData: failing }),
        /cloud-init failed/);
      const inContainers = run("ps", ["-eo", "args="]).stdout.split("\n").filter((l) => l.includes("systemd-nspawn"));
      assert.deepEqual(inContainers, [], "a container still runs");
      assert.equal(fs.existsSync(path.join(roots, "failing")), false, "its root is still there");
      assert.deepEqual(fs.readFileSync("/proc/mounts", "utf8").split("\n").filter((l) => l.includes(roots)), [], "mounts left");
    } finally {
      await world.close();
    }
    assertNothingLeft(before);
  });

  it("a run interrupted by Ctrl-C while it runs commands in its droplet stops them and ends within 90 s, its droplet powered off cleanly first", async () => {
    const { steps, output } = await interrupt([process.execPath, "--import", "tsx", "test/droplet/busyDroplet.ts"], {
      ready: /busy: commands run in the droplet/, signal: "SIGINT", dir, endsWithin: 90,
    });
    assert.match(output, /busy: droplet busy is powering off: not running/);
    assert.match(steps[0], /^SIGINT: powering the local droplets off/);
    assertPoweredOffFirst(steps);
  });

  it("the droplet suite, interrupted by Ctrl-C once its droplet runs, powers it off cleanly, then removes everything it set up", async () => {
    const { steps } = await interrupt(["npm", "test", "--", "test/droplet.test.ts"], {
      ready: /✔ first boot/, signal: "SIGINT", dir,
    });
    assert.match(steps[0], /^SIGINT: powering the local droplets off/);
    assertPoweredOffFirst(steps);
  });

  it("the benchmark, stopped by SIGTERM (a CI time limit) while its 1 GB droplet idles with swap on, powers it off cleanly, then removes everything", async () => {
    const out = path.join(dir, "bench.json");
    const { steps } = await interrupt(["npm", "run", "bench"], {
      ready: /bench: bench-s-1vcpu-1gb-tuned: up/, signal: "SIGTERM", dir,
      env: { BENCH_SIZES: "s-1vcpu-1gb", BENCH_VARIANTS: "tuned", BENCH_IDLE_SECONDS: "600", BENCH_OUT: out },
      // The benchmark's own process (npm → bash → node), as a time limit that signals one process would.
      target: (npm) => benchProcess(npm),
    });
    assert.match(steps[0], /^SIGTERM: powering the local droplets off/);
    assertPoweredOffFirst(steps);
    assert.equal(fs.existsSync(out), false, "no results from an interrupted run");
  });
});

/** The node process running bench/run.ts, under `npm run bench`. */
function benchProcess(npm: number): number {
  const line = run("ps", ["-eo", "pid=,args="]).stdout.split("\n").find((l) => l.includes("bench/run.ts") && l.includes("--import"));
  assert.ok(line, `no bench/run.ts process under npm (${npm})`);
  return Number(line.trim().split(/\s+/)[0]);
}
