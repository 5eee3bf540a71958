/**
 * LiveKit as the payload configures it (cloud-init/livekit.ts), the pinned release built from
 * the Go module proxy, carrying a call between two parties placed with LiveKit's own Go SDK
 * (test/livekit-client): one speaks, the other hears. On this machine's loopback; the droplet
 * suite places the same call through the droplet's firewall.
 */
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { Livekit, createRoom, livekitToken, placeCall, placeGroupCall, startLivekit } from "../local/livekit";
import { scratchDir } from "./fixtures";

const log = (line: string) => console.log(`  [livekit] ${line}`);
const KEY = "matrix-rtc";
const SECRET = crypto.randomBytes(32).toString("hex");

describe("LiveKit as the payload configures it", { timeout: 20 * 60_000 }, () => {
  const dir = scratchDir("matrix-livekit-");
  let livekit: Livekit;

  before(async () => {
    const started = Date.now();
    livekit = await startLivekit(path.join(dir, "livekit"), { [KEY]: SECRET }, "127.0.0.1");
    log(`built (or cached) and answering in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
  after(() => livekit?.stop());

  const join = (room: string, identity: string, secret = SECRET) =>
    livekitToken(KEY, secret, identity, { room, roomJoin: true, canPublish: true, canSubscribe: true });

  it("carries a call: two parties join with LiveKit's Go SDK, one speaks, the other hears its audio", async () => {
    assert.equal(await createRoom(livekit.httpBase, KEY, SECRET, "call"), 200);
    const call = placeCall(["-url", livekit.url, "-listener-token", join("call", "listener"), "-speaker-token", join("call", "speaker")]);
    log(`call: first packet ${call.firstPacketMs} ms after the speaker joined; ${call.packetsHeard} packets heard of ${call.framesSent} frames sent (${call.framesSentSinceHeard} once the first was heard)`);
    assert.equal(call.code, 0, `${call.error}\n${call.stderr.slice(-3000)}`);
    assert.equal(call.speakerIdentity, "speaker");
    // Frames sent before the listener's subscription is up are not forwarded; from then on, all are.
    assert.ok(call.framesSentSinceHeard >= 50, `only ${call.framesSentSinceHeard} frames sent once the listener heard the first`);
    assert.ok(call.packetsHeard >= call.framesSentSinceHeard * 0.98, `${call.packetsHeard} packets heard, ${call.framesSentSinceHeard} frames sent since the first`);
    assert.ok(call.firstPacketMs < 5000, `first packet after ${call.firstPacketMs} ms`);
  });

  it("carries a group call: four parties each speak and each hear the three others", async () => {
    assert.equal(await createRoom(livekit.httpBase, KEY, SECRET, "meeting"), 200);
    let upAt = 0;
    const tokens = ["ann", "ben", "cat", "dan"].map((identity) => join("meeting", identity));
    const meeting = await placeGroupCall(["-url", livekit.url, "-group", tokens.join(","), "-seconds", "4", "-want", "100"], process.env, async () => {
      upAt = Date.now();
    });
    assert.equal(meeting.code, 0, `${meeting.error}\n${meeting.stderr.slice(-3000)}`);
    assert.ok(upAt > 0, "the client said the call was up");
    assert.equal(Object.keys(meeting.heard).length, 4);
    for (const [listener, from] of Object.entries(meeting.heard)) assert.equal(Object.keys(from).length, 3, `${listener} heard ${Object.keys(from).join(", ")}`);
    log(`group call: 4 parties, each heard each other at least ${meeting.fewestHeard} packets`);
  });

  it("makes no room on a join: a valid token for a room nobody made joins nothing", () => {
    const call = placeCall(["-url", livekit.url, "-listener-token", join("nobody-made-it", "listener"), "-speaker-token", join("nobody-made-it", "speaker")]);
    assert.notEqual(call.code, 0);
    assert.match(call.error ?? "", /listener: join/);
  });

  it("refuses a token signed with another secret, and a room made with one", async () => {
    assert.equal(await createRoom(livekit.httpBase, KEY, "not-the-secret", "forged"), 401);
    assert.equal(await createRoom(livekit.httpBase, KEY, SECRET, "forged"), 200);
    const forged = join("forged", "listener", "not-the-secret");
    const call = placeCall(["-url", livekit.url, "-listener-token", forged, "-speaker-token", join("forged", "speaker")]);
    assert.notEqual(call.code, 0);
    assert.match(call.error ?? "", /listener: join/);
  });
});
