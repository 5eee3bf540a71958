/**
 * The stack as `pulumi up` runs it, in the local cloud (local/cloud.ts): the real program
 * (index.ts) with a stack's config as the real Pulumi CLI merges it, under mocks that make each
 * declared resource real — a droplet booted from the declared userData, the declared DNS records
 * served, the reserved IP routed, the firewall enforced, the readiness check and the SSH
 * commands run. Then the server is used through what was declared.
 */
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as dns from "node:dns/promises";
import * as fs from "node:fs";
import * as net from "node:net";
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

describe("pulumi up of the stack, in the local cloud", { timeout: 30 * 60_000 }, () => {
  const dir = scratchDir("matrix-cloud-");
  let world: World;
  let cloud: LocalCloud;
  let stack: typeof import("../index");
  let reservedIp: string;
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
    const pulumiCli = (args: string[], input?: string) => {
      const r = run("pulumi", ["--cwd", project, ...args], { env, input });
      assert.equal(r.code, 0, `pulumi ${args.join(" ")}: ${r.stderr}`);
    };
    pulumiCli(["stack", "init", "cloud"]);
    const t = world.testArgs;
    const set: [string, string][] = [
      ["domain", "example.test"], ["adminEmail", "admin@example.test"], ["sshKeys[0]", fingerprint(`${sshKey}.pub`)],
      ["acmeServer", t.acmeServer!], ["caaIssuer", "pebble.test"], ["privateFederationCidrs[0]", "10.213.0.0/16"],
      ["elementDownloadBase", t.elementDownloadBase!], ["elementKeyUrl", t.elementKeyUrl!], ["elementKeyFingerprint", t.elementKeyFingerprint!],
      ...(t.extraCaCertificates as string[]).map((pem, i) => [`extraCaCertificates[${i}]`, pem] as [string, string]),
    ];
    for (const [key, value] of set) pulumiCli(["config", "set", "--path", key, "--", value]);
    pulumiCli(["config", "set", "--secret", "sshPrivateKey"], fs.readFileSync(sshKey, "utf8"));
    const config = cliStackConfig(project, "cloud", env);
    pulumi.runtime.setAllConfig(
      Object.fromEntries(Object.entries(config).map(([k, v]) => [k, v.value])),
      Object.entries(config).filter(([, v]) => v.secret).map(([k]) => k),
    );

    cloud = new LocalCloud({
      network: world.network, address: world.address, dir: path.join(dir, "cloud"), cwd: ROOT, log,
      sshKeys: { [fingerprint(`${sshKey}.pub`)]: fs.readFileSync(`${sshKey}.pub`, "utf8").trim() },
      trust: world.trust,
      // Pebble resolves through the same DNS; the names it needs besides the stack's.
      extraHosts: {},
    });
    await pulumi.runtime.setMocks(cloud.mocks(), "matrix-do", "cloud", false);
    const started = Date.now();
    stack = await import("../index");
    await cloud.settled();
    figures.deploy = seconds(Date.now() - started);
    reservedIp = await new Promise((resolve) => stack.reservedIp.apply(resolve));
    adminPassword = await new Promise((resolve) => stack.adminPassword.apply(resolve));
    log(`deployed in ${figures.deploy} s; reserved IP ${reservedIp}`);
  });

  after(async () => {
    await cloud?.close();
    await world?.close();
  });

  it("declared and realized the whole stack, the readiness check and the SSH commands included", () => {
    const count = (type: string) => cloud.ofType(type).length;
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
});

void crypto;
