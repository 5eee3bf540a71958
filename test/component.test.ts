/** MatrixServer under Pulumi mocks: the resources it declares, their key properties and options. */
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import { decodeEntry } from "../cloud-init/userData";
import type { MatrixServer as MatrixServerClass } from "../components";
import type { PlainArgs } from "../components/settings";
import * as crypto from "node:crypto";
import { APPLY_COMMAND } from "../cloud-init/userData";
import { TEST_DEPLOY_KEY, VALID_ARGS, fileIn } from "./fixtures";

const FAKE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n";
import { DROPLET_CA_PEM, DROPLET_IPV4, DROPLET_IPV6, Declared, PINNED_SHA256, RESERVED_IP, created, installMocks, isSecret, ofType, recording, valueOf } from "./mocks";
import { RTC_AUTH_RELEASE, RTC_AUTH_VERSION } from "../cloud-init/versions";

let MatrixServer: typeof MatrixServerClass;
let counter = 0;

/** Declare a MatrixServer with the given overrides; returns it and everything it declared. */
function deploy(overrides: Partial<PlainArgs> & { sshPrivateKey?: string; spacesSecretKey?: string } = {}) {
  const declared: Declared[] = [];
  const server = new MatrixServer(`t${++counter}`, { ...VALID_ARGS, ...overrides }, recording(declared));
  return { server, declared };
}

const T = {
  droplet: "digitalocean:index/droplet:Droplet",
  volume: "digitalocean:index/volume:Volume",
  attachment: "digitalocean:index/volumeAttachment:VolumeAttachment",
  reservedIp: "digitalocean:index/reservedIp:ReservedIp",
  ipAssignment: "digitalocean:index/reservedIpAssignment:ReservedIpAssignment",
  domain: "digitalocean:index/domain:Domain",
  record: "digitalocean:index/dnsRecord:DnsRecord",
  firewall: "digitalocean:index/firewall:Firewall",
  project: "digitalocean:index/project:Project",
  sshKey: "digitalocean:index/sshKey:SshKey",
  password: "random:index/randomPassword:RandomPassword",
  bytes: "random:index/randomBytes:RandomBytes",
  string: "random:index/randomString:RandomString",
  tlsKey: "tls:index/privateKey:PrivateKey",
  monitorAlert: "digitalocean:index/monitorAlert:MonitorAlert",
  uptimeCheck: "digitalocean:index/uptimeCheck:UptimeCheck",
  uptimeAlert: "digitalocean:index/uptimeAlert:UptimeAlert",
  local: "command:local:Command",
  remote: "command:remote:Command",
};

async function records(declared: Declared[]) {
  return Promise.all(
    ofType(declared, T.record).map(async (r) => ({
      type: await valueOf(r.props.type as string),
      name: await valueOf(r.props.name as string),
      value: await valueOf(r.props.value as string),
      port: await valueOf(r.props.port as number | undefined),
      priority: await valueOf(r.props.priority as number | undefined),
      weight: await valueOf(r.props.weight as number | undefined),
      flags: await valueOf(r.props.flags as number | undefined),
      tag: await valueOf(r.props.tag as string | undefined),
      domain: await valueOf(r.props.domain as string),
    })),
  );
}

