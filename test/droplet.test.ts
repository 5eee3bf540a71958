/**
 * The payload booted like a droplet: a fresh Debian 13 root under systemd-nspawn, real
 * cloud-init, its own network namespace, certificates from Pebble by HTTP-01, a volume
 * directory that outlives the droplet. Then the server is used over HTTPS the way clients and
 * other servers use it, replaced, and broken on purpose.
 *
 * One droplet boots once, in the outer `before`; the phases below run in order against it (and
 * against the droplets that replace it). Each phase says what it needs from the ones before.
 *
 * HTTP, one style per purpose: from this machine, `https()` (local/https.ts) for every request
 * a client or another server makes; matrix-js-sdk where a real Matrix client is the point;
 * curl inside the droplet only where the request must come from the droplet itself (each place
 * says why).
 */
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as tls from "node:tls";
import { after, before, describe, it } from "node:test";
import { PlainArgs } from "../components/settings";
import { cloudInitWaitScript } from "../components/matrixServer";
import { Settings } from "../cloud-init/settings";
import { PATHS } from "../cloud-init/paths";
import { OPS_USER } from "../cloud-init/synapse";
import { renderUserData } from "../cloud-init/userData";
import { DEFAULT_ELEMENT_VERSION, SYNAPSE_VERSIONS } from "../cloud-init/versions";
import { run, scratchDir, testSecrets } from "./fixtures";
import { SmtpSink, startSmtpSink } from "./smtpSink";
import { waitUntil } from "./local-services";
import { checkFederation, verifyServerKeys } from "./droplet/federationCheck";
import { allocateOverTls, relayOverTls } from "./droplet/turnAllocate";
import { assertNoMatrixRtc } from "./droplet/matrixRtc";
import { openIdToken, sfuGet } from "../local/rtcTokens";
import { Reply } from "../local/https";
import { S3, startS3 } from "../local/s3";
import { Session, anonymousClient, fetchVia, loadSdk, loginClient } from "../local/matrixClient";
import { LocalDroplet } from "../local/localDroplet";
import { DropletAddress } from "../local/network";
import { ensureRootfs, rootfsTarball } from "../local/rootfs";
import { BootFigures, World, bootInto, httpsVia, matrixRtcArgs, startWorld, worldSettings, zoneOf } from "../local/world";
import { sendSequentially, talkConcurrently } from "../bench/load";
import { callSteps, ensureLivekitClient, placeCall, placeGroupCall } from "../local/livekit";
import { runElementXClient } from "../local/elementX";
import { serviceCpu, serviceMemory, unitsMemory } from "../bench/memory";
import { AdminApi, populate } from "../bench/population";
import { playLines } from "../bench/stats";

const secrets = testSecrets();
const APPLY = "python3 /usr/local/lib/matrix/apply-config.py";
const log = (line: string) => console.log(`  [droplet] ${line}`);
const seconds = (ms: number) => Math.round(ms / 100) / 10;
const [NEWEST_SYNAPSE, PREVIOUS_SYNAPSE] = SYNAPSE_VERSIONS;
const SMTP = { port: 2587, user: "synapse@example.test", password: crypto.randomBytes(12).toString("hex") };
/** The settings the in-place change (operations) turns on; TURN and the last boot keep them. */
const CHANGED: Partial<PlainArgs> = {
  registration: "token", maxUploadMb: 20, remoteMediaRetentionDays: 90, forgottenRoomRetentionDays: 30,
  smtpPort: SMTP.port, smtpUser: SMTP.user, smtpPassword: "[secret]",
};

/** What the outer `before` sets up once, for every phase: the world around the droplets and the services beside them. */
interface Environment {
  world: World;
  /** Where example.test's droplet boots, and other.test's (federation). */
  address: DropletAddress;
  otherAddress: DropletAddress;
  /** Pebble's root: what clients trust. */
  trust: string;
  /** Spaces (off-site backups) and the mail relay. */
  s3: S3;
  smtp: SmtpSink;
}

