/**
 * The rendered configs run by the real services on this machine: PostgreSQL takes the
 * rendered settings and setup SQL, the pinned Synapse loads the rendered config and serves,
 * Caddy serves the rendered Caddyfile (with certificates from its local CA), and the admin
 * account is made by the payload's own create-admin.sh. Then we talk to it over HTTPS.
 */
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as tls from "node:tls";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { renderCaddyfile } from "../cloud-init/caddy";
import { renderElementConfig } from "../cloud-init/element";
import { renderEnvFile } from "../cloud-init/formats";
import { SYNAPSE_DB, renderPostgresSetupSql, renderPostgresTuning } from "../cloud-init/postgres";
import { MATRIXCTL_TOKEN_PATH, OPS_USER, SynapseSite } from "../cloud-init/synapse";
import { matrixctlConfig } from "../cloud-init/matrixctl";
import { SmtpSink, startSmtpSink } from "./smtpSink";
import { deployEnv } from "../cloud-init/userData";
import { matrixRtcFor, run, scratchDir, settingsFor, testSecrets } from "./fixtures";
import { Postgres, ROOT, Service, startCaddy, startPostgres, startSynapse, synapseSiteIn, waitUntil } from "./local-services";
import { request } from "../local/https";
import { SocketFetch, socketFetch } from "../local/socketFetch";
import { Livekit, ensureLivekitClient, placeCall, startLivekit } from "../local/livekit";
import { RtcAuth, RtcAuthOptions, ensureRtcAuthStandIn, rtcAuthEnv, startRtcAuth } from "../local/rtcAuthStandIn";
import { Hosts } from "../local/process";

// Mail goes to a local SMTP relay (STARTTLS, with a login), as to a real one on 587.
const SMTP = { port: 25870, user: "synapse@example.test", password: "smtp-relay-password" };
const settings = {
  ...settingsFor({ acmeServer: "internal", maxUploadMb: 1, smtpHost: "127.0.0.1", smtpPort: SMTP.port, smtpUser: SMTP.user, smtpPassword: "[secret]",
    localMediaRetentionDays: 365, remoteMediaRetentionDays: 30, forgottenRoomRetentionDays: 30 }), // Synapse must accept these too
  matrixRtc: matrixRtcFor(),
};
const secrets = { ...testSecrets(), smtpPassword: SMTP.password };
const MATRIX = `https://${settings.matrixHost}`;
const APEX = `https://${settings.serverName}`;
const ELEMENT = `https://${settings.elementHost}`;
const LIMIT = settings.synapse.maxUploadMb * 1024 * 1024;
const MATRIXCTL_SCRIPT = path.join(ROOT, "cloud-init", "scripts", "matrixctl");

/** An HTTP/1.0 request with no Host header, over TLS to the matrix host's name: the reply's status and headers. */
function hostless(ca: string): Promise<{ status: number; headers: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port: 443, servername: settings.matrixHost, ca, ALPNProtocols: ["http/1.1"] }, () => {
      socket.end("GET / HTTP/1.0\r\n\r\n");
    });
    let text = "";
    socket.on("data", (chunk: Buffer) => { text += chunk.toString("latin1"); });
    socket.on("end", () => {
      const [head] = text.split("\r\n\r\n");
      const [statusLine, ...lines] = head.split("\r\n");
      const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]));
      resolve({ status: Number(statusLine.split(" ")[1]), headers });
    });
    socket.on("error", reject);
  });
}