describe("MatrixServer component", () => {
  before(async () => {
    await installMocks();
    ({ MatrixServer } = await import("../components"));
  });

  it("declares the droplet, volume, reserved IP, domain, records, firewall, secrets and readiness check", () => {
    const { declared } = deploy();
    const count = (type: string) => ofType(declared, type).length;
    assert.equal(count(T.droplet), 1);
    assert.equal(count(T.volume), 1);
    assert.equal(count(T.attachment), 1);
    assert.equal(count(T.reservedIp), 1);
    assert.equal(count(T.ipAssignment), 1);
    assert.equal(count(T.domain), 1);
    assert.equal(count(T.record), 4 + 4 + 2 + 1, "A and AAAA for apex/matrix/element/rtc (calls are on by default), two SRV, one CAA");
    assert.equal(count(T.firewall), 1);
    assert.equal(count(T.password), 7, "postgres, macaroon key, form secret, admin, backup passwords, the TURN secret and LiveKit's secret");
    assert.equal(count(T.bytes), 1, "the signing key seed");
    assert.equal(count(T.tlsKey), 1, "the SSH host key");
    assert.equal(count(T.monitorAlert), 3, "CPU, memory, disk");
    assert.equal(count(T.uptimeCheck), 1);
    assert.equal(count(T.uptimeAlert), 2, "down, certificate expiring");
    assert.equal(count(T.local), 2, "the readiness check, and the authorization service's SHA-256 taken on the first deploy");
    assert.equal(count(T.remote), 0, "no SSH wait without a private key");
    assert.equal(count(T.project), 0);
    for (const d of declared.filter((x) => x.type !== "matrix-do:index:MatrixServer")) {
      assert.ok(d.opts.parent, `${d.name} has the component as parent`);
    }
  });

  it("builds a Debian 13 droplet with monitoring, IPv6 and the cloud-init payload as a secret", async () => {
    const { declared } = deploy({ size: "s-2vcpu-4gb", region: "ams3" });
    const [droplet] = ofType(declared, T.droplet);
    const p = droplet.props;
    assert.equal(await valueOf(p.image as string), "debian-13-x64");
    assert.equal(await valueOf(p.size as string), "s-2vcpu-4gb");
    assert.equal(await valueOf(p.region as string), "ams3");
    assert.equal(await valueOf(p.monitoring as boolean), true);
    assert.equal(await valueOf(p.ipv6 as boolean), true);
    assert.equal(await valueOf(p.gracefulShutdown as boolean), true);
    assert.deepEqual(await valueOf(p.sshKeys as string[]), VALID_ARGS.sshKeys);
    assert.equal(droplet.opts.deleteBeforeReplace, true, "the old droplet releases the volume before the new one needs it");

    assert.equal(await isSecret(p.userData), true, "userData carries secrets and must be a Pulumi secret");
    const userData = await valueOf(p.userData as string);
    assert.ok(userData.startsWith("#cloud-config\n"));
    const doc = YAML.parse(userData);
    const secretsFile = doc.write_files.find((f: { path: string }) => f.path === "/etc/synapse/conf.d/10-secrets.yaml");
    const synapseSecrets = YAML.parse(decodeEntry(secretsFile));
    assert.match(synapseSecrets.macaroon_secret_key, /^[A-Za-z0-9]{48}$/);
    assert.equal("registration_shared_secret" in synapseSecrets, false, "no secret in the user data makes an account");
    const signingKey = doc.write_files.find((f: { path: string }) => f.path === "/etc/synapse/signing.key").content;
    assert.match(signingKey, /^ed25519 a_[A-Za-z0-9]{4} [A-Za-z0-9+/]{43}\n$/);
  });

  it("keeps state on a protected ext4 volume with a predictable name, attached to the droplet", async () => {
    const { declared } = deploy();
    const [volume] = ofType(declared, T.volume);
    assert.equal(await valueOf(volume.props.name as string), "matrix-example-test");
    assert.equal(await valueOf(volume.props.initialFilesystemType as string), "ext4");
    assert.equal(await valueOf(volume.props.size as number), 20);
    assert.equal(volume.opts.protect, true);
    const [attachment] = ofType(declared, T.attachment);
    assert.equal(attachment.opts.deleteBeforeReplace, true);
    assert.equal(typeof (await valueOf(attachment.props.dropletId as number)), "number");

    const unprotected = deploy({ protectVolume: false });
    assert.equal(ofType(unprotected.declared, T.volume)[0].opts.protect, false);
    // The secrets the volume's data needs go with it: kept by `pulumi destroy --exclude-protected`.
    const secretTypes = ["random:index/randomPassword:RandomPassword", "random:index/randomBytes:RandomBytes", "random:index/randomString:RandomString", "tls:index/privateKey:PrivateKey"];
    const secrets = declared.filter((d) => secretTypes.includes(d.type));
    assert.equal(secrets.length, 10);
    for (const secret of secrets) assert.equal(secret.opts.protect, true, `${secret.name} protected with the volume`);
    for (const secret of unprotected.declared.filter((d) => secretTypes.includes(d.type))) assert.equal(secret.opts.protect, false);
  });

  it("assigns the reserved IP to the droplet", async () => {
    const { declared } = deploy();
    const [assignment] = ofType(declared, T.ipAssignment);
    assert.equal(await valueOf(assignment.props.ipAddress as string), RESERVED_IP);
    assert.equal(assignment.opts.deleteBeforeReplace, true);
  });

  it("publishes A/AAAA, SRV on 8448 and CAA records with explicit names and read-back values", async () => {
    const { declared } = deploy({ matrixRtc: false });
    const [domain] = ofType(declared, T.domain);
    assert.equal(await valueOf(domain.props.name as string), "example.test");
    assert.equal(domain.props.ipAddress, undefined, "the droplet IP is never the Domain's ipAddress");

    const all = await records(declared);
    for (const r of all) {
      assert.ok(r.name, "every record is named (the provider auto-names otherwise)");
      assert.equal(r.domain, "example.test");
    }
    const summary = all.map((r) => `${r.type} ${r.name} ${r.value}`).sort();
    assert.deepEqual(summary, [
      `A @ ${RESERVED_IP}`, `A element ${RESERVED_IP}`, `A matrix ${RESERVED_IP}`,
      `AAAA @ ${DROPLET_IPV6}`, `AAAA element ${DROPLET_IPV6}`, `AAAA matrix ${DROPLET_IPV6}`,
      "CAA @ letsencrypt.org.",
      "SRV _matrix-fed._tcp matrix.example.test.", "SRV _matrix._tcp matrix.example.test.",
    ]);
    for (const srv of all.filter((r) => r.type === "SRV")) {
      assert.equal(srv.port, 8448);
      assert.equal(srv.priority, 10);
      assert.equal(srv.weight, 5);
    }
    const caa = all.find((r) => r.type === "CAA")!;
    assert.equal(caa.flags, 0);
    assert.equal(caa.tag, "issue");
  });

  it("leaves out AAAA records without IPv6, and the Domain when it already exists", async () => {
    const { declared } = deploy({ ipv6: false, existingDomain: true, matrixSubdomain: "hs", elementSubdomain: "chat", matrixRtc: false });
    assert.equal(ofType(declared, T.domain).length, 0);
    const all = await records(declared);
    assert.equal(all.filter((r) => r.type === "AAAA").length, 0);
    assert.deepEqual(all.filter((r) => r.type === "A").map((r) => r.name).sort(), ["@", "chat", "hs"]);
    assert.ok(all.every((r) => r.domain === "example.test"));
    assert.equal(await valueOf(ofType(declared, T.droplet)[0].props.ipv6 as boolean), false);
  });

  it("opens exactly SSH (from sshAllowCidrs), 80, 443, 8448 and ICMP", async () => {
    const { declared } = deploy({ sshAllowCidrs: ["198.51.100.0/24"], matrixRtc: false });
    const [firewall] = ofType(declared, T.firewall);
    const inbound = (await valueOf(firewall.props.inboundRules as unknown[])) as Record<string, unknown>[];
    const rules = inbound.map((r) => `${r.protocol}:${r.portRange ?? "-"}:${(r.sourceAddresses as string[]).join(",")}`).sort();
    assert.deepEqual(rules, [
      "icmp:-:0.0.0.0/0,::/0",
      "tcp:22:198.51.100.0/24",
      "tcp:443:0.0.0.0/0,::/0",
      "tcp:80:0.0.0.0/0,::/0",
      "tcp:8448:0.0.0.0/0,::/0",
    ]);
    const outbound = (await valueOf(firewall.props.outboundRules as unknown[])) as Record<string, unknown>[];
    assert.deepEqual(outbound.map((r) => `${r.protocol}:${r.portRange ?? "-"}`).sort(), ["icmp:-", "tcp:1-65535", "udp:123", "udp:53"]);
    assert.equal((await valueOf(firewall.props.dropletIds as number[])).length, 1);
  });

  it("with TURN: turn.<domain> points at the droplet's own IPv4; its ports open, and UDP out to any peer", async () => {
    const { declared } = deploy({ turn: true, matrixRtc: false });
    const turn = (await records(declared)).filter((r) => r.name === "turn");
    assert.deepEqual(turn.map((r) => [r.type, r.value]), [["A", DROPLET_IPV4]], "the droplet's address, not the reserved IP's anchor");
    const ttl = await valueOf(ofType(declared, T.record).find((r) => r.name.endsWith("-a-turn"))!.props.ttl as number);
    assert.equal(ttl, 300);
    const [firewall] = ofType(declared, T.firewall);
    const inbound = (await valueOf(firewall.props.inboundRules as unknown[])) as Record<string, unknown>[];
    const opened = inbound.map((r) => `${r.protocol}:${r.portRange ?? "-"}`).sort();
    assert.deepEqual(opened, ["icmp:-", "tcp:22", "tcp:3478", "tcp:443", "tcp:5349", "tcp:80", "tcp:8448", "udp:3478", "udp:49152-50175"]);
    const outbound = (await valueOf(firewall.props.outboundRules as unknown[])) as Record<string, unknown>[];
    assert.deepEqual(outbound.map((r) => `${r.protocol}:${r.portRange ?? "-"}`).sort(), ["icmp:-", "tcp:1-65535", "udp:1-65535"]);
  });

  it("with MatrixRTC: rtc.<domain> points at the reserved IP like the other hosts; LiveKit's two media ports open, nothing more out", async () => {
    const { declared } = deploy({ matrixRtc: true, rtcAuthServiceSha256: "a".repeat(64) });
    const rtc = (await records(declared)).filter((r) => r.name === "rtc");
    assert.deepEqual(rtc.map((r) => [r.type, r.value]).sort(), [["A", RESERVED_IP], ["AAAA", DROPLET_IPV6]]);
    const [firewall] = ofType(declared, T.firewall);
    const inbound = (await valueOf(firewall.props.inboundRules as unknown[])) as Record<string, unknown>[];
    const opened = inbound.map((r) => `${r.protocol}:${r.portRange ?? "-"}:${(r.sourceAddresses as string[]).join(",")}`).sort();
    assert.deepEqual(opened.filter((rule) => /:78\d\d:/.test(rule)), ["tcp:7881:0.0.0.0/0,::/0", "udp:7882:0.0.0.0/0,::/0"]);
    const outbound = (await valueOf(firewall.props.outboundRules as unknown[])) as Record<string, unknown>[];
    assert.deepEqual(outbound.map((r) => `${r.protocol}:${r.portRange ?? "-"}`).sort(), ["icmp:-", "tcp:1-65535", "udp:123", "udp:53"]);
    // Off: no record, no port.
    const { declared: off } = deploy({ matrixRtc: false });
    assert.equal((await records(off)).some((r) => r.name === "rtc"), false);
    const offRules = (await valueOf(ofType(off, T.firewall)[0].props.inboundRules as unknown[])) as Record<string, unknown>[];
    assert.equal(offRules.some((r) => /^78\d\d$/.test(String(r.portRange))), false);
  });

  it("calls on by default: with no SHA-256 given, the authorization service's is taken on the first deploy, first of all, and the payload checks the download against it", async () => {
    const { declared } = deploy();
    const pins = ofType(declared, T.local).filter((c) => c.name.endsWith("-rtc-auth-sha256"));
    assert.equal(pins.length, 1);
    const [pin] = pins;
    // On the deploying machine, by node; taken again only when its URL changes, not when this project's script does.
    assert.deepEqual(await valueOf(pin.props.interpreter as string[]), ["node", "--input-type=module", "-e"]);
    assert.deepEqual(await valueOf(pin.props.environment as Record<string, string>), {
      MATRIX_DO_PIN_URL: RTC_AUTH_RELEASE.url, MATRIX_DO_PIN_VERSION: RTC_AUTH_VERSION, MATRIX_DO_PIN_SETTING: "rtcAuthServiceSha256", MATRIX_DO_PIN_WITHOUT: "matrixRtc false",
    });
    assert.deepEqual(pin.opts.ignoreChanges, ["create", "interpreter"]);
    assert.match(await valueOf(pin.props.create as string), /createHash\("sha256"\)/);
    // Nothing is created before it: should it fail, nothing is.
    const children = declared.filter((d) => d !== pin && d.type !== "matrix-do:index:MatrixServer");
    // Directly, or through a resource that does.
    const waitsForPin = (d: Declared): boolean => ([] as pulumi.Resource[]).concat((d.opts.dependsOn ?? []) as pulumi.Resource[])
      .some((dep) => dep === pin.resource || children.some((other) => other.resource === dep && waitsForPin(other)));
    assert.ok(children.length > 20);
    for (const d of children) assert.ok(waitsForPin(d), `${d.type} ${d.name} does not wait for the pin`);
    const [droplet] = ofType(declared, T.droplet);
    const env = fileIn(await valueOf(droplet.props.userData as string), "/etc/matrix/deploy.env");
    assert.match(env, new RegExp(`^RTC_AUTH_SHA256='${PINNED_SHA256}'$`, "m"));
    assert.match(env, new RegExp(`^RTC_AUTH_DOWNLOAD_URL='${RTC_AUTH_RELEASE.url.replace(/[./]/g, "\\$&")}'$`, "m"));
  });

  it("a SHA-256 the user gives goes before the first deploy's: no pin is taken, the payload has the user's", async () => {
    const sha = "a".repeat(64);
    const { declared } = deploy({ rtcAuthServiceSha256: sha });
    assert.equal(ofType(declared, T.local).some((c) => c.name.endsWith("-rtc-auth-sha256")), false);
    const [droplet] = ofType(declared, T.droplet);
    assert.match(fileIn(await valueOf(droplet.props.userData as string), "/etc/matrix/deploy.env"), new RegExp(`^RTC_AUTH_SHA256='${sha}'$`, "m"));
    // Calls off: nothing to take.
    assert.equal(ofType(deploy({ matrixRtc: false }).declared, T.local).some((c) => c.name.endsWith("-rtc-auth-sha256")), false);
  });

  it("exposes the URLs, server name, admin login (password secret), reserved IP and SSH command", async () => {
    const { server } = deploy();
    assert.equal(await valueOf(server.homeserverUrl), "https://matrix.example.test");
    assert.equal(await valueOf(server.elementUrl), "https://element.example.test");
    assert.equal(await valueOf(server.serverName), "example.test");
    assert.equal(await valueOf(server.adminUserId), "@admin:example.test");
    assert.match(await valueOf(server.adminPassword), /^[A-Za-z0-9]{24}$/);
    assert.equal(await isSecret(server.adminPassword), true);
    assert.equal(await valueOf(server.reservedIp), RESERVED_IP);
    assert.equal(await valueOf(server.sshCommand), `ssh root@${RESERVED_IP}`, "without a deploy key, the account's own keys");
    // The quick start's deploy key is not one ssh tries by itself: the command names it.
    assert.equal(await valueOf(deploy({ sshPrivateKey: FAKE_KEY }).server.sshCommand), `ssh -i ~/.ssh/matrix-deploy root@${RESERVED_IP}`);
    assert.equal(await valueOf(deploy({ sshPrivateKey: FAKE_KEY, sshKeyFile: "/keys/chat" }).server.sshCommand), `ssh -i /keys/chat root@${RESERVED_IP}`);
  });

  it("the readiness check trusts the roots of the ACME server in use, and says when it cannot verify", async () => {
    const env = async (overrides: Parameters<typeof deploy>[0]) => {
      const ready = ofType(deploy(overrides).declared, T.local).find((c) => c.name.endsWith("-ready"))!;
      return valueOf(ready.props.environment as Record<string, string>);
    };
    // Let's Encrypt: Node's roots alone.
    assert.equal((await env({})).MATRIX_CA_CERTIFICATES, undefined);
    // Staging: its pinned roots, four of them.
    assert.equal((await env({ acmeServer: "letsencrypt-staging" })).MATRIX_CA_CERTIFICATES.match(/BEGIN CERTIFICATE/g)?.length, 4);
    // A private ACME server: its root is one of extraCaCertificates, trusted as they all are.
    const privateCa = "-----BEGIN CERTIFICATE-----\nUFJJVkFURSBDQQ==\n-----END CERTIFICATE-----";
    assert.equal((await env({ acmeServer: "https://acme.example.test/dir", extraCaCertificates: [privateCa] })).MATRIX_CA_CERTIFICATES, `${privateCa}\n`);
    // Caddy's own CA: the droplet's root, printed over SSH by the wait for the first boot.
    const internal = await env({ acmeServer: "internal", sshPrivateKey: FAKE_KEY });
    assert.equal(internal.MATRIX_CA_CERTIFICATES, DROPLET_CA_PEM);
    assert.equal(internal.MATRIX_UNVERIFIED, undefined);
    assert.equal(internal.MATRIX_SSH_COMMAND, `ssh -i ~/.ssh/matrix-deploy root@${RESERVED_IP}`);
    // Read after each apply (the config that makes Caddy create its CA comes with the payload), never before.
    const { declared } = deploy({ acmeServer: "internal", sshPrivateKey: FAKE_KEY });
    const localCa = ofType(declared, T.remote).find((r) => r.name.endsWith("-local-ca"))!;
    const apply = ofType(declared, T.remote).find((r) => r.name.endsWith("-apply-config"))!;
    assert.deepEqual(localCa.opts.dependsOn, [apply.resource]);
    assert.deepEqual(await valueOf(localCa.props.triggers as string[]), await valueOf(apply.props.triggers as string[]));
    assert.match(await valueOf(localCa.props.create as string), /^LOCAL_CA_ROOT=\/var\/lib\/caddy\/\.local\/share\/caddy\/pki\/authorities\/local\/root\.crt\n/);
    assert.equal(await valueOf(ofType(deploy({ sshPrivateKey: FAKE_KEY }).declared, T.remote).find((r) => r.name.endsWith("-local-ca"))!.props.create as string), "true");
    // Without SSH, nothing to read it with: said, not hidden.
    assert.match((await env({ acmeServer: "internal" })).MATRIX_UNVERIFIED, /acmeServer is internal and the stack has no sshPrivateKey/);
  });

  it("waits for HTTPS at the reserved IP, and for cloud-init over SSH when a private key is set", async () => {
    const withoutKey = deploy();
    const ready = ofType(withoutKey.declared, T.local).find((c) => c.name.endsWith("-ready"))!;
    const env = await valueOf(ready.props.environment as Record<string, string>);
    assert.deepEqual(env, {
      MATRIX_HOST: "matrix.example.test",
      MATRIX_ADDRESS: RESERVED_IP,
      MATRIX_PORT: "443",
      MATRIX_DOMAIN: "example.test",
      MATRIX_TIMEOUT_SECONDS: "1200",
      MATRIX_SSH_COMMAND: `ssh root@${RESERVED_IP}`,
    });
    assert.match(await valueOf(ready.props.create as string), /^node \S*wait-for-homeserver\.mjs$/);

    const withKey = deploy({ sshPrivateKey: FAKE_KEY });
    const [remote] = ofType(withKey.declared, T.remote);
    const connection = remote.props.connection as Record<string, unknown>;
    assert.equal(await valueOf(connection.host as string), RESERVED_IP);
    assert.equal(await isSecret(connection.privateKey), true);
    assert.match(await valueOf(connection.hostKey as string), /^ssh-ed25519 AAAA\S+$/, "the host key is pinned");
    const script = await valueOf(remote.props.create as string);
    assert.match(script, /^WAIT_SECONDS=1200\nBOOTSTRAP_DONE=\/var\/lib\/matrix-do\/bootstrap\.done\n/, "the settings travel in the script: sshd drops custom environment");
    assert.match(script, /cloud-init status --wait/);
    const localWithKey = ofType(withKey.declared, T.local).find((c) => c.name.endsWith("-ready"))!;
    assert.equal(
      (localWithKey.opts.dependsOn as unknown[]).length,
      (ready.opts.dependsOn as unknown[]).length + 1,
      "the HTTPS check also waits for the cloud-init check",
    );

    const noWait = deploy({ waitForReady: false });
    assert.equal(ofType(noWait.declared, T.local).filter((c) => c.name.endsWith("-ready")).length, 0);
  });

  it("with an SSH key, applies a changed payload in place: pinned host key, payload on stdin, droplet ignores user_data", async () => {
    const { declared, server } = deploy({ sshPrivateKey: FAKE_KEY });
    const [droplet] = ofType(declared, T.droplet);
    assert.deepEqual(droplet.opts.ignoreChanges, ["userData"], "a changed payload does not replace the droplet");
    const apply = ofType(declared, T.remote).find((r) => r.name.endsWith("-apply-config"))!;
    assert.equal(await valueOf(apply.props.create as string), APPLY_COMMAND);
    assert.equal(await isSecret(apply.props.stdin), true, "the payload holds secrets");
    assert.equal(await valueOf(apply.props.stdin as string), await valueOf(droplet.props.userData as string));
    const triggers = await valueOf(apply.props.triggers as string[]);
    const hash = crypto.createHash("sha256").update(await valueOf(droplet.props.userData as string)).digest("hex");
    assert.deepEqual(triggers, [await valueOf(server.dropletId), hash], "re-run on a new droplet or a changed payload");
    const hostKey = await valueOf((apply.props.connection as Record<string, string>).hostKey);
    assert.equal(hostKey, await valueOf(server.sshHostKey));
    // The same key is the one the droplet is given.
    const doc = YAML.parse(await valueOf(droplet.props.userData as string));
    assert.equal(doc.ssh_keys.ed25519_public, hostKey);
    assert.match(doc.ssh_keys.ed25519_private, /^-----BEGIN OPENSSH PRIVATE KEY-----/);

    const withoutKey = deploy();
    assert.equal(ofType(withoutKey.declared, T.droplet)[0].opts.ignoreChanges, undefined, "without SSH, a changed payload replaces the droplet");
  });

  it("with sshPublicKey: the stack adds the deploy key to the account, and the droplet lets it in besides sshKeys", async () => {
    assert.deepEqual(ofType(deploy().declared, T.sshKey), [], "no key added without sshPublicKey");
    for (const sshKeys of [undefined, VALID_ARGS.sshKeys!]) {
      const { declared } = deploy({ sshKeys, sshPublicKey: TEST_DEPLOY_KEY.publicKey, sshPrivateKey: TEST_DEPLOY_KEY.privateKey });
      const [key] = ofType(declared, T.sshKey);
      assert.equal(await valueOf(key.props.publicKey as string), TEST_DEPLOY_KEY.publicKey.split(" ").slice(0, 2).join(" "), "the key, without its comment");
      assert.match(await valueOf(key.props.name as string), /^matrix-example-test deploy key$/);
      const droplet = ofType(declared, T.droplet)[0];
      assert.deepEqual(await valueOf(droplet.props.sshKeys as string[]), [...(sshKeys ?? []), TEST_DEPLOY_KEY.md5Fingerprint]);
    }
  });

  it("without sshPublicKey the droplet's keys do not wait for sshPrivateKey (an existing stack's preview stays as it was)", async () => {
    // Known only after 4 s (as an Output being replaced is unknown at preview).
    const late = new Promise<string>((resolve) => setTimeout(() => resolve(TEST_DEPLOY_KEY.privateKey), 4000));
    const { declared } = deploy({ sshPrivateKey: late as never });
    const droplet = ofType(declared, T.droplet)[0];
    const keys = await Promise.race([valueOf(droplet.props.sshKeys as string[]), new Promise((r) => setTimeout(() => r("still waiting"), 2000))]);
    assert.deepEqual(keys, VALID_ARGS.sshKeys);
  });

  it("alerts by email on CPU, memory and disk, and when the homeserver is down or its certificate ages", async () => {
    const { declared, server } = deploy({ alertEmails: ["ops@example.test", "me@example.test"] });
    const dropletId = await valueOf(server.dropletId);
    for (const alert of ofType(declared, T.monitorAlert)) {
      assert.deepEqual(await valueOf(alert.props.entities as string[]), [dropletId]);
      assert.deepEqual(await valueOf(alert.props.alerts as { emails: string[] }), { emails: ["ops@example.test", "me@example.test"] });
      assert.equal(await valueOf(alert.props.compare as string), "GreaterThan");
    }
    const types = await Promise.all(ofType(declared, T.monitorAlert).map((a) => valueOf(a.props.type as string)));
    assert.deepEqual(types.sort(), ["v1/insights/droplet/cpu", "v1/insights/droplet/disk_utilization_percent", "v1/insights/droplet/memory_utilization_percent"]);
    const [check] = ofType(declared, T.uptimeCheck);
    assert.equal(await valueOf(check.props.target as string), "https://matrix.example.test/_matrix/client/versions");
    const uptimeTypes = await Promise.all(ofType(declared, T.uptimeAlert).map((a) => valueOf(a.props.type as string)));
    assert.deepEqual(uptimeTypes.sort(), ["down", "ssl_expiry"]);

    const defaults = deploy();
    const [first] = ofType(defaults.declared, T.monitorAlert);
    assert.deepEqual(await valueOf(first.props.alerts as { emails: string[] }), { emails: [VALID_ARGS.adminEmail] }, "to the admin by default");
    const off = deploy({ alerts: false });
    assert.equal(ofType(off.declared, T.monitorAlert).length + ofType(off.declared, T.uptimeCheck).length, 0);
  });

  it("turns DigitalOcean droplet backups on only when asked", async () => {
    const [off] = ofType(deploy().declared, T.droplet);
    assert.equal(await valueOf(off.props.backups as boolean), false);
    const [weekly] = ofType(deploy({ dropletBackups: "weekly" }).declared, T.droplet);
    assert.equal(await valueOf(weekly.props.backups as boolean), true);
    assert.deepEqual(await valueOf(weekly.props.backupPolicy as object), { plan: "weekly", hour: 0 });
  });

  it("passes the Spaces secret key into the payload as a secret, and exports the backup password as one", async () => {
    const { declared, server } = deploy({
      spacesBucket: "chat-backups", spacesAccessKeyId: "DO00EXAMPLEKEY", spacesSecretKey: "s3cr3t-spaces-key",
    });
    const [droplet] = ofType(declared, T.droplet);
    const userData = await valueOf(droplet.props.userData as string);
    assert.match(fileIn(userData, "/etc/matrix/backup.env"), /OFFSITE_SECRET_KEY='s3cr3t-spaces-key'/);
    assert.match(fileIn(userData, "/etc/matrix/deploy.env"), /OFFSITE_REPOSITORY='s3:https:\/\/nyc3\.digitaloceanspaces\.com\/chat-backups\/example\.test'/);
    assert.equal(await isSecret(server.backupPassword), true);
    assert.match(await valueOf(server.backupPassword), /^[A-Za-z0-9]{40}$/);
  });

  it("groups everything in a DigitalOcean project when projectName is set", async () => {
    const { declared } = deploy({ projectName: "Matrix" });
    const [project] = ofType(declared, T.project);
    assert.equal(await valueOf(project.props.name as string), "Matrix");
    const resources = await valueOf(project.props.resources as string[]);
    assert.equal(resources.length, 4, "droplet, volume, reserved IP, domain");
  });

  it("rejects bad input before declaring any resource, the component included", () => {
    const before = created.length;
    const declared: Declared[] = [];
    assert.throws(
      () => new MatrixServer("bad", { ...VALID_ARGS, domain: "not a domain", region: "mars1" }, recording(declared)),
      (error: Error) => error.name === "SettingsError" && /'domain'/.test(error.message) && /'region'/.test(error.message)
        // What Pulumi's CLI prints without a stack trace.
        && pulumi.RunError.isInstance(error),
    );
    assert.equal(declared.length, 0);
    assert.equal(created.filter((c) => c.name.startsWith("bad")).length, 0);
    assert.equal(created.length, before);
  });

  it("checks every plain argument before declaring anything, even beside arguments that are Outputs", () => {
    const before = created.length;
    const declared: Declared[] = [];
    const args = { ...VALID_ARGS, domain: pulumi.output("example.test"), sshKeys: pulumi.output(VALID_ARGS.sshKeys), tags: "prod", region: "mars1" };
    assert.throws(
      () => new MatrixServer("mixed", args as never, recording(declared)),
      (error: Error & { problems: string[] }) => pulumi.RunError.isInstance(error)
        && error.problems.map((p) => p.split("'")[1]).sort().join() === "region,tags",
    );
    assert.equal(declared.length, 0);
    assert.equal(created.filter((c) => c.name.startsWith("mixed")).length, 0);
    assert.equal(created.length, before);
  });

  it("leaves a rule that reads an Output argument until it resolves", async () => {
    // The subdomains must differ, and smtpPort needs smtpHost: both hold once the Outputs resolve.
    const { declared, server } = deploy({
      matrixSubdomain: "element", elementSubdomain: pulumi.output("chat") as never, smtpHost: pulumi.output("smtp.example.org") as never, smtpPort: 2525,
    });
    assert.equal(await valueOf(server.homeserverUrl), "https://element.example.test");
    assert.equal(await valueOf(server.elementUrl), "https://chat.example.test");
    const userData = await valueOf(ofType(declared, T.droplet)[0].props.userData as string);
    assert.equal(YAML.parse(fileIn(userData, "/etc/synapse/conf.d/00-homeserver.yaml")).email.smtp_port, 2525);
  });

  it("a payload over DigitalOcean's 64 KiB (too many extra CA certificates) is one clear error, not a stack trace", () => {
    const errors = errorsOnceResolved(`{ extraCaCertificates: Array.from({ length: 40 }, (_, i) =>
      "-----BEGIN CERTIFICATE-----\\n" + require("crypto").randomBytes(900).toString("base64").replace(/.{64}/g, "$&\\n") + "\\n-----END CERTIFICATE-----\\n") }`);
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.equal(errors[0].name, "SettingsError");
    assert.equal(errors[0].runError, true);
    assert.match(errors[0].message, /^MatrixServer: invalid configuration:\n {2}- 'extraCaCertificates': user_data is \d+ bytes; DigitalOcean accepts at most 65536 with these 40 certificates; pass fewer/);
  });

  it("an sshPrivateKey that is not sshPublicKey's other half: one error, and neither the key nor the droplet is created", () => {
    const { errors, created: made } = onceResolved(`{ sshKeys: undefined, sshPublicKey: ${JSON.stringify(TEST_DEPLOY_KEY.otherPublicKey)},
      sshPrivateKey: pulumi.secret(${JSON.stringify(TEST_DEPLOY_KEY.privateKey)}) }`);
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(errors[0].message, /^MatrixServer: invalid configuration:\n {2}- 'sshPrivateKey': expected the private half of sshPublicKey/);
    assert.doesNotMatch(errors[0].message, /PRIVATE KEY|AAAA/, "the message shows neither key");
    assert.deepEqual(made.filter((type) => type === T.sshKey || type === T.droplet), []);
    // The matching pair goes through: the test above.
  });

  it("checks an Output argument once it resolves, and Pulumi reports it as the one message", () => {
    assert.deepEqual(errorsOnceResolved(`{ domain: pulumi.output("not a domain") }`), [{
      name: "SettingsError",
      message: `MatrixServer: invalid configuration:\n  - 'domain': expected a lowercase domain name such as example.org, got "not a domain"`,
      runError: true,
    }]);
    // A secret's type too, without its value.
    assert.deepEqual(errorsOnceResolved(`{ smtpHost: "smtp.example.org", smtpUser: "me", smtpPassword: pulumi.secret(73519) }`), [{
      name: "SettingsError",
      message: "MatrixServer: invalid configuration:\n  - 'smtpPassword': expected a string, got a number",
      runError: true,
    }]);
  });
});

