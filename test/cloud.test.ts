/**
 * The stack as `pulumi up` runs it, in the local cloud (local/cloud.ts): the real program
 * (index.ts) with a stack's config as the real Pulumi CLI merges it, under mocks that make each
 * declared resource real — a droplet booted from the declared userData, the declared DNS records
 * served, the reserved IP routed, the firewall enforced, the readiness check and the SSH
 * commands run. Then the server is used through what was declared.
 */
import assert from "node:assert/strict";
import * as dns from "node:dns/promises";
import * as fs from "node:fs";
import * as net from "node:net";
import * as tls from "node:tls";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { LocalCloud } from "../local/cloud";
import { buildSharedCli, cliStackConfig, offlineCliEnv } from "../local/pulumiCli";
import { ensureRootfs } from "../local/rootfs";
import { run, scratchDir } from "./fixtures";
import { ROOT, request } from "./local-services";
import { World, startWorld } from "./droplet/world";

const log = (line: string) => console.log(`  [cloud] ${line}`);
const seconds = (ms: number) => Math.round(ms / 100) / 10;

/** DigitalOcean's fingerprint of a public key: MD5 of the key, colon-separated. */
function fingerprint(publicKeyFile: string): string {
  const r = run("ssh-keygen", ["-E", "md5", "-lf", publicKeyFile]);
  return /MD5:([0-9a-f:]+)/.exec(r.stdout)![1];
}

/** The fingerprint of the certificate the homeserver presents at `ip`. */
function certificateOf(ip: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: ip, port: 443, servername: "matrix.example.test", rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on("error", reject);
  });
}

/** Whether a TCP connection to ip:port is accepted ("open"), refused ("closed") or gets no answer ("filtered"). */
function probePort(ip: string, port: number, timeoutMs = 1500): Promise<"open" | "closed" | "filtered"> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: ip, port });
    const done = (state: "open" | "closed" | "filtered") => {
      socket.destroy();
      resolve(state);
    };
    socket.setTimeout(timeoutMs, () => done("filtered"));
    socket.on("connect", () => done("open"));
    socket.on("error", (e: NodeJS.ErrnoException) => done(e.code === "ECONNREFUSED" ? "closed" : "filtered"));
  });
}

