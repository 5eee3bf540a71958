/**
 * Element X on the pinned Synapse: a small client on matrix-rust-sdk (test/element-x-client,
 * the SDK Element X is built on) does what Element X does at login. It logs in with a password,
 * runs the room list service over simplified sliding sync (MSC4186), sees a room and a message
 * another user sent, and replies. Synapse runs the rendered config on this machine (its sockets),
 * as in services.test.ts; Synapse's own request counters say which sync the client used.
 */
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { renderPostgresSetupSql, renderPostgresTuning } from "../cloud-init/postgres";
import { SynapseSite } from "../cloud-init/synapse";
import { ensureElementXClient, runElementXClient } from "../local/elementX";
import { scratchDir, settingsFor, testSecrets } from "./fixtures";
import { Postgres, Service, adminToken, registerUser, startPostgres, startSynapse, synapseSiteIn } from "./local-services";
import { socketFetch, httpToSocket } from "../local/socketFetch";

const log = (line: string) => console.log(`  [element-x] ${line}`);
const settings = settingsFor();
const secrets = testSecrets();

describe("Element X's login (matrix-rust-sdk) on the pinned Synapse", { timeout: 30 * 60_000 }, () => {
  const dir = scratchDir("matrix-element-x-");
  let postgres: Postgres;
  let synapse: Service;
  let site: SynapseSite;
  let base: string;
  let forwarder: { port: number; close: () => Promise<void> };
  let admin: string;

  before(async () => {
    // Built first (minutes on a cold cache; a second on a warm one), before any service runs.
    const building = Date.now();
    ensureElementXClient();
    log(`client built (or cached) in ${((Date.now() - building) / 1000).toFixed(1)} s`);

    postgres = await startPostgres(path.join(dir, "postgres"), renderPostgresTuning(settings));
    const setup = postgres.psql(["-q", "-f", "-"], renderPostgresSetupSql(secrets));
    assert.equal(setup.code, 0, setup.stderr);
    site = synapseSiteIn(dir, postgres.port);
    synapse = await startSynapse(dir, settings, secrets, site);
    // The client speaks TCP; Synapse listens on its sockets only.
    forwarder = await httpToSocket(site.clientSocket);
    base = `http://127.0.0.1:${forwarder.port}`;
    admin = await adminToken(site);
  });

  after(async () => {
    await forwarder?.close();
    await synapse?.stop();
    postgres?.stop();
  });

  /** A call to the client-server API as `token`; the parsed reply, which must be a 200. */
  const api = async (token: string, method: string, route: string, body?: unknown) => {
    const reply = await fetch(`${base}${route}`, {
      method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await reply.text();
    assert.equal(reply.status, 200, `${method} ${route}: ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  };

  /** A user made through the admin API: its ID and token. */
  const register = (username: string, password: string) => registerUser(site, admin, username, password, settings.serverName);

  /** Synapse's count of requests each servlet received, by `METHOD servlet` (its Prometheus metrics). */
  const requestsReceived = async () => {
    const text = await (await socketFetch(site.metricsSocket)("/_synapse/metrics")).text();
    const counts = new Map<string, number>();
    for (const [, labels, value] of text.matchAll(/^synapse_http_server_requests_received_total\{([^}]*)\} (\S+)$/gm)) {
      const label = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(labels)?.[1];
      counts.set(`${label("method")} ${label("servlet")}`, Number(value));
    }
    assert.ok(counts.size > 0, `no request counters in Synapse's metrics:\n${text.slice(0, 2000)}`);
    return counts;
  };

  it("logs in with a password, lists the room over simplified sliding sync, sees alice's message and replies", async () => {
    const versions = (await (await fetch(`${base}/_matrix/client/versions`)).json()) as { unstable_features: Record<string, boolean> };
    assert.equal(versions.unstable_features["org.matrix.simplified_msc3575"], true, "Synapse advertises simplified sliding sync");

    const bobPassword = crypto.randomBytes(12).toString("hex");
    const alice = await register("alice", crypto.randomBytes(12).toString("hex"));
    const bob = await register("bob", bobPassword);
    const { room_id: roomId } = (await api(alice.access_token, "POST", "/_matrix/client/v3/createRoom", {
      preset: "private_chat", name: "Element X check", invite: [bob.user_id],
    })) as { room_id: string };
    await api(bob.access_token, "POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, {});
    const hello = "hello from alice";
    await api(alice.access_token, "PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/hello`, { msgtype: "m.text", body: hello });

    const before = await requestsReceived();
    const reply = `hello from bob on matrix-rust-sdk ${crypto.randomBytes(4).toString("hex")}`;
    const r = await runElementXClient({
      homeserver: base, user: "bob", password: bobPassword, roomId, expectBody: hello, expectSender: alice.user_id, reply,
      // Synapse's login reply names its public URL (https://matrix.example.test/), not this loopback one.
      stayOnHomeserver: true, timeoutSecs: 120,
    });
    const figures = r.figures;
    assert.equal(r.code, 0, `element-x-client failed:\n${r.stderr.slice(-4000)}`);
    assert.ok(figures);
    log(`logged in ${figures.loggedInMs} ms; room in the list ${figures.roomSeenMs} ms (${figures.roomsInList} rooms); ` +
      `alice's message ${figures.messageSeenMs} ms${figures.paginated ? " (paginated back)" : ""}; reply sent ${figures.replySentMs} ms, ` +
      `back through sync ${figures.replyEchoedMs} ms; room list preview ${JSON.stringify(figures.latestEventBody)}`);

    assert.equal(figures.userId, bob.user_id);
    assert.equal(figures.slidingSyncVersion, "native");
    assert.equal(figures.roomsInList, 1);
    assert.equal(figures.paginated, false, "alice's message came with the room's sync, not from paginating back");
    assert.match(figures.replyEventId, /^\$/);

    // Alice reads bob's reply from the room, under the id the client reported.
    const messages = (await api(alice.access_token, "GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=20`)) as {
      chunk: { event_id: string; sender: string; type: string; content: { body?: string } }[];
    };
    const answer = messages.chunk.find((e) => e.event_id === figures.replyEventId);
    assert.ok(answer, `no event ${figures.replyEventId} in the room: ${JSON.stringify(messages.chunk.map((e) => e.type))}`);
    assert.deepEqual([answer.sender, answer.type, answer.content.body], [bob.user_id, "m.room.message", reply]);
    // Its password login made a session with the client's name.
    const { devices } = (await api(bob.access_token, "GET", "/_matrix/client/v3/devices")) as { devices: { device_id: string; display_name?: string }[] };
    assert.ok(devices.some((d) => d.device_id === figures.deviceId && d.display_name === "element-x-client (matrix-do test)"), JSON.stringify(devices));

    // Synapse served it simplified sliding sync, and no /sync (v2): nobody else syncs here.
    const after = await requestsReceived();
    const received = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
    log(`Synapse received ${received("POST SlidingSyncRestServlet")} simplified sliding sync requests, ${received("GET SyncRestServlet")} /sync`);
    assert.ok(received("POST SlidingSyncRestServlet") >= 2, `${received("POST SlidingSyncRestServlet")} sliding sync requests`);
    assert.equal(received("GET SyncRestServlet"), 0, "the client used /sync (v2)");

    // Element X's feel: the room and the message at once, the reply back within seconds.
    assert.ok(figures.loggedInMs < 10_000, `login took ${figures.loggedInMs} ms`);
    assert.ok(figures.messageSeenMs < 30_000, `alice's message seen after ${figures.messageSeenMs} ms`);
    assert.ok(figures.replyEchoedMs - figures.messageSeenMs < 15_000, `reply back through sync ${figures.replyEchoedMs - figures.messageSeenMs} ms after sending`);
  });
});
