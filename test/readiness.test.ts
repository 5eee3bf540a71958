/**
 * The readiness check `pulumi up` runs: against a real HTTPS server on loopback, with a
 * certificate that is (or is not) valid for the homeserver's name.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import * as childProcess from "node:child_process";
import * as crypto from "node:crypto";
import { readinessTrust, pemCertificates } from "../components/readinessTrust";
import { ACME_DIRECTORIES } from "../components/settings";
import { run, scratchDir } from "./fixtures";
import { ROOT, freePort } from "./local-services";

// The script is plain JavaScript (it runs under whatever Node the user has); load it as is.
type Readiness = {
  checkDelegation(domain: string, resolveNs: (name: string) => Promise<string[]>): Promise<{ delegated: boolean; nameservers: string[] }>;
  delegationMessage(domain: string, result: { delegated: boolean; nameservers: string[] }): string | undefined;
  waitForHomeserver(options: Record<string, unknown>): Promise<{ ok: boolean }>;
};
const SCRIPT = path.join(ROOT, "components", "readiness", "wait-for-homeserver.mjs");
const DO_NS = async () => ["ns1.digitalocean.com", "ns2.digitalocean.com", "ns3.digitalocean.com"];

/** A CA and a server certificate for `names`, signed by it (openssl). */
function certificates(dir: string, names: string[]) {
  const file = (n: string) => path.join(dir, n);
  const ok = (r: { code: number; stderr: string }) => assert.equal(r.code, 0, r.stderr);
  ok(run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", file("ca.key"), "-out", file("ca.crt"), "-days", "1", "-subj", "/CN=test CA"]));
  ok(run("openssl", ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", file("server.key"), "-out", file("server.csr"), "-subj", `/CN=${names[0]}`]));
  fs.writeFileSync(file("ext.cnf"), `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}\n`);
  ok(run("openssl", ["x509", "-req", "-in", file("server.csr"), "-CA", file("ca.crt"), "-CAkey", file("ca.key"), "-CAcreateserial", "-out", file("server.crt"), "-days", "1", "-extfile", file("ext.cnf")]));
  return { ca: fs.readFileSync(file("ca.crt"), "utf8"), key: fs.readFileSync(file("server.key")), cert: fs.readFileSync(file("server.crt")) };
}

describe("readiness check (wait-for-homeserver.mjs)", () => {
  const dir = scratchDir("matrix-ready-");
  const pki = certificates(dir, ["matrix.example.test"]);
  let readiness: Readiness;
  let server: https.Server;
  let port: number;
  let answering = false;

  before(async () => {
    readiness = (await import(SCRIPT)) as Readiness;
    port = await freePort();
    server = https.createServer({ key: pki.key, cert: pki.cert }, (req, res) => {
      if (!answering) return void res.writeHead(502).end();
      if (req.url !== "/_matrix/client/versions" || req.headers.host !== "matrix.example.test") return void res.writeHead(404).end();
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ versions: ["v1.11", "v1.12"] }));
    });
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  });
  after(() => server.close());

  it("waits through failures until the homeserver answers over valid TLS", async () => {
    answering = false;
    setTimeout(() => (answering = true), 600);
    const lines: string[] = [];
    const result = await readiness.waitForHomeserver({
      address: "127.0.0.1", host: "matrix.example.test", domain: "example.test", port, ca: pki.ca,
      timeoutSeconds: 10, intervalMs: 200, resolveNs: DO_NS, log: (l: string) => lines.push(l),
    });
    assert.equal(result.ok, true);
    assert.ok(lines.some((l) => l.includes("HTTP 502")), lines.join("\n"));
    assert.ok(lines.at(-1)!.includes("answers"), lines.join("\n"));
  });

  it("does not accept a certificate that is not valid for the homeserver's name", async () => {
    answering = true;
    await assert.rejects(
      readiness.waitForHomeserver({
        address: "127.0.0.1", host: "element.example.test", domain: "example.test", port, ca: pki.ca,
        timeoutSeconds: 1, intervalMs: 200, resolveNs: DO_NS, log: () => {},
      }),
      /did not answer with a valid certificate within 1s \(last: ERR_TLS_CERT_ALTNAME_INVALID\)/,
    );
  });

  it("does not accept a certificate from an untrusted CA", async () => {
    await assert.rejects(
      readiness.waitForHomeserver({
        address: "127.0.0.1", host: "matrix.example.test", domain: "example.test", port,
        timeoutSeconds: 1, intervalMs: 200, resolveNs: DO_NS, log: () => {},
      }),
      /last: UNABLE_TO_VERIFY_LEAF_SIGNATURE/,
    );
  });

  it("says plainly when the domain is not delegated to DigitalOcean", async () => {
    const elsewhere = async () => ["ns1.registrar.example", "ns2.registrar.example"];
    const result = await readiness.checkDelegation("example.test", elsewhere);
    assert.equal(result.delegated, false);
    const message = readiness.delegationMessage("example.test", result)!;
    assert.match(message, /example\.test is not delegated to DigitalOcean: its nameservers are ns1\.registrar\.example, ns2\.registrar\.example/);
    assert.match(message, /ns1\.digitalocean\.com, ns2\.digitalocean\.com, ns3\.digitalocean\.com/);
    assert.equal(readiness.delegationMessage("example.test", await readiness.checkDelegation("example.test", DO_NS)), undefined);

    await assert.rejects(
      readiness.waitForHomeserver({
        address: "127.0.0.1", host: "matrix.example.test", domain: "example.test", port: await freePort(),
        timeoutSeconds: 1, intervalMs: 200, resolveNs: elsewhere, log: () => {},
      }),
      /ECONNREFUSED.*not delegated to DigitalOcean/,
    );
    const failing = async () => {
      throw Object.assign(new Error("queryNs ENOTFOUND"), { code: "ENOTFOUND" });
    };
    assert.match(readiness.delegationMessage("example.test", await readiness.checkDelegation("example.test", failing))!, /nameservers are none \(ENOTFOUND\)/);
  });

  it("as a command, trusts the roots it is handed besides Node's, says when a CA is not trusted, and names the SSH command", async () => {
    // Not spawnSync: the server it asks is in this process.
    const run = (program: string, args: string[], options: { env: NodeJS.ProcessEnv }) => new Promise<{ code: number; stderr: string }>((resolve) => {
      childProcess.execFile(program, args, options, (error, _stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stderr }));
    });
    const base = { ...process.env, MATRIX_HOST: "matrix.example.test", MATRIX_ADDRESS: "127.0.0.1", MATRIX_PORT: String(port), MATRIX_DOMAIN: "example.invalid", MATRIX_TIMEOUT_SECONDS: "1" };
    answering = true;
    const trusted = await run(process.execPath, [SCRIPT], { env: { ...base, MATRIX_CA_CERTIFICATES: `# a comment, as in a PEM file\n${pki.ca}` } });
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.match(trusted.stderr, /https:\/\/matrix\.example\.test answers/);
    const untrusted = await run(process.execPath, [SCRIPT], { env: { ...base, MATRIX_SSH_COMMAND: "ssh -i ~/.ssh/matrix-deploy root@127.0.0.1" } });
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /last: UNABLE_TO_VERIFY_LEAF_SIGNATURE\)\. Its certificate is signed by a CA this machine does not trust \(with an acmeServer of your own, its root belongs in extraCaCertificates\)\./);
    assert.match(untrusted.stderr, /The first boot.s log: ssh -i ~\/\.ssh\/matrix-deploy root@127\.0\.0\.1 cat \/var\/log\/cloud-init-output\.log/);
    const unverified = await run(process.execPath, [SCRIPT], { env: { ...base, MATRIX_UNVERIFIED: "no way to read the droplet's CA" } });
    assert.equal(unverified.code, 0, unverified.stderr);
    assert.match(unverified.stderr, /warning: the certificate of https:\/\/matrix\.example\.test is not verified: no way to read the droplet's CA/);
  });

  it("runs as a command, exiting non-zero with the reason when it times out", () => {
    const r = run(process.execPath, [SCRIPT], {
      env: { ...process.env, MATRIX_HOST: "matrix.example.test", MATRIX_ADDRESS: "127.0.0.1", MATRIX_PORT: String(port), MATRIX_DOMAIN: "example.invalid", MATRIX_TIMEOUT_SECONDS: "1" },
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /https:\/\/matrix\.example\.test did not answer with a valid certificate within 1s/);
    const missing = run(process.execPath, [SCRIPT], { env: { PATH: process.env.PATH } });
    assert.match(missing.stderr, /MATRIX_HOST is not set/);
  });
});

