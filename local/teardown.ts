/**
 * What a local run sets up on this machine (droplets, their network, DNS, services), undone in
 * reverse order: by the code that set it up when all goes well, and here when the run ends
 * otherwise. On SIGINT, SIGTERM or SIGHUP (Ctrl-C, a CI time limit) droplets are powered off
 * cleanly first, then everything else goes; on any other exit (an uncaught error) there is no
 * time to wait, and droplets are killed.
 */
import * as fs from "fs";

export interface TeardownStep {
  /** For the log: what is undone. */
  what: string;
  /** Undo it now, synchronously (all an exiting process may do). */
  now(): void;
  /** Undo it with time to do it well (a droplet's clean shutdown), saying how it went; `now` when unset. */
  gracefully?(): Promise<string>;
}

const steps: TeardownStep[] = [];
let installed = false;
let stopping = false;

/** The run is being stopped: no droplet may start (LocalDroplet.start), as it would only be killed at exit. */
export function runIsStopping(): boolean {
  return stopping;
}

/** Say the run is stopping, for a run that stops itself its own way (`npm run local`). */
export function markStopping(): void {
  stopping = true;
}

/** Register a step; the returned function unregisters it (once the owner has undone it). */
export function onTeardown(step: TeardownStep): () => void {
  install();
  steps.push(step);
  return () => {
    const i = steps.indexOf(step);
    if (i >= 0) steps.splice(i, 1);
  };
}

/**
 * Say what was undone: on stderr, and in MATRIX_DO_TEARDOWN_LOG when set (a file outlives the
 * pipes of an interrupted test runner).
 */
function report(line: string): void {
  try {
    console.error(`teardown: ${line}`);
  } catch {
    // no reader any more (see install)
  }
  if (process.env.MATRIX_DO_TEARDOWN_LOG) fs.appendFileSync(process.env.MATRIX_DO_TEARDOWN_LOG, `${line}\n`);
}

/** Undo every registered step, newest first, waiting for graceful ones. */
export async function teardownAll(log: (line: string) => void = report): Promise<void> {
  while (steps.length > 0) {
    const step = steps.pop()!;
    try {
      if (step.gracefully) log(`${step.what}: ${await step.gracefully()}`);
      else {
        step.now();
        log(`${step.what}: removed`);
      }
    } catch (error) {
      log(`${step.what}: ${error instanceof Error ? error.message : error}`);
    }
  }
}

function teardownNow(): void {
  while (steps.length > 0) {
    const step = steps.pop()!;
    try {
      step.now();
      report(`${step.what}: removed at exit`);
    } catch {
      // the rest still goes
    }
  }
}

const EXIT_CODES = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", teardownNow);
  // Whoever reads our output (a test runner, npm) may be gone first on Ctrl-C: a write to its
  // closed pipe must not become an uncaught error that ends the process before it cleans up.
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});
  for (const signal of Object.keys(EXIT_CODES) as (keyof typeof EXIT_CODES)[]) {
    process.on(signal, () => {
      if (stopping) return; // a second Ctrl-C while stopping: keep stopping
      stopping = true;
      report(`${signal}: powering the local droplets off, then removing what this run set up`);
      void teardownAll().finally(() => process.exit(EXIT_CODES[signal]));
    });
  }
}