describe("the payload on a local droplet", { timeout: 45 * 60_000 }, () => {
  const dir = scratchDir("matrix-droplet-");
  /** The key `pulumi up` would log in with (sshPrivateKey), and the known_hosts line for the pinned host key. */
  const sshKey = path.join(dir, "ssh-key");
  /** Pebble's root as a file, for the clients run as programs (matrix-rust-sdk, LiveKit's Go SDK). */
  const trustFile = path.join(dir, "pebble-root.pem");
  const knownHosts = path.join(dir, "known_hosts");
  let env: Environment;
  // The droplet of the moment and what it was given: replaced by upgrade and disaster recovery,
  // reconfigured in place by operations and TURN.
  let droplet: LocalDroplet;
  let settings: Settings;
  let userData: string;
  let volumeDir = path.join(dir, "volume");

  /** What clients write and later phases check is still there after faults, replacements and restores. */
  const story = {
    alice: { user: "alice", password: crypto.randomBytes(12).toString("hex") },
    roomId: "",
    /** Every message alice sent to her room, in order. */
    sent: [] as string[],
    /** The certificate served before any replacement. */
    certBefore: "",
    /** A file alice uploads (operations), to find again after the restores. */
    media: { uri: "", body: crypto.randomBytes(4096) },
  };

  // ---- Shared helpers (used by more than one phase) ----

  /** HTTPS to a name of the test domain, at the droplet's address, trusting Pebble's root: how clients and other servers reach it. */
  const https = (url: string, options: Parameters<ReturnType<typeof httpsVia>>[1] = {}): Promise<Reply> =>
    httpsVia(env.world, env.address.ip)(url, options);

  /**
   * The world's test settings, plus off-site backups to the S3 service standing in for Spaces.
   * Calls are off: their phase turns them on and off (the cloud test deploys them by default).
   */
  const testSettings = (synapseVersion: string, domain = "example.test", extra: Partial<PlainArgs> = {}): Settings => worldSettings(env.world, {
    matrixRtc: false,
    ...extra,
    domain,
    synapseVersion,
    spacesBucket: "matrix-backups",
    spacesAccessKeyId: env.s3.accessKeyId,
    spacesSecretKey: "[secret]",
    spacesEndpoint: env.s3.endpoint,
  });

  let generation = 0;
  /** Boot the droplet (a new one each time: a new root, the volume directory of the moment). */
  async function bootDroplet(label: string): Promise<BootFigures> {
    generation += 1;
    let figures: BootFigures;
    ({ droplet, figures } = await bootInto(env.world, settings, {
      name: `droplet${generation}`, workDir: path.join(dir, "roots"), volumeDir, userData,
      sshAuthorizedKeys: [fs.readFileSync(`${sshKey}.pub`, "utf8").trim()],
      // Held to the RAM of the size it is configured for, as on DigitalOcean.
      memoryLimitMb: settings.droplet.memoryMb,
    }));
    log(`${label}: container up ${figures.boot} s, cloud-init done +${figures.cloudInit} s, HTTPS answering +${figures.https} s`);
    return figures;
  }

  /** A password login over HTTPS, as any client sends it; the reply as it comes. */
  function loginReply(user: string, password: string, headers: Record<string, string> = {}): Promise<Reply> {
    return https(`https://${settings.matrixHost}/_matrix/client/v3/login`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user }, password }),
    });
  }

  async function login(user: string, password: string): Promise<string> {
    const r = await loginReply(user, password);
    assert.equal(r.status, 200, r.body);
    return r.json().access_token as string;
  }

  async function send(token: string, body: string): Promise<void> {
    // The transaction id follows from the body, so a retried send cannot duplicate a message.
    const txn = crypto.createHash("sha256").update(body).digest("hex").slice(0, 16);
    const r = await https(`https://${settings.matrixHost}/_matrix/client/v3/rooms/${encodeURIComponent(story.roomId)}/send/m.room.message/${txn}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ msgtype: "m.text", body }),
    });
    assert.equal(r.status, 200, r.body);
    if (!story.sent.includes(body)) story.sent.push(body);
  }

  /** Every message body in alice's room, oldest first. */
  async function history(token: string): Promise<string[]> {
    const r = await https(`https://${settings.matrixHost}/_matrix/client/v3/rooms/${encodeURIComponent(story.roomId)}/messages?dir=b&limit=1000`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(r.status, 200, r.body);
    const chunk = r.json<{ chunk: { type: string; content: { body?: string } }[] }>().chunk;
    return chunk.filter((e) => e.type === "m.room.message").map((e) => e.content.body!).reverse();
  }

  async function downloadMedia(token: string): Promise<Buffer> {
    const [server, id] = story.media.uri.slice("mxc://".length).split("/");
    const r = await https(`https://${settings.matrixHost}/_matrix/client/v1/media/download/${server}/${id}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200, r.body);
    return r.raw;
  }

  /** SHA-256 of the certificate the homeserver presents. */
  function servedCertificate(): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: env.address.ip, port: 443, servername: settings.matrixHost, ca: env.trust }, () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.end();
      });
      socket.on("error", reject);
    });
  }

  function synapsePid(): string {
    return droplet.exec(["systemctl", "show", "-p", "MainPID", "--value", "matrix-synapse"]).stdout.trim();
  }

  /** Add a user the way the README tells an admin to: matrixctl on the droplet. */
  function addUser(user: string, password: string, on: LocalDroplet = droplet): void {
    const r = on.exec(["matrixctl", "user", "add", user, "--password-file", "-"], `${password}\n`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  }

  /** One call to Synapse's admin API on the droplet (it answers on root's socket only): the reply. */
  function adminApi(method: string, apiPath: string, body?: unknown, on: LocalDroplet = droplet): Record<string, unknown> {
    const r = on.exec(["matrixctl", "api", method, apiPath, ...(body === undefined ? [] : ["--data", "-"])], body === undefined ? undefined : JSON.stringify(body));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  /** matrixctl on the droplet, as root. */
  function matrixctl(args: string[], input?: string) {
    return droplet.exec(["matrixctl", ...args], input);
  }

  /** A unit's overall exposure by `systemd-analyze security` on the droplet (0 best, 10 worst). */
  function exposure(unit: string): number {
    const r = droplet.exec(["systemd-analyze", "security", "--no-pager", unit]);
    const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(r.stdout);
    assert.ok(m, `${unit}: ${r.stdout.slice(-400)}${r.stderr}`);
    return Number(m[1]);
  }

  /** What `pulumi up` does with an SSH key: the payload on stdin to apply-config.py, host key pinned. */
  const ssh = (known: string, input: string) => new Promise<{ code: number; stderr: string }>((resolve) => {
    const child = childProcess.spawn("ssh", ["-i", sshKey, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
      "-o", `UserKnownHostsFile=${known}`, `root@${env.address.ip}`, APPLY]);
    let stderr = "";
    child.stderr.on("data", (c) => (stderr += c));
    child.on("exit", (code) => resolve({ code: code ?? -1, stderr }));
    child.stdin.end(input);
  });

  /** turnutils_uclient (Debian's coturn) from this machine to the droplet's TURN server. */
  function turnClient(args: string[]) {
    return run("timeout", ["60", "turnutils_uclient", "-n", "10", ...args, env.address.ip]);
  }

  /**
   * The relay worked: the client sent its 10 messages on each of its sessions (four, client to
   * client), received every one back through the other client, and lost nothing.
   */
  function assertRelayed(r: { code: number; stdout: string; stderr: string }, transport: string): void {
    assert.equal(r.code, 0, `${transport}: ${r.stdout}${r.stderr}`);
    const totals = /start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)$/m.exec(r.stdout);
    assert.ok(totals, `${transport}: no totals in ${r.stdout}`);
    const [sent, received] = [Number(totals[1]), Number(totals[2])];
    assert.ok(sent >= 20 && sent % 10 === 0, `${transport}: sent ${sent}`);
    assert.equal(received, sent, `${transport}: all relayed back`);
    assert.match(r.stdout, /Total lost packets 0 \(/, transport);
  }

  /** TURN credentials as Synapse hands them to a logged-in client. */
  async function turnCredentials(): Promise<{ username: string; password: string; uris: string[]; ttl: number }> {
    const bearer = await login(story.alice.user, story.alice.password);
    const reply = await https(`https://${settings.matrixHost}/_matrix/client/v3/voip/turnServer`, { headers: { authorization: `Bearer ${bearer}` } });
    assert.equal(reply.status, 200, reply.body);
    return reply.json();
  }

  // ---- Setup: the world, the services beside it, and the one first boot every phase uses ----

  before(async () => {
    ensureRootfs(log);
    const world = await startWorld(dir, { otherServer: true });
    const { address, trust } = world;
    // s3 and smtp follow: set piece by piece, so that `after` stops whatever started.
    env = { world, address, otherAddress: world.otherAddress!, trust } as Environment;
    fs.writeFileSync(trustFile, trust);
    env.s3 = await startS3(path.join(dir, "s3"), address.hostIp, world.ca);
    env.smtp = await startSmtpSink(SMTP.port, world.ca.issue("smtp", [address.hostIp]), SMTP, address.hostIp);
    secrets.offsiteSecretKey = env.s3.secretKey;
    assert.equal(run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", sshKey]).code, 0);
    fs.writeFileSync(knownHosts, `${address.ip} ${secrets.sshHostKey.publicKey}\n`);
    // Start on the previous Synapse release we ship, so the last replacement is an upgrade.
    settings = testSettings(PREVIOUS_SYNAPSE);
    userData = renderUserData(settings, secrets);
    await bootDroplet("first boot");
  });

  after(async () => {
    if (process.env.MATRIX_DO_KEEP_DROPLET) {
      // For a developer: leave it running to look inside (nsenter -t <pid> -a bash).
      log(`kept running: nsenter -t ${droplet.leader} -a bash; volume ${volumeDir}`);
      await new Promise(() => {});
    }
    await droplet?.poweroff();
    droplet?.destroy();
    await env?.s3?.stop();
    await env?.smtp?.close();
    await env?.world?.close();
  });

  describe("boot", () => {
    it("first boot: cloud-init finishes cleanly and the homeserver answers over HTTPS with a Pebble certificate", async () => {
      const versions = await https(`https://${settings.matrixHost}/_matrix/client/versions`);
      assert.ok(Array.isArray(versions.json().versions));
      assert.ok(fs.existsSync(path.join(dir, "roots", droplet.options.name, "var/lib/matrix-do/bootstrap.done")));
    });

    it("the check `pulumi up` runs over SSH (wait-cloud-init.sh) reports the boot done", () => {
      // As @pulumi/command sends it: the script text, with its setting prepended.
      const r = droplet.exec(["bash", "-c", cloudInitWaitScript("60")]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /cloud-init finished; bootstrap done at /);
    });

    it("runs every service, enabled for the next boot", () => {
      for (const unit of ["matrix-synapse", "caddy", "postgresql@17-main", "matrix-metadata-guard"]) {
        assert.equal(droplet.exec(["systemctl", "is-active", unit]).stdout.trim(), "active", unit);
        assert.equal(droplet.exec(["systemctl", "is-enabled", unit]).stdout.trim(), "enabled", unit);
      }
      const failed = droplet.exec(["systemctl", "--failed", "--no-legend", "--plain"]).stdout.trim();
      assert.equal(failed, "", `failed units:\n${failed}`);
    });

    it("sandboxes the services: systemd-analyze security rates each ≤ 4.0", () => {
      // coturn and matrix-turn-certificate exist with TURN on: measured where it is turned on (TURN).
      const bounded = [
        "matrix-synapse.service", "caddy.service", "postgresql@17-main.service", "matrix-backup.service",
        "matrix-optional.service", "matrix-metadata-guard.service", "matrix-swap.service",
      ];
      const scores = Object.fromEntries(bounded.map((unit) => [unit, exposure(unit)]));
      log(`systemd-analyze security: ${Object.entries(scores).map(([unit, score]) => `${unit} ${score}`).join(", ")}`);
      for (const unit of bounded) assert.ok(scores[unit] <= 4.0, `${unit}: exposure ${scores[unit]}`);
    });

    it("only root can change Caddy's config: its admin endpoint is a socket no service account reaches", () => {
      // curl inside the droplet: the point is who on the droplet reaches Caddy's admin socket.
      const socket = PATHS.caddyAdminSocket;
      // HTTP/1.0 without a Host header: Caddy's admin socket refuses any host name.
      const admin = ["curl", "-sS", "-m", "5", "--http1.0", "-H", "Host:", "--unix-socket", socket];
      const load = (account: string) => droplet.exec(["runuser", "-u", account, "--", ...admin, "-H", "content-type: application/json", "-d", '{"apps":{}}', "http://admin/load"]);
      for (const account of ["nobody", "synapse", "postgres"]) {
        const r = load(account);
        assert.notEqual(r.code, 0, `${account} reached Caddy's admin socket`);
        assert.match(r.stderr, /Permission denied|connect to server/, account);
        const tcp = droplet.exec(["runuser", "-u", account, "--", "curl", "-sS", "-m", "5", "http://127.0.0.1:2019/config/"]);
        assert.notEqual(tcp.code, 0, `${account} reached an admin endpoint on TCP`);
      }
      // Root (the payload's reload, matrixctl) still can: the config it reads back is the live one.
      const config = droplet.exec([...admin, "http://admin/config/apps/http/servers"]);
      assert.equal(config.code, 0, config.stderr);
      assert.match(config.stdout, new RegExp(settings.matrixHost.replace(/\./g, "\\.")));
    });

    it("Synapse listens on no port: no account but root (and Synapse's own) opens its admin and metrics sockets, and only Caddy's its client socket", () => {
      const tcp = droplet.exec(["ss", "-Hltnp"]).stdout;
      assert.doesNotMatch(tcp, /python|synapse/, `Synapse listens on TCP:\n${tcp}`);
      // Every account on the droplet, as listed there (not by hand), and a uid systemd hands a DynamicUser service.
      const accounts = droplet.exec(["getent", "passwd"]).stdout.trim().split("\n").map((line) => line.split(":"))
        .filter(([, , uid]) => uid !== "0").map(([name, , uid, gid]) => ({ name, uid, gid }));
      assert.ok(accounts.some((a) => a.name === "caddy") && accounts.some((a) => a.name === "nobody"), accounts.map((a) => a.name).join(" "));
      const opens = (account: { uid: string; gid: string; name: string }, socket: string) => {
        // With the account's own groups (Caddy's group is what opens the client socket).
        const groups = droplet.exec(["id", "-G", account.name]).stdout.trim().replace(/ /g, ",") || account.gid;
        return droplet.exec(["setpriv", `--reuid=${account.uid}`, `--regid=${account.gid}`, `--groups=${groups}`,
          "curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", socket, "http://localhost/health"]).stdout;
      };
      // Synapse's own account owns them; Caddy's group opens the client socket; nobody else any.
      for (const account of [...accounts, { name: "(a DynamicUser uid)", uid: "61184", gid: "61184" }]) {
        const synapse = account.name === "synapse";
        for (const socket of [PATHS.synapseAdminSocket, PATHS.synapseMetricsSocket]) assert.equal(opens(account, socket) === "200", synapse, `${account.name} (${account.uid}) and ${socket}`);
        assert.equal(opens(account, PATHS.synapseClientSocket) === "200", synapse || account.name === "caddy", `${account.name} (${account.uid}) and ${PATHS.synapseClientSocket}`);
      }
      assert.equal(droplet.exec(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", PATHS.synapseAdminSocket, "http://localhost/health"]).stdout, "200", "root does");
    });

    it("keeps the database, media, certificates and ACME account on the volume", () => {
      assert.ok(fs.existsSync(path.join(volumeDir, "postgresql", "17", "main", "PG_VERSION")));
      assert.ok(fs.existsSync(path.join(volumeDir, "postgresql-etc", "17", "main", "postgresql.conf")));
      assert.ok(fs.existsSync(path.join(volumeDir, "synapse", "media")));
      const certs = droplet.exec(["find", "/var/lib/caddy", "-name", "matrix.example.test.crt"]).stdout;
      assert.match(certs, /matrix\.example\.test\.crt/);
    });

    it("Caddy registered exactly one ACME account, on the volume, and obtained every certificate with it; it never ran before the volume", async () => {
      // Caddy 2.6 registering one account per certificate at once could keep one's key with
      // another's registration: the next order (a new name, a renewal) was refused.
      assert.equal(env.world.pebble.accounts(), 1, "ACME accounts registered at Pebble");
      const accounts = droplet.exec(["find", PATHS.caddyAcmeAccounts, "-path", "*/users/*", "-name", "*.json"]).stdout.trim().split("\n").filter(Boolean);
      assert.equal(accounts.length, 1, accounts.join("\n"));
      assert.ok(fs.existsSync(path.join(volumeDir, "caddy", path.relative(PATHS.caddyData, accounts[0]))), "on the volume");
      await waitUntil("a certificate for every name", 60, () => {
        const certs = droplet.exec(["find", PATHS.caddyCertificates, "-name", "*.crt"]).stdout;
        return [settings.matrixHost, settings.elementHost, settings.serverName].every((name) => certs.includes(`/${name}.crt`));
      }, 1000);
      // Installing the package starts Caddy: skipped, its storage was not bound from the volume yet.
      const journal = droplet.exec(["journalctl", "--unit", "caddy", "--no-pager", "--output", "cat"]).stdout;
      assert.match(journal, /unmet condition check \(?ConditionPathIsMountPoint=\/var\/lib\/caddy\b/);
      assert.doesNotMatch(journal, /JWS verification error|unknown authority/);
    });

    it("re-running the bootstrap changes nothing and restarts nothing", () => {
      const before = synapsePid();
      const r = droplet.exec(["/usr/local/lib/matrix/bootstrap.sh"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(synapsePid(), before, "Synapse was not restarted");
    });

    it("serves .well-known and federation keys on every federation path", async () => {
      const server = await https(`https://${settings.serverName}/.well-known/matrix/server`);
      assert.deepEqual(server.json(), { "m.server": `${settings.matrixHost}:443` });
      for (const url of [`https://${settings.serverName}:8448/_matrix/key/v2/server`, `https://${settings.matrixHost}/_matrix/key/v2/server`]) {
        const keys = (await https(url)).json<{ server_name: string; verify_keys: Record<string, unknown> }>();
        assert.equal(keys.server_name, "example.test");
        assert.deepEqual(Object.keys(keys.verify_keys), [`ed25519:${secrets.signingKey.split(" ")[1]}`]);
      }
    });

    it("reports the size of the cached root", () => {
      const size = fs.statSync(rootfsTarball()).size;
      log(`cached Debian 13 root: ${Math.round(size / 1024 / 1024)} MiB (${rootfsTarball()})`);
      assert.ok(size > 100 * 1024 * 1024);
    });
  });

  // Writes what the later phases check: alice, her room and messages (story), bob and carol, the certificate served.
  describe("clients", () => {
    /** The homeserver as matrix-js-sdk reaches it from this machine. */
    let sdk: { base: string; fetchFn: typeof fetch };
    before(() => {
      sdk = { base: `https://${settings.matrixHost}`, fetchFn: fetchVia(env.address.ip, env.trust) };
    });

    it("an admin adds a user on the droplet; the user creates a room and talks", async () => {
      const { alice } = story;
      addUser(alice.user, alice.password);
      const token = await login(alice.user, alice.password);
      const room = await https(`https://${settings.matrixHost}/_matrix/client/v3/createRoom`, {
        method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ name: "persistence" }),
      });
      assert.equal(room.status, 200, room.body);
      story.roomId = room.json().room_id as string;
      for (let i = 0; i < 5; i++) await send(token, `before replacement ${i}`);
      assert.deepEqual(await history(token), story.sent);
      story.certBefore = await servedCertificate();
    });

    it("matrix-js-sdk: the admin logs in; two users the admin adds share a room; 200 messages arrive in order", async () => {
      const { ClientEvent, RoomEvent } = await loadSdk();
      const admin = await loginClient(sdk.base, sdk.fetchFn, settings.adminUser, secrets.adminPassword);
      assert.equal(admin.userId, "@admin:example.test");
      const passwords = { bob: crypto.randomBytes(12).toString("hex"), carol: crypto.randomBytes(12).toString("hex") };
      addUser("bob", passwords.bob);
      addUser("carol", passwords.carol);
      // Synapse's message rate limit (0.2/s) would make this take 17 minutes; the admin lifts it
      // for bob, as an admin would for a bot.
      adminApi("POST", "/_synapse/admin/v1/users/@bob:example.test/override_ratelimit", { messages_per_second: 0, burst_count: 0 });

      const bob: Session = await loginClient(sdk.base, sdk.fetchFn, "bob", passwords.bob);
      const carol: Session = await loginClient(sdk.base, sdk.fetchFn, "carol", passwords.carol);
      const { room_id: room } = await bob.client.createRoom({ name: "two hundred", invite: [carol.userId] });
      await carol.client.joinRoom(room);

      const messages = Array.from({ length: 200 }, (_, i) => `message ${i + 1} of 200`);
      const received: string[] = [];
      const allReceived = new Promise<void>((resolve) => {
        carol.client.on(RoomEvent.Timeline, (event, timelineRoom, toStartOfTimeline) => {
          if (toStartOfTimeline || timelineRoom?.roomId !== room || event.getType() !== "m.room.message") return;
          received.push(event.getContent().body as string);
          if (received.length === messages.length) resolve();
        });
      });
      const synced = new Promise<void>((resolve) => carol.client.once(ClientEvent.Sync, () => resolve()));
      await carol.client.startClient({ initialSyncLimit: 0 });
      await synced;
      const started = Date.now();
      try {
        for (const body of messages) await bob.client.sendTextMessage(room, body);
        const sentIn = Date.now() - started;
        await Promise.race([allReceived, new Promise((_, reject) => setTimeout(() => reject(new Error(`received ${received.length} of 200`)), 120_000).unref())]);
        log(`200 messages: sent one after another in ${seconds(sentIn)} s (${Math.round(200 / (sentIn / 1000))} msg/s), all in carol's sync after ${seconds(Date.now() - started)} s`);
        assert.deepEqual(received, messages, "every message, once, in order");
      } finally {
        carol.client.stopClient();
      }
    });

    it("Element X's login (matrix-rust-sdk) over HTTPS: simplified sliding sync lists the room and alice's message; the reply reaches alice", async () => {
      const xavier = { user: "xavier", password: crypto.randomBytes(12).toString("hex") };
      addUser(xavier.user, xavier.password);
      const aliceToken = await login(story.alice.user, story.alice.password);
      const xavierToken = await login(xavier.user, xavier.password);
      const api = async (token: string, method: string, route: string, body?: unknown) => {
        const r = await https(`https://${settings.matrixHost}${route}`, {
          method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body),
        });
        assert.equal(r.status, 200, `${method} ${route}: ${r.body}`);
        return r.json();
      };
      const roomId = String((await api(aliceToken, "POST", "/_matrix/client/v3/createRoom", { name: "on the phone", invite: ["@xavier:example.test"] })).room_id);
      await api(xavierToken, "POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, {});
      const question = "are you on Element X?";
      await api(aliceToken, "PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/question`, { msgtype: "m.text", body: question });
      const r = await runElementXClient({
        homeserver: `https://${settings.matrixHost}`, user: xavier.user, password: xavier.password, roomId, expectBody: question,
        expectSender: "@alice:example.test", reply: "yes, over sliding sync", caFile: trustFile, timeoutSecs: 120,
        hosts: { dir, names: zoneOf("example.test", env.address.ip) },
      });
      assert.equal(r.code, 0, `element-x-client failed:\n${r.stderr.slice(-4000)}`);
      const figures = r.figures!;
      log(`Element X's login (matrix-rust-sdk) on the droplet: logged in ${figures.loggedInMs} ms, room listed ${figures.roomSeenMs} ms, ` +
        `alice's message ${figures.messageSeenMs} ms, reply back through sliding sync ${figures.replyEchoedMs} ms`);
      assert.equal(figures.slidingSyncVersion, "native");
      assert.ok(figures.messageSeenMs < 30_000, `alice's message seen after ${figures.messageSeenMs} ms`);
      const messages = await api(aliceToken, "GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=10`) as { chunk: { event_id: string; sender: string }[] };
      assert.ok(messages.chunk.some((e) => e.event_id === figures.replyEventId && e.sender === "@xavier:example.test"), JSON.stringify(messages.chunk));
    });

    it("matrix-js-sdk: public registration is refused", async () => {
      const anonymous = await anonymousClient(sdk.base, sdk.fetchFn);
      await assert.rejects(
        anonymous.registerRequest({ username: "mallory", password: "correct horse battery staple", auth: { type: "m.login.dummy" } }),
        (error: { httpStatus?: number }) => error.httpStatus === 403,
      );
    });

    it("matrix-js-sdk: an upload at the limit succeeds, one byte more gets 413", async () => {
      const uploader = await loginClient(sdk.base, sdk.fetchFn, "alice", story.alice.password);
      const limit = settings.synapse.maxUploadMb * 1024 * 1024;
      const ok = await uploader.client.uploadContent(Buffer.alloc(limit, 1), { name: "at-limit.bin", type: "application/octet-stream" });
      assert.match(ok.content_uri, /^mxc:\/\/example\.test\//);
      await assert.rejects(
        uploader.client.uploadContent(Buffer.alloc(limit + 1, 1), { name: "too-large.bin", type: "application/octet-stream" }),
        (error: { httpStatus?: number; errcode?: string }) => error.httpStatus === 413 && error.errcode === "M_TOO_LARGE",
      );
    });

    it("from outside: .well-known with CORS, no admin API on 443 or 8448, Element with its headers and config, no login as matrixctl", async () => {
      const client = await https(`https://${settings.serverName}/.well-known/matrix/client`);
      assert.deepEqual(client.json(), { "m.homeserver": { base_url: `https://${settings.matrixHost}` } });
      assert.equal(client.headers["access-control-allow-origin"], "*");
      for (const base of [`https://${settings.matrixHost}`, `https://${settings.matrixHost}:8448`, `https://${settings.serverName}:8448`]) {
        assert.equal((await https(`${base}/_synapse/admin/v1/server_version`)).status, 404, base);
      }
      const element = await https(`https://${settings.elementHost}/`);
      assert.equal(element.status, 200);
      assert.equal(element.headers["x-frame-options"], "SAMEORIGIN");
      assert.equal(element.headers["content-security-policy"], "frame-ancestors 'self'");
      assert.equal(element.headers["x-content-type-options"], "nosniff");
      assert.match(String(element.headers["strict-transport-security"]), /max-age=/);
      const config = (await https(`https://${settings.elementHost}/config.json`)).json<{ default_server_config: Record<string, { base_url: string }> }>();
      assert.equal(config.default_server_config["m.homeserver"].base_url, `https://${settings.matrixHost}`);
      // matrixctl's account has no password: a login for it gets what a wrong password gets.
      const login = await loginReply(OPS_USER, "anything", { "x-forwarded-for": "127.0.0.1" });
      assert.equal(login.status, 403, login.body);
      assert.equal(login.json<{ errcode: string }>().errcode, "M_FORBIDDEN");
    });

    // After the clients above: memory is measured warmed up.
    it("measures the memory of Synapse, PostgreSQL and Caddy after warm-up (PSS per service), within the size's RAM", async () => {
      const figures = await serviceMemory(droplet.leader);
      log(`memory (PSS): Synapse ${figures.synapse} MiB, PostgreSQL ${figures.postgres} MiB, Caddy ${figures.caddy} MiB, total ${figures.total} MiB; ` +
        `container peak so far ${droplet.memory!.peakMb()} MiB of ${settings.droplet.memoryMb} (page cache included)`);
      assert.ok(figures.synapse > 30 && figures.postgres > 5 && figures.caddy > 5, JSON.stringify(figures));
      // CPU by cgroup: Synapse has done more work since boot (migrations, startup) than Caddy.
      const cpu = await serviceCpu((command) => droplet.exec(command));
      log(`CPU since start: Synapse ${cpu.synapse.toFixed(1)} s, PostgreSQL ${cpu.postgres.toFixed(1)} s, Caddy ${cpu.caddy.toFixed(1)} s`);
      assert.ok(cpu.synapse > cpu.caddy && cpu.postgres > 0 && cpu.caddy > 0, JSON.stringify(cpu));
      assert.equal(droplet.memory!.oomKills(), 0, "nothing was killed for memory");
    });

    it("the benchmark's workloads run against it (small): sequential sends, and users talking while they sync", async () => {
      const client = { baseUrl: sdk.base, fetchFn: sdk.fetchFn };
      const api = await AdminApi.onDroplet(droplet);
      const [sender] = await populate(api, settings.serverName, client, "bench-seq-", 2, 1);
      await api.unlimit(sender.userId);
      const sequential = await sendSequentially(sender.client, sender.roomId, playLines(60));
      assert.equal(sequential.messages, 60);
      const talkers = await populate(api, settings.serverName, client, "bench-", 6, 2);
      assert.deepEqual(new Set(talkers.map((t) => t.roomId)).size, 2);
      const load = await talkConcurrently(talkers, { rate: 0.5, seconds: 10 });
      log(`benchmark workloads (small): ${sequential.messagesPerSecond} msg/s sequential; 6 users, 2 rooms: p50 ${load.latencyMs.p50} ms, p95 ${load.latencyMs.p95} ms`);
      // Each of 6 users sends a message every 2 s for 10 s (5, or 4 if its start fell late);
      // each reaches the 2 other members of its room.
      assert.ok(load.sent >= 24 && load.sent <= 30, `sent ${load.sent}`);
      assert.deepEqual(load.deliveries, { expected: 2 * load.sent, received: 2 * load.sent });
      assert.deepEqual([load.lost, load.errors], [0, { send: 0, sync: 0 }]);
      assert.ok(load.latencyMs.p50! > 0 && load.latencyMs.p50! <= load.latencyMs.p95!);
    });
  });

  // After clients: each fault is survived without losing one of alice's messages.
  describe("faults", () => {
    it("kill -9 of Synapse: systemd restarts it and clients carry on", async () => {
      const before = synapsePid();
      droplet.exec(["kill", "-9", before]);
      await waitUntil("Synapse restarted", 60, async () => {
        const now = synapsePid();
        return now !== before && now !== "0" && (await https(`https://${settings.matrixHost}/_matrix/client/versions`)).status === 200;
      });
      const token = await login(story.alice.user, story.alice.password);
      await send(token, "after kill -9");
      assert.deepEqual(await history(token), story.sent);
    });

    it("a PostgreSQL restart: Synapse recovers by itself", async () => {
      const r = droplet.exec(["systemctl", "restart", "postgresql@17-main"]);
      assert.equal(r.code, 0, r.stderr);
      // Synapse replaces the pool's broken connections as it meets them: a few requests may
      // fail with 500 first; then it works without any help.
      let token = "";
      // (every 3 s: faster retries would meet the login rate limit)
      await waitUntil("a login after the restart", 60, async () => {
        token = await login(story.alice.user, story.alice.password);
        return true;
      }, 3000);
      await waitUntil("a message accepted after the restart", 60, async () => {
        await send(token, "after postgres restart");
        return true;
      }, 3000);
      assert.deepEqual(await history(token), story.sent);
    });

    it("a reboot: everything comes back on its own, matrixctl too after ten wrong logins for its account from outside", async () => {
      for (let i = 0; i < 10; i++) await loginReply(OPS_USER, `guess-${i}`);
      const locked = await loginReply(OPS_USER, "guess-11");
      assert.equal(locked.status, 429, "Synapse stopped the guessing");
      await droplet.poweroff();
      const started = Date.now();
      await droplet.start();
      await waitUntil("HTTPS after the reboot", 300, async () => (await https(`https://${settings.matrixHost}/_matrix/client/versions`)).status === 200);
      log(`reboot: HTTPS answering ${seconds(Date.now() - started)} s after start`);
      const failed = droplet.exec(["systemctl", "--failed", "--no-legend", "--plain"]).stdout.trim();
      assert.equal(failed, "", `failed units after reboot:\n${failed}`);
      const listed = matrixctl(["user", "list"]);
      assert.equal(listed.code, 0, `matrixctl after the reboot: ${listed.stderr}`);
      const token = await login(story.alice.user, story.alice.password);
      await send(token, "after reboot");
      assert.deepEqual(await history(token), story.sent);
    });
  });

  // After clients: a replacement must find alice's messages and the certificate served before.
  // The Synapse upgrade comes last: federation and operations expect the newest release.
  describe("upgrade", () => {
    it("replacing the droplet (fresh root, same volume, same secrets) keeps users, rooms, messages, keys and certificates", async () => {
      const keysBefore = (await https(`https://${settings.serverName}:8448/_matrix/key/v2/server`)).json().verify_keys;
      const down = Date.now();
      await droplet.poweroff();
      droplet.destroy();
      await bootDroplet("replacement");
      const unavailable = seconds(Date.now() - down);
      log(`replacement: homeserver unavailable ${unavailable} s (clean shutdown to HTTPS answering)`);
      // Shutdown, a fresh root, packages from the network and the bootstrap: 50–70 s measured here.
      assert.ok(unavailable <= 120, `replacement took the homeserver away for ${unavailable} s`);
      assert.deepEqual((await https(`https://${settings.serverName}:8448/_matrix/key/v2/server`)).json().verify_keys, keysBefore);
      assert.equal(await servedCertificate(), story.certBefore, "no new certificate: Caddy's data is on the volume");
      const token = await login(story.alice.user, story.alice.password);
      assert.deepEqual(await history(token), story.sent);
      await send(token, "after replacement");
      assert.deepEqual(await history(token), story.sent);
      const admin = await login(settings.adminUser, secrets.adminPassword);
      assert.ok(admin);
    });

    it("a droplet replaced while Element's download host is down: the homeserver answers, the admin logs in; Element arrives by itself once the host is back", async () => {
      env.world.elementMirror.available = false;
      try {
        await droplet.poweroff();
        droplet.destroy();
        await bootDroplet("replacement while Element's host is down");
        assert.ok(await login(settings.adminUser, secrets.adminPassword), "the admin logs in");
        const token = await login(story.alice.user, story.alice.password);
        assert.deepEqual(await history(token), story.sent);
        assert.equal((await https(`https://${settings.elementHost}/`)).status, 404, "no Element yet");
        assert.match(droplet.cloudInitOutput(400), /install-element\.sh failed; the homeserver goes on without it/);
        const pending = matrixctl(["status"]);
        assert.notEqual(pending.code, 0, "a pending part is a problem");
        assert.match(pending.stdout, /Element Web\s+not installed/);
        assert.match(pending.stdout, /pending install-element\.sh\s+failed since \d{4}-/);
        assert.equal(droplet.exec(["systemctl", "is-active", "matrix-optional.timer"]).stdout.trim(), "active");
      } finally {
        env.world.elementMirror.available = true;
      }
      const back = Date.now();
      await waitUntil("Element installed by the retry timer", 180, async () => (await https(`https://${settings.elementHost}/`)).status === 200, 2000);
      const after = seconds(Date.now() - back);
      log(`Element installed by the retry timer ${after} s after its host came back`);
      assert.ok(after <= 150, `${after} s`);
      await waitUntil("the retry timer stopped", 60, async () => droplet.exec(["systemctl", "is-active", "matrix-optional.timer"]).stdout.trim() === "inactive");
      const status = matrixctl(["status"]);
      assert.equal(status.code, 0, status.stdout + status.stderr);
      assert.doesNotMatch(status.stdout, /pending/);
    });

    it(`replacing it with Synapse ${NEWEST_SYNAPSE} (from ${PREVIOUS_SYNAPSE}) migrates the database and keeps the data`, async () => {
      const deltas = () => Number(droplet.exec(["runuser", "-u", "postgres", "--", "psql", "-d", "synapse", "-Atc",
        "SELECT count(*) FROM applied_schema_deltas"]).stdout.trim());
      const serverVersion = () => adminApi("GET", "/_synapse/admin/v1/server_version").server_version;
      assert.equal(serverVersion(), PREVIOUS_SYNAPSE);
      const deltasBefore = deltas();
      await droplet.poweroff();
      droplet.destroy();
      settings = testSettings(NEWEST_SYNAPSE);
      userData = renderUserData(settings, secrets);
      await bootDroplet(`upgrade to Synapse ${NEWEST_SYNAPSE}`);
      assert.equal(serverVersion(), NEWEST_SYNAPSE);
      assert.ok(deltas() > deltasBefore, `schema deltas applied: ${deltasBefore} → ${deltas()}`);
      const token = await login(story.alice.user, story.alice.password);
      assert.deepEqual(await history(token), story.sent);
      await send(token, "after upgrade");
      assert.deepEqual(await history(token), story.sent);
    });
  });

  // After upgrade: the federation tester's checks expect the newest Synapse. A second server,
  // other.test, boots for this phase only; it shares this machine's kernel, so its swap file
  // would show in the first droplet's /proc/swaps as "/swapfile" too: it is gone before operations.
  describe("federation", () => {
    let otherSettings: Settings;
    let other: LocalDroplet | undefined;
    before(async () => {
      otherSettings = testSettings(NEWEST_SYNAPSE, "other.test");
      const otherSecrets = { ...testSecrets(), offsiteSecretKey: env.s3.secretKey };
      ({ droplet: other } = await bootInto(env.world, otherSettings, {
        name: "other", workDir: path.join(dir, "roots"), volumeDir: path.join(dir, "other-volume"),
        userData: renderUserData(otherSettings, otherSecrets), address: env.otherAddress, memoryLimitMb: otherSettings.droplet.memoryMb,
      }));
    });
    after(async () => {
      await other?.poweroff();
      other?.destroy();
      other = undefined;
    });

    it("federates with a second server: invite over .well-known, join over SRV, messages both ways", async () => {
      const { Direction } = await loadSdk();
      const daveBase = `https://${otherSettings.matrixHost}`;
      // One kernel lists both droplets' swap files, each as /swapfile: the second turned its own
      // on rather than taking the first's for it.
      const withSwap = [settings, otherSettings].filter((s) => s.droplet.swapMb > 0).length;
      assert.equal(other!.exec(["cat", "/proc/swaps"]).stdout.match(/^\/swapfile\s/gm)?.length ?? 0, withSwap);

      const davePassword = crypto.randomBytes(12).toString("hex");
      addUser("dave", davePassword, other);
      const aliceSession = await loginClient(`https://${settings.matrixHost}`, fetchVia(env.address.ip, env.trust), story.alice.user, story.alice.password);
      const dave = await loginClient(daveBase, fetchVia(env.otherAddress.ip, env.trust), "dave", davePassword);

      // example.test → other.test: the invite travels by other.test's .well-known.
      const { room_id: room } = await aliceSession.client.createRoom({ name: "across servers", invite: [dave.userId] });
      // other.test → example.test: its DNS gives example.test's apex no address, so the join can
      // only have found example.test through the SRV record (matrix.example.test:8448, with a
      // certificate for example.test).
      await dave.client.joinRoom(room, { viaServers: ["example.test"] });

      const bodies = async (session: Session) => {
        const res = await session.client.createMessagesRequest(room, null, 50, Direction.Backward);
        return res.chunk.filter((e) => e.type === "m.room.message").map((e) => e.content.body as string);
      };
      await dave.client.sendTextMessage(room, "hello from other.test");
      await waitUntil("dave's message on example.test", 60, async () => (await bodies(aliceSession)).includes("hello from other.test"), 1000);
      await aliceSession.client.sendTextMessage(room, "hello from example.test");
      await waitUntil("alice's message on other.test", 60, async () => (await bodies(dave)).includes("hello from example.test"), 1000);
    });

    it("passes the federation tester's checks, through .well-known and through SRV", async () => {
      const { address, otherAddress, trust } = env;
      // Seen from example.test's DNS view: other.test and example.test delegate by .well-known.
      const byWellKnown = await checkFederation("example.test", address.hostIp, trust);
      assert.deepEqual([byWellKnown.via, byWellKnown.host, byWellKnown.port, byWellKnown.tlsName], ["well-known", "matrix.example.test", 443, "matrix.example.test"]);
      assert.equal((await checkFederation("other.test", address.hostIp, trust)).via, "well-known");
      // Seen from other.test's view, where example.test's apex has no address: the SRV record,
      // with a certificate valid for the server name on matrix.example.test:8448.
      const bySrv = await checkFederation("example.test", otherAddress.hostIp, trust);
      assert.deepEqual([bySrv.via, bySrv.host, bySrv.port, bySrv.tlsName], ["srv", "matrix.example.test", 8448, "example.test"]);
      assert.match(bySrv.serverVersion, new RegExp(`^Synapse ${NEWEST_SYNAPSE.replace(/\./g, "\\.")}`));
      assert.deepEqual(bySrv.keyIds, [`ed25519:${secrets.signingKey.split(" ")[1]}`]);
      log(`federation checks: ${byWellKnown.via} → ${byWellKnown.host}:${byWellKnown.port}; ${bySrv.via} → ${bySrv.host}:${bySrv.port} (TLS name ${bySrv.tlsName}); ${bySrv.serverVersion}`);

      // The signature check is real: a changed field breaks it.
      const keys = (await https(`https://${settings.serverName}:8448/_matrix/key/v2/server`)).json<Record<string, unknown>>();
      assert.doesNotThrow(() => verifyServerKeys("example.test", JSON.stringify(keys)));
      assert.throws(() => verifyServerKeys("example.test", JSON.stringify({ ...keys, valid_until_ts: (keys.valid_until_ts as number) + 1 })), /bad signature/);
    });
  });

  // Day 2: the admin command, backups and restores, a change applied in place. After upgrade
  // (matrixctl reports the newest Synapse) and federation (other.test's swap file gone); the
  // first backup of the run is made here.
  describe("operations", () => {
    /** Every file under a directory of this machine (the droplet's volume is one). */
    const filesUnder = (top: string): string[] => fs.readdirSync(top, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));

    it("matrixctl status: services, versions, certificates, disk; matrixctl adds a user", async () => {
      const status = matrixctl(["status"]);
      assert.equal(status.code, 0, status.stdout + status.stderr);
      for (const line of [/matrix-synapse\s+active/, /postgresql@17-main\s+active/, /caddy\s+active/, /matrix-backup\.timer\s+active/,
        new RegExp(`Synapse\\s+${NEWEST_SYNAPSE.replace(/\./g, "\\.")}`), new RegExp(`Element Web\\s+${DEFAULT_ELEMENT_VERSION}`),
        /certificate matrix\.example\.test\s+valid until \d{4}-\d\d-\d\d/, /volume \/mnt\/matrix\s+\d+% used/]) {
        assert.match(status.stdout, line);
      }
      const added = matrixctl(["user", "add", "frank", "--password-file", "-"], "frank-password-1234\n");
      assert.equal(added.code, 0, added.stderr);
      await login("frank", "frank-password-1234");
      // Something in the media store, to find again after the restores.
      const token = await login(story.alice.user, story.alice.password);
      const upload = await https(`https://${settings.matrixHost}/_matrix/media/v3/upload?filename=note.bin`, {
        method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" }, body: story.media.body,
      });
      assert.equal(upload.status, 200, upload.body);
      story.media.uri = upload.json().content_uri as string;
    });

    it("backs up the database, media and signing key to the volume and off-site (restic), and lists the snapshots", () => {
      const started = Date.now();
      const r = matrixctl(["backup"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const took = seconds(Date.now() - started);
      const dump = /database dump (\d+) bytes/.exec(r.stderr)![1];
      const repoBytes = (dirName: string) => Number(droplet.exec(["du", "-sb", dirName]).stdout.split("\t")[0]);
      const media = repoBytes("/var/lib/synapse/media");
      log(`backup: ${took} s; database dump ${Math.round(Number(dump) / 1024)} KiB, media ${Math.round(media / 1024 / 1024)} MiB, ` +
        `restic repository on the volume ${Math.round(repoBytes("/var/backups/matrix/restic") / 1024)} KiB (deduplicated, compressed; the same off-site)`);
      assert.match(r.stderr, /backing up to the volume/);
      assert.ok(r.stderr.includes(`backing up to off-site (s3:https://${env.address.hostIp}:9443/matrix-backups/example.test)`), r.stderr);
      for (const where of [[], ["--offsite"]]) {
        const list = matrixctl(["backups", ...where]);
        assert.equal(list.code, 0, list.stderr);
        assert.match(list.stdout, /1 snapshots/);
        assert.match(list.stdout, /backup,matrix-do,synapse-1\.163\.2|matrix-do,backup/);
      }
      // Encrypted. The uploaded file is random bytes, which compression leaves as they are: found
      // in the media store on the volume, and nowhere in the repository's files.
      const probe = story.media.body.subarray(1024, 1088);
      const holding = (top: string) => filesUnder(top).filter((file) => fs.readFileSync(file).includes(probe));
      assert.equal(holding(path.join(volumeDir, "synapse", "media")).length, 1, "the upload in the media store");
      assert.deepEqual(holding(path.join(volumeDir, "backups", "restic")), [], "the upload readable in the repository");
      // Only with its password: another one opens nothing.
      const wrong = droplet.exec(["env", "RESTIC_PASSWORD=not-the-password", "restic", "-r", PATHS.backupRepository, "--no-cache", "cat", "config"]);
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /wrong password|no key found/);
      const dumped = droplet.exec(["env", `RESTIC_PASSWORD_FILE=${PATHS.backupPassword}`, "restic", "-r", PATHS.backupRepository, "--no-cache", "ls", "latest"]);
      assert.equal(dumped.code, 0, dumped.stderr);
      assert.match(dumped.stdout, /synapse\.pgdump/);
      // The dump was made in staging, and is not left there in plain text.
      assert.equal(droplet.exec(["test", "-e", PATHS.backupStaging]).code, 1, "staging left behind");
    });

    it("restores after the database is dropped and the media store wiped: every message, user and file is back", async () => {
      for (const cmd of [["systemctl", "stop", "matrix-synapse"],
        ["runuser", "-u", "postgres", "--", "psql", "-c", "DROP DATABASE synapse WITH (FORCE)"],
        ["sh", "-c", "rm -rf /var/lib/synapse/media/*"],
        ["systemctl", "start", "matrix-synapse"]]) {
        droplet.exec(cmd);
      }
      // The damage is real: Synapse has no database to serve from, and the upload is gone.
      assert.notEqual((await https(`https://${settings.matrixHost}/_matrix/client/v3/login`)).status, 200, "the server is broken");
      assert.equal(droplet.exec(["runuser", "-u", "postgres", "--", "psql", "-Atc", "SELECT count(*) FROM pg_database WHERE datname = 'synapse'"]).stdout.trim(), "0");
      assert.equal(droplet.exec(["find", PATHS.synapseMedia, "-type", "f"]).stdout.trim(), "", "media left");
      const refused = matrixctl(["restore"]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /add --yes/);
      const started = Date.now();
      const r = matrixctl(["restore", "--yes"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      log(`restore from the volume: ${seconds(Date.now() - started)} s`);
      assert.match(r.stderr, /nothing to back up before restoring/);
      const token = await login(story.alice.user, story.alice.password);
      assert.deepEqual(await history(token), story.sent);
      assert.deepEqual(await downloadMedia(token), story.media.body);
      await login("frank", "frank-password-1234");
      await send(token, "after restore");
      assert.deepEqual(await history(token), story.sent);
    });

    // After matrixctl's test above: the password reset is for frank.
    it("applies a config change in place over SSH, host key pinned: registration by token, a new upload limit, email, retention; measures the downtime", async () => {
      // Another host key than the one Pulumi generated: refused before anything is sent.
      const wrongKnownHosts = path.join(dir, "known_hosts.wrong");
      fs.writeFileSync(wrongKnownHosts, `${env.address.ip} ${testSecrets().sshHostKey.publicKey}\n`);
      const wrong = await ssh(wrongKnownHosts, "");
      assert.equal(wrong.code, 255);
      assert.match(wrong.stderr, /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/);

      settings = testSettings(NEWEST_SYNAPSE, "example.test", { ...CHANGED, smtpHost: env.address.hostIp });
      secrets.smtpPassword = SMTP.password;
      userData = renderUserData(settings, secrets);
      const pid = synapsePid();
      // Poll the homeserver every 100 ms while the change is applied.
      let polling = true;
      let failures = 0;
      let downSince = 0;
      let downtime = 0;
      const poller = (async () => {
        while (polling) {
          const ok = await https(`https://${settings.matrixHost}/_matrix/client/versions`, { signal: AbortSignal.timeout(2000) })
            .then((r) => r.status === 200, () => false);
          const now = Date.now();
          if (!ok && !downSince) downSince = now;
          if (ok && downSince) { downtime += now - downSince; downSince = 0; }
          failures += ok ? 0 : 1;
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const started = Date.now();
      const applied = await ssh(knownHosts, userData);
      const took = Date.now() - started;
      await waitUntil("HTTPS after the change", 120, async () => (await https(`https://${settings.matrixHost}/_matrix/client/versions`)).status === 200);
      polling = false;
      await poller;
      if (downSince) downtime += Date.now() - downSince;
      assert.equal(applied.code, 0, applied.stderr);
      log(`in-place change (registration, upload limit, email, retention) over SSH: applied in ${seconds(took)} s; homeserver unavailable ${seconds(downtime)} s (${failures} failed polls of 100 ms)`);
      // Synapse restarts behind Caddy, which holds requests meanwhile: (almost) nobody notices.
      assert.ok(downtime <= 2000, `the homeserver was unavailable for ${seconds(downtime)} s`);
      assert.match(applied.stderr, /\/etc\/synapse\/conf\.d\/00-homeserver\.yaml/);
      assert.notEqual(synapsePid(), pid, "Synapse restarted for its new config");
      assert.equal(droplet.exec(["systemctl", "is-active", "caddy"]).stdout.trim(), "active");

      // Registration now needs a token from matrixctl.
      const token = matrixctl(["token", "add", "--uses", "1"]);
      assert.equal(token.code, 0, token.stderr);
      const register = (auth?: Record<string, unknown>) => https(`https://${settings.matrixHost}/_matrix/client/v3/register`, {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: "grace", password: "grace-password-1234", ...(auth ? { auth } : {}) }),
      });
      const first = await register();
      assert.equal(first.status, 401, first.body);
      const session = first.json().session as string;
      assert.ok(JSON.stringify(first.json().flows).includes("m.login.registration_token"));
      assert.equal((await register({ type: "m.login.dummy", session })).status, 401, "no sign-up without a token");
      let reply = await register({ type: "m.login.registration_token", token: token.stdout.trim(), session });
      if (reply.status === 401) reply = await register({ type: "m.login.dummy", session });
      assert.equal(reply.status, 200, reply.body);
      assert.equal(reply.json().user_id, "@grace:example.test");
      // The new upload limit holds, in Caddy and Synapse alike.
      const bearer = await login(story.alice.user, story.alice.password);
      const upload = (size: number) => https(`https://${settings.matrixHost}/_matrix/media/v3/upload?filename=x.bin`, {
        method: "POST", headers: { authorization: `Bearer ${bearer}`, "content-type": "application/octet-stream" }, body: Buffer.alloc(size, 1),
      });
      assert.equal((await upload(20 * 1024 * 1024 + 1)).status, 413);
      assert.equal((await upload(20 * 1024 * 1024)).status, 200);
      // Email: a password reset for frank reaches the relay, sent over STARTTLS with its login.
      adminApi("PUT", "/_synapse/admin/v2/users/@frank:example.test", { threepids: [{ medium: "email", address: "frank@example.test" }] });
      const reset = await https(`https://${settings.matrixHost}/_matrix/client/v3/account/password/email/requestToken`, {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ client_secret: crypto.randomBytes(12).toString("hex"), email: "frank@example.test", send_attempt: 1 }),
      });
      assert.equal(reset.status, 200, reset.body);
      await waitUntil("the reset mail at the relay", 60, () => env.smtp.received.some((m) => m.to.includes("frank@example.test")));
      const mail = env.smtp.received.find((m) => m.to.includes("frank@example.test"))!;
      assert.equal(mail.user, SMTP.user);
      assert.match(mail.data, /^Subject: \[example\.test\] Password reset\r?$/m);
      // Applying the same payload again changes nothing and restarts nothing.
      const pidAfter = synapsePid();
      const again = await ssh(knownHosts, userData);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /0 file\(s\) changed/);
      assert.equal(synapsePid(), pidAfter);
      assert.deepEqual(await history(bearer), story.sent);
    });

    it("the 1 GB droplet has its 1 GiB swap file from the first boot; resized to 2 GB in place, the file goes; back, it returns", async () => {
      const swaps = () => droplet.exec(["cat", "/proc/swaps"]).stdout;
      assert.equal(settings.droplet.swapMb, 1024);
      assert.match(swaps(), /^\/swapfile\s+file\s+1048572\s/m);
      assert.equal(droplet.exec(["stat", "-c", "%a %U", "/swapfile"]).stdout.trim(), "600 root");
      assert.equal(droplet.exec(["systemctl", "is-enabled", "matrix-swap.service"]).stdout.trim(), "enabled");
      const larger = testSettings(NEWEST_SYNAPSE, "example.test", { ...CHANGED, smtpHost: env.address.hostIp, size: "s-1vcpu-2gb" });
      assert.equal(larger.droplet.swapMb, 0);
      const applied = await ssh(knownHosts, renderUserData(larger, secrets));
      assert.equal(applied.code, 0, applied.stderr);
      assert.match(applied.stderr, /swap file removed/);
      assert.doesNotMatch(swaps(), /^\/swapfile /m);
      assert.equal(droplet.exec(["test", "-e", "/swapfile"]).code, 1, "the file is gone");
      const back = await ssh(knownHosts, userData);
      assert.equal(back.code, 0, back.stderr);
      assert.match(back.stderr, /swap file \/swapfile: 1024 MiB/);
      assert.match(swaps(), /^\/swapfile\s+file\s+1048572\s/m);
    });
  });

  // After operations: TURN is turned on over the in-place change's settings (CHANGED, the relay's password).
  describe("TURN", () => {
    it("turns TURN on in place: coturn with Caddy's certificate; credentials from Synapse relay media client to client; private peers refused", async () => {
      const { address, trust } = env;
      settings = testSettings(NEWEST_SYNAPSE, "example.test", { ...CHANGED, smtpHost: address.hostIp, turn: true });
      userData = renderUserData(settings, secrets);
      const started = Date.now();
      const applied = await ssh(knownHosts, userData);
      assert.equal(applied.code, 0, applied.stderr);
      assert.match(applied.stderr, /installing coturn/);
      if (/no certificate for \S+ after/.test(applied.stderr)) {
        // Say why Caddy has no certificate for the TURN name (its log, filtered: the whole journal is large).
        const caddy = droplet.exec(["sh", "-c", "journalctl --unit caddy --no-pager --output cat | grep -i -e turn -e acme -e error | tail -n 40"]).stdout;
        assert.fail(`no certificate for turn.example.test within start-turn.sh's wait; Caddy's log:\n${caddy}`);
      }
      log(`TURN turned on in place (coturn installed, certificate obtained): ${seconds(Date.now() - started)} s`);
      assert.equal(droplet.exec(["systemctl", "is-active", "coturn"]).stdout.trim(), "active");
      assert.equal(droplet.exec(["systemctl", "is-enabled", "coturn", "matrix-turn-certificate.timer"]).stdout.trim(), "enabled\nenabled");
      for (const unit of ["coturn.service", "matrix-turn-certificate.service"]) {
        const score = exposure(unit);
        log(`systemd-analyze security: ${unit} ${score}`);
        assert.ok(score <= 4.0, `${unit}: exposure ${score}`);
      }
      const listening = droplet.exec(["ss", "-Hlnu", "sport", "= :3478"]).stdout;
      assert.match(listening, new RegExp(`${address.ip.replace(/\./g, "\\.")}:3478`), "on the droplet's own address");

      // Synapse hands a user time-limited credentials for the three URIs.
      const turn = await turnCredentials();
      assert.deepEqual(turn.uris, [
        "turn:turn.example.test:3478?transport=udp", "turn:turn.example.test:3478?transport=tcp", "turns:turn.example.test:5349?transport=tcp",
      ]);
      assert.equal(turn.ttl, 3600);
      assert.match(turn.username, /^\d+:@alice:example\.test$/);

      // coturn accepts them: two clients relay to each other over UDP and TCP, nothing lost.
      for (const [transport, flags] of [["UDP", []], ["TCP", ["-t"]]] as const) {
        assertRelayed(turnClient(["-y", ...flags, "-u", turn.username, "-w", turn.password]), transport);
      }
      // Over TLS on 5349, with the certificate Caddy obtained for turn.example.test, trusted from
      // outside: the same credentials get a relay on the droplet's address, in the opened range,
      // and data goes through it.
      const overTls = { host: address.ip, port: 5349, servername: "turn.example.test", ca: trust, username: turn.username };
      const { allocation, there, back, sent } = await relayOverTls({ ...overTls, password: turn.password });
      assert.equal(allocation.outcome, "allocated");
      // Two such clients relay a datagram to each other, both ways.
      assert.deepEqual([there, back], sent);
      assert.match(allocation.certificate.subjectaltname ?? "", /DNS:turn\.example\.test/);
      const [relayIp, relayPort] = allocation.relayed!.split(":");
      assert.equal(relayIp, address.ip);
      assert.ok(Number(relayPort) >= settings.turn!.relayPorts.min && Number(relayPort) <= settings.turn!.relayPorts.max, allocation.relayed);
      assert.deepEqual((await allocateOverTls({ ...overTls, password: "not-the-password" })).outcome, { code: 401, reason: "Unauthorized" });
      // TLS as on Caddy's ports: TLS 1.2 with AEAD suites only, nothing older; TLS 1.3 wherever
      // coturn can (4.6.2 and later; Debian 13's 4.6.1 cannot: cloud-init/turn.ts).
      // Bounded by timeout(1): coturn may never answer a hello it will not take.
      const handshake = (...flags: string[]) => run("timeout", ["10", "openssl", "s_client", "-connect", `${address.ip}:5349`, "-servername", "turn.example.test",
        "-CAfile", trustFile, ...flags], { input: "" });
      // s_client's "New, <protocol>, Cipher is <suite>", which is (NONE) when the handshake failed.
      const shook = (...flags: string[]) => /Cipher is (?!\(NONE\))/.test(handshake(...flags).stdout);
      for (const cipher of ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"]) assert.ok(shook("-tls1_2", "-cipher", cipher), cipher);
      for (const cipher of ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA256"]) assert.ok(!shook("-tls1_2", "-cipher", cipher), `CBC: ${cipher}`);
      assert.ok(!shook("-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"), "TLS 1.1");
      const coturnVersion = /^(\d+)\.(\d+)\.(\d+)/m.exec(droplet.exec(["turnserver", "--version"]).stdout);
      assert.ok(coturnVersion, "coturn says its version");
      const [, major, minor, patch] = coturnVersion.map(Number);
      const tls13 = shook("-tls1_3");
      log(`coturn ${major}.${minor}.${patch} on 5349: TLS 1.3 ${tls13 ? "accepted" : "refused"}; TLS 1.2 AEAD only`);
      assert.equal(tls13, major * 10_000 + minor * 100 + patch >= 40602, "TLS 1.3 exactly where coturn supports it");
      // A wrong password gets no allocation; a private address (this machine's side of the link) is no peer.
      const wrong = turnClient(["-y", "-u", turn.username, "-w", "not-the-password"]);
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stdout + wrong.stderr, /Cannot complete Allocation/);
      const privatePeer = turnClient(["-e", address.hostIp, "-u", turn.username, "-w", turn.password]);
      assert.notEqual(privatePeer.code, 0);
      assert.match(privatePeer.stdout + privatePeer.stderr, /403 \(Forbidden IP\)/);

      const status = matrixctl(["status"]);
      assert.equal(status.code, 0, status.stdout + status.stderr);
      assert.match(status.stdout, /coturn\s+active/);
      assert.match(status.stdout, /certificate turn\.example\.test:5349\s+valid until/);

      // Turned off again, coturn stops. (The fresh droplet of disaster recovery boots with it on.)
      const off = await ssh(knownHosts, renderUserData(testSettings(NEWEST_SYNAPSE, "example.test", { ...CHANGED, smtpHost: address.hostIp }), secrets));
      assert.equal(off.code, 0, off.stderr);
      assert.notEqual(droplet.exec(["systemctl", "is-active", "coturn"]).stdout.trim(), "active");
      assert.equal(droplet.exec(["ss", "-Hlnu", "sport", "= :3478"]).stdout.trim(), "");
      assert.equal(turnClient(["-y", "-u", turn.username, "-w", turn.password]).code === 0, false, "no TURN server answers");
    });
  });

  // Last: a new droplet and an empty volume. Restores what every phase wrote (alice's messages,
  // bob and carol, frank and his media, grace) and boots with TURN's settings (TURN phase).
  describe("calls (MatrixRTC)", () => {
    // Needs: the first boot. Leaves MatrixRTC off again, and TURN on (disaster recovery's fresh droplet boots with it).
    it("turns MatrixRTC on in place: LiveKit and the authorization service downloaded and checked (a tampered download refused), sandboxed; two users' OpenID tokens become LiveKit tokens at rtc.example.test and carry a call through the droplet's SFU", async () => {
      const { address } = env;
      const rtc = worldSettings(env.world, matrixRtcArgs(env.world)).matrixRtc!;
      const base = testSettings(NEWEST_SYNAPSE, "example.test", { ...CHANGED, smtpHost: address.hostIp });
      // The test domain's names, for the clients on this machine.
      const hosts = { dir, names: zoneOf("example.test", address.ip) };
      // A download that is not what was pinned is refused; the homeserver carries on without calls.
      const tampered = await ssh(knownHosts, renderUserData({ ...base, matrixRtc: { ...rtc, livekit: { ...rtc.livekit, sha256: "0".repeat(64) } } }, secrets));
      assert.equal(tampered.code, 0, tampered.stderr);
      assert.match(tampered.stderr, /livekit\.tar\.gz does not have the pinned SHA-256 0{64}/);
      assert.match(tampered.stderr, /install-rtc\.sh failed; the homeserver goes on without it/);
      assert.notEqual(droplet.exec(["systemctl", "is-active", "matrix-livekit"]).stdout.trim(), "active");
      assert.equal((await https(`https://${base.matrixHost}/_matrix/client/versions`)).status, 200);

      // With TURN on: LiveKit names coturn to clients, with credentials from its shared secret.
      const withTurn = testSettings(NEWEST_SYNAPSE, "example.test", { ...CHANGED, smtpHost: address.hostIp, turn: true });
      settings = { ...withTurn, matrixRtc: rtc };
      userData = renderUserData(settings, secrets);
      const started = Date.now();
      const applied = await ssh(knownHosts, userData);
      assert.equal(applied.code, 0, applied.stderr);
      assert.match(applied.stderr, /MatrixRTC on rtc\.example\.test/);
      log(`MatrixRTC turned on in place: ${seconds(Date.now() - started)} s`);
      for (const unit of ["matrix-livekit", "matrix-rtc-auth"]) {
        assert.equal(droplet.exec(["systemctl", "is-active", unit]).stdout.trim(), "active", unit);
        const score = exposure(`${unit}.service`);
        log(`systemd-analyze security: ${unit}.service ${score}`);
        assert.ok(score <= 4.0, `${unit}: exposure ${score}`);
      }
      // Through Caddy, once it has the new name's certificate.
      await waitUntil("the authorization service at https://rtc.example.test/healthz", 120,
        async () => (await https("https://rtc.example.test/healthz").catch(() => undefined))?.status === 200, 2000);
      const status = droplet.exec(["matrixctl", "status"]);
      assert.equal(status.code, 0, status.stdout + status.stderr);
      for (const line of [/matrix-livekit\s+active/, /matrix-rtc-auth\s+active/, /certificate rtc\.example\.test\s+valid until/]) assert.match(status.stdout, line);

      const callers = ["caller1", "caller2"].map((user) => ({ user, password: crypto.randomBytes(12).toString("hex") }));
      for (const c of callers) addUser(c.user, c.password);
      const openIdTokenOf = async (user: string, password: string) => openIdToken(https, settings.matrixHost, `@${user}:example.test`, await login(user, password));
      const rtcSfuGet = (body: unknown) => sfuGet(https, rtc.host, body);
      // The client is built first: its build is no part of the call.
      ensureLivekitClient();
      const callStarted = Date.now();
      const jwts: string[] = [];
      for (const [i, c] of callers.entries()) {
        const reply = await rtcSfuGet({ room: "!call:example.test", openid_token: await openIdTokenOf(c.user, c.password), device_id: `PHONE${i}` });
        assert.equal(reply.status, 200, reply.body);
        assert.equal(reply.json().url, "wss://rtc.example.test");
        jwts.push(String(reply.json().jwt));
      }
      const callArgs = ["-url", "wss://rtc.example.test", "-listener-token", jwts[0], "-speaker-token", jwts[1]];
      const call = placeCall(callArgs, { ...process.env, SSL_CERT_FILE: trustFile }, hosts);
      assert.equal(call.code, 0, `${call.error}\n${call.stderr.slice(-3000)}`);
      assert.equal(call.speakerIdentity, "@caller2:example.test:PHONE1");
      assert.ok(call.framesSentSinceHeard >= 50 && call.packetsHeard >= call.framesSentSinceHeard * 0.98, JSON.stringify(call));
      const setup = call.firstPacketAt - callStarted;
      const steps = callSteps(call, callStarted);
      log(`call through the droplet: token requests to first media packet ${setup} ms (${steps}; ${call.packetsHeard} packets heard)`);
      assert.ok(setup < 15_000, `call setup took ${setup} ms: ${steps}`);
      // Behind a strict NAT (relay candidates only): the media goes through coturn, which LiveKit named.
      const relayed = placeCall([...callArgs, "-relay"], { ...process.env, SSL_CERT_FILE: trustFile }, hosts);
      assert.equal(relayed.code, 0, `${relayed.error}\n${relayed.stderr.slice(-3000)}`);
      assert.ok(relayed.framesSentSinceHeard >= 50 && relayed.packetsHeard >= relayed.framesSentSinceHeard * 0.98, JSON.stringify(relayed));
      log(`the same call relayed through coturn (TURN): first packet ${relayed.firstPacketMs} ms after joining (${relayed.packetsHeard} packets heard)`);
      // Memory: idle, then during a 4-person call (everyone speaking, everyone hearing everyone).
      const rtcUnits = ["matrix-livekit.service", "matrix-rtc-auth.service"];
      const idle = await unitsMemory(droplet.leader, rtcUnits);
      const group = ["caller3", "caller4"].map((user) => ({ user, password: crypto.randomBytes(12).toString("hex") }));
      for (const c of group) addUser(c.user, c.password);
      const groupJwts: string[] = [];
      for (const [i, c] of [...callers, ...group].entries()) {
        const reply = await rtcSfuGet({ room: "!meeting:example.test", openid_token: await openIdTokenOf(c.user, c.password), device_id: `LAPTOP${i}` });
        assert.equal(reply.status, 200, reply.body);
        groupJwts.push(String(reply.json().jwt));
      }
      let during: Record<string, number> = {};
      const meeting = await placeGroupCall(["-url", "wss://rtc.example.test", "-group", groupJwts.join(","), "-seconds", "8", "-want", "200"],
        { ...process.env, SSL_CERT_FILE: trustFile }, async () => {
          // The highest of a few samples while the call runs.
          for (let i = 0; i < 5; i += 1) {
            const sample = await unitsMemory(droplet.leader, rtcUnits);
            during = Object.fromEntries(rtcUnits.map((u) => [u, Math.max(during[u] ?? 0, sample[u])]));
            await new Promise((r) => setTimeout(r, 1000));
          }
        }, hosts);
      assert.equal(meeting.code, 0, `${meeting.error}\n${meeting.stderr.slice(-3000)}`);
      assert.equal(Object.keys(meeting.heard).length, 4);
      log(`MatrixRTC memory (PSS): idle LiveKit ${idle[rtcUnits[0]]} MiB, authorization service ${idle[rtcUnits[1]]} MiB; ` +
        `during a 4-person call LiveKit ${during[rtcUnits[0]]} MiB (everyone heard everyone, at least ${meeting.fewestHeard} packets each)`);
      assert.ok(idle[rtcUnits[0]] > 5 && idle[rtcUnits[0]] < 150, `LiveKit idle: ${idle[rtcUnits[0]]} MiB`);
      assert.ok(idle[rtcUnits[1]] < 50, `authorization service idle: ${idle[rtcUnits[1]]} MiB`);
      assert.ok(during[rtcUnits[0]] < 250, `LiveKit in a 4-person call: ${during[rtcUnits[0]]} MiB`);

      // A forged OpenID token gets no LiveKit token (lk-jwt-service 0.5.0 answers its failed lookup with 500 M_LOOKUP_FAILED).
      const forged = await rtcSfuGet({ room: "!call:example.test", openid_token: { ...(await openIdTokenOf(callers[0].user, callers[0].password)), access_token: "forged" }, device_id: "X" });
      assert.equal(forged.status, 500, forged.body);
      assert.equal(forged.json().errcode, "M_LOOKUP_FAILED");
      // Clients find it.
      const wellKnown = await https(`https://${settings.serverName}/.well-known/matrix/client`);
      assert.deepEqual(wellKnown.json()["org.matrix.msc4143.rtc_foci"], [{ type: "livekit", livekit_service_url: "https://rtc.example.test" }]);

      // Turned off again: both stop, and .well-known names no focus. (TURN stays on: disaster recovery boots with it.)
      settings = withTurn;
      userData = renderUserData(settings, secrets);
      const off = await ssh(knownHosts, userData);
      assert.equal(off.code, 0, off.stderr);
      assert.match(off.stderr, /MatrixRTC is off: LiveKit and the authorization service stopped and removed/);
      assertNoMatrixRtc(droplet);
      assert.equal("org.matrix.msc4143.rtc_foci" in (await https(`https://${settings.serverName}/.well-known/matrix/client`)).json(), false);
    });
  });

  describe("disaster recovery", () => {
    it("a fresh droplet with an empty volume restores everything from the off-site copy", async () => {
      const { alice } = story;
      const backup = matrixctl(["backup"]);
      assert.equal(backup.code, 0, backup.stderr);
      const stopped = Date.now();
      await droplet.poweroff();
      droplet.destroy();
      volumeDir = path.join(dir, "volume-new");
      await bootDroplet("fresh droplet, empty volume");
      const bootedAt = Date.now();
      // A new, empty server: only the accounts the boot makes; alice is unknown, her upload too.
      assert.deepEqual(matrixctl(["user", "list"]).stdout.match(/@[^:\s]+/g), [`@${settings.adminUser}`, `@${OPS_USER}`], "a new, empty server");
      const aliceBefore = await loginReply(alice.user, alice.password);
      assert.equal(aliceBefore.status, 403, aliceBefore.body);
      assert.equal(droplet.exec(["find", PATHS.synapseMedia, "-type", "f"]).stdout.trim(), "", "media on the new volume");
      const r = matrixctl(["restore", "--offsite", "--yes"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stderr, /backing up the current state first \(tag pre-restore\)/);
      log(`disaster recovery: new droplet and volume up in ${seconds(bootedAt - stopped)} s, off-site restore ${seconds(Date.now() - bootedAt)} s`);
      const token = await login(alice.user, alice.password);
      assert.deepEqual(await history(token), story.sent);
      assert.deepEqual(await downloadMedia(token), story.media.body);
      await login("grace", "grace-password-1234");
      const users = matrixctl(["user", "list"]).stdout;
      for (const user of ["alice", "bob", "carol", "frank", "grace", "admin"]) assert.match(users, new RegExp(`@${user}:example\\.test`));
      await send(token, "after disaster recovery");
      assert.deepEqual(await history(token), story.sent);
      // TURN came up on the first boot too (coturn from cloud-init's package list).
      assert.equal(droplet.exec(["systemctl", "is-active", "coturn"]).stdout.trim(), "active");
      const { username, password } = await turnCredentials();
      assertRelayed(turnClient(["-y", "-u", username, "-w", password]), "UDP");
    });
  });
});