describe("what the readiness check trusts (components/readinessTrust.ts)", () => {
  const pki = certificates(scratchDir("matrix-trust-"), ["matrix.example.test"]);
  const FINGERPRINTS = {
    "(STAGING) Pretend Pear X1": "E7:05:70:A9:89:F8:56:5A:AB:DF:7C:AE:27:AB:D1:62:18:72:D6:A3:F8:11:E3:FE:F2:7E:3D:BA:02:91:21:98",
    "(STAGING) Bogus Broccoli X2": "9B:2A:33:9F:E6:A3:E8:55:85:C4:CD:75:53:6C:B8:C1:CF:7C:D6:03:B9:A6:4B:EC:25:21:85:8A:E4:8D:A8:5D",
    "(STAGING) Yearning Yucca Root YE": "B5:9B:FC:0B:A5:2D:AF:84:98:53:B7:32:4A:91:E8:2F:03:1D:B3:39:7F:35:64:41:57:35:2C:DE:63:84:B5:6C",
    "(STAGING) Yonder Yam Root YR": "EF:11:5F:B5:9E:04:0F:F3:9D:15:FD:8F:3E:F5:40:63:C7:04:32:1D:83:CB:08:12:13:27:2F:77:D3:09:16:72",
  };
  const staging = readinessTrust(ACME_DIRECTORIES["letsencrypt-staging"], [], undefined);
  const roots = pemCertificates(staging.caCertificates).map((pem) => new crypto.X509Certificate(pem));

  it("Let's Encrypt's staging: its four self-signed roots, as letsencrypt.org publishes them, valid for years", () => {
    assert.deepEqual(Object.fromEntries(roots.map((c) => [c.subject.match(/CN=(.*)/)![1], c.fingerprint256])), FINGERPRINTS);
    for (const root of roots) {
      assert.ok(root.verify(root.publicKey), `${root.subject} is self-signed`);
      assert.ok(new Date(root.validTo).getTime() > Date.now() + 5 * 365 * 86400_000, `${root.subject} is valid for five years more`);
    }
  });

  it("staging's current intermediates (2026: YE2, YR2) are signed by those roots", () => {
    const pems = pemCertificates(fs.readFileSync(path.join(ROOT, "test", "certificates", "letsencrypt-staging-intermediates.pem"), "utf8"));
    assert.equal(pems.length, 2);
    for (const pem of pems) {
      const intermediate = new crypto.X509Certificate(pem);
      assert.ok(roots.some((root) => intermediate.checkIssued(root) && intermediate.verify(root.publicKey)), `${intermediate.subject} chains to a pinned root`);
    }
  });

  it("Let's Encrypt: Node's roots and extraCaCertificates; internal: the droplet's CA, or a reason it is not verified", () => {
    assert.deepEqual(readinessTrust(ACME_DIRECTORIES.letsencrypt, [], undefined), { caCertificates: "" });
    assert.deepEqual(readinessTrust("https://acme.example.test/dir", [pki.ca], undefined), { caCertificates: pki.ca });
    assert.deepEqual(readinessTrust("internal", [], `cloud-init finished\n${pki.ca}`), { caCertificates: pki.ca });
    assert.match(readinessTrust("internal", [], undefined).unverified!, /no sshPrivateKey/);
    assert.throws(() => readinessTrust("internal", [], "cloud-init finished\n"), /printed no root of Caddy's own CA/);
  });
});
