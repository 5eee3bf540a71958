/**
 * LiveKit for the tests: the server release the payload pins, built from the Go module proxy
 * (its GitHub release is out of reach here), run with the config the payload renders; and a
 * call placed through it with LiveKit's Go SDK (test/livekit-client).
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { livekitConfig } from "../cloud-init/livekit";
import { LIVEKIT_PORT } from "../cloud-init/ports";
import { LIVEKIT_VERSION } from "../cloud-init/versions";
import { goBuildHere, goInstall } from "./goBuild";
import { Hosts, Service, run, runAsync, startProcess, waitUntil, withHosts } from "./process";

export const LIVEKIT_MODULE = `github.com/livekit/livekit-server/cmd/server@v${LIVEKIT_VERSION}`;

/** The livekit-server binary of the pinned release. */
export function ensureLivekit(): string {
  return goInstall(`livekit-${LIVEKIT_VERSION}`, LIVEKIT_MODULE, "server");
}

/** LiveKit's release tarball as LiveKit publishes it (livekit-server at its top), made from this build, in `dir`. */
export function livekitReleaseTarball(dir: string): string {
  const staging = path.join(dir, "livekit-release");
  fs.mkdirSync(staging, { recursive: true });
  fs.copyFileSync(ensureLivekit(), path.join(staging, "livekit-server"));
  fs.chmodSync(path.join(staging, "livekit-server"), 0o755);
  const tarball = path.join(dir, `livekit_${LIVEKIT_VERSION}_linux_amd64.tar.gz`);
  const r = run("tar", ["-czf", tarball, "-C", staging, "livekit-server"]);
  if (r.code !== 0) throw new Error(`tar: ${r.stderr}`);
  return tarball;
}

/** The call client (test/livekit-client). */
export function ensureLivekitClient(): string {
  return goBuildHere("test/livekit-client", "livekit-client");
}

export interface Livekit {
  /** ws://… of its signalling. */
  url: string;
  /** http://… of its server API. */
  httpBase: string;
  service: Service;
  stop(): Promise<void>;
}

/** Start LiveKit as the payload configures it, with `keys` (key → secret), announcing `nodeIp` to clients. */
export async function startLivekit(dir: string, keys: Record<string, string>, nodeIp: string): Promise<Livekit> {
  fs.mkdirSync(dir, { recursive: true });
  const keyFile = path.join(dir, "keys.yaml");
  fs.writeFileSync(keyFile, YAML.stringify(keys), { mode: 0o600 });
  const config = path.join(dir, "livekit.yaml");
  fs.writeFileSync(config, YAML.stringify(livekitConfig({ keyFile })));
  const service = startProcess(ensureLivekit(), ["--config", config], { ...process.env, NODE_IP: nodeIp });
  const url = `http://127.0.0.1:${LIVEKIT_PORT}/`;
  await waitUntil(`LiveKit answering on ${url}`, 60, async () => {
    if (service.process.exitCode !== null) throw new Error(`LiveKit exited: ${service.output()}`);
    return (await fetch(url)).status === 200;
  }).catch((error) => {
    throw new Error(`${error.message}\n${service.output().slice(-3000)}`);
  });
  return { url: `ws://127.0.0.1:${LIVEKIT_PORT}`, httpBase: url, service, stop: () => service.stop() };
}

export interface CallFigures {
  firstPacketMs: number;
  firstPacketAt: number;
  framesSent: number;
  /** Frames sent once the listener had heard the first: each of these should arrive. */
  framesSentSinceHeard: number;
  packetsHeard: number;
  speakerIdentity: string;
  /** When each step was done (Unix ms): the client started, each party joined, the speaker's track was bound. */
  startedAt: number;
  listenerJoinedAt: number;
  speakerJoinedAt: number;
  trackBoundAt: number;
  error?: string;
}

/** Where a call's setup spent its time, from `since` (the token requests, say) to the first packet. */
export function callSteps(call: CallFigures, since: number): string {
  const steps: [string, number][] = [["client started", call.startedAt], ["listener joined", call.listenerJoinedAt],
    ["speaker joined", call.speakerJoinedAt], ["track bound", call.trackBoundAt], ["first packet", call.firstPacketAt]];
  let previous = since;
  return steps.map(([what, at]) => {
    const text = at ? `${what} +${at - previous} ms` : `${what} never`;
    if (at) previous = at;
    return text;
  }).join(", ");
}

/** Place a two-party call (test/livekit-client): its figures, and its exit code. */
export function placeCall(args: string[], env: NodeJS.ProcessEnv = process.env, hosts?: Hosts): CallFigures & { code: number; stderr: string } {
  const r = run(...withHosts(hosts, ensureLivekitClient(), args), { env });
  const line = r.stdout.trim().split("\n").at(-1) ?? "";
  let figures: CallFigures;
  try {
    figures = JSON.parse(line) as CallFigures;
  } catch {
    throw new Error(`livekit-client printed no figures (exit ${r.code}):\n${r.stdout}\n${r.stderr.slice(-3000)}`);
  }
  return { ...figures, code: r.code, stderr: r.stderr };
}

export interface GroupCallFigures {
  participants: number;
  /** Per listener, packets heard from each other participant (by identity). */
  heard: Record<string, Record<string, number>>;
  fewestHeard: number;
  error?: string;
}

/**
 * A group call (test/livekit-client -group): everyone speaks and hears everyone. `whileUp` runs
 * once everyone has heard everyone, while the call goes on (to measure the SFU meanwhile).
 */
export async function placeGroupCall(args: string[], env: NodeJS.ProcessEnv, whileUp: () => Promise<void>, hosts?: Hosts): Promise<GroupCallFigures & { code: number; stderr: string }> {
  let measuring: Promise<void> | undefined;
  const { code, stdout, stderr } = await runAsync(...withHosts(hosts, ensureLivekitClient(), args), {
    env, onStderr: (soFar) => {
      if (!measuring && /^call up$/m.test(soFar)) measuring = whileUp();
    },
  });
  await measuring;
  const line = stdout.trim().split("\n").at(-1) ?? "";
  try {
    return { ...(JSON.parse(line) as GroupCallFigures), code, stderr };
  } catch {
    throw new Error(`livekit-client printed no figures (exit ${code}):\n${stdout}\n${stderr.slice(-3000)}`);
  }
}

/** What a LiveKit token grants (the `video` claim; LiveKit's VideoGrant). */
export interface VideoGrant {
  room?: string;
  roomJoin?: boolean;
  roomCreate?: boolean;
  canPublish?: boolean;
  canSubscribe?: boolean;
}

/** A LiveKit access token: a JWT (HS256) signed with the API secret, issued by the API key. */
export function livekitToken(key: string, secret: string, identity: string, video: VideoGrant, validSeconds = 600): string {
  const now = Math.floor(Date.now() / 1000);
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${part({ alg: "HS256", typ: "JWT" })}.${part({ iss: key, sub: identity, nbf: now, exp: now + validSeconds, video })}`;
  return `${unsigned}.${crypto.createHmac("sha256", secret).update(unsigned).digest("base64url")}`;
}

/** Make a room through LiveKit's server API (Twirp), as the authorization service does; the HTTP status. */
export async function createRoom(httpBase: string, key: string, secret: string, name: string): Promise<number> {
  const reply = await fetch(new URL("/twirp/livekit.RoomService/CreateRoom", httpBase), {
    method: "POST",
    headers: { authorization: `Bearer ${livekitToken(key, secret, "room-maker", { roomCreate: true })}`, "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  return reply.status;
}