describe("rendered configs on real PostgreSQL, Synapse and Caddy", { timeout: 300_000 }, () => {
  const dir = scratchDir("matrix-services-");
  let postgres: Postgres;
  let synapseService: Service;
  let caddy: Service;
  let site: SynapseSite;
  let ca: string;
  let adminToken: string;
  let smtp: SmtpSink;
  let smtpTrust: string;
  /**
   * Straight to Synapse: its client socket (Caddy's), with an X-Forwarded-For as Caddy always
   * sends (Synapse answers 500 to a login without one there), and its admin socket (root's).
   */
  const synapse: SocketFetch = (p, init) => socketFetch(site.clientSocket)(p, { ...init, headers: { "x-forwarded-for": "127.0.0.1", ...init?.headers } });
  const synapseAdmin: SocketFetch = (p, init) => socketFetch(site.adminSocket)(p, init);

  before(async () => {
    // The relay's certificate, for 127.0.0.1, trusted by Synapse through OpenSSL's SSL_CERT_FILE.
    const relayDir = path.join(dir, "smtp");
    fs.mkdirSync(relayDir);
    const made = run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
      "-keyout", path.join(relayDir, "key.pem"), "-out", path.join(relayDir, "cert.pem"), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]);
    assert.equal(made.code, 0, made.stderr);
    smtp = await startSmtpSink(SMTP.port, { cert: fs.readFileSync(path.join(relayDir, "cert.pem"), "utf8"), key: fs.readFileSync(path.join(relayDir, "key.pem"), "utf8") }, SMTP);
    smtpTrust = path.join(relayDir, "cert.pem");
    postgres = await startPostgres(path.join(dir, "postgres"), renderPostgresTuning(settings));
    site = synapseSiteIn(dir, postgres.port);
  });

  after(async () => {
    await smtp?.close();
    await caddy?.stop();
    await synapseService?.stop();
    postgres?.stop();
  });

  it("the setup SQL creates Synapse's role and a UTF8 / C-collated database, and is idempotent", () => {
    for (let i = 0; i < 2; i++) {
      const r = postgres.psql(["-q", "-f", "-"], renderPostgresSetupSql(secrets));
      assert.equal(r.code, 0, r.stderr);
    }
    const r = postgres.psql(["-At", "-c",
      "SELECT pg_encoding_to_char(encoding), datcollate, datctype, pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'synapse'"]);
    assert.equal(r.stdout.trim(), "UTF8|C|C|synapse");
    const tuning = postgres.psql(["-At", "-c", "SHOW shared_buffers"]);
    assert.equal(tuning.stdout.trim(), `${settings.tuning.postgres!.sharedBuffersMb}MB`);
  });

  it("Synapse's role logs in over TCP with its SCRAM password, and only with it", () => {
    const login = (password: string) =>
      run("psql", ["--no-psqlrc", "-h", "127.0.0.1", "-p", String(postgres.port), "-U", SYNAPSE_DB.user, "-d", SYNAPSE_DB.name, "-Atc", "SELECT current_user"],
        { env: { ...process.env, PGPASSWORD: password } });
    assert.equal(login(secrets.postgresPassword).stdout.trim(), "synapse");
    assert.notEqual(login("wrong-password").code, 0);
    const verifier = postgres.psql(["-At", "-c", "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'synapse'"]);
    assert.equal(verifier.stdout.trim(), "t");
  });

  it("the pinned Synapse loads the rendered config and serves on its sockets", async () => {
    // The relay's certificate trusted through OpenSSL's SSL_CERT_FILE.
    synapseService = await startSynapse(dir, settings, secrets, site, { SSL_CERT_FILE: smtpTrust });
  });

  it("Caddy serves the rendered Caddyfile with certificates for every host", async () => {
    const caddyDir = path.join(dir, "caddy");
    const elementRoot = path.join(dir, "element");
    fs.mkdirSync(path.join(elementRoot, "i18n"), { recursive: true });
    fs.writeFileSync(path.join(elementRoot, "index.html"), "<!doctype html><title>Element</title>");
    fs.writeFileSync(path.join(elementRoot, "config.json"), renderElementConfig(settings));
    ({ caddy, ca } = await startCaddy(caddyDir, renderCaddyfile(settings, { synapseUpstream: `unix/${site.clientSocket}`, elementRoot, adminSocket: path.join(caddyDir, "admin.sock") }),
      [`${MATRIX}/_matrix/client/versions`, `${APEX}/.well-known/matrix/server`, `${ELEMENT}/`, `${APEX}:8448/_matrix/key/v2/server`]));
  });

  /** matrixctl, the payload's admin command, against this Synapse (its config with this test's paths). */
  const matrixctlConfigFile = path.join(dir, "matrixctl.json");
  const matrixctlTokenFile = path.join(dir, "matrixctl", "token");
  const matrixctlEnv = () => {
    fs.writeFileSync(matrixctlConfigFile, JSON.stringify({ ...matrixctlConfig(settings), synapseSocket: site.adminSocket, tokenFile: matrixctlTokenFile }));
    return { ...process.env, MATRIXCTL_CONFIG: matrixctlConfigFile };
  };
  const matrixctl = (args: string[], input?: string) => run(MATRIXCTL_SCRIPT, args, { input, env: matrixctlEnv() });

  /** The payload's create-admin.sh, run against this Synapse and PostgreSQL, with this matrixctl. */
  const createAdmin = () => {
    const passwordFile = path.join(dir, "admin-password");
    fs.writeFileSync(passwordFile, secrets.adminPassword, { mode: 0o600 });
    const envFile = path.join(dir, "deploy.env");
    fs.writeFileSync(envFile, renderEnvFile({
      ...deployEnv(settings),
      SYNAPSE_ADMIN_SOCKET: site.adminSocket,
      ADMIN_PASSWORD_FILE: passwordFile,
      MATRIXCTL: MATRIXCTL_SCRIPT,
    }));
    const r = run("bash", [path.join(ROOT, "cloud-init", "scripts", "create-admin.sh")], {
      // Its psql reaches this cluster (on the droplet, the default one).
      env: { ...matrixctlEnv(), MATRIX_ENV_FILE: envFile, PGHOST: postgres.socketDir, PGPORT: String(postgres.port) },
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /admin accounts @admin:example\.test and @matrixctl:example\.test present/);
    return r.stderr;
  };
  const sql = (query: string) => {
    const r = postgres.psql(["-d", SYNAPSE_DB.name, "-At", "-c", query]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  const devicesOf = (user: string) => sql(`SELECT coalesce(string_agg(coalesce(display_name, '-'), ',' ORDER BY display_name), '') FROM devices WHERE user_id = '@${user}:example.test'`);

  it("the payload's create-admin.sh makes the admin (no session) and matrixctl's account (a server admin with no password, one device: matrixctl's); a second run changes nothing", () => {
    for (let i = 0; i < 2; i++) createAdmin();
    assert.equal(devicesOf("admin"), "", "no session until the admin logs in");
    assert.equal(devicesOf(OPS_USER), "matrixctl");
    assert.equal(sql("SELECT name || ' ' || admin FROM users ORDER BY name"), "@admin:example.test 1\n@matrixctl:example.test 1");
    assert.equal(sql("SELECT count(*) FROM users WHERE password_hash IS NULL"), "0", "matrixctl's account has a password nobody knows");
    // Shared-secret registration is off: the user data holds no secret that makes an account.
    assert.equal(sql("SELECT count(*) FROM users"), "2");
  });

  it("shared-secret registration is off", async () => {
    const { nonce } = await (await synapseAdmin("/_synapse/admin/v1/register")).json() as { nonce: string };
    const reply = await synapseAdmin("/_synapse/admin/v1/register", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ nonce, username: "mallory", password: "mallory-password", admin: true, mac: "0".repeat(40) }),
    });
    assert.equal(reply.status, 400, await reply.clone().text());
    assert.match(await reply.text(), /Shared secret registration is not enabled/);
  });

  it("create-admin.sh logs out the unused sessions older versions' registration left, and no session that was used or named", async () => {
    // What register_new_matrix_user left on older servers: a session with no device name whose
    // token nobody used. A login without a device name makes the same.
    const login = async (user: string, password: string, from: Record<string, string>, deviceName?: string) => {
      const reply = await synapse(`/_matrix/client/v3/login`, {
        method: "POST", headers: { "content-type": "application/json", ...from },
        body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user }, password, initial_device_display_name: deviceName }),
      });
      const body = await reply.text();
      assert.equal(reply.status, 200, body);
      return (JSON.parse(body) as { access_token: string }).access_token;
    };
    const whoami = async (token: string) => (await synapse(`/_matrix/client/v3/account/whoami`, { headers: { authorization: `Bearer ${token}` } })).status;
    const elsewhere = { "x-forwarded-for": "198.51.100.201" };
    const leftover = await login("admin", secrets.adminPassword, elsewhere);
    // The admin's own sessions: one unnamed but in use, one named but not used yet.
    const used = await login("admin", secrets.adminPassword, elsewhere);
    assert.equal(await whoami(used), 200);
    const named = await login("admin", secrets.adminPassword, elsewhere, "Element on a new phone");
    // Synapse records use in batches: wait until this use is in the database.
    await waitUntil("the session's use to be recorded", 30, () => sql("SELECT count(*) FROM user_ips WHERE user_id = '@admin:example.test'") !== "0", 500);

    const said = createAdmin();
    assert.equal(said.match(/logged out a session registration left unused/g)?.length, 1, said);
    assert.equal(await whoami(leftover), 401, "a leftover session still works");
    assert.equal(await whoami(used), 200, "a session in use was logged out");
    assert.equal(await whoami(named), 200, "a named session was logged out");
    assert.equal(devicesOf("admin"), "Element on a new phone,-");
    for (const token of [used, named]) {
      const out = await synapse(`/_matrix/client/v3/logout`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
      assert.equal(out.status, 200);
    }
  });

  describe("matrixctl, the admin command, against this Synapse", () => {
    // Straight to Synapse's client socket, each from its own address (X-Forwarded-For, which
    // Caddy sets there): Synapse allows 5 logins per address.
    let client = 0;
    const loginStatus = async (user: string, password: string) => (await synapse(`/_matrix/client/v3/login`, {
      method: "POST", headers: { "content-type": "application/json", "x-forwarded-for": `198.51.100.${++client}` },
      body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user }, password }),
    })).status;

    it("adds a user with a generated password, refuses a duplicate and a bad name", async () => {
      const r = matrixctl(["user", "add", "erin"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^created @erin:example\.test\npassword: (\S{20,})\n$/);
      const password = /password: (\S+)/.exec(r.stdout)![1];
      assert.equal(await loginStatus("erin", password), 200);
      const again = matrixctl(["user", "add", "@erin:example.test"]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /@erin:example\.test already exists/);
      const bad = matrixctl(["user", "add", "Erin Smith"]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /user name 'Erin Smith': expected lowercase letters/);
      const elsewhere = matrixctl(["user", "add", "@erin:other.test"]);
      assert.match(elsewhere.stderr, /not on this server \(example\.test\)/);
    });

    it("resets a password from stdin and logs the user's sessions out", async () => {
      const newPassword = crypto.randomBytes(12).toString("hex");
      const r = matrixctl(["user", "password", "erin", "--password-file", "-"], `${newPassword}\n`);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /password of @erin:example\.test reset; its sessions are logged out/);
      assert.equal(await loginStatus("erin", newPassword), 200);
      const short = matrixctl(["user", "password", "erin", "--password-file", "-"], "short\n");
      assert.match(short.stderr, /password: expected 8 to 512 characters/);
      assert.match(matrixctl(["user", "password", "nobody"]).stderr, /no such user: @nobody:example\.test/);
    });

    it("lists users, deactivates one (who can no longer log in), and keeps its own account", async () => {
      const list = matrixctl(["user", "list"]);
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual(list.stdout.trim().split("\n").sort(),
        ["@admin:example.test  (admin)", "@erin:example.test", "@matrixctl:example.test  (admin)"]);
      const r = matrixctl(["user", "deactivate", "erin"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await loginStatus("erin", "anything-at-all"), 403);
      assert.match(matrixctl(["user", "list", "--all"]).stdout, /@erin:example\.test {2}\(deactivated\)/);
      assert.doesNotMatch(matrixctl(["user", "list"]).stdout, /erin/);
      assert.match(matrixctl(["user", "deactivate", "matrixctl"]).stderr, /cannot be deactivated/);
    });

    it("creates, lists and revokes registration tokens", () => {
      const created = matrixctl(["token", "add", "--uses", "2", "--days", "7"]);
      assert.equal(created.code, 0, created.stderr);
      const token = created.stdout.trim();
      assert.match(token, /^[A-Za-z0-9._~-]{8,64}$/);
      assert.match(created.stderr, /registration is disabled on this server/, "the admin is told the token cannot be used yet");
      assert.match(matrixctl(["token", "list"]).stdout, new RegExp(`^${token} {2}0/2 uses, expires \\d{4}-`, "m"));
      assert.match(matrixctl(["token", "add", "--uses", "0"]).stderr, /--uses: expected a whole number of at least 1/);
      assert.equal(matrixctl(["token", "revoke", token]).code, 0);
      assert.doesNotMatch(matrixctl(["token", "list"]).stdout, new RegExp(token));
    });

    it("takes a new token by itself when its own is revoked, and removes its account's other devices", async () => {
      fs.writeFileSync(matrixctlTokenFile, "syt_revoked_token");
      // A device older versions left (matrixctl logged in with a password then).
      await synapseAdmin(MATRIXCTL_TOKEN_PATH, { method: "POST", body: "{}" });
      assert.equal(devicesOf(OPS_USER), "matrixctl,matrixctl");
      const r = matrixctl(["user", "list"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /@admin:example\.test/);
      assert.equal(devicesOf(OPS_USER), "matrixctl", "one device: the token matrixctl keeps");
      assert.notEqual(fs.readFileSync(matrixctlTokenFile, "utf8"), "syt_revoked_token");
    });

    it("calls any admin API (matrixctl api), and refuses paths outside it", () => {
      const version = matrixctl(["api", "GET", "/_synapse/admin/v1/server_version"]);
      assert.equal(version.code, 0, version.stderr);
      assert.match(JSON.parse(version.stdout).server_version, /^\d+\.\d+/);
      const put = matrixctl(["api", "PUT", `/_synapse/admin/v2/users/${encodeURIComponent("@frida:example.test")}`, "--data", "-"], JSON.stringify({ displayname: "Frida" }));
      assert.equal(put.code, 0, put.stderr);
      assert.equal(JSON.parse(put.stdout).displayname, "Frida");
      assert.match(matrixctl(["api", "GET", "/_matrix/client/v3/account/whoami"]).stderr, /expected one of Synapse's admin API/);
      assert.match(matrixctl(["api", "GET", "/_synapse/admin/v1/nothing-here"]).stderr, /GET \/_synapse\/admin\/v1\/nothing-here: 404/);
    });
  });

  it("the admin logs in through Caddy with the generated password", async () => {
    const login = await request(`${MATRIX}/_matrix/client/v3/login`, ca, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": "198.51.100.66" },
      body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: settings.adminUser }, password: secrets.adminPassword }),
    });
    assert.equal(login.status, 200, login.body);
    assert.equal(login.json().user_id, "@admin:example.test");
    adminToken = login.json().access_token as string;
    const wrong = await request(`${MATRIX}/_matrix/client/v3/login`, ca, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "admin" }, password: "not-it" }),
    });
    assert.equal(wrong.status, 403);
  });

  /** A user of example.test made through Synapse's admin API (on its admin socket, as the admin). */
  async function createUser(user: string, password: string, extra: Record<string, unknown> = {}): Promise<void> {
    const created = await synapseAdmin(`/_synapse/admin/v2/users/${encodeURIComponent(`@${user}:example.test`)}`, {
      method: "PUT", headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" }, body: JSON.stringify({ password, ...extra }),
    });
    assert.equal(created.status, 201, await created.text());
  }

  it("mails a password reset through the SMTP relay, over STARTTLS with the relay's login", async () => {
    await createUser("hank", crypto.randomBytes(12).toString("hex"), { threepids: [{ medium: "email", address: "hank@example.test" }] });
    const requested = await request(`${MATRIX}/_matrix/client/v3/account/password/email/requestToken`, ca, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_secret: crypto.randomBytes(12).toString("hex"), email: "hank@example.test", send_attempt: 1 }),
    });
    assert.equal(requested.status, 200, requested.body);
    await waitUntil("the reset mail at the relay", 30, () => smtp.received.length > 0);
    const [mail] = smtp.received;
    assert.deepEqual(mail.to, ["hank@example.test"]);
    assert.equal(mail.from, "noreply@example.test");
    assert.equal(mail.user, SMTP.user, "Synapse logged in to the relay (after STARTTLS)");
    assert.match(mail.data, /^From: Matrix <noreply@example\.test>/m);
    assert.match(mail.data, /^Subject: \[example\.test\] Password reset\r?$/m);
    // The parts are base64: decode them to find the link to this homeserver.
    const text = mail.data.split(/\r?\n\r?\n/).filter((block) => /^[A-Za-z0-9+/=\r\n]+$/.test(block.trim()))
      .map((block) => Buffer.from(block.replace(/\s+/g, ""), "base64").toString("utf8")).join("\n");
    assert.match(text, /https:\/\/matrix\.example\.test\/_synapse\/client\/password_reset\/email\/submit_token\?/);
  });

  // Clients reach Caddy from 127.0.0.2 (another loopback address), so what Caddy passes on is
  // told apart from Caddy's own address and from matrixctl's (127.0.0.1, straight to Synapse).
  const CLIENT = "127.0.0.2";

  it("Synapse sees the client's address from Caddy, not a forged X-Forwarded-For", async () => {
    await waitUntil("the client's address in whois", 30, async () => {
      // Signed-in requests are the ones Synapse records addresses for: forge on those.
      const whois = await request(`${MATRIX}/_matrix/client/v3/admin/whois/@admin:example.test`, ca,
        { from: CLIENT, headers: { authorization: `Bearer ${adminToken}`, "x-forwarded-for": "198.51.100.66" } });
      assert.equal(whois.status, 200, whois.body);
      const ips = JSON.stringify(whois.json());
      assert.ok(!ips.includes("198.51.100.66"), `forged address trusted: ${ips}`);
      return ips.includes(CLIENT);
    });
  });

  it("matrixctl's account has no password: every login for it, of an old password too, gets a wrong password's answer; ten of them from outside leave matrixctl working", async () => {
    // What an older version set (its password was in the user data), until matrixctl's next token.
    const legacy = "an-older-versions-ops-password";
    const reset = await synapseAdmin(`/_synapse/admin/v1/reset_password/${encodeURIComponent(`@${OPS_USER}:example.test`)}`, {
      method: "POST", headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ new_password: legacy, logout_devices: false }),
    });
    assert.equal(reset.status, 200, await reset.text());
    fs.rmSync(matrixctlTokenFile);
    assert.equal(matrixctl(["user", "list"]).code, 0, "matrixctl takes a new token, and the old password goes");
    const login = (user: string, password: string) => request(`${MATRIX}/_matrix/client/v3/login`, ca, {
      method: "POST", from: CLIENT, headers: { "content-type": "application/json", "x-forwarded-for": "127.0.0.1" },
      body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user }, password }),
    });
    const wrong = await login("no-such-account", "whatever");
    assert.equal(wrong.status, 403, wrong.body);
    for (const password of [legacy, "guess-1"]) {
      const r = await login(OPS_USER, password);
      assert.deepEqual([r.status, r.json()], [wrong.status, wrong.json()], `logging in as ${OPS_USER} with ${password}`);
    }
    const direct = await synapse("/_matrix/client/v3/login", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: OPS_USER }, password: legacy }) });
    assert.equal(direct.status, 403, "nor from the droplet itself");
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await login(OPS_USER, `guess-${i}`)).status);
    assert.ok(statuses.includes(429), `Synapse stops the guessing: ${statuses}`);
    // What a reboot does: the kept token is on tmpfs.
    fs.rmSync(matrixctlTokenFile);
    const list = matrixctl(["user", "list"]);
    assert.equal(list.code, 0, `matrixctl locked out: ${list.stderr}`);
    assert.match(list.stdout, /@admin:example\.test/);
  });

  describe("rate limits for a community behind one address", () => {
    const nat = "198.51.100.200";
    const login = async (user: string, password: string, from = nat) => (await synapse(`/_matrix/client/v3/login`, {
      method: "POST", headers: { "content-type": "application/json", "x-forwarded-for": from },
      body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user }, password }),
    }));
    const people = Array.from({ length: 50 }, (_, i) => ({ user: `member${i}`, password: crypto.randomBytes(12).toString("hex") }));

    before(async () => {
      for (const p of people) await createUser(p.user, p.password);
    });

    it("50 people log in from one address at once, and one of them sends 20 messages in a row: no 429", async () => {
      const statuses = await Promise.all(people.map(async (p) => (await login(p.user, p.password)).status));
      assert.deepEqual(statuses, people.map(() => 200));
      const token = ((await (await login(people[0].user, people[0].password)).json()) as { access_token: string }).access_token;
      const room = await (await synapse(`/_matrix/client/v3/createRoom`, {
        method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: "{}",
      })).json() as { room_id: string };
      const sends: number[] = [];
      for (let i = 0; i < 20; i++) {
        sends.push((await synapse(`/_matrix/client/v3/rooms/${encodeURIComponent(room.room_id)}/send/m.room.message/t${i}`, {
          method: "PUT", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ msgtype: "m.text", body: `message ${i}` }),
        })).status);
      }
      assert.deepEqual(sends, sends.map(() => 200));
    });

    it("guessing one account's password is stopped after 5 tries, from any address; the others at that address still log in", async () => {
      const victim = people[1];
      const guesses: number[] = [];
      for (let i = 0; i < 8; i++) guesses.push((await login(victim.user, `guess-${i}`, i % 2 ? nat : `203.0.113.${i}`)).status);
      assert.deepEqual(guesses.slice(0, 5), [403, 403, 403, 403, 403]);
      assert.deepEqual(guesses.slice(5), [429, 429, 429], "then refused before the password is checked");
      assert.equal((await login(victim.user, victim.password, "203.0.113.99")).status, 429, "the right password waits too");
      assert.equal((await login(people[2].user, people[2].password)).status, 200, "another person at the same address");
    });

    it("a profile is not shown without signing in", async () => {
      const r = await synapse(`/_matrix/client/v3/profile/${encodeURIComponent("@matrixctl:example.test")}`);
      assert.equal(r.status, 401);
    });
  });

  it("refuses public registration and guest access", async () => {
    const register = await request(`${MATRIX}/_matrix/client/v3/register`, ca, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "mallory", password: "correct horse battery staple", auth: { type: "m.login.dummy" } }),
    });
    assert.equal(register.status, 403, register.body);
    const guest = await request(`${MATRIX}/_matrix/client/v3/register?kind=guest`, ca, {
      method: "POST", headers: { "content-type": "application/json" }, body: "{}",
    });
    assert.equal(guest.status, 403, guest.body);
  });

  it("accepts an upload at the limit and refuses one byte more with 413", async () => {
    const upload = (size: number) => request(`${MATRIX}/_matrix/media/v3/upload?filename=blob.bin`, ca, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/octet-stream" },
      body: crypto.randomBytes(size),
    });
    const ok = await upload(LIMIT);
    assert.equal(ok.status, 200, ok.body);
    assert.match(ok.json().content_uri as string, /^mxc:\/\/example\.test\//);
    const tooLarge = await upload(LIMIT + 1);
    assert.equal(tooLarge.status, 413);
    assert.equal(tooLarge.json().errcode, "M_TOO_LARGE", "a Matrix error clients understand");
  });

  it("serves .well-known delegation for servers and clients (with CORS)", async () => {
    const server = await request(`${APEX}/.well-known/matrix/server`, ca);
    assert.deepEqual(server.json(), { "m.server": "matrix.example.test:443" });
    const client = await request(`${APEX}/.well-known/matrix/client`, ca);
    assert.deepEqual(client.json(), {
      "m.homeserver": { base_url: "https://matrix.example.test" },
      // Where clients older than Element Call 0.17 find the call service.
      "org.matrix.msc4143.rtc_foci": [{ type: "livekit", livekit_service_url: "https://rtc.example.test" }],
    });
    assert.equal(client.headers["access-control-allow-origin"], "*");
    assert.match(String(client.headers["content-type"]), /application\/json/);
  });

  it("keeps /_synapse/admin unreachable from outside on 443 and both 8448 names", async () => {
    const direct = await synapseAdmin(`/_synapse/admin/v1/server_version`);
    assert.equal(direct.status, 200, "Synapse itself serves the admin API on its admin socket");
    for (const base of [MATRIX, `${MATRIX}:8448`, `${APEX}:8448`]) {
      for (const p of ["/_synapse/admin/v1/server_version", "/_synapse/admin/v1/users/@admin:example.test", "/_synapse/ADMIN/v1/server_version"]) {
        const r = await request(`${base}${p}`, ca, { headers: { authorization: `Bearer ${adminToken}` } });
        assert.equal(r.status, 404, `${base}${p}`);
      }
    }
    const clientOnFederationPort = await request(`${MATRIX}:8448/_synapse/client/new_user_consent`, ca);
    assert.equal(clientOnFederationPort.status, 404, "8448 carries federation (/_matrix) only");
  });

  it("publishes the Pulumi-generated signing key, on both federation names", async () => {
    const line = secrets.signingKey.split(" ");
    const seed = Buffer.from(line[2], "base64");
    const privateKey = crypto.createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), format: "der", type: "pkcs8" });
    const publicKey = crypto.createPublicKey(privateKey).export({ format: "der", type: "spki" }).subarray(-32).toString("base64").replace(/=+$/, "");
    for (const url of [`${APEX}:8448/_matrix/key/v2/server`, `${MATRIX}:8448/_matrix/key/v2/server`, `${MATRIX}/_matrix/key/v2/server`]) {
      const keys = (await request(url, ca)).json<{ server_name: string; verify_keys: Record<string, { key: string }> }>();
      assert.equal(keys.server_name, "example.test");
      assert.deepEqual(keys.verify_keys, { [`${line[0]}:${line[1]}`]: { key: publicKey } }, url);
    }
  });

  it("serves Element with its security headers, no-cache entry points and a config for this homeserver", async () => {
    const index = await request(`${ELEMENT}/`, ca);
    assert.equal(index.status, 200);
    assert.equal(index.headers["x-frame-options"], "SAMEORIGIN");
    assert.equal(index.headers["content-security-policy"], "frame-ancestors 'self'");
    assert.equal(index.headers["x-content-type-options"], "nosniff");
    assert.match(String(index.headers["strict-transport-security"]), /^max-age=\d{7,}/);
    assert.equal(index.headers["cache-control"], "no-cache");
    assert.equal(index.headers.server, undefined);
    const config = await request(`${ELEMENT}/config.json`, ca);
    assert.equal(config.headers["cache-control"], "no-cache");
    const body = config.json<{ default_server_config: Record<string, { base_url: string; server_name: string }>; disable_guests: boolean }>();
    assert.deepEqual(body.default_server_config["m.homeserver"], { base_url: "https://matrix.example.test", server_name: "example.test" });
    assert.equal(body.disable_guests, true);
    const apex = await request(`${APEX}/`, ca);
    assert.equal(apex.status, 302);
    assert.equal(apex.headers.location, "https://element.example.test/");
  });

  it("every HTTPS answer, on every host and port and of every status, has HSTS, no Server header and no HTTP/3 offer", async () => {
    const urls = [
      `${ELEMENT}/`, `${ELEMENT}/no-such-file.js`, `${APEX}/.well-known/matrix/server`, `${APEX}/`,
      `${MATRIX}/_matrix/client/versions`, `${MATRIX}/nothing-here`, `${MATRIX}/_synapse/admin/v1/server_version`,
      `${APEX}:8448/_matrix/key/v2/server`, `${MATRIX}:8448/_matrix/federation/v1/version`, `${MATRIX}:8448/elsewhere`,
      // Hosts this server does not serve: refused, never an empty 200.
      `${ELEMENT}:8448/`,
    ];
    const answers = [
      ...await Promise.all(urls.map(async (url) => ({ what: url, reply: await request(url, ca) }))),
      ...await Promise.all([["matrix.example.test.", 443], ["localhost", 443], ["example.test.", 8448]].map(async ([host, port]) => ({
        what: `Host: ${host} on ${port}`, reply: await request(`https://${settings.matrixHost}:${port}/`, ca, { headers: { host: String(host) } }),
      }))),
      { what: "HTTP/1.0 without a Host", reply: await hostless(ca) },
    ];
    const statuses = new Set<number>();
    for (const { what, reply: r } of answers) {
      statuses.add(r.status);
      assert.match(String(r.headers["strict-transport-security"]), /^max-age=\d{7,}/, `HSTS on ${what} (${r.status})`);
      assert.equal(r.headers.server, undefined, `no Server header on ${what} (${r.status}): ${r.headers.server}`);
      assert.equal(r.headers["alt-svc"], undefined, `no HTTP/3 offer on ${what}`);
    }
    assert.deepEqual([...statuses].sort(), [200, 302, 404, 421], "answers of each kind were checked");
    for (const { what, reply } of answers.slice(urls.length - 1)) assert.equal(reply.status, 421, `${what}: refused`);
  });

  it("port 80 redirects this server's hosts to HTTPS and refuses the rest, without a Server header", async () => {
    const plain = (host: string) => new Promise<{ status: number; headers: Record<string, unknown> }>((resolve, reject) => {
      http.get({ host: "127.0.0.1", port: 80, path: "/a?b", headers: { host } }, (res) => {
        res.resume();
        resolve({ status: res.statusCode!, headers: res.headers });
      }).on("error", reject);
    });
    for (const host of [settings.matrixHost, settings.elementHost, settings.serverName, settings.matrixRtc!.host]) {
      const r = await plain(host);
      assert.equal(r.status, 308, host);
      assert.equal(r.headers.location, `https://${host}/a?b`);
      assert.equal(r.headers.server, undefined, `no Server header on http://${host}`);
    }
    for (const host of ["localhost", `${settings.matrixHost}.`]) {
      const r = await plain(host);
      assert.equal(r.status, 421, host);
      assert.equal(r.headers.server, undefined, `no Server header on http://${host}`);
    }
  });

  // A call as Element Call places one: OpenID tokens from this Synapse, exchanged at the
  // authorization service (a stand-in answering as lk-jwt-service 0.5.0 does) for LiveKit tokens,
  // then a call at LiveKit with the config the payload renders.
  describe("MatrixRTC: OpenID tokens from this Synapse, exchanged for LiveKit tokens, carry a call", () => {
    const KEY = "matrix-rtc";
    const LK_SECRET = crypto.randomBytes(32).toString("hex");
    const callers = [{ user: "caller1", password: crypto.randomBytes(12).toString("hex") }, { user: "caller2", password: crypto.randomBytes(12).toString("hex") }];
    /** Where nothing listens: a stand-in that tries to make a room there answers 500, one that does not try answers 200. */
    const NO_SFU = "ws://127.0.0.1:1";
    let livekit: Livekit;
    let auth: RtcAuth;
    let authUrl: string;
    let hosts: Hosts;
    let trust: string;

    /** A stand-in as the payload runs the real service, with `changes`. */
    const standIn = (changes: Partial<RtcAuthOptions> = {}) => startRtcAuth({
      livekitUrl: livekit.url, key: KEY, secret: LK_SECRET, fullAccessHomeservers: settings.serverName, hosts, trust, ...changes,
    });
    /** `use` of a stand-in with `changes` (its base URL), stopped afterwards. */
    async function withStandIn<T>(changes: Partial<RtcAuthOptions>, use: (base: string) => Promise<T>): Promise<T> {
      const started = await standIn(changes);
      try {
        return await use(`http://127.0.0.1:${started.port}`);
      } finally {
        await started.close();
      }
    }

    before(async () => {
      // Built now (minutes on a cold cache), not inside the timed call.
      ensureLivekitClient();
      livekit = await startLivekit(path.join(dir, "livekit"), { [KEY]: LK_SECRET }, "127.0.0.1");
      // As on the droplet, the service finds this server by its name, through a hosts file of its
      // own (this machine's Caddy: .well-known on 443 naming matrix.example.test:443) and checks
      // its certificate against the CA bundle it is given (here Caddy's local CA, SSL_CERT_FILE).
      // other.test resolves here too: Caddy has no certificate for it, on 443 or on 8448.
      trust = path.join(dir, "rtc-trust.pem");
      fs.writeFileSync(trust, ca);
      hosts = { dir, names: { [settings.serverName]: "127.0.0.1", [settings.matrixHost]: "127.0.0.1", "other.test": "127.0.0.1" } };
      auth = await standIn();
      authUrl = `http://127.0.0.1:${auth.port}`;
      for (const c of callers) await createUser(c.user, c.password);
    });
    after(async () => {
      await auth?.close();
      await livekit?.stop();
    });

    /** What Element Call does first: an OpenID token from the user's homeserver. */
    async function openIdToken(user: string, password: string): Promise<Record<string, unknown>> {
      const login = await (await synapse(`/_matrix/client/v3/login`, {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user }, password }),
      })).json() as { access_token: string; user_id: string };
      const reply = await synapse(`/_matrix/client/v3/user/${encodeURIComponent(login.user_id)}/openid/request_token`, {
        method: "POST", headers: { authorization: `Bearer ${login.access_token}`, "content-type": "application/json" }, body: "{}",
      });
      assert.equal(reply.status, 200, await reply.clone().text());
      return await reply.json() as Record<string, unknown>;
    }
    /** One OpenID token per caller (valid for an hour), so logins stay under the account's rate limit. */
    const tokens = new Map<number, Record<string, unknown>>();
    async function tokenOf(i: number): Promise<Record<string, unknown>> {
      if (!tokens.has(i)) tokens.set(i, await openIdToken(callers[i].user, callers[i].password));
      return tokens.get(i)!;
    }

    const post = (base: string, route: string, body: unknown) =>
      fetch(`${base}${route}`, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
    const sfuGet = (body: unknown, base = authUrl) => post(base, "/sfu/get", body);
    const getToken = (body: unknown, base = authUrl) => post(base, "/get_token", body);
    /** A refusal: its status, errcode and message. */
    async function refusal(reply: Response): Promise<string> {
      const body = await reply.json() as { errcode: string; error: string };
      return `${reply.status} ${body.errcode} ${body.error}`;
    }
    /** A LiveKit token's claims, once its signature checks out with `secret`. */
    function claims(jwt: string, secret = LK_SECRET): Record<string, unknown> {
      const [header, payload, signature] = jwt.split(".");
      assert.equal(crypto.createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url"), signature, "signed with the secret");
      assert.deepEqual(JSON.parse(Buffer.from(header, "base64url").toString()), { alg: "HS256", typ: "JWT" });
      return JSON.parse(Buffer.from(payload, "base64url").toString()) as Record<string, unknown>;
    }
    /** How the service names rooms and members: unpadded base64 of SHA-256 over the JSON array. */
    const hashed = (...parts: string[]) => crypto.createHash("sha256").update(JSON.stringify(parts)).digest("base64").replace(/=+$/, "");
    /** The rooms LiveKit has of these names, through its server API. */
    async function roomsAtLivekit(names: string[]): Promise<{ name: string; empty_timeout?: number; departure_timeout?: number }[]> {
      const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
      const now = Math.floor(Date.now() / 1000);
      const unsigned = `${part({ alg: "HS256", typ: "JWT" })}.${part({ iss: KEY, nbf: now, exp: now + 60, video: { roomList: true } })}`;
      const bearer = `${unsigned}.${crypto.createHmac("sha256", LK_SECRET).update(unsigned).digest("base64url")}`;
      const reply = await fetch(`${livekit.httpBase}twirp/livekit.RoomService/ListRooms`, {
        method: "POST", headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" }, body: JSON.stringify({ names }),
      });
      assert.equal(reply.status, 200, await reply.clone().text());
      return ((await reply.json()) as { rooms?: { name: string }[] }).rooms ?? [];
    }

    it("Synapse advertises what Element Call and Element X need, and lists the call service as its RTC transport", async () => {
      const versions = await (await synapse(`/_matrix/client/versions`)).json() as { unstable_features: Record<string, boolean> };
      for (const feature of [
        "org.matrix.msc4143", // RTC transports
        "org.matrix.msc4140", // delayed events: a call membership that ends when its client vanishes
        "org.matrix.simplified_msc3575", // Element X's sliding sync
      ]) assert.equal(versions.unstable_features[feature], true, `${feature} in ${JSON.stringify(versions.unstable_features)}`);
      const caller = callers[0];
      const login = await (await synapse(`/_matrix/client/v3/login`, {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: caller.user }, password: caller.password }),
      })).json() as { access_token: string };
      const transports = await synapse(`/_matrix/client/unstable/org.matrix.msc4143/rtc/transports`, {
        headers: { authorization: `Bearer ${login.access_token}` },
      });
      assert.equal(transports.status, 200, await transports.clone().text());
      assert.deepEqual(await transports.json(), { rtc_transports: [{ type: "livekit", livekit_service_url: "https://rtc.example.test" }] });
    });

    it("two users of this server get LiveKit tokens for their room (made at the SFU) and talk: every frame heard; token request to first packet timed", async () => {
      const room = "!call:example.test";
      const started = Date.now();
      const jwts: string[] = [];
      for (const [i, c] of callers.entries()) {
        tokens.set(i, await openIdToken(c.user, c.password));
        const reply = await sfuGet({ room, openid_token: tokens.get(i), device_id: `DEVICE${i}` });
        assert.equal(reply.status, 200, await reply.clone().text());
        assert.equal(reply.headers.get("content-type"), "application/json");
        const text = await reply.text();
        assert.ok(text.endsWith("}\n"), "the JSON ends with a newline");
        const body = JSON.parse(text) as { url: string; jwt: string };
        assert.deepEqual(Object.keys(body), ["url", "jwt"]);
        assert.equal(body.url, livekit.url);
        jwts.push(body.jwt);
      }
      const call = placeCall(["-url", livekit.url, "-listener-token", jwts[0], "-speaker-token", jwts[1]]);
      assert.equal(call.code, 0, `${call.error}\n${call.stderr.slice(-2000)}`);
      assert.equal(call.speakerIdentity, "@caller2:example.test:DEVICE1");
      assert.ok(call.framesSentSinceHeard >= 50 && call.packetsHeard >= call.framesSentSinceHeard * 0.98, JSON.stringify(call));
      const setup = call.firstPacketAt - started;
      console.log(`  [rtc] token requests to first media packet: ${setup} ms (${call.packetsHeard} packets heard)`);
      assert.ok(setup < 10_000, `call setup took ${setup} ms`);
      // The token: an hour, to join (publish, subscribe) the hashed room as <user>:<device>, not to make rooms.
      const first = claims(jwts[0]);
      assert.equal(first.iss, KEY);
      assert.equal(first.sub, "@caller1:example.test:DEVICE0");
      assert.equal(first.identity, first.sub);
      assert.equal(Number(first.exp) - Number(first.nbf), 3600);
      assert.deepEqual(first.video, { room: hashed(room, "m.call#ROOM"), roomJoin: true, canPublish: true, canSubscribe: true });
      // This server is in LIVEKIT_FULL_ACCESS_HOMESERVERS: the room was made, with the service's timeouts.
      const [made] = await roomsAtLivekit([hashed(room, "m.call#ROOM")]);
      assert.equal(made?.empty_timeout, 300, JSON.stringify(made));
      assert.equal(made?.departure_timeout, 20, JSON.stringify(made));
    });

    it("a forged OpenID token, or one claimed for another server: 500 M_LOOKUP_FAILED at /sfu/get, 401 M_UNAUTHORIZED at /get_token", async () => {
      const real = await tokenOf(0);
      const lookupFailed = "500 M_LOOKUP_FAILED Failed to look up user info from homeserver";
      const forged = { ...real, access_token: "forged" };
      assert.equal(await refusal(await sfuGet({ room: "!x:example.test", openid_token: forged, device_id: "D" })), lookupFailed);
      // Claiming another server for this server's token: that server (here, nothing with a certificate) does not vouch for it.
      const elsewhere = { ...real, matrix_server_name: "other.test" };
      assert.equal(await refusal(await sfuGet({ room: "!x:example.test", openid_token: elsewhere, device_id: "D" })), lookupFailed);
      const member = { id: "m1", claimed_user_id: "@caller1:example.test", claimed_device_id: "D" };
      for (const openid_token of [forged, elsewhere]) {
        assert.match(await refusal(await getToken({ room_id: "!x:example.test", slot_id: "m.call#ROOM", openid_token, member })), /^401 M_UNAUTHORIZED /);
      }
    });

    it("/sfu/get does not need a device_id: the member is then `<user>:`", async () => {
      const reply = await sfuGet({ room: "!nodevice:example.test", openid_token: await tokenOf(0) });
      assert.equal(reply.status, 200, await reply.clone().text());
      assert.equal(claims((await reply.json() as { jwt: string }).jwt).sub, "@caller1:example.test:");
    });

    it("/get_token's body, at /get_token and at /sfu/get: room and member hashed, delayed-leave fields accepted; a member claiming another user refused with 401", async () => {
      const real = await tokenOf(1);
      const request = {
        room_id: "!slot:example.test", slot_id: "m.call#ROOM", openid_token: real,
        member: { id: "member-1", claimed_user_id: "@caller2:example.test", claimed_device_id: "PHONE" },
        delay_id: "syd_delay", delay_timeout: 10000, delay_cs_api_url: "https://matrix.example.test",
      };
      for (const reply of [await getToken(request), await sfuGet(request)]) {
        assert.equal(reply.status, 200, await reply.clone().text());
        const body = await reply.json() as { url: string; jwt: string };
        assert.equal(body.url, livekit.url);
        const granted = claims(body.jwt);
        assert.equal(granted.sub, hashed("@caller2:example.test", "PHONE", "member-1"));
        assert.equal(granted.identity, granted.sub);
        assert.deepEqual(granted.video, { room: hashed("!slot:example.test", "m.call#ROOM"), roomJoin: true, canPublish: true, canSubscribe: true });
      }
      assert.equal((await roomsAtLivekit([hashed("!slot:example.test", "m.call#ROOM")])).length, 1, "the room was made");
      const impostor = { ...request, member: { ...request.member, claimed_user_id: "@caller1:example.test" } };
      assert.match(await refusal(await getToken(impostor)), /^401 M_UNAUTHORIZED /);
      assert.match(await refusal(await sfuGet(impostor)), /^401 M_UNAUTHORIZED /);
    });

    it("reads JSON as 0.5.0 does: an unknown field is M_BAD_JSON at /sfu/get, M_NOT_JSON at /get_token; missing fields M_BAD_JSON", async () => {
      const real = await tokenOf(0);
      const malformed = /^400 M_BAD_JSON The request body was malformed/;
      // /sfu/get: neither shape decodes.
      assert.match(await refusal(await sfuGet({ room: "!x:example.test", openid_token: real, device_id: "D", extra: 1 })), malformed);
      assert.match(await refusal(await sfuGet({ room: "!x:example.test", openid_token: { ...real, extra: 1 } })), malformed);
      assert.match(await refusal(await sfuGet("")), malformed);
      assert.match(await refusal(await sfuGet("not json")), malformed);
      assert.match(await refusal(await sfuGet({ room: 7, openid_token: real })), malformed);
      // A shape decodes, and its checks answer.
      assert.equal(await refusal(await sfuGet({})), "400 M_BAD_JSON Missing room parameter");
      assert.equal(await refusal(await sfuGet({ openid_token: real, device_id: "D" })), "400 M_BAD_JSON Missing room parameter");
      assert.match(await refusal(await sfuGet({ room: "!x:example.test", device_id: "D" })), /^400 M_BAD_JSON /);
      // /get_token: one strict decode.
      const member = { id: "m", claimed_user_id: "@caller1:example.test", claimed_device_id: "D" };
      const request = { room_id: "!x:example.test", slot_id: "m.call#ROOM", openid_token: real, member };
      const notJson = "400 M_NOT_JSON Error reading request";
      for (const body of [{ ...request, extra: 1 }, { ...request, member: { ...member, extra: 1 } }, { ...request, room: "!x:example.test" }, "", "not json", { ...request, slot_id: 1 }]) {
        assert.equal(await refusal(await getToken(body)), notJson, JSON.stringify(body));
      }
      for (const body of [{}, { ...request, slot_id: "" }, { ...request, member: { ...member, id: "" } }, { ...request, openid_token: { ...real, access_token: "" } }]) {
        assert.match(await refusal(await getToken(body)), /^400 M_BAD_JSON /, JSON.stringify(body));
      }
    });

    it("answers as 0.5.0 does on its three routes (methods, CORS, health) and Go's plain 404 elsewhere", async () => {
      const cors = {
        "access-control-allow-origin": "*", "access-control-allow-methods": "POST",
        "access-control-allow-headers": "Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token",
      };
      const headersOf = (reply: Response, names: string[]) => Object.fromEntries(names.map((n) => [n, reply.headers.get(n)]));
      for (const route of ["/sfu/get", "/get_token"]) {
        for (const [method, status] of [["OPTIONS", 200], ["GET", 405], ["PUT", 405], ["DELETE", 405]] as const) {
          const reply = await fetch(`${authUrl}${route}`, { method });
          assert.equal(reply.status, status, `${method} ${route}`);
          assert.equal(await reply.text(), "", `${method} ${route}: no body`);
          assert.deepEqual(headersOf(reply, [...Object.keys(cors), "content-type"]), { ...cors, "content-type": "application/json" }, `${method} ${route}`);
        }
        // Refusals carry them too.
        const refused = await post(authUrl, route, "{}");
        assert.equal(refused.status, 400);
        assert.deepEqual(headersOf(refused, [...Object.keys(cors), "content-type"]), { ...cors, "content-type": "application/json" });
      }
      for (const method of ["GET", "HEAD"]) {
        const health = await fetch(`${authUrl}/healthz`, { method });
        assert.equal(health.status, 200, method);
        assert.equal(await health.text(), "");
        assert.equal(health.headers.get("content-type"), null);
        assert.equal(health.headers.get("access-control-allow-origin"), null);
      }
      assert.equal((await fetch(`${authUrl}/healthz`, { method: "POST" })).status, 405);
      // 0.5.0 has no /delegate_delayed_leave (its README does); nothing else is served either.
      for (const route of ["/delegate_delayed_leave", "/", "/sfu/get/", "/get_token/x"]) {
        const reply = await fetch(`${authUrl}${route}`, { method: "POST", body: "{}" });
        assert.equal(reply.status, 404, route);
        assert.equal(await reply.text(), "404 page not found\n");
        assert.equal(reply.headers.get("content-type"), "text/plain; charset=utf-8");
        assert.equal(reply.headers.get("x-content-type-options"), "nosniff");
        assert.equal(reply.headers.get("access-control-allow-origin"), null);
      }
    });

    it("makes the room only for LIVEKIT_FULL_ACCESS_HOMESERVERS: `*` alone is everyone, `*` among others nobody; a room the SFU will not make is 500 M_UNKNOWN", async () => {
      const real = await tokenOf(0);
      // With the SFU unreachable, a service that makes the room fails, one that does not answers.
      const answers: Record<string, string> = {};
      for (const servers of ["*", "*,example.test", "*,other.test", ",", "other.test example.test", "other.test"]) {
        answers[servers] = await withStandIn({ livekitUrl: NO_SFU, fullAccessHomeservers: servers }, async (base) => {
          const reply = await sfuGet({ room: "!x:example.test", openid_token: real, device_id: "D" }, base);
          return reply.status === 200 ? "token, no room" : await refusal(reply);
        });
      }
      const noRoom = "500 M_UNKNOWN Unable to create room on SFU";
      assert.deepEqual(answers, {
        "*": noRoom, "*,example.test": noRoom, "*,other.test": "token, no room", ",": "token, no room",
        "other.test example.test": noRoom, "other.test": "token, no room",
      });
      // `*` alone, with the SFU there: the room is made.
      await withStandIn({ fullAccessHomeservers: "*" }, async (everyone) => {
        const reply = await sfuGet({ room: "!everyone:example.test", openid_token: real, device_id: "D" }, everyone);
        assert.equal(reply.status, 200, await reply.clone().text());
      });
      assert.equal((await roomsAtLivekit([hashed("!everyone:example.test", "m.call#ROOM")])).length, 1);
    });

    it("verifies the homeserver's certificate against the system's roots unless told exactly YES_I_KNOW_WHAT_I_AM_DOING", async () => {
      const real = await tokenOf(0);
      // This machine's roots, without Caddy's local CA.
      const ask = (skipVerify?: string) => withStandIn({ trust: undefined, env: skipVerify ? { LIVEKIT_INSECURE_SKIP_VERIFY_TLS: skipVerify } : {} }, async (base) => {
        const reply = await sfuGet({ room: "!x:example.test", openid_token: real, device_id: "D" }, base);
        return reply.status === 200 ? "200" : await refusal(reply);
      });
      assert.match(await ask(), /^500 M_LOOKUP_FAILED /);
      assert.match(await ask("yes"), /^500 M_LOOKUP_FAILED /);
      assert.equal(await ask("YES_I_KNOW_WHAT_I_AM_DOING"), "200");
    });

    it("reads the service's environment: LIVEKIT_KEY_FILE first, files trimmed; what 0.5.0 refuses to start with, it refuses", async () => {
      const keyFile = path.join(dir, "rtc-key-file");
      fs.writeFileSync(keyFile, "file-key:file-secret\r\n");
      const secretFile = path.join(dir, "rtc-secret-file");
      fs.writeFileSync(secretFile, "  secret-from-file \n");
      const real = await tokenOf(0);
      const jwtFrom = async (base: string) => {
        const reply = await sfuGet({ room: "!x:example.test", openid_token: real, device_id: "D" }, base);
        assert.equal(reply.status, 200, await reply.clone().text());
        return (await reply.json() as { jwt: string }).jwt;
      };
      const fromKeyFile = await withStandIn({ livekitUrl: NO_SFU, fullAccessHomeservers: ",", env: { LIVEKIT_KEY_FILE: keyFile, LIVEKIT_SECRET_FROM_FILE: secretFile } }, jwtFrom);
      assert.equal(claims(fromKeyFile, "file-secret").iss, "file-key");
      const fromFile = await withStandIn({ livekitUrl: NO_SFU, fullAccessHomeservers: ",", env: { LIVEKIT_SECRET_FROM_FILE: secretFile } }, jwtFrom);
      assert.equal(claims(fromFile, "secret-from-file").iss, KEY);
      const badKeyFile = path.join(dir, "rtc-bad-key-file");
      fs.writeFileSync(badKeyFile, "key-without-secret\n");
      for (const [what, env] of Object.entries<Record<string, string>>({
        "no LIVEKIT_URL": { LIVEKIT_URL: "" },
        "an empty LIVEKIT_FULL_ACCESS_HOMESERVERS": { LIVEKIT_FULL_ACCESS_HOMESERVERS: "" },
        "LIVEKIT_JWT_BIND and LIVEKIT_JWT_PORT": { LIVEKIT_JWT_PORT: "8081" },
        "a LIVEKIT_KEY_FILE not key:secret": { LIVEKIT_KEY_FILE: badKeyFile },
        "no secret": { LIVEKIT_SECRET: "" },
      })) {
        const options = { livekitUrl: livekit.url, key: KEY, secret: LK_SECRET, fullAccessHomeservers: settings.serverName, env };
        const r = run(ensureRtcAuthStandIn(), [], { env: rtcAuthEnv(options, 1), timeoutMs: 10_000 });
        assert.ok(r.code > 0, `${what}: exit ${r.code}\n${r.stderr}`);
      }
    });
  });

  it("takes config changes only on its admin socket, not on TCP", async () => {
    const socket = path.join(dir, "caddy", "admin.sock");
    assert.ok(fs.statSync(socket).isSocket(), "the admin endpoint is a unix socket");
    // HTTP/1.0 without a Host header: Caddy's admin socket refuses any host name.
    const config = run("curl", ["-sS", "--http1.0", "-H", "Host:", "--unix-socket", socket, "http://admin/config/"]);
    assert.equal(config.code, 0, config.stderr);
    assert.ok("apps" in JSON.parse(config.stdout), "the socket serves Caddy's config");
    const tcp = run("curl", ["-sS", "-m", "3", "http://127.0.0.1:2019/config/"]);
    assert.notEqual(tcp.code, 0, "nothing answers on 127.0.0.1:2019");
  });
});
