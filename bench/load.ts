/**
 * The benchmark's two workloads, through the real client library (matrix-js-sdk): one client
 * sending messages one after another, and many users talking in rooms while long-poll syncing.
 * They only need logged-in clients, so the droplet suite runs them too (small) and they cannot rot.
 */
import type { MatrixClient } from "matrix-js-sdk";
import { loadSdk } from "../local/matrixClient";
import { percentile } from "./stats";

export interface SequentialResult {
  messages: number;
  seconds: number;
  messagesPerSecond: number;
}

/** Send `lines` one after another (each waits for the previous one's answer), as the Romeo-and-Juliet benchmark does. */
export async function sendSequentially(client: MatrixClient, roomId: string, lines: readonly string[]): Promise<SequentialResult> {
  const started = performance.now();
  for (const line of lines) await client.sendTextMessage(roomId, line);
  const seconds = (performance.now() - started) / 1000;
  return { messages: lines.length, seconds: round(seconds, 1), messagesPerSecond: round(lines.length / seconds, 1) };
}

export interface Talker {
  client: MatrixClient;
  userId: string;
  roomId: string;
}

export interface ConcurrentOptions {
  /** Messages per second each user sends. */
  rate: number;
  seconds: number;
  /** How long after the last send a message may still arrive before it counts as lost. */
  graceSeconds?: number;
  /** Called every few seconds while the load runs (e.g. to sample memory). */
  onTick?: () => void | Promise<void>;
}

export interface ConcurrentResult {
  users: number;
  rooms: number;
  /** Wall time of the whole phase: the load, then waiting for the last messages to arrive. */
  seconds: number;
  sent: number;
  /** (message, other member) pairs expected and received. */
  deliveries: { expected: number; received: number };
  /** Messages some member never saw. */
  lost: number;
  errors: { send: number; sync: number };
  /** Send start to appearance in another member's sync, over every delivery, in ms. */
  latencyMs: { p50?: number; p95?: number; p99?: number; max?: number };
}

interface SyncResponse {
  next_batch: string;
  rooms?: { join?: Record<string, { timeline?: { events?: { type: string; content?: { body?: unknown } }[] } }> };
}

const TAG = /^bench-(\d+)$/;

/**
 * Every talker sends `rate` messages a second into its room for `seconds`, while every talker
 * long-polls /sync as a client does. Each message is timed from the start of its send to its
 * arrival in each other member's sync.
 */
export async function talkConcurrently(talkers: readonly Talker[], options: ConcurrentOptions): Promise<ConcurrentResult> {
  const { Method } = await loadSdk();
  const members = new Map<string, Talker[]>();
  for (const t of talkers) members.set(t.roomId, [...(members.get(t.roomId) ?? []), t]);
  const sentAt = new Map<number, { at: number; roomId: string; sender: string }>();
  const arrivals = new Map<number, Set<string>>();
  const latencies: number[] = [];
  const errors = { send: 0, sync: 0 };
  const stop = new AbortController();

  // Each member's sync loop, from a position taken before any message is sent.
  const filter = JSON.stringify({ room: { timeline: { limit: 50, types: ["m.room.message"] }, state: { lazy_load_members: true } }, presence: { types: [] } });
  const sync = (t: Talker, since?: string) => t.client.http.authedRequest<SyncResponse>(
    Method.Get, "/sync", { filter, timeout: since ? "30000" : "0", ...(since ? { since } : {}) }, undefined, { abortSignal: stop.signal, localTimeoutMs: 60_000 },
  );
  const phaseStarted = performance.now();
  const positions = await Promise.all(talkers.map(async (t) => (await sync(t)).next_batch));
  const loops = talkers.map(async (t, i) => {
    let since = positions[i];
    while (!stop.signal.aborted) {
      let reply: SyncResponse;
      try {
        reply = await sync(t, since);
      } catch {
        if (stop.signal.aborted) return;
        errors.sync += 1;
        await sleep(500);
        continue;
      }
      const now = performance.now();
      since = reply.next_batch;
      for (const event of reply.rooms?.join?.[t.roomId]?.timeline?.events ?? []) {
        const id = TAG.exec(String(event.content?.body ?? ""))?.[1];
        const sent = id === undefined ? undefined : sentAt.get(Number(id));
        if (!sent || sent.sender === t.userId) continue;
        const seen = arrivals.get(Number(id)) ?? new Set<string>();
        if (seen.has(t.userId)) continue;
        seen.add(t.userId);
        arrivals.set(Number(id), seen);
        latencies.push(now - sent.at);
      }
    }
  });

  // Senders: evenly spaced, each starting at a random point of its first interval.
  let next = 0;
  const interval = 1000 / options.rate;
  const started = performance.now();
  const sends: Promise<void>[] = [];
  const senders = talkers.map(async (t) => {
    await sleep(Math.random() * interval);
    while (performance.now() - started < options.seconds * 1000) {
      const id = next++;
      const due = performance.now() + interval;
      sentAt.set(id, { at: performance.now(), roomId: t.roomId, sender: t.userId });
      // A slow send must not hold back this user's next one: clients send without waiting.
      sends.push(t.client.sendTextMessage(t.roomId, `bench-${id}`).then(() => undefined, () => {
        errors.send += 1;
        sentAt.delete(id);
      }));
      await sleep(Math.max(0, due - performance.now()));
    }
  });
  const ticker = setInterval(() => void options.onTick?.(), 2000);
  try {
    await Promise.all(senders);
    await Promise.all(sends);
    const expected = () => [...sentAt].reduce((n, [, s]) => n + members.get(s.roomId)!.length - 1, 0);
    const deadline = performance.now() + (options.graceSeconds ?? 30) * 1000;
    while (latencies.length < expected() && performance.now() < deadline) await sleep(200);
  } finally {
    clearInterval(ticker);
    stop.abort();
    await Promise.all(loops);
  }

  let lost = 0;
  let expected = 0;
  for (const [id, s] of sentAt) {
    const others = members.get(s.roomId)!.length - 1;
    expected += others;
    if ((arrivals.get(id)?.size ?? 0) < others) lost += 1;
  }
  return {
    users: talkers.length,
    rooms: members.size,
    seconds: round((performance.now() - phaseStarted) / 1000, 1),
    sent: sentAt.size,
    deliveries: { expected, received: latencies.length },
    lost,
    errors,
    latencyMs: {
      p50: roundOrUndefined(percentile(latencies, 50)),
      p95: roundOrUndefined(percentile(latencies, 95)),
      p99: roundOrUndefined(percentile(latencies, 99)),
      max: roundOrUndefined(percentile(latencies, 100)),
    },
  };
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function roundOrUndefined(value: number | undefined): number | undefined {
  return value === undefined ? undefined : Math.round(value);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