/** Poll the homeserver at `ip` every 100 ms while `work` runs; returns the longest time it did not answer (s). */
async function longestOutage(trust: string, ip: string, work: () => Promise<unknown>): Promise<number> {
  let polling = true;
  let downSince = 0;
  let longest = 0;
  const poller = (async () => {
    while (polling) {
      const ok = await request("https://matrix.example.test/_matrix/client/versions", trust, { address: ip, signal: AbortSignal.timeout(2000) })
        .then((r) => r.status === 200, () => false);
      const now = Date.now();
      if (!ok && !downSince) downSince = now;
      if (ok && downSince) {
        longest = Math.max(longest, now - downSince);
        downSince = 0;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    await work();
    // Until it answers again (a replacement's readiness check has waited for this already).
    for (let i = 0; i < 600 && downSince; i++) await new Promise((r) => setTimeout(r, 100));
  } finally {
    polling = false;
    await poller;
  }
  return seconds(longest);
}

describe("pulumi up of the stack, in the local cloud", { timeout: 30 * 60_000 }, () => {
  const dir = scratchDir("matrix-cloud-");
  let world: World;
  let cloud: LocalCloud;
  let outputs: Record<string, unknown>;
  let reservedIp: string;
  /** `pulumi config …` on the user's stack, then `pulumi up` of index.ts in the local cloud. */
  let configure: (args: string[], input?: string) => void;
  let up: () => Promise<number>;
  let adminPassword: string;
  const figures: Record<string, number> = {};

  before(async () => {
    ensureRootfs(log);
    world = await startWorld(dir);
    const sshKey = path.join(dir, "deploy-key");
    assert.equal(run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", sshKey]).code, 0);

    // The user's stack, configured with the CLI: the README's keys, and the test world's
    // stand-ins for Let's Encrypt and Element's download host.
    const project = path.join(dir, "project");
    fs.mkdirSync(project);
    fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(project, "Pulumi.yaml"));
    const env = offlineCliEnv(buildSharedCli(ROOT), dir);
    configure = (args: string[], input?: string) => {
      const r = run("pulumi", ["--cwd", project, ...args], { env, input });
      assert.equal(r.code, 0, `pulumi ${args.join(" ")}: ${r.stderr}`);
    };
    configure(["stack", "init", "cloud"]);
    const t = world.testArgs;
    const set: [string, string][] = [
      ["domain", "example.test"], ["adminEmail", "admin@example.test"], ["sshKeys[0]", fingerprint(`${sshKey}.pub`)],
      ["acmeServer", t.acmeServer!], ["caaIssuer", "pebble.test"], ["privateFederationCidrs[0]", "10.213.0.0/16"],
      ["elementDownloadBase", t.elementDownloadBase!], ["elementKeyUrl", t.elementKeyUrl!], ["elementKeyFingerprint", t.elementKeyFingerprint!],
      ...(t.extraCaCertificates as string[]).map((pem, i) => [`extraCaCertificates[${i}]`, pem] as [string, string]),
    ];
    for (const [k, value] of set) configure(["config", "set", "--path", k, "--", value]);
    configure(["config", "set", "--secret", "sshPrivateKey"], fs.readFileSync(sshKey, "utf8"));

    cloud = new LocalCloud({
      network: world.network, address: world.address, dir: path.join(dir, "cloud"), cwd: ROOT, log,
      sshKeys: { [fingerprint(`${sshKey}.pub`)]: fs.readFileSync(`${sshKey}.pub`, "utf8").trim() },
      trust: world.trust,
    });
    const program = require.resolve("../index");
    up = async () => {
      // The config as the CLI hands it to the program: Pulumi.yaml's defaults merged, secrets marked.
      const config = cliStackConfig(project, "cloud", env);
      pulumi.runtime.setAllConfig(
        Object.fromEntries(Object.entries(config).map(([k, v]) => [k, v.value])),
        Object.entries(config).filter(([, v]) => v.secret).map(([k]) => k),
      );
      const started = Date.now();
      outputs = await cloud.deploy(() => {
        delete require.cache[program];
        return require(program);
      }, "matrix-do", "cloud");
      return seconds(Date.now() - started);
    };
    figures.deploy = await up();
    reservedIp = outputs.reservedIp as string;
    adminPassword = outputs.adminPassword as string;
    log(`deployed in ${figures.deploy} s; reserved IP ${reservedIp}`);
  });

  after(async () => {
    await cloud?.close();
    await world?.close();
  });

  it("declared and realized the whole stack, the readiness check and the SSH commands included", () => {
    const count = (type: string) => cloud.ofType(type).length;
    assert.ok([...cloud.steps.values()].every((step) => step === "create"), "a first deployment creates everything");
    assert.equal(count("digitalocean:index/droplet:Droplet"), 1);
    assert.equal(count("digitalocean:index/volume:Volume"), 1);
    assert.equal(count("digitalocean:index/firewall:Firewall"), 1);
    assert.ok(count("digitalocean:index/dnsRecord:DnsRecord") >= 5);
    assert.match(cloud.commandOutput.get("matrix-cloud-init") ?? "", /cloud-init finished; bootstrap done at /);
    assert.ok(cloud.commandOutput.has("matrix-apply-config"), "the payload was applied over SSH with the pinned host key");
    assert.ok(cloud.commandOutput.has("matrix-ready"), "the readiness check ran");
  });

  it("serves the declared records: the names resolve to the reserved IP, federation's SRV to matrix:8448", async () => {
    const resolver = new dns.Resolver();
    resolver.setServers([world.address.hostIp]);
    for (const name of ["example.test", "matrix.example.test", "element.example.test"]) assert.deepEqual(await resolver.resolve4(name), [reservedIp], name);
    const srv = await resolver.resolveSrv("_matrix-fed._tcp.example.test");
    assert.deepEqual(srv.map((s) => [s.name, s.port]), [["matrix.example.test", 8448]]);
  });

  it("answers over HTTPS at the reserved IP, and the admin logs in with the adminPassword output", async () => {
    const versions = await request("https://matrix.example.test/_matrix/client/versions", world.trust, { address: reservedIp });
    assert.equal(versions.status, 200);
    const login = await request("https://matrix.example.test/_matrix/client/v3/login", world.trust, {
      address: reservedIp, method: "POST",
      body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "admin" }, password: adminPassword }),
    });
    assert.equal(login.status, 200, login.body);
    assert.equal(login.json().user_id, "@admin:example.test");
  });

  it("lets through the firewall exactly the declared ports", async () => {
    const droplet = [...cloud.droplets.values()][0];
    // A service listening on every address, on a port the firewall does not open.
    const listener = droplet.execAsync(["timeout", "20", "python3", "-m", "http.server", "--bind", "0.0.0.0", "9999"], 25_000);
    await new Promise((r) => setTimeout(r, 1500));
    const states = Object.fromEntries(await Promise.all([22, 80, 443, 8448, 9999, 5432, 8008].map(async (p) => [p, await probePort(reservedIp, p)])));
    assert.equal(droplet.exec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:9999/"]).stdout, "200", "the listener is up");
    assert.deepEqual(states, { 22: "open", 80: "open", 443: "open", 8448: "open", 9999: "filtered", 5432: "filtered", 8008: "filtered" });
    await listener;
  });

  /** The admin's session, logged in with the stack's adminPassword output. */
  async function adminToken(): Promise<string> {
    const login = await request("https://matrix.example.test/_matrix/client/v3/login", world.trust, {
      address: reservedIp, method: "POST",
      body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "admin" }, password: adminPassword }),
    });
    assert.equal(login.status, 200, login.body);
    return (login.json() as { access_token: string }).access_token;
  }
  const api = (token: string, method: string, url: string, body?: unknown) =>
    request(`https://matrix.example.test${url}`, world.trust, {
      address: reservedIp, method, headers: { authorization: `Bearer ${token}` }, ...(body ? { body: JSON.stringify(body) } : {}),
    });
  let roomId = "";

  it("applies a config change in place over SSH: no new droplet, the homeserver away ≤ 2 s", async () => {
    const token = await adminToken();
    const room = await api(token, "POST", "/_matrix/client/v3/createRoom", { name: "before the changes" });
    assert.equal(room.status, 200, room.body);
    roomId = (room.json() as { room_id: string }).room_id;
    assert.equal((await api(token, "PUT", `/_matrix/client/v3/rooms/${roomId}/send/m.room.message/t1`, { msgtype: "m.text", body: "kept" })).status, 200);

    configure(["config", "set", "maxUploadMb", "80"]);
    const droplets = [...cloud.droplets.keys()];
    let took = 0;
    figures.inPlaceDowntime = await longestOutage(world.trust, reservedIp, async () => (took = await up()));
    log(`in-place change applied by pulumi up in ${took} s; homeserver unavailable ${figures.inPlaceDowntime} s at most`);
    assert.deepEqual([...cloud.droplets.keys()], droplets, "the same droplet");
    assert.equal(cloud.steps.get("digitalocean:index/droplet:Droplet::matrix-droplet"), "same");
    assert.equal(cloud.steps.get("command:remote:Command::matrix-apply-config"), "replace", "the new payload was applied");
    assert.ok(figures.inPlaceDowntime <= 2, `downtime ${figures.inPlaceDowntime} s`);
    const config = await api(await adminToken(), "GET", "/_matrix/client/v1/media/config");
    assert.equal((config.json() as Record<string, number>)["m.upload.size"], 80 * 1024 * 1024);
  });

  it("replaces the droplet when the payload changes without SSH: users, rooms, messages, signing key and certificate survive, away ≤ 60 s", async () => {
    const keyBefore = (await request("https://matrix.example.test/_matrix/key/v2/server", world.trust, { address: reservedIp })).json().verify_keys;
    const certBefore = await certificateOf(reservedIp);
    configure(["config", "rm", "sshPrivateKey"]);
    configure(["config", "set", "maxUploadMb", "60"]);
    const before = [...cloud.droplets.keys()];
    let took = 0;
    figures.replacementDowntime = await longestOutage(world.trust, reservedIp, async () => (took = await up()));
    log(`replacement by pulumi up in ${took} s; homeserver unavailable ${figures.replacementDowntime} s`);
    assert.equal(cloud.steps.get("digitalocean:index/droplet:Droplet::matrix-droplet"), "replace");
    assert.notDeepEqual([...cloud.droplets.keys()], before, "a new droplet");
    assert.equal(outputs.reservedIp, reservedIp, "the same reserved IP");
    assert.equal(outputs.adminPassword, adminPassword, "the same secrets");
    assert.ok(figures.replacementDowntime <= 60, `downtime ${figures.replacementDowntime} s`);

    const token = await adminToken();
    const messages = await api(token, "GET", `/_matrix/client/v3/rooms/${roomId}/messages?dir=b&limit=10`);
    assert.ok((messages.json() as { chunk: { content?: { body?: string } }[] }).chunk.some((e: { content?: { body?: string } }) => e.content?.body === "kept"), "the message survived");
    const keyAfter = (await request("https://matrix.example.test/_matrix/key/v2/server", world.trust, { address: reservedIp })).json().verify_keys;
    assert.deepEqual(keyAfter, keyBefore, "the same signing key");
    assert.equal(await certificateOf(reservedIp), certBefore, "the same certificate, from the volume");
    const config = await api(token, "GET", "/_matrix/client/v1/media/config");
    assert.equal((config.json() as Record<string, number>)["m.upload.size"], 60 * 1024 * 1024);
  });
});