/**
 * The distinct errors a MatrixServer with VALID_ARGS and `overrides` (JavaScript, with `pulumi`
 * in scope) raises under mocks, in a process of its own: an argument that is an Output is
 * checked when it resolves, and its error reaches Pulumi's runtime as unhandled rejections.
 */
function errorsOnceResolved(overrides: string): { name: string; message: string; runError: boolean }[] {
  return onceResolved(overrides).errors;
}

/** errorsOnceResolved's errors, and the types of the resources the mock engine was asked to create meanwhile. */
function onceResolved(overrides: string): { errors: { name: string; message: string; runError: boolean }[]; created: string[] } {
  const program = `
    const pulumi = require("@pulumi/pulumi");
    const { installMocks, created } = require("./test/mocks");
    const { VALID_ARGS } = require("./test/fixtures");
    const errors = new Set();
    process.on("unhandledRejection", (e) => errors.add(e));
    installMocks().then(() => {
      const { MatrixServer } = require("./components");
      new MatrixServer("later", { ...VALID_ARGS, ...${overrides} });
      const report = () => console.log(JSON.stringify({
        errors: [...errors].map((e) => ({ name: e.name, message: e.message, runError: pulumi.RunError.isInstance(e) })),
        created: created.map((c) => c.type),
      }));
      const wait = (tries) => errors.size > 0 || tries === 0 ? setTimeout(() => { report(); process.exit(0); }, 500) : setTimeout(() => wait(tries - 1), 100);
      wait(100);
    });`;
  const r = childProcess.spawnSync(process.execPath, ["--import", "tsx", "-e", program], { cwd: path.join(__dirname, ".."), encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

describe("the component decides from resolved values only", () => {
  const source = (file: string) => fs.readFileSync(path.join(__dirname, "..", "components", file), "utf8");
  /** The modules that declare resources (settings.ts resolves; these only read what it resolved). */
  const DECLARING = ["matrixServer.ts", "dns.ts", "firewall.ts", "monitoring.ts", "secrets.ts"];
  /** Arguments passed on as they are: secrets, which never enter the settings. */
  const PASSED_ON = ["spacesSecretKey", "smtpPassword", "sshPrivateKey"];

  it("reads no argument and no default itself, but the secrets it passes on", () => {
    for (const file of DECLARING) {
      const text = source(file);
      assert.doesNotMatch(text, /\bDEFAULTS\b/, `${file} applies a default itself`);
      assert.doesNotMatch(text, /\?\?\s*DEFAULTS|resourceChoices/, file);
    }
    const reads = [...source("matrixServer.ts").matchAll(/\bargs\.(\w+)/g)].map((m) => m[1]);
    assert.deepEqual([...new Set(reads)].filter((key) => !PASSED_ON.includes(key)), [], "arguments read by the component instead of from the settings");
    // DNS takes the records' names from the settings; it does not cut them out of host names.
    assert.doesNotMatch(source("dns.ts"), /\.slice\(|Settings\b/, "dns.ts derives names itself");
    assert.doesNotMatch(source("firewall.ts"), /TURN_PORT|TURN_RELAY_PORTS|cloud-init\/turn/, "firewall.ts takes TURN's ports from elsewhere than the settings");
  });

  it("reads every value settings resolve for it: no field unused", async () => {
    const { resolveArgs } = await import("../components/settings");
    const everything = resolveArgs({ ...VALID_ARGS, turn: true, matrixRtc: true, rtcAuthServiceSha256: "a".repeat(64), projectName: "Chat", sshPrivateKey: "[secret]" });
    const declaring = DECLARING.map(source).join("\n");
    const fields = [
      ...Object.keys(everything.cloud).filter((key) => key !== "dns"), ...Object.keys(everything.cloud.dns), ...Object.keys(everything.shape),
    ];
    const unread = fields.filter((key) => !new RegExp(`\\.${key}\\b|\\{[^}]*\\b${key}\\b[^}]*\\}\\s*=`).test(declaring));
    assert.deepEqual(unread, [], "resolved for the component but never read there");
  });
});
